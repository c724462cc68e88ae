# Config validation and grid expansion, shared by every rule file.
# Runs while Snakemake builds the DAG: cheap imports only (no torch, no timm).
import functools
import gc
import inspect
import json
import os
import sys
from pathlib import Path

from snakemake.common import overwrite_function_params
from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from transfer_atlas.spec.study import ConfigError, resolve  # noqa: E402
from transfer_atlas.spec import preflight  # noqa: E402
from transfer_atlas.spec.jobspec import JobJson  # noqa: E402

try:
    # Duplicate YAML keys (with line numbers), then the schema, then cross-checks of
    # freeze depths, sizes and classes.
    preflight.check_config_files(workflow.configfiles)
    STUDY = resolve(config)
    preflight.check_study(STUDY)
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

# The interpreter and the scripts' folder reach shell commands as environment
# variables: they are deployment details, not inputs, so a clone elsewhere (other
# paths) reruns nothing. Absolute paths keep `snakemake -d elsewhere` working, and
# cluster jobs re-read this file, so they get the values of their own node.
# Under `--sdm conda` each job's own environment provides `python`.
_CONDA = "conda" in str(workflow.deployment_settings.deployment_method).lower()
os.environ.update(
    TA_PY="python" if _CONDA else sys.executable,
    TA_SCRIPTS=str(Path(workflow.basedir) / "scripts"),
)
# Cluster jobs (SLURM) run cold: a warm fork server would outlive the job's allocation.
if workflow.remote_exec:
    os.environ.setdefault("TRANSFER_ATLAS_WARM", "0")
# The warm server (transfer_atlas.runtime.warm) imports timm when it starts if the study needs it,
# rather than when the first timm job arrives (while every job waits).
if any(m["arch"].startswith("timm/") for m in STUDY.models.values()):
    os.environ.setdefault("TRANSFER_ATLAS_WARM_PRELOAD", "timm")
NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"


wildcard_constraints:
    dataset=NAME,
    model=NAME,
    init="pretrained|scratch",
    freeze=r"[0-9]+|all",
    size=r"[0-9]+|all",
    seed=r"[0-9]+",


RUN_PATTERN = "results/runs/{dataset}/{model}/{init}_f{freeze}_n{size}_s{seed}.json"
RECORDS = [RUN_PATTERN.format(**cell) for cell in STUDY.finetune_cells()]
# Snakemake builds several objects per job and keeps them all while it builds the DAG;
# the cyclic garbage collector rescans them again and again (~18% of a 20k-job dry run,
# ~0.12 s of a 1k-job one). Collect less often, and freeze what exists now.
gc.freeze()
gc.set_threshold(50_000, 20, 20)
# Must match transfer_atlas.report.figures.FIGURES (a test checks); captions in report/captions/.
FIGURE_NAMES = [
    "accuracy_heatmap",
    "gain_heatmap",
    "ranking",
    "learning_curves",
    "confusion_matrices",
    "accuracy_density",
    "accuracy_vs_time",
    "pareto_latency",
]
FIGURE_FILES = expand(
    "results/figures/{name}.{ext}", name=FIGURE_NAMES, ext=["vl.json", "svg", "png"]
)

# Per-model / per-dataset JSON, computed once: params compare these strings, so a
# change reruns exactly the jobs of that model (or dataset), nothing else.
# (A model's freeze list and which model's source it shares are grid/DAG matters,
# not job settings: changing them reruns nothing that already exists.)
NOT_JOB_KEYS = ("weights", "freeze", "weights_from")
MODEL_JSON = {
    m: json.dumps(
        {k: v for k, v in spec.items() if k not in NOT_JOB_KEYS}, sort_keys=True
    )
    for m, spec in STUDY.models.items()
}
ARCH_JSON = {
    m: json.dumps(
        {k: v for k, v in json.loads(s).items() if k != "train"}, sort_keys=True
    )
    for m, s in MODEL_JSON.items()
}
DATASET_JSON = {d: json.dumps(s, sort_keys=True) for d, s in STUDY.datasets.items()}
# Hub weights: file stem under data/weights/ -> the spec that fetches them.
HUB_SPECS = {
    Path(STUDY.weights_path(m)).stem: json.dumps(
        {k: v for k, v in spec.items() if k not in ("train", "freeze", "weights_from")},
        sort_keys=True,
    )
    for m, spec in STUDY.models.items()
    if STUDY.hub_spec(m)
}


# Large grids: the functions below run once per job while Snakemake builds the DAG
# (benchmarks/dryrun_scaling.py), so they only look things up in precomputed tables.
# Snakemake also inspects a function's signature for every job it is called for;
# once_signed stores it on the function, where Snakemake looks first.
def once_signed(func):
    overwrite_function_params(func, inspect.signature(func).parameters)
    return func


@functools.cache
def prepared(dataset):
    return multiext(f"results/prepared/{dataset}/", "arrays.npz", "meta.json")


def raw_data(w):
    """The files a dataset is read from under data/, when present: new or `dvc pull`ed
    data reruns its prepare job. Absent data is no input, so a paper-scale DAG still
    builds (prepare is then the first job, and says how to get the data)."""
    src = STUDY.datasets[w.dataset]["source"]
    paths = {
        "torchvision": src.get("root") or f"data/{src.get('name')}",
        "image_folder": src.get("root"),
        "csv_folder": src.get("csv_path"),
    }.get(src["kind"])
    return [paths] if paths and Path(paths).exists() else []


def _expected_sha(model):
    """``weights.sha256`` from the config, if given, for the job to verify (else nothing)."""
    spec = STUDY.pretrain_spec(model) or {}
    return {"weights_sha256": spec["sha256"].lower()} if spec.get("sha256") else {}


_EXPECTED_SHA = {m: _expected_sha(m) for m in STUDY.models}
JOB_JSON = JobJson(STUDY.name, MODEL_JSON)  # == jobspec.job_json_reference, faster


@once_signed
def job_json(w):
    text = JOB_JSON(w.dataset, w.model, w.init, w.freeze, w.size, w.seed)
    if _EXPECTED_SHA[w.model]:  # rare: the config pins the weights' sha256
        text = json.dumps(
            {**json.loads(text), **_EXPECTED_SHA[w.model]}, sort_keys=True
        )
    return text


@functools.cache
def _finetune_input(dataset, model, init):
    # meta.json stands for the prepared dataset: prepare_dataset writes it with
    # arrays.npz, and a missing arrays.npz still reruns prepare_dataset (its job is
    # in the DAG through meta.json). One file less per job is a faster DAG. The list is
    # unnamed: the command does not refer to the inputs by name, and named inputs cost
    # Snakemake extra work for every job.
    inputs = [f"results/prepared/{dataset}/meta.json"]
    if init == "pretrained":
        inputs.append(STUDY.weights_path(model))
    return inputs


@once_signed
def finetune_input(w):
    return _finetune_input(w.dataset, w.model, w.init)


@once_signed
def weights_option(w):
    if w.init == "pretrained":
        return f"--weights {STUDY.weights_path(w.model)}"
    return ""


def pretrain_input(w):
    spec = STUDY.pretrain_spec(w.model)
    if spec is None:
        raise WorkflowError(f"model '{w.model}' has no 'weights: pretrain:' source")
    return prepared(spec["pretrain"])


def pretrain_json(w):
    spec = STUDY.pretrain_spec(w.model)
    return json.dumps(
        {
            "model": w.model,
            "source": spec["pretrain"],
            "seed": 0,
            "model_spec": json.loads(ARCH_JSON[w.model]),
            "train": spec["train"],
        },
        sort_keys=True,
    )
