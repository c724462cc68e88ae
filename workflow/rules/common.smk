# Config validation and grid expansion, shared by every rule file.
# Runs while Snakemake builds the DAG: cheap imports only (no torch, no timm).
import json
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from transfer_atlas.config import ConfigError, resolve  # noqa: E402
from transfer_atlas import preflight  # noqa: E402

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
# Must match transfer_atlas.figures.FIGURES (a test checks); captions in report/captions/.
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


def job_json(w):
    return json.dumps(
        {
            "study": STUDY.name,
            "dataset": w.dataset,
            "model": w.model,
            "init": w.init,
            "freeze": w.freeze,
            "size": w.size,
            "seed": int(w.seed),
            "model_spec": json.loads(MODEL_JSON[w.model]),
            **_expected_sha(w.model),
        },
        sort_keys=True,
    )


def _expected_sha(model):
    """``weights.sha256`` from the config, if given, for the job to verify (else nothing)."""
    spec = STUDY.pretrain_spec(model) or {}
    return {"weights_sha256": spec["sha256"].lower()} if spec.get("sha256") else {}


def finetune_input(w):
    inputs = {"data": prepared(w.dataset)}
    if w.init == "pretrained":
        inputs["weights"] = STUDY.weights_path(w.model)
    return inputs


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
