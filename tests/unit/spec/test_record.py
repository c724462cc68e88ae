"""The one run-record builder: coordinates typed once, one meaning of config_hash, the
schema checked, for fine-tune, classifier and synthetic records alike."""

import copy
import json

import pytest

from transfer_atlas.core.hashing import canonical_hash
from transfer_atlas.spec import record
from transfer_atlas.spec.jobspec import job_json_reference
from transfer_atlas.testing import synthetic

SPEC = {"arch": "small_cnn", "input_size": 8, "train": {"optimizer": "adam", "lr": 0.003}}
OPTIONS = {"standardize": True, "pca": False}


def finetune_job(study="s", init="pretrained", freeze="all", size="8", seed="1", spec=SPEC):
    """A fine-tune job as the workflow writes it (wildcards are strings)."""
    cell = dict(dataset="d", model="m", init=init, freeze=freeze, size=size, seed=seed)
    return json.loads(job_json_reference(study, json.dumps(spec, sort_keys=True), cell))


def classifier_job(study="s", classifier="logreg", layer="pre_logits", options=OPTIONS):
    """A classifier job as the workflow writes it (size a string, seed an int)."""
    return dict(study=study, dataset="d", model="m", layer=layer, classifier=classifier,
                size="8", seed=1, options=options)  # fmt: skip


def measured(**extra):
    """What a job measures and passes in: the rest of a valid record."""
    cm = [[3, 1], [0, 4]]
    metrics = dict(accuracy=0.875, balanced_accuracy=0.875, macro_precision=0.9,
                   macro_recall=0.875, macro_f1=0.87, cohen_kappa=0.75, n_test=8,
                   confusion_matrix=cm, val_accuracy=0.75)  # fmt: skip
    timing = dict(train_s=1.0, throughput_img_s=8.0, latency_ms=0.5, epochs_run=1,
                  best_epoch=1, startup="cold", fixed_cost_s=0.1, total_s=1.5,
                  prefix_cached=0)  # fmt: skip
    fields = dict(arch="small_cnn", freeze_groups=2, n_groups=2, n_train=8, n_val=8, num_classes=2,
                  metrics=metrics, curve=[], timing=timing, params={"total": 10, "trainable": 2},
                  size_bytes=2_000_000, flops=100, train={"lr": 0.003}, device={"type": "cpu"},
                  dataset_fingerprint="f" * 64, weights_sha256="a" * 64)  # fmt: skip
    return {**fields, **extra}


FEATURES = dict(layer="pre_logits", classifier="logreg", dim=16, standardize=True, pca=False,
                pca_components=None, grid_search=False, cv_folds=None, best_params={},
                extract_s=0.1, torch_imported=False)  # fmt: skip


def test_the_three_regimes_get_the_same_common_fields():
    ft = record.build(finetune_job(), "finetune", **measured())
    fe = record.build(
        classifier_job(), "features", init="pretrained", freeze="all", features=FEATURES,
        **measured(),
    )  # fmt: skip
    common = ["schema_version", "study", "dataset", "model", "init", "freeze", "size", "seed",
              "n_train", "metrics", "params"]  # fmt: skip
    assert {k: ft[k] for k in common} == {k: fe[k] for k in common}
    assert (ft["freeze"], ft["size"], ft["seed"]) == ("all", "8", 1)  # typed once
    assert ft["metrics"]["accuracy_density"] == pytest.approx(0.875 / 2.0)
    assert set(ft["provenance"]) == set(fe["provenance"])
    assert ft["provenance"]["code_version"] == record.code_version()
    assert "features" not in ft and fe["features"] == FEATURES
    # synthetic records come from the same builder: same types, same provenance keys
    syn = next(synthetic.records(datasets=1, models=1, freezes=2, sizes=2, seeds=1))
    record.validate(syn)
    assert {k: type(syn[k]) for k in common} == {k: type(ft[k]) for k in common}
    assert set(syn["provenance"]) == set(ft["provenance"])


def test_a_scratch_run_records_freeze_0_and_int_seed():
    rec = record.build(finetune_job(init="scratch", freeze="2", seed="3"), "finetune", **measured())
    assert (rec["init"], rec["freeze"], rec["seed"]) == ("scratch", "0", 3)


def test_config_hash_ignores_study_and_coordinates_but_not_settings():
    base = record.config_hash(finetune_job())
    assert base == canonical_hash({"model_spec": SPEC, "numerics": "portable"})
    assert record.config_hash(finetune_job(study="other", freeze="0", size="all", seed="7")) == (
        base
    )
    faster = copy.deepcopy(SPEC)
    faster["train"]["lr"] = 0.01
    assert record.config_hash(finetune_job(spec=faster)) != base
    clf = record.config_hash(classifier_job())
    assert clf == canonical_hash({"options": OPTIONS})
    assert record.config_hash(classifier_job(classifier="svm_rbf", layer="stage0")) == clf
    assert record.config_hash(classifier_job(options={**OPTIONS, "pca": True})) != clf
    rec = record.build(finetune_job(), "finetune", **measured())
    assert rec["provenance"]["config_hash"] == base


def test_a_record_off_the_schema_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="n_train"):
        record.build(finetune_job(), "finetune", **measured(n_train=0))
    with pytest.raises(ValueError, match="freeze"):
        record.build(finetune_job(freeze="deep"), "finetune", **measured())
