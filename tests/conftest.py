"""Shared helpers: run the real Snakemake workflow in a scratch directory."""

from __future__ import annotations

import fcntl
import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import snakemake_forks
import yaml

# First, as in every job: pins the CPU kernels (core.numerics) before numpy or torch load,
# so jobs run in-process by tests check and record the numerics a real job would.
import transfer_atlas  # noqa: F401
from transfer_atlas.core.hashing import canonical_hash

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def snakemake(
    workdir: Path,
    *args: str,
    configfile: Path | None = None,
    check: bool = True,
    env: dict | None = None,
    timeout: int = 900,
) -> subprocess.CompletedProcess:
    """Run the project's Snakefile with ``workdir`` as working directory."""
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(workdir)]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    # a fresh child of a process that has imported Snakemake (tests/snakemake_forks.py)
    proc = snakemake_forks.run(cmd + list(args), {**os.environ, **(env or {})}, timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def job_counts(output: str) -> dict[str, int]:
    """Parse Snakemake's 'Job stats' table (rule -> count) from a dry run."""
    counts, in_table = {}, False
    for line in output.splitlines():
        if line.startswith("Job stats"):
            in_table = True
            continue
        if in_table:
            m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
            if m and m.group(1) != "total":
                counts[m.group(1)] = int(m.group(2))
            elif line.strip().startswith("total"):
                break
    return counts


def dry_run(workdir: Path, configfile: Path, *extra: str) -> dict[str, int]:
    proc = snakemake(workdir, "-n", "--quiet", "rules", *extra, configfile=configfile)
    return job_counts(proc.stdout + proc.stderr)


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(Path(path).read_text())


def shared_dir(tmp_path_factory) -> Path:
    """A folder of this pytest session that all its xdist workers share (each worker's own
    temp root is a subfolder of it); without xdist, the session's temp root."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_study(tmp_path_factory, name: str, config: Path, *args: str, timeout=900) -> Path:
    """Run ``snakemake --cores 2 ARGS`` on ``config`` once per test session, whichever
    xdist worker asks first; the others wait for it (a file lock) and reuse its folder.

    The folder is named after the config's content and the arguments, so two tests share a
    run only if they asked for the same one. A failed run is not retried: every test that
    asks again fails at once with its output. Tests must not change the folder (copy it).
    """
    text = config.read_text()
    key = canonical_hash({"config": text, "args": list(args)})[:10]
    work = shared_dir(tmp_path_factory) / f"study-{name}-{key}"
    with open(shared_dir(tmp_path_factory) / f"study-{name}-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done, failed = work / ".test-run-done", work / ".test-run-failed"
        if failed.exists():
            raise AssertionError(f"shared {name} study failed earlier:\n{failed.read_text()}")
        if not done.exists():
            if work.exists():  # a worker died mid-run: start again
                shutil.rmtree(work)
            work.mkdir()
            (work / "config.yaml").write_text(text)
            try:
                snakemake(
                    work, "--cores", "2", *args, configfile=work / "config.yaml", timeout=timeout
                )
            except BaseException as exc:
                failed.write_text(str(exc))
                raise
            done.touch()
    return work


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory):
    """The tiny study run end to end once per session: (workdir, configfile).

    Shared by every test (and xdist worker) that reads it: copy it before changing it."""
    work = shared_study(tmp_path_factory, "tiny", ROOT / "tests" / "configs" / "tiny.yaml")
    return work, work / "config.yaml"


@pytest.fixture(scope="session")
def default_study(tmp_path_factory):
    """The default study (config/config.yaml) run once per session, end to end (what
    ``make study`` runs): a few minutes on 2 cores. Its findings are the README's; its
    report is opened in Chromium. Shared like ``tiny_study``: (workdir, configfile)."""
    cfg = ROOT / "config" / "config.yaml"
    work = shared_study(tmp_path_factory, "default", cfg, timeout=1800)
    return work, work / "config.yaml"


# Files a test leaves for a person to look at (screenshots), listed at the end of the run.
# A test names one with ``record_property("artifact", text)``: under xdist, a worker's
# report carries it to the process that prints the summary.
ARTIFACTS: list[str] = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        ARTIFACTS.extend(v for k, v in report.user_properties if k == "artifact")


def pytest_terminal_summary(terminalreporter):
    for line in ARTIFACTS:
        terminalreporter.write_line(f"artifact: {line}")


@functools.cache
def module_shares_a_run(module: str) -> bool:
    """Whether the test module (a path from the root) defines a fixture made once per
    module or class: a study run, a server, a cluster that its tests share."""
    text = (ROOT / module).read_text()
    return re.search(r"scope\s*=\s*[\"'](module|class|package)[\"']", text) is not None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup``: each test goes to the next free worker, except that the tests
    of a module that shares a run (:func:`module_shares_a_run`) go to one worker together,
    so the run is made once (and its teardown, such as stopping the SLURM cluster, cannot
    hit a test of the module on another worker).

    xdist's own loadgroup reads ``xdist_group`` marks through a node id suffix that
    pytest 9.2 no longer lets it set, so grouping is done here, from the node ids alone.
    The groups keep the order :func:`pytest_collection_modifyitems` gives them: xdist
    would otherwise hand out the modules with the most tests first (its
    ``loadscopereorder``), and the default study, a single test, started after five
    minutes of other runs.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False

    class ModuleRunScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module_shares_a_run(module) else nodeid

    return ModuleRunScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """The longest runs first: the default study's first reader, then the other slow tests
    (the study runs), then the rest, each in collection order, and the default study's
    other readers last (started early they would wait for its run, holding a worker); the
    tests of a module that shares a run stay together, at their module's earliest place.
    A long run started last would keep one worker busy while the others idle. Every
    worker sorts the same way."""
    readers = [item for item in items if "default_study" in item.fixturenames]

    def rank(item) -> int:
        if readers and item is readers[0]:
            return 0
        if item in readers:
            return 3
        return 1 if item.get_closest_marker("slow") else 2

    first = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        if module_shares_a_run(module):
            first[module] = min(first.get(module, 3), rank(item))
    items.sort(key=lambda item: first.get(item.nodeid.split("::", 1)[0], rank(item)))


def assert_freeze_semantics(model) -> int:
    """Trainable parameters fall with every freeze depth, ``all`` leaves exactly the head,
    and the groups plus the head partition the parameters; returns the group count."""
    from transfer_atlas.nn import models
    from transfer_atlas.nn.freezing import apply_freeze, count_params

    n_groups = len(models.freeze_groups(model))
    assert n_groups >= 2
    trainable = []
    for depth in range(n_groups + 1):
        apply_freeze(model, depth)
        trainable.append(count_params(model)[1])
    assert all(a > b for a, b in zip(trainable, trainable[1:], strict=False)), trainable
    apply_freeze(model, "all")
    head = sum(p.numel() for p in model.get_classifier().parameters())
    assert count_params(model)[1] == head == trainable[-1]
    trainable_names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable_names == models.classifier_names(model)
    # every parameter is in exactly one group or the head
    grouped = [n for g in models.freeze_groups(model) for n in g]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) | trainable_names == {n for n, _ in model.named_parameters()}
    return n_groups
