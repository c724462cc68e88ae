"""The per-run metrics record: provenance helpers and schema validation."""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import sys
from importlib import metadata, resources
from pathlib import Path

SCHEMA_VERSION = 1
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


def library_versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("torch", "torchvision", "timm", "numpy", "safetensors"):
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
