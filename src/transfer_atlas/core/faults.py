"""A pause point for crash tests: hold a job at a named moment so a test can kill it there.

Killing a workflow "in the middle of a training job" by timing is flaky. Instead, a test
sets ``TA_PAUSE_AT`` to a pattern (``fnmatch``) and ``TA_PAUSE_FILE``
to a path; the first job that reaches a matching :func:`pause_point` appends
``<label> <pid>`` to that file and sleeps (at most ``TA_PAUSE_S`` seconds,
default 300), so the test knows exactly where the job is when it sends SIGKILL.

Unset (as in every real run) this costs one dictionary lookup and does nothing. Labels:
``pretrain:<model>``, ``finetune:<dataset>/<model>/<init>_f<freeze>_n<size>_s<seed>``
(both right after the first optimisation step) and ``aggregate`` (after runs.parquet is
written, before runs.csv and summary.csv).
"""

from __future__ import annotations

import fnmatch
import os
import time


def pause_point(label: str) -> None:
    pattern = os.environ.get("TA_PAUSE_AT")
    if not pattern or not fnmatch.fnmatchcase(label, pattern):
        return
    marker = os.environ.get("TA_PAUSE_FILE")
    if marker:
        with open(marker, "a") as fh:
            fh.write(f"{label} {os.getpid()}\n")
    deadline = time.monotonic() + float(os.environ.get("TA_PAUSE_S", "300"))
    while time.monotonic() < deadline:
        time.sleep(0.1)
