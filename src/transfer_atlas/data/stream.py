"""Images that are decoded while a dataset is prepared, straight into their rows.

A file source (ImageFolder tree, CSV folder, Parquet files) lists its images as
:class:`Pending`: one reference per image (a path, or a Parquet file / row group / row)
and the labels, without decoding anything. Class selection and splitting index that
list; :func:`fill` then decodes the kept images in worker processes, each writing its
rows into the prepared ``images.npy`` memory map, so no process ever holds the
dataset. Array sources (digits, generated shapes, torchvision files) are already in
memory and are copied in chunks.
"""

from __future__ import annotations

import io
import multiprocessing
import sys
import time

import numpy as np

from transfer_atlas.data import checks

#: Images per worker task: large enough that task overhead is small, small enough that
#: the progress line moves and two workers stay balanced.
CHUNK = 64
#: Seconds between progress lines.
PROGRESS_EVERY = 5.0


class Pending:
    """Images not decoded yet: ``refs[i]`` says where image i is; ``reader`` names how
    to decode (``file`` or ``parquet``)."""

    def __init__(self, refs, reader: str, image_size: int, channels: int, resize: str):
        if resize not in checks.RESIZE_MODES:
            raise ValueError(f"resize '{resize}' is not one of: {', '.join(checks.RESIZE_MODES)}")
        self.refs, self.reader = list(refs), reader
        self.image_size, self.channels, self.resize = image_size, channels, resize

    def __len__(self) -> int:
        return len(self.refs)

    @property
    def shape(self) -> tuple:
        return (len(self.refs), self.image_size, self.image_size, self.channels)

    def __getitem__(self, sel) -> Pending:
        """The images at ``sel`` (boolean mask or index array), still not decoded."""
        pos = np.flatnonzero(sel) if np.asarray(sel).dtype == bool else np.asarray(sel)
        return Pending(
            [self.refs[i] for i in pos], self.reader, self.image_size, self.channels, self.resize
        )

    def task(self, start: int, stop: int) -> tuple:
        return (self.reader, self.refs[start:stop], self.image_size, self.channels, self.resize)


def _decode_parquet(refs, size, channels, resize):
    """Rows of Parquet files: refs are (file, row group, row); one row group read at a time."""
    import pyarrow.parquet as pq

    cached, rows = None, None
    for path, group, row, column in refs:
        if cached != (path, group):
            table = pq.ParquetFile(path).read_row_group(group, columns=[column])
            rows, cached = table.column(column).to_pylist(), (path, group)
        where = f"{path}, row group {group}, row {row}"
        data = checks.image_bytes(rows[row], where)
        yield checks.read_image(io.BytesIO(data), size, channels, resize, name=where)


def decode(task) -> list[np.ndarray]:
    reader, refs, size, channels, resize = task
    if reader == "file":
        return [checks.read_image(p, size, channels, resize) for p in refs]
    return list(_decode_parquet(refs, size, channels, resize))


_TARGET: dict = {}


def _write_rows(job) -> int:
    """Worker: decode one chunk and write it into rows ``start``.. of the target file."""
    path, start, task = job
    out = _TARGET.get(path)
    if out is None:
        out = _TARGET[path] = np.load(path, mmap_mode="r+")
    rows = decode(task)
    out[start : start + len(rows)] = np.stack(rows)
    return len(rows)


def fill(out, images, workers: int = 1, path=None, log=None) -> None:
    """Write ``images`` (an array or :class:`Pending`) into ``out[:len(images)]``.

    With ``workers`` > 1 and ``path`` (the ``.npy`` file ``out`` maps), worker
    processes decode and write the rows themselves; the parent only prints progress.
    """
    n = len(images)
    if not isinstance(images, Pending):
        for s in range(0, n, 4096):
            out[s : min(n, s + 4096)] = images[s : s + 4096]
        return
    jobs = [(path, s, images.task(s, min(n, s + CHUNK))) for s in range(0, n, CHUNK)]
    progress = _Progress(n, log or sys.stdout)
    if workers > 1 and path is not None and len(jobs) > 1:
        out.flush()
        # fork: the parent holds no threads or GPU state here, and start-up is instant.
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(min(workers, len(jobs))) as pool:
            for done in pool.imap_unordered(_write_rows, jobs):
                progress.add(done)
        _TARGET.clear()
        return
    for _, s, task in jobs:
        rows = decode(task)
        out[s : s + len(rows)] = np.stack(rows)
        progress.add(len(rows))


class _Progress:
    """A line every PROGRESS_EVERY seconds (images/s, ETA), and one at the end."""

    def __init__(self, total: int, log):
        self.total, self.log, self.done = total, log, 0
        self.t0 = self.last = time.perf_counter()

    def add(self, k: int) -> None:
        self.done += k
        now = time.perf_counter()
        if now - self.last < PROGRESS_EVERY and self.done < self.total:
            return
        self.last = now
        rate = self.done / max(now - self.t0, 1e-9)
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        print(
            f"decoded {self.done}/{self.total} images, {rate:.0f} images/s, ETA {eta:.0f} s",
            file=self.log,
            flush=True,
        )
