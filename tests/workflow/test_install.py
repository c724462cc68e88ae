"""The package installed the ordinary way (not editable) runs the whole workflow.

The checkout is copied, the package is installed from the copy into a folder of its
own (a wheel's files: modules and package data), and the copy's src/ is then deleted:
every job can only import the installed package, so a module, a schema, the report
template or a caption missing from the install fails the run.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SNAKEMAKE
from project_copy import project_files, run

from transfer_atlas.spec import record

pytestmark = pytest.mark.slow


def copy_checkout(dst: Path) -> Path:
    for rel in project_files():
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dst / rel)
    return dst


def package_files(folder: Path) -> set[str]:
    """The package's files below ``folder`` (compiled bytecode left out)."""
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_installed_package_runs_the_workflow_without_src(tmp_path):
    checkout = copy_checkout(tmp_path / "checkout")
    site = tmp_path / "site"
    # The environment's own setuptools builds it (--no-build-isolation): no network.
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation"]
    run(pip + ["--no-index", "--quiet", "--target", str(site), str(checkout)], tmp_path)
    sources = package_files(checkout / "src" / "transfer_atlas")
    for leftover in ("src", "build"):  # build/: setuptools' staging copy of the package
        shutil.rmtree(checkout / leftover, ignore_errors=True)
    env = {"PYTHONPATH": str(site)}
    # PYTHONPATH comes before the editable install of the checkout the tests run from.
    code = "import transfer_atlas; print(transfer_atlas.__file__)"
    where = run([sys.executable, "-c", code], tmp_path, **env)
    assert Path(where.strip()) == site / "transfer_atlas" / "__init__.py"

    work, cfg = tmp_path / "work", tmp_path / "install.yaml"
    work.mkdir()
    shutil.copy(ROOT / "tests" / "configs" / "install.yaml", cfg)
    cmd = [SNAKEMAKE, "-s", str(checkout / "Snakefile"), "-d", str(work), "--cores", "2"]
    run(cmd + ["--configfile", str(cfg)], tmp_path, timeout=900, **env)

    results = work / "results"
    records = sorted((results / "runs").rglob("*.json"))
    names = {p.name for p in records}
    assert names == {
        "pretrained_fall_nall_s0.json",
        "scratch_f0_nall_s0.json",
        "features_pre_logits_logreg_nall_s0.json",
    }
    for path in records:
        record.validate(json.loads(path.read_text()))
    html = (results / "report.html").read_text()
    assert "vegaEmbed" in html and "fig-transferability_scatter" in html
    # Data files no run reads (a figure's caption this study does not draw) ship too.
    missing = sources - package_files(site / "transfer_atlas")
    assert not missing, f"in src/transfer_atlas but not installed: {sorted(missing)}"
