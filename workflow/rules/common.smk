# Config validation and grid expansion, shared by every rule file.
# Runs while Snakemake builds the DAG: cheap imports only (no torch, no timm).
import json
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from transfer_atlas.config import ConfigError, resolve  # noqa: E402

try:
    STUDY = resolve(config)
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
# The warm server (transfer_atlas.warm) imports timm when it starts if the study needs it,
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
FIGURE_NAMES = ["accuracy_heatmap", "gain_heatmap"]
FIGURE_FILES = expand(
    "results/figures/{name}.{ext}", name=FIGURE_NAMES, ext=["vl.json", "svg", "png"]
)

# Per-model / per-dataset JSON, computed once: params compare these strings, so a
# change reruns exactly the jobs of that model (or dataset), nothing else.
MODEL_JSON = {
    m: json.dumps({k: v for k, v in spec.items() if k != "weights"}, sort_keys=True)
    for m, spec in STUDY.models.items()
}
ARCH_JSON = {
    m: json.dumps(
        {k: v for k, v in json.loads(s).items() if k != "train"}, sort_keys=True
    )
    for m, s in MODEL_JSON.items()
}
DATASET_JSON = {d: json.dumps(s, sort_keys=True) for d, s in STUDY.datasets.items()}


def prepared(dataset):
    return multiext(f"results/prepared/{dataset}/", "arrays.npz", "meta.json")


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
        },
        sort_keys=True,
    )


def finetune_input(w):
    inputs = {"data": prepared(w.dataset)}
    if w.init == "pretrained":
        inputs["weights"] = f"results/weights/{w.model}.safetensors"
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
