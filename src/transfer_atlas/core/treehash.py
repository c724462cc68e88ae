"""A file tree's content hash, with DVC's trick: a file's hash is cached by its path, size,
modification time and inode (and its status-change time, which no tool can set back:
new bytes with the old mtime restored are still seen), so an unchanged tree costs one
``stat`` per file.

The workflow identifies a file-backed dataset by this hash (``data.identity``), not by a
folder's modification time: adding, removing or changing any file reruns the dataset's
preparation; a copy or ``dvc pull`` that only changes mtimes rehashes the files it touched
and finds the same content (benchmarks/results/content_check-cpu.json has the cost).
Standard library only: it runs while Snakemake builds the DAG.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat

from transfer_atlas.core import atomic

CHUNK = 1 << 20


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _walk(root: str):
    """Every file below ``root`` (or ``root`` itself) as (relative path, stat result);
    links are followed to what they name (as the loaders read them), loops are not."""
    if not os.path.isdir(root):
        yield "", os.stat(root)
        return
    seen = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:  # a loop: the loaders refuse it by name
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            try:
                yield os.path.relpath(path, root), os.stat(path)
            except OSError:  # a dangling link: part of the content, as a marker
                yield os.path.relpath(path, root), None


def tree_digest(roots: list[str], cache_path: str | None = None) -> str:
    """sha256 over every file under ``roots`` (relative path, size, content hash).

    A missing root counts as ``missing``; a FIFO, socket or device is never opened (its
    kind is hashed, and preparation refuses it by name). ``cache_path`` (a JSON file, one
    per set of roots) keeps each file's hash by absolute path, size, mtime, inode and
    ctime between calls; files gone since are dropped from it.
    """
    cache = _load(cache_path)
    fresh = {}
    total = hashlib.sha256()
    for root in roots:
        total.update(f"root\0{root}\n".encode())
        if not os.path.lexists(root):
            total.update(b"missing\n")
            continue
        for rel, st in _walk(root):
            if st is None or not stat.S_ISREG(st.st_mode):
                kind = "dangling" if st is None else f"special:{stat.S_IFMT(st.st_mode)}"
                total.update(f"{rel}\0{kind}\n".encode())
                continue
            path = os.path.abspath(os.path.join(root, rel))
            key = [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]
            entry = cache.get(path)
            sha = entry[-1] if entry and entry[:-1] == key else _file_sha256(path)
            fresh[path] = [*key, sha]
            total.update(f"{rel}\0{st.st_size}\0{sha}\n".encode())
    if cache_path and fresh != cache:
        _save(cache_path, fresh)
    return total.hexdigest()


def _load(cache_path: str | None) -> dict:
    if not cache_path:
        return {}
    try:
        with open(cache_path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):  # absent or damaged: hash again
        return {}


def _save(cache_path: str, cache: dict) -> None:
    os.makedirs(os.path.dirname(cache_path) or ".", exist_ok=True)
    atomic.write_text(cache_path, json.dumps(cache, separators=(",", ":")))
