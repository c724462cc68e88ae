"""Job functions the warm tests run through a warm server (tests/workflow/test_warm.py,
tests/unit/runtime/test_security.py): this folder on PYTHONPATH, the names registered
in TA_WARM_TARGETS."""

import os
import time
from pathlib import Path


def sleeper(argv, t_start=None, startup="cold"):
    """Write this process's pid and its parent's to argv[0], then sleep."""
    Path(argv[0]).write_text(f"{os.getpid()} {os.getppid()} {startup}")
    time.sleep(120)
    return 0


def exits(argv, t_start=None, startup="cold"):
    """Print to stdout and stderr, then return the exit status given in argv[0]."""
    print(f"out {startup}", flush=True)
    print("err", file=__import__("sys").stderr, flush=True)
    return int(argv[0])


def naps(argv, t_start=None, startup="cold"):
    """Write ``startup`` to argv[0], sleep argv[1] seconds, then succeed."""
    Path(argv[0]).write_text(startup)
    time.sleep(float(argv[1]))
    return 0


def blas_threads(argv, t_start=None, startup="cold"):
    """Write the largest BLAS/OpenMP pool size of this process to argv[0]."""
    import numpy  # noqa: F401  (its BLAS is a pool to size)
    from threadpoolctl import threadpool_info

    Path(argv[0]).write_text(str(max(p["num_threads"] for p in threadpool_info())))
    return 0
