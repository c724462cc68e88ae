"""The ``transfer-atlas`` command: its subcommands call the library's own functions."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from transfer_atlas import cli
from transfer_atlas.results.findings import END, START, readme_block
from transfer_atlas.spec.validate import load_study

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "config.yaml"


def test_the_command_is_installed_from_pyproject():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"transfer-atlas": "transfer_atlas.cli:main"}


def test_help_lists_every_command_and_unknown_ones_fail(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in cli.COMMANDS)
    assert cli.main(["frobnicate"]) == 2 and "unknown command" in capsys.readouterr().err


def test_jobs_counts_the_study_grid(capsys):
    assert cli.main(["jobs", str(CONFIG)]) == 0
    counts = dict(line.split() for line in capsys.readouterr().out.splitlines()[:-1])
    study = load_study(CONFIG)
    assert int(counts["finetune"]) == sum(1 for _ in study.finetune_cells())
    assert int(counts["classify"]) == sum(1 for _ in study.feature_cells())
    assert cli.main(["jobs", str(CONFIG), "--list", "transferability"]) == 0
    cells = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert cells == list(study.transferability_cells())


def test_check_config_refuses_a_bad_config(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: {}\ndatasets: {}\n")
    assert cli.main(["check-config", str(bad)]) == 2
    assert "error:" in capsys.readouterr().err
    assert cli.main(["check-config", str(CONFIG)]) == 0


def test_readme_refreshes_only_the_findings_block(tmp_path):
    readme, findings = tmp_path / "README.md", tmp_path / "findings.md"
    readme.write_text(f"# Title\n\n{START}old\n{END}\n\nrest\n")
    findings.write_text("**digits**: fresh\n")
    assert cli.main(["readme", "--readme", str(readme), "--findings", str(findings)]) == 0
    assert readme_block(readme) == "**digits**: fresh\n"
    assert readme.read_text().startswith("# Title\n") and readme.read_text().endswith("rest\n")


def test_restore_mtimes_needs_pulled_results(tmp_path):
    with pytest.raises(SystemExit) as exc:
        cli.main(["restore-mtimes", "-d", str(tmp_path)])
    assert exc.value.code == 2
