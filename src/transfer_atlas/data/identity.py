"""A dataset is its content: which files each source kind reads, and their hash.

The workflow passes :func:`content_id` to the ``prepare_dataset`` rule as a parameter,
so Snakemake reruns the preparation (and, through its outputs, what depends on it)
exactly when a file of the source changes, appears or disappears, and never for a copy
or a ``dvc pull`` that only moves modification times (``core.treehash``). Sources inside
installed packages (scikit-learn's digits, scikit-image's photos) and generated ones are
versioned by the lock file and their parameters: they have no files here.
"""

from __future__ import annotations

import hashlib
import os

from transfer_atlas.core.treehash import tree_digest

CACHE_DIR = os.path.join(".snakemake", "transfer_atlas", "content")


def source_roots(source: dict) -> list[str]:
    """The files and folders a source reads (relative to the working directory)."""
    kind = source["kind"]
    if kind == "torchvision":
        return [source.get("root") or f"data/{source.get('name')}"]
    if kind in ("image_folder", "parquet"):
        return [source["root"]]
    if kind == "csv_folder":
        csv = source["csv_path"]
        return [csv, source.get("images_dir") or os.path.dirname(csv) or "."]
    return []


def content_id(source: dict, cache_dir: str = CACHE_DIR) -> str:
    """``files:<sha256>`` of the source's files, or ``none`` for a source without files."""
    roots = source_roots(source)
    if not roots:
        return "none"
    key = hashlib.sha256("\0".join(os.path.abspath(r) for r in roots).encode()).hexdigest()
    return "files:" + tree_digest(roots, os.path.join(cache_dir, f"{key[:16]}.json"))
