"""Claims as the tests found them: a significant loss reads as a loss (issue 25, item 1), and
the signed-rank p-values are computed on exact differences, ties as ties (item 2)."""

import numpy as np
import pandas as pd
import pytest

from transfer_atlas.report import parts
from transfer_atlas.results.stats import comparisons as stats_comparisons
from transfer_atlas.results.aggregate import summarize
from transfer_atlas.results.findings import findings
from transfer_atlas.results.stats.paired import exact_differences, signed_rank_p
from transfer_atlas.results.views import best_settings
from transfer_atlas.testing import synthetic


@pytest.fixture(scope="module")
def chosen_but_worse():
    """model_00 ranks first on validation everywhere but is far worse on test."""
    runs, _ = synthetic.tables(datasets=1, models=2, freezes=2, sizes=3, seeds=4)
    mine = runs["model"] == "model_00"
    runs.loc[mine, "val_accuracy"] = 0.99
    runs.loc[mine, "accuracy"] = runs.loc[mine, "accuracy"] - 0.3
    return runs, summarize(runs), best_settings(runs)


def test_findings_word_a_significant_loss_as_a_loss(chosen_but_worse):
    runs, summary, best = chosen_but_worse
    text = findings(runs, summary, best)
    line = next(x for x in text.splitlines() if x.startswith("- model_00 "))
    assert "model_00 is significantly worse than model_01" in line, line
    assert "points lower on average" in line
    assert "beat" not in line


def test_report_claims_word_a_significant_loss_as_a_loss(chosen_but_worse):
    runs, _, best = chosen_but_worse
    comparisons = stats_comparisons.compare_models(runs, best)
    (claim,) = parts.claims(comparisons, parts.ranking_table(runs, best))
    (line,) = claim["lines"]
    assert line["verb"] == "is significantly worse than" and line["loses"]
    assert not line["beats"] and line["direction"] == "lower"


def test_claim_wording_for_each_verdict():
    assert stats_comparisons.claim("a", "b", "a better", 0.1) == ("beats", "higher")
    assert stats_comparisons.claim("a", "b", "b better", -0.1) == ("is significantly worse than", "lower")
    assert stats_comparisons.claim("a", "b", "no significant difference", -0.01) == (
        "is not shown to differ from",
        "lower",
    )


X24 = [2, 0, 2, -1, 3, 2, 1, 2, -1, 2, 1, -1]


def test_exact_ties_example_gives_the_exact_p():
    # 11 nonzero differences, ties at |1| (5), |2| (5): average ranks 3 and 8, |3| rank 11;
    # T- = 3 * 3 = 9 (T+ = 57); of the 2**11 sign patterns, 62 are as far from the mean
    # 33 as that: p = 62/2048 = 31/1024 = 0.0303. The no-ties null would give 0.0322.
    assert signed_rank_p(X24) == pytest.approx(0.0303, abs=5e-5)
    assert signed_rank_p(X24) == 31 / 1024


def test_float_round_off_does_not_change_the_p_value():
    # The same differences as accuracies over 24 test images, each pair computed from
    # different counts: the float differences differ in the last bits.
    rng = np.random.default_rng(0)
    base = rng.integers(5, 19, len(X24))
    a, b = (base + np.array(X24)) / 24, base / 24
    float_diffs = a - b
    assert len(set(np.abs(float_diffs[float_diffs != 0]))) > 3  # round-off broke the ties
    exact = exact_differences(a, b)
    assert list(exact) == X24
    assert signed_rank_p(exact) == signed_rank_p(float_diffs) == 31 / 1024


def test_synthetic_cases_agree_with_counts():
    # 400 random 12-pair cases over 24 images: the p of the float accuracies equals the
    # p of the integer count differences every time.
    rng = np.random.default_rng(1)
    for _ in range(400):
        ca, cb = rng.integers(0, 25, 12), rng.integers(0, 25, 12)
        p_float = signed_rank_p(exact_differences(ca / 24, cb / 24))
        assert p_float == signed_rank_p((ca - cb).tolist())


def test_compare_models_uses_exact_differences():
    rows = []
    for i, d in enumerate(X24):
        base = 6 + (i % 5)
        for model, c in (("a", base + d), ("b", base)):
            rows.append(dict(dataset="t", model=model, init="pretrained", freeze="0",
                             size="all", seed=i, regime="finetune", accuracy=c / 24,
                             val_accuracy=0.5))  # fmt: skip
    runs = pd.DataFrame(rows)
    best = pd.DataFrame(
        [dict(dataset="t", model=m, pool="finetune", setting="freeze 0") for m in "ab"]
    )
    (row,) = stats_comparisons.compare_models(runs, best).itertuples()
    assert row.p == 31 / 1024 and row.n_tested == 11 and (row.wins_a, row.wins_b) == (8, 3)


def test_a_pretrained_cell_without_scratch_baseline_is_not_called_scratch():
    runs, _ = synthetic.tables(datasets=1, models=2, freezes=2, sizes=2, seeds=2)
    runs = runs[runs["init"] == "pretrained"]
    text = findings(runs, summarize(runs), best_settings(runs))
    assert "no scratch baseline" in text and "this is scratch" not in text
