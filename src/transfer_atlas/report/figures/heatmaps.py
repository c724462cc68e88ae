"""The heatmaps: mean test score, and the gain over scratch, per setting x training size.

One panel per model x dataset; cells carry their value (and a star where a paired test
rejects), tooltips the 95% interval and the number of runs.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from transfer_atlas.report.figures.style import (
    KEEP_DATASET,
    KEEP_MODEL,
    METRIC_FIELDS,
    METRIC_TITLE,
    PARAMS,
    metric_columns,
)
from transfer_atlas.results.aggregate import size_order
from transfer_atlas.results.views import Tables, compact, finetune_cells, setting_order

alt.data_transformers.disable_max_rows()


def _heatmap(df, value, title, scale, label, dark, sizes, freezes, params, calc=None):
    """Cells freeze x size, one panel per model x dataset; ``label``/``dark`` are expressions."""
    base = alt.Chart().encode(
        x=alt.X("size:N", sort=sizes, title="training-set size n"),
        y=alt.Y("setting:N", sort=freezes, title=None),
    )
    tooltip = [
        "dataset:N",
        "model:N",
        "setting:N",
        "size:N",
        alt.Tooltip("n_train:Q", title="training examples"),
        alt.Tooltip(f"{value}:Q", format="+.1f" if value == "gain" else ".3f", title="mean"),
        alt.Tooltip("low:Q", format=".1f" if value == "gain" else ".3f", title="95% CI low"),
        alt.Tooltip("high:Q", format=".1f" if value == "gain" else ".3f", title="95% CI high"),
        alt.Tooltip("n:Q", title="n runs"),
    ]
    if value == "gain":
        tooltip.append(alt.Tooltip("p_holm:Q", format=".3g", title="Holm-adjusted p"))
    rect = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", scale=scale, title=title), tooltip=tooltip
    )
    text = base.mark_text(fontSize=9).encode(
        text="label:N", color=alt.condition(dark, alt.value("white"), alt.value("#222"))
    )
    layer = alt.layer(rect, text).transform_filter(KEEP_DATASET).transform_filter(KEEP_MODEL)
    for name, expr in (calc or {}).items():  # in order: later fields may use earlier ones
        layer = layer.transform_calculate(**{name: expr})
    layer = layer.transform_calculate(label=label)
    return (
        layer.properties(width=38 * len(sizes), height=22 * len(freezes))
        .facet(
            data=df,
            row=alt.Row("model:N", title="model"),
            column=alt.Column("dataset:N", title="target dataset"),
        )
        .add_params(*[PARAMS[p] for p in params])
    )


def accuracy_heatmap(tables: Tables | pd.DataFrame) -> alt.FacetChart:
    """Mean test score (metric chosen in the report) per setting x training size."""
    cells = finetune_cells(_summary(tables))
    cells = cells.rename(columns={"n_runs": "n"})
    keep = ["dataset", "model", "setting", "size", "n_train", "n"] + metric_columns()
    df = compact(cells[[c for c in keep if c in cells]])
    return _heatmap(
        df,
        "score",
        "mean test score",
        alt.Scale(scheme="viridis", domain=[0, 1], clamp=True),
        "format(datum.score, '.2f')",
        "datum.score < 0.55",
        size_order(df["size"]),
        setting_order(df["setting"]),
        ("dataset", "model", "metric"),
        {**METRIC_FIELDS, "low": "datum.score_low", "high": "datum.score_high"},
    ).properties(title=alt.TitleParams(text=METRIC_TITLE))


def gain_heatmap(tables: Tables | pd.DataFrame) -> alt.FacetChart:
    """Test-accuracy gain over the from-scratch baseline in percentage points, paired by
    seed; diverging around zero.

    A ``*`` marks cells whose gain a Wilcoxon signed-rank test over seeds rejects at
    ``stats.ALPHA`` after Holm's correction over every cell of the figure (``gain_p_holm``
    from the aggregate step). When the number of seeds makes that impossible, the title
    says so instead.
    """
    from transfer_atlas.results.stats import paired as stats

    cells = finetune_cells(_summary(tables))
    df = cells[(cells["init"] == "pretrained")].dropna(subset=["gain_mean"])
    df = df.rename(columns={"gain_n_pairs": "n", "gain_p_holm": "p_holm"})
    for col in ("mean", "ci95_low", "ci95_high"):  # fractions -> percentage points
        df[{"mean": "gain", "ci95_low": "low", "ci95_high": "high"}[col]] = 100 * df[f"gain_{col}"]
    df["star"] = (df["p_holm"] < stats.ALPHA).map({True: "*", False: ""})
    cols = ["dataset", "model", "setting", "size", "n_train", "gain", "n", "low", "high"]
    df = compact(df[cols + ["p_holm"]]).assign(star=df["star"])
    limit = max(5.0, float(df["gain"].abs().max())) if len(df) else 100.0
    k = int(cells["gain_n_tested"].max()) if len(df) else 0
    floor = min(1.0, len(df) * stats.smallest_p(k))
    if floor > stats.ALPHA:
        note = (
            f"no cell can be starred: with at most {k} nonzero seed pairs the smallest p is "
            f"{stats.smallest_p(k):.3g}, {floor:.3g} after Holm over {len(df)} cells"
        )
    else:
        note = f"* = Wilcoxon over seeds, Holm over {len(df)} cells, p < {stats.ALPHA}"
    return _heatmap(
        df,
        "gain",
        "gain (points)",
        alt.Scale(scheme="redblue", domain=[-limit, limit], domainMid=0),
        "format(datum.gain, '+.1f') + datum.star",
        f"abs(datum.gain) > {0.6 * limit:.4f}",
        size_order(df["size"]),
        setting_order(df["setting"]),
        ("dataset", "model"),
    ).properties(
        title=alt.TitleParams(
            "gain over scratch, test accuracy in percentage points (paired by seed)",
            subtitle=[note, "intervals: 95% over seeds (subset, head init, data order)"],
        )
    )


def _summary(tables) -> pd.DataFrame:
    return tables.summary if isinstance(tables, Tables) else tables
