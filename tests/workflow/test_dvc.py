"""Sharing through DVC: push a finished study to a real (local) remote, clone, pull.

The colleague's clone must have nothing to recompute (after restoring modification
times, which DVC does not keep) and must rebuild the same report from the pulled
records, except for the fields documented in docs/sharing.md.
The same round trip against an S3-compatible server: tests/workflow/test_dvc_s3.py.
"""

from __future__ import annotations

import pytest
from conftest import load_yaml, write_config
from dvc_share import CONFIG, SNAKEMAKE, clone_and_pull, make_team_repo, normalised_report, share
from project_copy import run

pytestmark = pytest.mark.slow


@pytest.fixture
def team_repo(tiny_study, tmp_path):
    """The project as a team's git + DVC repo, holding a finished tiny study."""
    return make_team_repo(tiny_study, tmp_path / "team")


def test_push_clone_pull_reruns_nothing_and_rebuilds_the_same_report(team_repo, tmp_path):
    repo, remote = team_repo, tmp_path / "remote"
    # Share: track the results, point at a remote, commit, push (docs/sharing.md commands).
    share(repo, str(remote))
    assert any(remote.rglob("*")), "dvc push wrote nothing to the remote"

    # A colleague: fresh clone, pull, restore modification times, nothing to do.
    clone = clone_and_pull(repo, tmp_path / "colleague")

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
