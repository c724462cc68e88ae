"""Sharing through DVC: push a finished study to a real (local) remote, clone, pull.

The colleague's clone must have nothing to recompute (after restoring modification
times, which DVC does not keep) and must rebuild the same report from the pulled
records, except for the fields documented in the README ("Sharing results").
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
from conftest import load_yaml, write_config
from project_copy import BIN, copy_project, run

pytestmark = pytest.mark.slow

DVC = str(BIN / "dvc")
SNAKEMAKE = str(BIN / "snakemake")
PYTHON = str(BIN / "python")
CONFIG = "tests/configs/tiny.yaml"

# Report fields that legitimately differ when the report is rebuilt elsewhere.
VOLATILE = [
    (re.compile(r"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC"), "generated <time>"),
    (re.compile(r'"git_commit": ("[0-9a-f]*"|null)'), '"git_commit": <commit>'),
    (re.compile(r'"git_dirty": (true|false|null)'), '"git_dirty": <dirty>'),
    (re.compile(r"<dt>git commit</dt><dd>.*?</dd>"), "<dt>git commit</dt><dd><commit></dd>"),
]


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def normalised_report(path: Path) -> str:
    html = path.read_text()
    for pattern, repl in VOLATILE:
        html = pattern.sub(repl, html)
    return html


@pytest.fixture
def team_repo(tiny_study, tmp_path):
    """The project as a team's git + DVC repo, holding a finished tiny study."""
    repo = copy_project(tmp_path / "team")
    # The team's own inputs, versioned by DVC (the tiny study itself needs none).
    (repo / "data").mkdir(exist_ok=True)
    (repo / "data" / "README.md").write_text("team inputs\n")
    (repo / "data" / "labels.csv").write_text("file,label\na.png,0\n")
    run([DVC, "add", "data"], repo)
    # The study's results: the session's tiny run, with Snakemake's metadata.
    work, _ = tiny_study
    shutil.copytree(work / "results", repo / "results")
    shutil.copytree(work / ".snakemake" / "metadata", repo / ".snakemake" / "metadata")
    out = run([SNAKEMAKE, "-n", "--configfile", CONFIG], repo)
    assert "Nothing to be done" in out, out
    return repo


def test_push_clone_pull_reruns_nothing_and_rebuilds_the_same_report(team_repo, tmp_path):
    repo, remote = team_repo, tmp_path / "remote"
    # Share: track the results, point at a remote, commit, push (README commands).
    run([DVC, "add", "results"], repo)
    run([DVC, "remote", "add", "-d", "store", str(remote)], repo)
    run(["git", "add", "data.dvc", "results.dvc", ".gitignore", ".dvc/config"], repo)
    run(["git", "commit", "-q", "-m", "tiny study results"], repo)
    run([DVC, "push"], repo)
    assert any(remote.rglob("*")), "dvc push wrote nothing to the remote"

    # A colleague: fresh clone, pull, restore modification times.
    clone = tmp_path / "colleague"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    assert not (clone / "results").exists() and not (clone / "data").exists()
    run([DVC, "pull"], clone)
    assert tree_digest(clone / "results") == tree_digest(repo / "results")
    assert tree_digest(clone / "data") == tree_digest(repo / "data")
    out = run([PYTHON, "scripts/restore_mtimes.py", "--configfile", CONFIG], clone)
    out = run([SNAKEMAKE, "-n", "--configfile", CONFIG], clone)
    assert "Nothing to be done" in out, out
    # Restoring touched nothing's content: DVC still sees the pulled results as committed.
    assert "up to date" in run([DVC, "status"], clone).lower()

    # Rebuilt from the pulled records, the report matches except for documented fields.
    before = (repo / "results" / "report.html").read_bytes()
    assert (clone / "results" / "report.html").read_bytes() == before
    run([SNAKEMAKE, "--cores", "1", "--forcerun", "report", "--configfile", CONFIG], clone)
    rebuilt = clone / "results" / "report.html"
    assert normalised_report(rebuilt) == normalised_report(repo / "results" / "report.html")

    # The restored metadata keeps the rerun semantics: one model's change reruns its jobs.
    cfg = load_yaml(clone / CONFIG)
    cfg["models"]["cnn"]["train"] = {"lr": 0.01}
    changed = write_config(clone / "changed.yaml", cfg)
    out = run([SNAKEMAKE, "-n", "--configfile", str(changed)], clone)
    jobs = [ln.split("output: ")[1] for ln in out.splitlines() if "output: results/runs/" in ln]
    assert len(jobs) == 6 and all("/cnn/" in j for j in jobs), jobs
