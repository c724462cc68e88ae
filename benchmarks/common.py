"""Shared helpers for the benchmarks: environment, timing, result files, tables.

Every figure a benchmark reports is a ratio of two things measured side by side in
the same run, so that a loaded or slow machine moves both sides alike.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
PYTHON = sys.executable
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def device_name(device: str = "auto") -> str:
    """A short, file-name-safe name of the device the benchmark runs on."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(0)
        return "cuda-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return "cpu"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# The load when the benchmark began (import time for a standalone script; run.py marks
# each benchmark's start), so the result shows how busy the machine was at both ends.
_START = {"load": list(os.getloadavg())}


def mark_start() -> None:
    _START["load"] = list(os.getloadavg())


def environment(device: str) -> dict:
    return {
        "device": device,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": _START["load"],
        "python": platform.python_version(),
        "commit": git_commit(),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_result(name: str, device: str, payload: dict, command: str, variant: str = "") -> Path:
    """``results/<name>-<device>[-<variant>].json``: a variant (another setting of the same
    benchmark) gets its own file instead of overwriting the default run's figures."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{device}{'-' + variant if variant else ''}.json"
    env = environment(device)
    env["load_average_at_end"] = list(os.getloadavg())
    out = {"benchmark": name, "command": command, "environment": env, **payload}
    path.write_text(json.dumps(out, indent=2, sort_keys=False) + "\n")
    return path


def print_table(title: str, rows: list[dict], columns: list[str]) -> None:
    """A plain fixed-width table on stdout."""

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print(f"\n{title}")
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    sys.stdout.flush()


def median(values) -> float:
    return float(statistics.median(values))


def timed_subprocess(cmd: list[str], env: dict | None = None, **kw) -> float:
    """Wall seconds of one child process run to completion (it must succeed)."""
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, **(env or {})}, **kw)
    return time.perf_counter() - t


def cold_import_torch_s(repeats: int = 3) -> list[float]:
    """Wall seconds of a cold ``python -c "import torch"``, ``repeats`` times."""
    return [timed_subprocess([PYTHON, "-c", "import torch"]) for _ in range(repeats)]


RUN_PATTERN = "results/runs/{dataset}/{model}/{init}_f{freeze}_n{size}_s{seed}.json"


def record_paths(config: dict) -> list[str]:
    """The fine-tune records a config asks for (paths relative to the workdir)."""
    from transfer_atlas.spec.study import resolve

    return [RUN_PATTERN.format(**cell) for cell in resolve(config).finetune_cells()]


def run_workflow(workdir: Path, config: dict, *targets: str, cores: int = 2, env=None) -> float:
    """Run the project's Snakefile on ``config`` in ``workdir``; return wall seconds.

    Without ``targets``: the config's fine-tune records (prepared data and pretrained
    weights included, no tables or report).
    """
    import yaml

    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [SNAKEMAKE, *(targets or record_paths(config)), "--cores", str(cores)]
    cmd += ["-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--configfile", str(cfg)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(
            f"snakemake failed in {workdir}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return wall


def load_records(workdir: Path) -> list[dict]:
    return [
        json.loads(p.read_text()) for p in sorted((workdir / "results" / "runs").rglob("*.json"))
    ]


def warm_env(base: Path, idle_s: int = 5) -> dict:
    """A private warm server for one benchmark (started cold inside it, gone soon after)."""
    return {
        "TA_WARM": "1",
        # its own folder (checked: private to this user), not a benchmark's workdir
        "TA_WARM_DIR": str(base / "warm-sockets"),
        "TA_WARM_IDLE": str(idle_s),
    }
