"""The per-run metrics record: one builder for every regime, provenance, schema validation.

Every job (fine-tune, classifier on cached features, synthetic stand-ins) makes its record
with :func:`build`, which types the grid coordinates, fills the provenance and checks the
result against ``schemas/record.schema.json``. Plain values in, a plain dict out: the
torch-side facts (device, parameter counts) are measured by the job and passed in.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import sys
from importlib import metadata, resources
from pathlib import Path

from transfer_atlas.core import numerics
from transfer_atlas.core.hashing import canonical_hash

SCHEMA_VERSION = 2  # 2: n_val, metrics.val_accuracy, timing.prefix_s
RECORD_SCHEMA = resources.files("transfer_atlas.spec") / "schemas" / "record.schema.json"
SRC_DIR = Path(__file__).resolve().parents[1]  # the package folder


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of the library's source files: which code produced a record."""
    h = hashlib.sha256()
    for path in sorted(SRC_DIR.rglob("*.py")):
        h.update(path.relative_to(SRC_DIR).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def library_versions(*extra: str) -> dict:
    """Python's version and the installed versions of the numeric libraries (+ ``extra``)."""
    out = {"python": platform.python_version()}
    for pkg in ("torch", "torchvision", "timm", "numpy", "safetensors", *extra):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


@functools.lru_cache(maxsize=1)
def _validator():
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(RECORD_SCHEMA.read_text()))


def validate(record: dict) -> None:
    """Raise ValueError listing every way ``record`` departs from the record schema."""
    errors = [
        f"{'.'.join(map(str, e.absolute_path)) or '<record>'}: {e.message}"
        for e in _validator().iter_errors(record)
    ]
    if errors:
        raise ValueError("run record does not match its schema:\n  " + "\n  ".join(errors))


def python_command() -> str:
    return sys.executable


#: Job keys that are record fields of their own (the grid coordinates; ``layer`` and
#: ``classifier`` sit in the record's ``features`` block), so they stay out of the hash.
COORDINATES = ("study", "dataset", "model", "init", "freeze", "size", "seed", "layer", "classifier")


def config_hash(job: dict) -> str:
    """Hash of the settings of ``job`` that determine its result, beyond its coordinates.

    The job spec minus the study name and minus :data:`COORDINATES`: for a fine-tune job the
    model spec (architecture, training settings), the CPU numerics mode and a pinned
    weights sha256; for a
    classifier job its options (standardize, PCA, grid search). Two records with equal
    coordinates and equal ``config_hash`` ran the same settings, in any study; records of
    one study's cells that differ only in coordinates share it.
    """
    return canonical_hash({k: v for k, v in job.items() if k not in COORDINATES})


def build(
    job: dict,
    regime: str,
    *,
    arch: str,
    freeze_groups: int,
    n_groups: int,
    n_train: int,
    n_val: int,
    num_classes: int,
    metrics: dict,
    curve: list,
    timing: dict,
    params: dict,
    size_bytes: int,
    flops: int,
    train: dict,
    device: dict,
    dataset_fingerprint: str,
    weights_sha256: str | None,
    init: str | None = None,
    freeze: str | int | None = None,
    versions: dict | None = None,
    code: str | None = None,
    features: dict | None = None,
    mistakes: list | None = None,
    task_bytes: int | None = None,
    weights_origin: dict | None = None,
    check: bool = True,
) -> dict:
    """The run record of ``job`` (study, dataset, model, size, seed [, init, freeze]),
    validated against the schema unless ``check`` is false (~3 ms a record; only bulk
    synthetic records skip it). The helpers below say what each part holds."""
    rec = {
        **_coordinates(job, regime, arch, init, freeze),
        "freeze_groups": freeze_groups,
        "n_groups": n_groups,
        **_sample(job, n_train, n_val),
        "num_classes": num_classes,
        "metrics": {**metrics, "accuracy_density": metrics["accuracy"] / (size_bytes / 1e6)},
        "curve": curve,
        "timing": timing,
        "params": params,
        "size_bytes": size_bytes,
        "flops": flops,
        "train": train,
        "provenance": _provenance(
            job, device, versions, dataset_fingerprint, weights_sha256, code, weights_origin
        ),
    }
    _add_optional(rec, job, features, mistakes, task_bytes)
    if check:
        validate(rec)
    return rec


def _coordinates(job: dict, regime: str, arch: str, init, freeze) -> dict:
    """The record's grid coordinates up to the freeze depth. ``init`` / ``freeze`` default
    to the job's (classifier jobs have neither); a scratch run records freeze "0"."""
    init = init or job["init"]
    freeze = job["freeze"] if freeze is None else freeze
    return {
        "schema_version": SCHEMA_VERSION,
        "study": job["study"],
        "regime": regime,
        "dataset": job["dataset"],
        "model": job["model"],
        "arch": arch,
        "init": init,
        "freeze": str(freeze) if init == "pretrained" else "0",
    }


def _sample(job: dict, n_train: int, n_val: int) -> dict:
    """Size and freeze are strings ("all" or a number), seed an int. ``n_val``: the
    validation images the run could use (early stopping, schedules,
    ``metrics.val_accuracy``: the final model on them)."""
    return {
        "size": str(job["size"]),
        "n_train": int(n_train),
        "n_val": int(n_val),
        "seed": int(job["seed"]),
    }


def _provenance(job, device, versions, dataset_fingerprint, weights_sha256, code, origin) -> dict:
    """Where the record came from. ``versions`` defaults to :func:`library_versions`;
    ``code`` (the ``code_version``) to this library's :func:`code_version` (synthetic
    records pass a marker instead); ``origin``: package (distribution, version, file,
    sha256) or hub weights, when there are some."""
    out = {
        "device": device,
        "versions": library_versions() if versions is None else versions,
        "config_hash": config_hash(job),
        "dataset_fingerprint": dataset_fingerprint,
        "weights_sha256": weights_sha256,
        "code_version": code or code_version(),
        "numerics": numerics.describe(),
    }
    if origin:
        out["weights_origin"] = origin
    return out


def _add_optional(rec: dict, job: dict, features, mistakes, task_bytes) -> None:
    """The parts some regimes have: a classifier's ``features`` block, the confidently
    wrong test images, the bytes one task stores beside the shared backbone, and an
    adaptation method (``nn.adapt``, in the freeze slot)."""
    if features is not None:
        rec["features"] = features
    if mistakes is not None:
        rec["mistakes"] = mistakes
    if task_bytes is not None:
        rec["task_bytes"] = int(task_bytes)
    if job.get("adapt"):
        rec["adapt"], rec["adapt_args"] = job["adapt"], job.get("adapt_args") or {}
