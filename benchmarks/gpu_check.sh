#!/usr/bin/env bash
# The prepared GPU check (issue 16): under 5 minutes on one GPU, writes
# benchmarks/results/gpu_throughput-cuda.json and benchmarks/results/gpu_grid-cuda.json.
#   bash benchmarks/gpu_check.sh            (from the repository root; PYTHON overrides .venv)
# No network is needed: models are random-init timm models, data are generated.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
export PATH="$(dirname "$PY"):$PATH" PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
command -v nvidia-smi >/dev/null || { echo "gpu_check: no nvidia-smi on this machine" >&2; exit 2; }
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
  || { echo "gpu_check: torch sees no CUDA device (python: $PY)" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
status=0
# Each part has its own time limit, so one stuck part cannot eat the other's minutes.
timeout 120 "$PY" benchmarks/gpu_throughput.py || { echo "gpu_throughput failed ($?)" >&2; status=1; }
timeout 170 "$PY" benchmarks/gpu_grid.py || { echo "gpu_grid failed ($?)" >&2; status=1; }
ls -l benchmarks/results/*-cuda.json 2>/dev/null
exit $status
