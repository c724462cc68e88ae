"""The runs and summary tables: training settings as typed train_ columns, and one reader
that gives the same frame from the parquet and the CSV."""

import json

import pandas as pd
import pytest

from transfer_atlas.results import tables
from transfer_atlas.results.cli import aggregate
from transfer_atlas.spec import record
from transfer_atlas.spec.study import SCHEMA_DIR, TRAIN_DEFAULTS
from transfer_atlas.testing import synthetic

FEATURES = dict(layer="pre_logits", classifier="logreg", dim=16, standardize=True, pca=False,
                pca_components=None, grid_search=True, cv_folds=3, best_params={"C": 1.0},
                extract_s=0.2, torch_imported=False)  # fmt: skip
CLASSIFIER_TRAIN = {"classifier": "logreg", "standardize": True, "grid_search": {"cv": 3}}


def study_records():
    """Synthetic fine-tune records with real training settings (one retried after an OOM,
    one augmented), plus classifier records; sizes all numeric, datasets named '010' and '007'."""
    recs = list(synthetic.records(datasets=2, models=1, freezes=2, sizes=2, seeds=2))
    for i, rec in enumerate(recs):
        rec["size"] = str(10 * (1 + (rec["size"] == "all")))
        rec["dataset"] = {"dataset_0": "010", "dataset_1": "007"}[rec["dataset"]]
        rec["train"] = {**TRAIN_DEFAULTS, "batch_size": 32}
        if i == 0:  # the batch size actually used, after halving it
            rec["train"].update(batch_size=16, oom_retry=True, oom_retry_from=[32])
        if i == 1:
            rec["train"]["augment"] = {"hflip": True, "rotations": [90, 180]}
    finetune = recs[0]
    for seed in (0, 1):
        job = dict(study="synthetic", dataset=finetune["dataset"], model=finetune["model"],
                   layer="pre_logits", classifier="logreg", size="10", seed=seed,
                   options=CLASSIFIER_TRAIN)  # fmt: skip
        shared = ("arch", "n_groups", "n_train", "n_val", "num_classes", "curve", "timing",
                  "params", "size_bytes", "flops")  # fmt: skip
        fields = {k: finetune[k] for k in shared}
        fields["metrics"] = {
            k: v for k, v in finetune["metrics"].items() if k != "accuracy_density"
        }
        recs.append(record.build(
            job, "features", init="pretrained", freeze="all", freeze_groups=fields["n_groups"],
            train=CLASSIFIER_TRAIN, features=FEATURES, device={"type": "cpu", "name": "x"},
            dataset_fingerprint="f" * 64, weights_sha256="a" * 64, **fields,
        ))  # fmt: skip
    return recs


@pytest.fixture(scope="module")
def aggregated(tmp_path_factory):
    """The aggregate step's outputs for ``study_records`` (runs.parquet, runs.csv, summary)."""
    tmp = tmp_path_factory.mktemp("agg")
    paths = []
    for i, rec in enumerate(study_records()):
        paths.append(tmp / f"r{i}.json")
        paths[-1].write_text(json.dumps(rec))
    (tmp / "list.txt").write_text("\n".join(map(str, paths)))
    argv = ["--records", str(tmp / "list.txt"), "--runs", str(tmp / "runs.parquet")]
    assert aggregate(argv + ["--summary", str(tmp / "summary.csv")]) == 0
    return tmp


def test_training_settings_used_are_typed_columns(aggregated):
    runs = tables.read_runs(aggregated / "runs.parquet")
    assert runs["train_batch_size"].dtype == "Int64" and runs["train_lr"].dtype == "float64"
    assert runs["train_oom_retry"].dtype == "boolean"
    ft, fe = runs[runs["regime"] == "finetune"], runs[runs["regime"] == "features"]
    assert sorted(ft["train_batch_size"].unique()) == [16, 32]  # the halved one is visible
    assert (ft["train_optimizer"] == "adam").all() and fe["train_lr"].isna().all()
    retried = ft[ft["train_batch_size"] == 16]
    assert json.loads(retried["train_oom_retry_from"].iloc[0]) == [32]
    augment = ft["train_augment"].map(json.loads)
    assert {"hflip": True, "rotations": [90, 180]} in augment.tolist() and {} in augment.tolist()
    assert (fe["train_classifier"] == "logreg").all() and fe["train_standardize"].all()
    assert fe["train_grid_search"].map(json.loads).tolist() == [{"cv": 3}] * 2
    assert ft["train_classifier"].isna().all()
    # grouping by a setting works directly
    assert set(ft.groupby("train_augment").size()) == {1, len(ft) - 1}


def test_runs_read_back_equal_from_parquet_and_csv(aggregated):
    parquet = tables.read_runs(aggregated / "runs.parquet")
    csv = tables.read_runs(aggregated / "runs.csv")
    pd.testing.assert_frame_equal(parquet, csv, check_exact=True)
    assert set(parquet["size"]) == {"10", "20"} and set(parquet["dataset"]) == {"010", "007"}
    assert parquet["seed"].dtype == "int64" and parquet["n_train"].dtype == "int64"
    ft = parquet[parquet["regime"] == "finetune"]
    assert set(ft["layer"]) == {""} and set(ft["freeze"]) <= {"0", "1", "all"}
    # a plain pandas read of the CSV loses exactly these types
    raw = pd.read_csv(aggregated / "runs.csv")
    assert raw["size"].dtype == "int64" and set(raw["dataset"]) == {10, 7}


def test_summary_reads_back_typed(aggregated):
    summary = tables.read_summary(aggregated / "summary.csv")
    assert set(summary["size"]) == {"10", "20"} and "007" in set(summary["dataset"])
    assert summary["n_runs"].dtype == "int64" and (summary["n_runs"] == 2).all()
    assert set(summary.loc[summary["regime"] == "finetune", "classifier"]) == {""}


def test_unknown_table_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\.parquet or \.csv"):
        tables.read_runs(tmp_path / "runs.json")


def test_every_typed_setting_of_the_config_schema_has_its_column_type():
    schema = json.loads((SCHEMA_DIR / "config.schema.json").read_text())
    defs = schema["$defs"]
    settings = {**defs["train"]["properties"], **defs["features"]["properties"]}
    settings = {k: v for k, v in settings.items() if k not in ("layers", "classifiers")}
    want = {"integer": "Int64", "number": "float64", "boolean": "boolean"}
    for key, prop in settings.items():
        nested = "$ref" in prop or prop.get("type") in ("object", "array")
        expected = "str" if nested or "enum" in prop else want[prop["type"]]
        assert tables.TRAIN_DTYPES.get(key) == expected, key
