"""The fast per-job JSON is byte-identical to its definition (rerun semantics rely on it)."""

import itertools
import json

from conftest import ROOT

from transfer_atlas.spec.jobspec import JobJson, job_json_reference
from transfer_atlas.spec.preflight import load_study


def test_fast_job_json_matches_the_reference_on_every_cell_of_a_study():
    study = load_study(ROOT / "config" / "config.yaml")
    model_json = {
        m: json.dumps({k: v for k, v in spec.items() if k != "weights"}, sort_keys=True)
        for m, spec in study.models.items()
    }
    fast = JobJson(study.name, model_json)
    cells = list(study.finetune_cells())
    assert len(cells) == 192
    for cell in cells:
        expected = job_json_reference(study.name, model_json[cell["model"]], cell)
        assert fast(**cell) == expected


def test_fast_job_json_escapes_like_json_dumps():
    spec = json.dumps(
        {"arch": "small_cnn", "note": 'ünïcode "quoted"', "x": [1, 2.5]}, sort_keys=True
    )
    fast = JobJson('study "q" é', {"m.1": spec})
    for init, freeze, size, seed in itertools.product(
        ["pretrained", "scratch"], ["0", "all"], ["10", "all"], ["0", "17"]
    ):
        cell = dict(dataset="d-1", model="m.1", init=init, freeze=freeze, size=size, seed=seed)
        assert fast(**cell) == job_json_reference('study "q" é', spec, cell)
