"""The report's provenance shows the study as it ran: defaults filled in, not the raw YAML."""

import html
import json
import re

import pytest
import yaml
from conftest import ROOT

from transfer_atlas.report import figures
from transfer_atlas.report.cli import report
from transfer_atlas.results.findings import main_best
from transfer_atlas.results.views import Tables
from transfer_atlas.spec.study import SPLIT_DEFAULTS, TRAIN_DEFAULTS
from transfer_atlas.testing import synthetic


@pytest.mark.slow  # a job in a subprocess, or seconds of training
def test_provenance_holds_the_resolved_study(tmp_path):
    runs, summary = synthetic.tables(datasets=1, models=2, freezes=2, sizes=2, seeds=2)
    runs.to_parquet(tmp_path / "runs.parquet", index=False)
    summary.to_csv(tmp_path / "summary.csv", index=False)
    assert (
        main_best(["--runs", str(tmp_path / "runs.parquet"), "--out", str(tmp_path / "best.csv")])
        == 0
    )
    name, make = next(iter(figures.FIGURES.items()))
    spec = make(Tables(summary=summary, runs=runs)).to_dict()
    (tmp_path / f"{name}.vl.json").write_text(json.dumps(spec))
    raw = yaml.safe_load((ROOT / "tests" / "configs" / "tiny.yaml").read_text())
    argv = ["--runs", str(tmp_path / "runs.parquet"), "--summary", str(tmp_path / "summary.csv"),
            "--best", str(tmp_path / "best.csv"), "--figures", str(tmp_path / f"{name}.vl.json"),
            "--config", json.dumps(raw),
            "--out", str(tmp_path / "report.html")]  # fmt: skip
    assert report([*argv, "--repo", str(ROOT)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert "Transfer Atlas — tiny" in page
    block = re.search(r'<h2 id="provenance">.*?<pre>(.*?)</pre>', page, re.S).group(1)
    config = json.loads(html.unescape(block))["config"]
    # every training setting, the study's (epochs 1, batch 16) over the defaults
    for model in ("cnn", "tres"):
        assert config["models"][model]["train"] == {**TRAIN_DEFAULTS, "epochs": 1, "batch_size": 16}
    assert config["models"]["cnn"]["weights"]["train"]["epochs"] == 2  # pretraining's own
    assert all(d["split"] == SPLIT_DEFAULTS for d in config["datasets"].values())
    assert config["grid"] == raw["grid"] and config["study"] == "tiny"
    assert "train" not in config  # folded into each model's, not shown twice
