# What each job gets: its settings as JSON (`params`, which Snakemake compares with the
# ones an output was made with) and its input files. The per-job functions run once per
# job while Snakemake builds the DAG, so they only look things up in the tables below.
import json
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError

from transfer_atlas.data import identity
from transfer_atlas.spec.jobspec import job_json_reference
from transfer_atlas.spec.names import ADAPT_METHODS
from transfer_atlas.spec.study import installed_version

# Per-model / per-dataset JSON, computed once: params compare these strings, so a
# change reruns exactly the jobs of that model (or dataset), nothing else.
# (A model's freeze list and which model's source it shares are grid/DAG matters,
# not job settings: changing them reruns nothing that already exists.)
NOT_JOB_KEYS = ("weights", "freeze", "scratch", "weights_from", "adapt")
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


def _source_spec(spec):
    """What fetching or converting a model's weights depends on (not a pinned sha256,
    which only says what the result must be; nor training settings)."""
    out = {k: v for k, v in spec.items() if k not in ("train", *NOT_JOB_KEYS[1:])}
    out["weights"] = {k: v for k, v in spec["weights"].items() if k != "sha256"}
    return out


# Hub weights: file stem under data/weights/ -> the spec that fetches them.
HUB_SPECS = {
    Path(STUDY.weights_path(m)).stem: json.dumps(_source_spec(spec), sort_keys=True)
    for m, spec in STUDY.models.items()
    if STUDY.hub_spec(m)
}
# Package weights: file stem under results/weights/package/ -> the spec that converts
# them, with the installed version of the distribution (a new version converts again).
PACKAGE_SPECS = {
    Path(STUDY.weights_path(m)).stem: json.dumps(
        {
            **_source_spec(spec),
            "version": installed_version(spec["weights"]["package"]["distribution"]),
        },
        sort_keys=True,
    )
    for m, spec in STUDY.models.items()
    if STUDY.package_spec(m)
}


def known_keys(table):
    """A wildcard constraint matching exactly the keys of ``table`` (nothing if empty):
    a missing weights file of another source is then reported as missing, not made."""
    return "|".join(re.escape(k) for k in table) or "(?!)"


FEATURE_OPTIONS = json.dumps(STUDY.features_options(), sort_keys=True)
NUMERICS = STUDY.numerics  # in every job's JSON: switching it reruns the jobs


# ---------------------------------------------------------------- data
_CONTENT = {}


def source_content(w):
    """The content hash of the files a dataset is read from (data.identity), computed
    once per DAG build: a changed, added or removed file reruns its prepare job; a copy
    or `dvc pull` that only moves mtimes does not. Absent data hashes as missing, so a
    paper-scale DAG still builds (prepare then runs first and says how to get it)."""
    if w.dataset not in _CONTENT:
        _CONTENT[w.dataset] = identity.content_id(STUDY.datasets[w.dataset]["source"])
    return _CONTENT[w.dataset]


# ---------------------------------------------------------------- pretraining
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
            "numerics": NUMERICS,
        },
        sort_keys=True,
    )


# ---------------------------------------------------------------- fine-tuning
def _expected_sha(model):
    """``weights.sha256`` from the config (any source), if given, for the jobs that load
    the weights or their features to verify (else nothing: jobs check the recorded one).
    """
    sha = STUDY.pinned_sha256(model)
    return {"weights_sha256": sha} if sha else {}


_EXPECTED_SHA = {m: _expected_sha(m) for m in STUDY.models}
# Freeze-all fine-tunes read their frozen backbone's output from the pre_logits feature
# cache the study extracts anyway (train/prefix.py): {(model, dataset): cache}.
PREFIX_CACHE = {
    pair: FEATURE_PATTERN.format(model=pair[0], dataset=pair[1], layer="pre_logits")
    for pair in STUDY.prefix_caches()
}
CELL_KEYS = ("dataset", "model", "init", "freeze", "size", "seed")
# Options of the adaptation methods (grid.adapt): part of those cells' job JSON only.
ADAPT_ARGS = {m: STUDY.adapt_args(m) for m in ADAPT_METHODS}


@once_signed
def job_json(w):
    cell = {k: getattr(w, k) for k in CELL_KEYS}
    text = job_json_reference(
        STUDY.name, MODEL_JSON[w.model], cell, ADAPT_ARGS.get(w.freeze), NUMERICS
    )
    if _EXPECTED_SHA[w.model]:  # rare: the config pins the weights' sha256
        text = json.dumps(
            {**json.loads(text), **_EXPECTED_SHA[w.model]}, sort_keys=True
        )
    return text


@once_signed
def finetune_input(w):
    # meta.json stands for the prepared dataset: prepare_dataset writes it after
    # the .npy files, and a missing images.npy still reruns prepare_dataset (its job is
    # in the DAG through meta.json). One file less per job is a faster DAG. The list is
    # unnamed: the command does not refer to the inputs by name, and named inputs cost
    # Snakemake extra work for every job.
    inputs = [f"results/prepared/{w.dataset}/meta.json"]
    if w.init == "pretrained":
        inputs.append(STUDY.weights_path(w.model))
        if cache := _prefix_cache(w):
            inputs.append(cache)
    return inputs


def _prefix_cache(w):
    """The feature cache a freeze-all fine-tune reads (PREFIX_CACHE), or None."""
    return PREFIX_CACHE.get((w.model, w.dataset)) if w.freeze == "all" else None


@once_signed
def weights_option(w):
    """--weights for a pretrained job; --features too for a freeze-all one with a cache."""
    if w.init != "pretrained":
        return ""
    option = f"--weights {STUDY.weights_path(w.model)}"
    cache = _prefix_cache(w)
    return f"{option} --features {cache}" if cache else option


# ---------------------------------------------------------------- features regime
def extract_input(w):
    inputs = {"data": prepared(w.dataset)}
    if w.layer != "pixels":  # whatever the source: pretrained, hub, package or file
        inputs["weights"] = STUDY.weights_path(w.model)
    return inputs


def extract_json(w):
    spec = json.loads(ARCH_JSON[w.model])
    job = {
        "dataset": w.dataset,
        "model": w.model,
        "layer": w.layer,
        "model_spec": spec,
        "numerics": NUMERICS,
    }
    if w.layer != "pixels":
        job.update(_EXPECTED_SHA[w.model])
    return json.dumps(job, sort_keys=True)


def classify_json(w):
    return json.dumps(
        {
            "study": STUDY.name,
            "dataset": w.dataset,
            "model": w.model,
            "layer": w.layer,
            "classifier": w.classifier,
            "size": w.size,
            "seed": int(w.seed),
            "options": json.loads(FEATURE_OPTIONS),
            "numerics": NUMERICS,
            **(_EXPECTED_SHA[w.model] if w.layer != "pixels" else {}),
        },
        sort_keys=True,
    )


# ---------------------------------------------------------------- explore
def embed_input(w):
    inputs = {"data": prepared(w.dataset)}
    if w.source != "pixels":
        inputs["features"] = FEATURE_PATTERN.format(
            dataset=w.dataset, model=w.source, layer="pre_logits"
        )
    return inputs


def source_info(w):
    """The pretraining record the ``prior`` baseline reads (workflow-trained sources only)."""
    path = STUDY.weights_path(w.model)
    return (
        {"info": path[: -len(".safetensors")] + ".json"}
        if STUDY.pretrain_spec(w.model)
        else {}
    )


def aggregate_records(wildcards):
    """Every record, or in shortlist mode (without an audit) the kept models' fine-tunes
    (the checkpoint's table, read back by the library: results.shortlist.kept_cells)."""
    if not SHORTLIST or SHORTLIST.get("audit"):
        return RECORDS + FEATURE_RECORDS
    from transfer_atlas.results.shortlist import kept_cells

    table = checkpoints.shortlist.get().output[0]
    cells = kept_cells(table, STUDY.finetune_cells())
    return [RUN_PATTERN.format(**c) for c in cells] + FEATURE_RECORDS
