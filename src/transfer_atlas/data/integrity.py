"""A prepared dataset checked whole before a job uses it.

``meta.json`` records ``whole_sha256``: a hash of every byte of every array file
(images included) and of the rest of ``meta.json`` itself, computed when the dataset
is prepared. :func:`read_meta` and :func:`verify` refuse, naming the file, a folder
whose ``meta.json`` is unreadable, not an object or lacks a key, whose arrays cannot
be read, or whose content changed in any way since (one pixel of one row, a label,
a split index, a swapped class name): a job never trains or reports on data that is
not what was prepared.

The hash is sha256 over 64 MiB blocks hashed in parallel threads (hashlib releases the
GIL), then over the blocks' digests: the arrays are memory-mapped, so the check reads
them once from the page cache and holds nothing. Its cost is measured in
``benchmarks/prepared_check.py`` (docs/data.md).
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

#: The keys ``meta.json`` must have.
META_KEYS = ("class_names", "shape", "counts", "fingerprint", "whole_sha256")
BLOCK = 64 << 20


class PreparedError(ValueError):
    """A prepared dataset's files are unreadable or changed; the message names them."""


def _again(out_dir) -> str:
    return f"prepare the dataset again (delete {out_dir} and rerun the workflow)"


def read_meta(out_dir: str | Path) -> dict:
    """``meta.json`` of a prepared folder, checked to be an object with every key."""
    path = Path(out_dir) / "meta.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:  # still a FileNotFoundError, as callers expect of a missing file
        raise FileNotFoundError(
            f"{path}: missing (preparation interrupted?); {_again(out_dir)}"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PreparedError(f"{path}: not valid JSON ({exc}); {_again(out_dir)}") from None
    if not isinstance(meta, dict):
        kind = type(meta).__name__
        raise PreparedError(f"{path}: a JSON {kind}, not an object; {_again(out_dir)}")
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise PreparedError(
            f"{path}: no {', '.join(missing)} (changed by hand, or prepared by an older "
            f"version); {_again(out_dir)}"
        )
    return meta


def load_array(path: Path, dtype, ndim: int, mmap: bool) -> np.ndarray:
    """One ``.npy`` file of a prepared folder, or PreparedError naming it."""
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise PreparedError(f"{path}: missing; {_again(path.parent)}") from None
    except (ValueError, OSError, EOFError) as exc:
        raise PreparedError(
            f"{path}: not a readable .npy file ({exc}); {_again(path.parent)}"
        ) from None
    if arr.dtype != np.dtype(dtype) or arr.ndim != ndim:
        raise PreparedError(
            f"{path}: holds {arr.dtype} of {arr.ndim} dimension(s), not {np.dtype(dtype)} of "
            f"{ndim}; {_again(path.parent)}"
        )
    return arr


def _blocks(arr: np.ndarray):
    flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)  # a view of a map: no copy
    for s in range(0, max(len(flat), 1), BLOCK):
        yield flat[s : s + BLOCK]


def _digest(block) -> bytes:
    return hashlib.sha256(memoryview(block)).digest()


def whole_hash(arrays: dict[str, np.ndarray], meta: dict) -> str:
    """sha256 of the rest of ``meta`` and, block by block, of every array in ``arrays``."""
    h = hashlib.sha256()
    rest = {k: v for k, v in meta.items() if k != "whole_sha256"}
    h.update(json.dumps(rest, sort_keys=True).encode())
    threads = min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(threads) as pool:
        for name in sorted(arrays):
            arr = arrays[name]
            h.update(f"{name}{arr.dtype.str}{arr.shape}".encode())
            for digest in pool.map(_digest, _blocks(arr)):
                h.update(digest)
    return h.hexdigest()


def verify(out_dir: str | Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Raise PreparedError unless the arrays and ``meta`` are what was prepared."""
    same_shape = list(arrays["images"].shape) == meta["shape"]
    if not same_shape or whole_hash(arrays, meta) != meta["whole_sha256"]:
        raise PreparedError(
            f"{out_dir}: the arrays or meta.json changed since the dataset was prepared "
            f"(edited, partly copied, or from two preparations); {_again(out_dir)}"
        )
