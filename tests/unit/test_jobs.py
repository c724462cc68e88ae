"""The job table (transfer_atlas.jobs): every entry resolves to one function, defined once,
run by its script and its rules; naming a job costs its script no heavy import."""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from transfer_atlas import jobs
from transfer_atlas.runtime.start import resolve_target
from transfer_atlas.runtime.wire import registered_targets, target_name

ROOT = Path(__file__).resolve().parents[2]
#: Scripts that are no job of a rule: user commands (also ``transfer-atlas``), stand-in
#: data for tests, and the GPU wrapper a job runs under.
TOOLS = {"check_config", "restore_mtimes", "make_standin", "with_gpus"}


def _rules() -> dict[str, str]:
    """Each rule (or checkpoint) of workflow/rules/ and its text."""
    out = {}
    for path in (ROOT / "workflow" / "rules").glob("*.smk"):
        blocks = re.split(r"^(?=(?:rule|checkpoint) \w+:)", path.read_text(), flags=re.M)
        for block in blocks:
            if m := re.match(r"(?:rule|checkpoint) (\w+):", block):
                out[m.group(1)] = block
    return out


@pytest.mark.parametrize("kind", list(jobs.JOBS))
def test_every_job_resolves_to_one_function_defined_once(kind):
    job = jobs.JOBS[kind]
    assert job.kind == kind and getattr(jobs, kind) is job
    func = job.load()
    assert inspect.isfunction(func), func
    source = Path(inspect.getsourcefile(func))
    tree = ast.parse(source.read_text())
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == func.__name__]
    assert len(defs) == 1, f"{func.__name__} defined {len(defs)} times in {source}"
    assert "argv" in inspect.signature(func).parameters


def test_each_function_has_one_entry():
    funcs = [(f.__module__, f.__qualname__) for f in (j.load() for j in jobs.JOBS.values())]
    assert len(set(funcs)) == len(funcs), funcs


@pytest.mark.parametrize("kind", list(jobs.JOBS))
def test_rule_script_and_entry_are_one_line(kind):
    """rule -> scripts/<kind>.py -> jobs.<kind>: the rules run the script, the script runs
    the entry, and the docs' job table lists it."""
    job, rules = jobs.JOBS[kind], _rules()
    text = (ROOT / job.script).read_text()
    assert f"from transfer_atlas.jobs import {kind}\n" in text and f"{kind}.run(" in text
    for rule in job.rules:
        assert f"$TA_SCRIPTS/{kind}.py" in rules[rule], f"rule {rule} does not run {job.script}"
    func = job.load()
    where = f"{func.__module__.removeprefix('transfer_atlas.')}.{func.__name__}"
    row = f"| `{kind}` | {', '.join(f'`{r}`' for r in job.rules)} | `{job.script}` | `{where}` |"
    assert row in (ROOT / "docs" / "workflow.md").read_text()


def test_every_script_is_a_job_or_a_named_tool():
    scripts = {p.stem for p in (ROOT / "scripts").glob("*.py")}
    assert scripts - TOOLS == set(jobs.JOBS), (scripts - TOOLS) ^ set(jobs.JOBS)
    ran = {m for text in _rules().values() for m in re.findall(r"\$TA_SCRIPTS/(\w+)\.py", text)}
    assert ran - {"with_gpus"} <= set(jobs.JOBS)


def test_warm_jobs_go_by_name_to_the_server():
    """A warm job's name on the wire resolves back to the entry, and is a registrable name."""
    cold = {"fetch_weights"}
    assert {j.kind for j in jobs.WARM} == set(jobs.JOBS) - cold
    timed = {"finetune", "extract_features", "classify", "transferability"}
    assert {j.kind for j in jobs.JOBS.values() if j.timed} == timed
    for job in jobs.WARM:
        name = target_name(job)
        assert name == f"transfer_atlas.jobs:{job.kind}"
        assert resolve_target(name) is job and name in registered_targets(name)
        assert job.warm in ("torch", "sklearn")


def test_naming_a_job_imports_nothing_else():
    """A job's script imports the table before it hands the job to the warm server: only
    the table itself loads (its functions' modules load when the job runs)."""
    code = (
        "import sys; base = set(sys.modules); from transfer_atlas import jobs; "
        "jobs.finetune, jobs.classify; print(' '.join(sorted(set(sys.modules) - base)))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    # the package's __init__ sets the CPU numerics first (core.numerics: os and sys only)
    numerics = {"transfer_atlas.core", "transfer_atlas.core.numerics"}
    assert set(out) <= {"transfer_atlas", "transfer_atlas.jobs", "__future__"} | numerics, out
