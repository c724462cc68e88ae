"""core.memory: the peak sampler sees a short-lived allocation, file pages of a memory
map do not count, and glibc is told to return freed blocks."""

import subprocess
import sys
import time

import numpy as np

from transfer_atlas.core import memory


def test_sampler_sees_a_transient_allocation_and_not_a_memory_map(tmp_path):
    base = memory.rss_anon_mb()
    sampler = memory.PeakSampler()
    block = np.ones(200 << 20, dtype=np.uint8)  # 200 MB, touched
    time.sleep(0.2)
    del block
    time.sleep(0.1)
    assert memory.rss_anon_mb() < base + 100  # gone again ...
    assert sampler.peak_mb() >= base + 190  # ... yet counted in the peak
    np.lib.format.open_memmap(tmp_path / "m.npy", "w+", np.uint8, (300 << 20,))[:] = 1
    mapped = np.load(tmp_path / "m.npy", mmap_mode="r")
    assert int(mapped[:: 1 << 12].sum()) == (300 << 20) >> 12  # every page read
    peak = sampler.stop()
    assert peak < base + 300  # the 300 MB of file pages are not anonymous memory


def _kept_after_free(setting: str) -> float:
    """MB a fresh process holds beyond its live blocks after freeing every other of 50
    blocks of 4 MB (the holes between live blocks cannot be trimmed from a heap)."""
    code = (
        "import numpy as np; from transfer_atlas.core import memory\n"
        f"{setting}\n"
        "a = np.ones(8 << 20, np.uint8); del a  # glibc raises its threshold here\n"
        "before = memory.rss_anon_mb()\n"
        "blocks = [np.ones(4 << 20, np.uint8) for _ in range(50)]; del blocks[::2]\n"
        "print(memory.rss_anon_mb() - before - 25 * 4)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout)


def test_freed_large_blocks_go_back_to_the_system():
    assert _kept_after_free("pass") > 80  # glibc's default keeps the holes
    assert _kept_after_free("assert memory.return_freed_memory()") < 10
