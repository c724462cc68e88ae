# Start-up: check the study config before any job, and set the environment jobs run in.
# Runs while Snakemake builds the DAG: cheap imports only (no torch, no timm).
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.settings.types import DeploymentMethod

from transfer_atlas.core import numerics
from transfer_atlas.runtime.gpu_claims import plan_run
from transfer_atlas.spec.names import LOCAL_ARCHS
from transfer_atlas.spec.study import ConfigError
from transfer_atlas.spec.validate import validate

# gpu_slots (--config gpu_slots=N, or a profile's config) is how this run uses its GPUs,
# not part of the study: left out of what is checked, hashed and handed to the report
# (Snakemake's own `config` is read, never changed).
_GPU_SLOTS = config.get("gpu_slots")
STUDY_CONFIG = {key: value for key, value in config.items() if key != "gpu_slots"}
try:
    # Duplicate YAML keys (with line numbers), the schema, then the cross-checks
    # (spec.validate lists them, in order; `transfer-atlas check-config` runs the same).
    STUDY = validate(STUDY_CONFIG, workflow.configfiles)
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

# The interpreter and the scripts' folder reach shell commands as environment
# variables: they are deployment details, not inputs, so a clone elsewhere (other
# paths) reruns nothing. Absolute paths keep `snakemake -d elsewhere` working, and
# cluster jobs re-read the Snakefile, so they get the values of their own node.
# Under `--sdm conda` each job's own environment provides `python` (the deployment
# methods are the typed settings of Snakemake's Python API, snakemake.settings.types).
_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
os.environ.update(
    TA_PY="python" if _CONDA else sys.executable,
    TA_SCRIPTS=str(Path(workflow.basedir) / "scripts"),
)
# Portable numerics (core.numerics): every job pins its CPU kernels to AVX2 unless the
# study says `numerics: native`; the job checks that it runs what its spec says.
numerics.for_children(STUDY.numerics)
# Cluster jobs (SLURM) run cold: a warm fork server would outlive the job's allocation.
if workflow.remote_exec:
    os.environ.setdefault("TA_WARM", "0")
# The warm server (transfer_atlas.runtime.warm) imports timm when it starts if the study needs it,
# rather than when the first timm job arrives (while every job waits).
if any(m["arch"].startswith("timm/") for m in STUDY.models.values()):
    os.environ.setdefault("TA_WARM_PRELOAD", "timm")
# GPUs, found once per run (nvidia-smi, else a Mac's Apple GPU): each training job claims
# one (scripts/with_gpus.py, gpu_slots jobs per device) and no other job may use them.
# Snakemake counts the slots, so that jobs wait for a free one in its queue, not in a lock.
try:
    GPUS, GPU_SLOTS = plan_run(
        os.environ,
        _GPU_SLOTS,
        small_models=all(m["arch"] in LOCAL_ARCHS for m in STUDY.models.values()),
    )
except ValueError as exc:
    raise WorkflowError(str(exc)) from None
GPU_PER_JOB = 1 if GPUS else 0
if GPUS and "gpu" not in workflow.global_resources:
    workflow.register_resource("gpu", len(GPUS) * GPU_SLOTS)
