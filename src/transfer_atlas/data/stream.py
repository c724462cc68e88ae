"""Images that are decoded while a dataset is prepared, straight into their rows.

A file source (ImageFolder tree, CSV folder, Parquet files) lists its images as
:class:`Pending`: one reference per image (a path, or a Parquet file / row group / row)
and the labels, without decoding anything. Class selection and splitting index that
list; :func:`fill` then decodes the kept images in worker processes, each writing its
rows into the prepared ``images.npy`` memory map, so no process ever holds the
dataset. Array sources (digits, generated shapes, torchvision files) are already in
memory and are copied in chunks.

Tasks: file images go in chunks of CHUNK; Parquet images one task per row group (a
large group split between the workers), which streams the group's image column once
(``data.parquet_rows``), so a task never re-reads a group another chunk of it needs.
"""

from __future__ import annotations

import math
import multiprocessing
import sys
import time

import numpy as np

from transfer_atlas.data import decode, parquet_rows
from transfer_atlas.spec.names import RESIZE_MODES

#: Images per file task: large enough that task overhead is small, small enough that
#: two workers stay balanced.
CHUNK = 64
#: Seconds between progress lines.
PROGRESS_EVERY = 5.0
DIGEST = 16  # bytes of a pixel digest (decode.decode_row)


class Pending:
    """Images not decoded yet: ``refs[i]`` says where image i is; ``reader`` names how
    to decode (``file`` or ``parquet``)."""

    def __init__(self, refs, reader, image_size, channels, resize, max_pixels=None):
        if resize not in RESIZE_MODES:
            raise ValueError(f"resize '{resize}' is not one of: {', '.join(RESIZE_MODES)}")
        self.refs, self.reader = list(refs), reader
        self.options = (image_size, channels, resize, max_pixels)

    def __len__(self) -> int:
        return len(self.refs)

    @property
    def shape(self) -> tuple:
        return (len(self.refs), self.options[0], self.options[0], self.options[1])

    def __getitem__(self, sel) -> Pending:
        """The images at ``sel`` (boolean mask or index array), still not decoded."""
        pos = np.flatnonzero(sel) if np.asarray(sel).dtype == bool else np.asarray(sel)
        return Pending([self.refs[i] for i in pos], self.reader, *self.options)

    def name(self, i: int) -> str:
        """Image i as messages name it: its path, or file, row group and row."""
        ref = self.refs[i]
        return str(ref) if self.reader == "file" else parquet_rows.where(*ref[:3])

    def tasks(self, workers: int) -> list[tuple[int, tuple]]:
        """(first row, task) pairs covering every image once."""
        n = len(self.refs)
        if self.reader == "file":
            return [
                (s, ("file", self.refs[s : s + CHUNK], self.options)) for s in range(0, n, CHUNK)
            ]
        runs, start = [], 0  # consecutive refs of one (file, row group)
        for i in range(1, n + 1):
            if i == n or self.refs[i][:2] != self.refs[start][:2]:
                runs.append((start, i))
                start = i
        pieces = workers if len(runs) < 2 * workers else 1  # few big groups: share them
        out = []
        for a, b in runs:
            step = max(CHUNK, math.ceil((b - a) / pieces))
            for s in range(a, b, step):
                refs = self.refs[s : min(b, s + step)]
                path, group, _, column = refs[0]
                rows = [r[2] for r in refs]
                out.append((s, ("parquet", (path, group, column, rows), self.options)))
        return out


def decode_task(task):
    """(row, digest) of each image of one task, in order, one at a time."""
    reader, refs, (size, channels, resize, max_pixels) = task
    if reader == "file":
        return (decode.decode_row(p, size, channels, resize, None, max_pixels) for p in refs)
    return parquet_rows.decode_rows(*refs, size, channels, resize, max_pixels)


def write_task(out, start: int, task, count=None) -> bytes:
    """Decode one task into ``out[start:]`` CHUNK rows at a time (a task may be a whole
    row group: its rows are never all held at once); return the rows' digests.
    ``count`` (a shared counter) moves with every chunk written."""
    rows, digests, at = [], [], start
    for row, digest in decode_task(task):
        rows.append(row)
        digests.append(digest)
        if len(rows) == CHUNK:
            out[at : at + len(rows)] = np.stack(rows)
            at, rows = at + len(rows), []
            _count(count, CHUNK)
    if rows:
        out[at : at + len(rows)] = np.stack(rows)
        _count(count, len(rows))
    return b"".join(digests)


def _count(count, k: int) -> None:
    if count is not None:
        with count.get_lock():
            count.value += k


_TARGET: dict = {}
_COUNT = None  # the shared progress counter, inherited by forked workers


def _write_rows(job):
    """Worker: decode one task and write it into rows ``start``.. of the target file."""
    path, start, task = job
    out = _TARGET.get(path)
    if out is None:
        out = _TARGET[path] = np.load(path, mmap_mode="r+")
    return start, write_task(out, start, task, _COUNT)


def fill(out, images, workers: int = 1, path=None, log=None):
    """Write ``images`` (an array or :class:`Pending`) into ``out[:len(images)]``; for
    Pending images return their pixel digests (N x 16 uint8), else None.

    With ``workers`` > 1 and ``path`` (the ``.npy`` file ``out`` maps), worker
    processes decode and write the rows themselves; the parent only prints progress.
    """
    global _COUNT
    n = len(images)
    if not isinstance(images, Pending):
        for s in range(0, n, 4096):
            out[s : min(n, s + 4096)] = images[s : s + 4096]
        return None
    digests = np.zeros((n, DIGEST), np.uint8)
    jobs = [(path, s, task) for s, task in images.tasks(workers)]
    progress = _Progress(n, log or sys.stdout)
    if workers > 1 and path is not None and len(jobs) > 1:
        out.flush()
        # fork: the parent holds no threads or GPU state here, and start-up is instant.
        ctx = multiprocessing.get_context("fork")
        _COUNT = ctx.Value("q", 0)
        try:
            with ctx.Pool(min(workers, len(jobs))) as pool:
                results = pool.imap_unordered(_write_rows, jobs)
                for _ in jobs:
                    while True:
                        try:
                            start, raw = results.next(timeout=PROGRESS_EVERY)
                            break
                        except multiprocessing.TimeoutError:
                            progress.update(_COUNT.value)
                    digests[start : start + len(raw) // DIGEST] = np.frombuffer(
                        raw, np.uint8
                    ).reshape(-1, DIGEST)
                    progress.update(_COUNT.value)
        finally:
            _TARGET.clear()
            _COUNT = None
        return digests
    for _, s, task in jobs:
        raw = write_task(out, s, task)
        digests[s : s + len(raw) // DIGEST] = np.frombuffer(raw, np.uint8).reshape(-1, DIGEST)
        progress.update(s + len(raw) // DIGEST)
    return digests


class _Progress:
    """A line every PROGRESS_EVERY seconds (images/s, ETA), and one at the end."""

    def __init__(self, total: int, log):
        self.total, self.log, self.done = total, log, 0
        self.t0 = self.last = time.perf_counter()

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if done == self.done or (now - self.last < PROGRESS_EVERY and done < self.total):
            return
        self.done, self.last = done, now
        rate = done / max(now - self.t0, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        print(
            f"decoded {done}/{self.total} images, {rate:.0f} images/s, ETA {eta:.0f} s",
            file=self.log,
            flush=True,
        )
