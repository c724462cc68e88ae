"""Figures that look past the cell means: model ranking, learning curves, confusion.

Each is drawn for every model at its best setting (chosen on validation accuracy,
``results/best_settings.csv``; see ``views.best_settings``) at the
dataset's largest training size, so its size grows with models x datasets, not runs.
"""

from __future__ import annotations

import altair as alt

from transfer_atlas.report.figures.style import controlled, declare, metric_columns, metric_title
from transfer_atlas.results.views import (
    Tables,
    at_best,
    compact,
    confusion_table,
    curves_table,
    finetune_cells,
    largest_size,
)


def _best(tables: Tables):
    return finetune_cells(tables.summary), tables.chosen()


def ranking(tables: Tables) -> alt.FacetChart:
    """Models per dataset, best first: mean and 95% CI across seeds at the largest size."""
    cells, best = _best(tables)
    df = largest_size(at_best(cells, best)).rename(columns={"n_runs": "n"})
    df = compact(df[["dataset", "model", "setting", "size", "n"] + metric_columns()])
    base = alt.Chart().encode(
        y=alt.Y("model:N", sort=alt.EncodingSortField("score", order="descending"), title=None)
    )
    tooltip = [
        "model:N",
        "setting:N",
        "size:N",
        alt.Tooltip("score:Q", format=".3f", title="mean"),
        alt.Tooltip("score_low:Q", format=".3f", title="95% CI low"),
        alt.Tooltip("score_high:Q", format=".3f", title="95% CI high"),
        alt.Tooltip("n:Q", title="n runs"),
    ]
    bars = base.mark_rule(strokeWidth=2, color="#888").encode(
        x=alt.X(
            "bar_low:Q",
            title="mean test score (metric in the title)",
            scale=alt.Scale(zero=False),
        ),
        x2="bar_high:Q",
        tooltip=tooltip,
    )
    dots = base.mark_point(filled=True, size=60).encode(
        x="score:Q", color=alt.Color("model:N", legend=None), tooltip=tooltip
    )
    text = base.mark_text(align="left", dx=6, dy=-8, fontSize=9, color="#555").encode(
        x="bar_high:Q", text="nlabel:N"
    )
    layer = controlled(alt.layer(bars, dots, text), "dataset", "model", "metric")
    # Scores live in [-1, 1] (kappa) or [0, 1]: a t-interval past the bound is drawn clipped.
    layer = layer.transform_calculate(
        nlabel="datum.n > 1 ? 'n=' + datum.n : 'n=1, no interval'",
        # one run has no interval: the bar shrinks to the point
        bar_low="isValid(datum.score_low) ? max(datum.score_low, metric == 'cohen_kappa' ? -1 : 0)"
        " : datum.score",
        bar_high="isValid(datum.score_high) ? min(datum.score_high, 1) : datum.score",
    ).properties(width=360)
    chart = layer.facet(data=df, row=alt.Row("dataset:N", title="target dataset"))
    chart = chart.resolve_scale(y="independent").properties(
        title=metric_title(
            "model ranking by test {metric} at the largest training size (bars: 95% CI)"
        )
    )
    return declare(chart, "dataset", "model", "metric")


def learning_curves(tables: Tables) -> alt.FacetChart:
    """Train vs validation accuracy per epoch (mean over seeds), best setting, largest size."""
    _, best = _best(tables)
    df = compact(curves_table(tables.runs, best))
    line = (
        alt.Chart()
        .mark_line(point=alt.OverlayMarkDef(size=12))
        .encode(
            x=alt.X("epoch:Q", title="epoch"),
            y=alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color(
                "split:N", title="split", scale=alt.Scale(range=["#1f77b4", "#e6550d"])
            ),
            strokeDash=alt.StrokeDash("split:N", title="split"),
            tooltip=[
                "setting:N",
                "split:N",
                "epoch:Q",
                alt.Tooltip("accuracy:Q", format=".3f"),
                alt.Tooltip("loss:Q", format=".3f"),
                alt.Tooltip("n:Q", title="n runs"),
            ],
        )
        .properties(width=180, height=120)
    )
    chart = controlled(line, "dataset", "model").facet(
        data=df, row=alt.Row("model:N", title="model"), column=alt.Column("dataset:N", title=None)
    )
    chart = chart.properties(
        title="learning curves: train vs validation (best setting, largest size)"
    )
    return declare(chart, "dataset", "model")


def confusion_matrices(tables: Tables) -> alt.FacetChart:
    """Row-normalised confusion matrices summed over seeds (best setting, largest size)."""
    _, best = _best(tables)
    df = compact(confusion_table(tables.runs, best, tables.class_names))
    base = alt.Chart().encode(
        x=alt.X("predicted:N", title="predicted", sort=None),
        y=alt.Y("true:N", title="true", sort=None),
    )
    rect = base.mark_rect().encode(
        color=alt.Color(
            "share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="row share"
        ),
        tooltip=[
            "setting:N",
            "true:N",
            "predicted:N",
            "count:Q",
            alt.Tooltip("share:Q", format=".1%"),
            alt.Tooltip("n:Q", title="n runs"),
        ],
    )
    text = base.mark_text(fontSize=8).encode(
        text="count:Q",
        color=alt.condition("datum.share > 0.5", alt.value("white"), alt.value("#222")),
    )
    layer = controlled(alt.layer(rect, text), "dataset", "model").properties(width=150, height=150)
    chart = layer.facet(
        data=df, row=alt.Row("model:N", title="model"), column=alt.Column("dataset:N", title=None)
    ).resolve_scale(x="independent", y="independent")
    chart = chart.properties(title="confusion matrices, test split, summed over seeds")
    return declare(chart, "dataset", "model")
