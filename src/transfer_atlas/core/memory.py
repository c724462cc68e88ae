"""A job's peak anonymous memory, sampled from ``/proc``.

``RssAnon`` (``/proc/<pid>/status``) counts a process's resident anonymous pages: what
it allocated itself (tensors, arrays, interpreter). Pages of memory-mapped files (the
prepared ``images.npy``) are ``RssFile`` instead, shared and reclaimable, so RssAnon is
the figure that shows whether a job holds a dataset or maps it. There is no kernel
high-water mark for RssAnon alone (``VmHWM`` mixes in file pages), hence sampling.
"""

from __future__ import annotations

import ctypes
import threading

#: Seconds between samples; a peak shorter than this can be missed.
INTERVAL = 0.02


def rss_anon_mb(pid: int | str = "self") -> float | None:
    """RssAnon of ``pid`` in MB (2**20 bytes); None where /proc is absent or it has ended."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024  # the kernel reports kB (KiB)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


class PeakSampler:
    """Sample RssAnon of ``pid`` every INTERVAL seconds in a daemon thread; ``peak_mb()``
    takes a last sample and returns the largest (0.0 where /proc is unavailable)."""

    def __init__(self, pid: int | str = "self", interval: float = INTERVAL):
        self.pid, self.interval, self.peak = pid, interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="peak-rss")
        self._thread.start()

    def _sample(self) -> None:
        value = rss_anon_mb(self.pid)
        if value is not None and value > self.peak:
            self.peak = value

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def peak_mb(self) -> float:
        self._sample()
        return round(self.peak, 1)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb()


def return_freed_memory(threshold: int = 1 << 20) -> bool:
    """Ask glibc to serve every allocation above ``threshold`` bytes with its own mmap.

    By default glibc raises that threshold (up to 32 MB) each time a large block is freed,
    after which freed activations and batches stay in the heap instead of going back to
    the system: at 224 px a job then held a few hundred MB it no longer used. False where
    the C library has no ``mallopt`` (not glibc).
    """
    try:
        return bool(ctypes.CDLL(None).mallopt(-3, int(threshold)))  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False
