"""Helpers for the DVC sharing tests (tests/workflow/test_dvc.py, test_dvc_s3.py).

A team repo holding a finished tiny study is shared through a DVC remote with the
commands of docs/sharing.md; a colleague clones, pulls and restores modification times,
after which Snakemake has nothing to do.
"""

from __future__ import annotations

import hashlib
import html
import re
import shutil
from pathlib import Path

from project_copy import BIN, copy_project, run

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
    """The report as text with entities decoded (the page escapes its provenance JSON)
    and the documented volatile fields masked."""
    text = html.unescape(path.read_text())
    for pattern, repl in VOLATILE:
        text = pattern.sub(repl, text)
    return text


def make_team_repo(tiny_study, dst: Path) -> Path:
    """The project as a team's git + DVC repo at ``dst``, holding a finished tiny study."""
    repo = copy_project(dst)
    # Like the default study, the tiny study reads nothing under data/: no data/ folder.
    # The study's results: the session's tiny run, with Snakemake's metadata.
    work, _ = tiny_study
    shutil.copytree(work / "results", repo / "results")
    shutil.copytree(work / ".snakemake" / "metadata", repo / ".snakemake" / "metadata")
    out = run([SNAKEMAKE, "-n", "--configfile", CONFIG], repo)
    assert "Nothing to be done" in out, out
    return repo


def share(repo: Path, remote_url: str, *remote_options: tuple[str, str], **env) -> None:
    """docs/sharing.md: add a default remote (plus its options) and commit it; then
    `mkdir -p data`, track data/ and results/, commit, push."""
    run([DVC, "remote", "add", "-d", "store", remote_url], repo, **env)
    for key, value in remote_options:
        run([DVC, "remote", "modify", "store", key, value], repo, **env)
    run(["git", "add", ".dvc/config"], repo)
    run(["git", "commit", "-q", "-m", "DVC remote"], repo)
    (repo / "data").mkdir(exist_ok=True)
    run([DVC, "add", "data", "results"], repo, **env)
    run(["git", "add", "data.dvc", "results.dvc", ".gitignore", "config/"], repo)
    run(["git", "commit", "-q", "-m", "tiny study results"], repo)
    run([DVC, "push"], repo, **env)


def clone_and_pull(repo: Path, clone: Path, **env) -> Path:
    """docs/sharing.md: a colleague's fresh clone, `dvc pull`, restored modification times; then
    the same files as the team's and nothing for Snakemake to do."""
    run(["git", "clone", "-q", str(repo), str(clone)], clone.parent)
    assert not (clone / "results").exists() and not (clone / "data").exists()
    run([DVC, "pull"], clone, **env)
    assert tree_digest(clone / "results") == tree_digest(repo / "results")
    assert tree_digest(clone / "data") == tree_digest(repo / "data")
    run([PYTHON, "scripts/restore_mtimes.py", "--configfile", CONFIG], clone)
    out = run([SNAKEMAKE, "-n", "--configfile", CONFIG], clone)
    assert "Nothing to be done" in out, out
    # Restoring touched nothing's content: DVC still sees the pulled results as committed.
    assert "up to date" in run([DVC, "status"], clone, **env).lower()
    return clone
