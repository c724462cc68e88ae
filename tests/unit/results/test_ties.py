"""Ties said as ties (issue 23): settings within noise of the validation leader are named, and
the one used downstream follows the documented rule (fewest trainable parameters first)."""

import numpy as np
import pandas as pd
import pytest

from transfer_atlas.report import parts
from transfer_atlas.results.stats import comparisons
from transfer_atlas.results.aggregate import summarize
from transfer_atlas.results.findings import findings
from transfer_atlas.results.stats.ties import TIE_RULE
from transfer_atlas.results.views import best_settings


def _runs(lead: float, noise: float, seed: int = 0) -> pd.DataFrame:
    """One model, settings freeze 0 (1000 trainable) and freeze all (10 trainable) and
    scratch (1000), 3 sizes x 4 seeds; freeze 0 leads freeze all by ``lead`` on validation."""
    rng = np.random.default_rng(seed)
    rows = []
    for init, freeze, val, trainable in (("pretrained", "0", 0.80 + lead, 1000),
                                         ("pretrained", "all", 0.80, 10),
                                         ("scratch", "0", 0.50, 1000)):  # fmt: skip
        for size in ("10", "30", "all"):
            for seed_ in range(4):
                v = val + rng.normal(0, noise)
                rows.append(dict(dataset="t", model="m", regime="finetune", init=init,
                                 freeze=freeze, size=size, seed=seed_, n_train=10,
                                 val_accuracy=round(v * 200) / 200, accuracy=0.7,
                                 params_trainable=trainable, params_total=1000))  # fmt: skip
    return pd.DataFrame(rows)


def test_a_lead_within_noise_is_a_tie_broken_by_fewest_trainable_parameters():
    runs = _runs(lead=0.005, noise=0.03)
    best = best_settings(runs).set_index("pool")
    ft = best.loc["finetune"]
    assert ft["tied"] == "freeze 0; freeze all"  # the leader first, scratch far below
    assert ft["setting"] == "freeze all"  # 10 trainable parameters beat 1000
    assert ft["tie_p"] >= 0.05


def test_a_clear_lead_is_no_tie():
    runs = _runs(lead=0.2, noise=0.01)
    ft = best_settings(runs).set_index("pool").loc["finetune"]
    assert ft["setting"] == "freeze 0" and ft["tied"] == "" and np.isnan(ft["tie_p"])


@pytest.fixture
def tied_study():
    runs = pd.concat([_runs(0.005, 0.03), _runs(0.2, 0.01).assign(model="other")])
    runs = runs.assign(
        val_accuracy=lambda d: d["val_accuracy"] - 0.3 * (d["model"] == "other"),
        **{c: 0.5 for c in ("balanced_accuracy", "macro_f1", "cohen_kappa")},
        train_s=1.0, latency_ms=1.0, accuracy_density=1.0, layer="", classifier="",
    )  # fmt: skip
    return runs, best_settings(runs)


def test_findings_and_report_name_every_tied_setting_and_the_rule(tied_study):
    runs, best = tied_study
    text = findings(runs, summarize(runs), best)
    assert "best model is **m** at **freeze all**" in text
    assert "Its settings freeze 0, freeze all are tied within noise on validation" in text
    assert TIE_RULE in text
    claims = parts.claims(comparisons.compare_models(runs, best), parts.ranking_table(runs, best))
    (claim,) = claims
    assert claim["top"] == "m" and claim["tied"] == ["freeze 0", "freeze all"]


def test_with_three_pairs_a_large_consistent_lead_is_no_tie():
    # One size x 3 seeds: Wilcoxon cannot reject (smallest p 0.25), so the t-test decides.
    runs = _runs(lead=0.1, noise=0.01)
    runs = runs[(runs["size"] == "all") & (runs["seed"] < 3)]
    ft = best_settings(runs).set_index("pool").loc["finetune"]
    assert ft["setting"] == "freeze 0" and ft["tied"] == ""
    close = _runs(lead=0.002, noise=0.02)
    close = close[(close["size"] == "all") & (close["seed"] < 3)]
    ft = best_settings(close).set_index("pool").loc["finetune"]
    assert "freeze all" in ft["tied"].split("; ") and ft["setting"] == "freeze all"
