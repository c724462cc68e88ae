"""The per-job JSON is a pure, byte-stable function of the cell and the model spec
(rerun semantics rely on it: Snakemake's params trigger compares these strings)."""

import json

from conftest import ROOT

from transfer_atlas.spec.jobspec import job_json_reference
from transfer_atlas.spec.validate import load_study


def test_job_json_of_every_cell_of_a_study_is_sorted_typed_and_round_trips():
    study = load_study(ROOT / "config" / "config.yaml")
    model_json = {
        m: json.dumps({k: v for k, v in spec.items() if k != "weights"}, sort_keys=True)
        for m, spec in study.models.items()
    }
    cells = list(study.finetune_cells())
    texts = {job_json_reference(study.name, model_json[c["model"]], c) for c in cells}
    assert len(texts) == len(cells)  # one string per job, none shared
    for cell in cells:
        text = job_json_reference(study.name, model_json[cell["model"]], cell)
        job = json.loads(text)
        assert text == json.dumps(job, sort_keys=True)  # byte-stable: sorted keys
        assert job["seed"] == int(cell["seed"]) and isinstance(job["seed"], int)
        assert {k: job[k] for k in ("dataset", "model", "init", "freeze", "size")} == {
            k: cell[k] for k in ("dataset", "model", "init", "freeze", "size")
        }
        assert json.dumps(job["model_spec"], sort_keys=True) == model_json[cell["model"]]


def test_job_json_escapes_like_json_dumps():
    spec = json.dumps(
        {"arch": "small_cnn", "note": 'ünïcode "quoted"', "x": [1, 2.5]}, sort_keys=True
    )
    cell = dict(dataset="d-1", model="m.1", init="scratch", freeze="0", size="all", seed="17")
    text = job_json_reference('study "q" é', spec, cell)
    assert json.loads(text)["model_spec"]["note"] == 'ünïcode "quoted"'
    assert json.loads(text)["study"] == 'study "q" é'
