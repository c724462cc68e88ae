#!/usr/bin/env bash
# Debian packages the test suite needs, installed by the project itself (CI runs this
# from .ci/run on a bare machine). Idempotent: does nothing when all are installed.
#   slurm-wlm, munge: a real single-node SLURM cluster for tests/test_slurm.py (ci/start-slurm.sh)
set -euo pipefail
PACKAGES=(slurm-wlm munge)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
