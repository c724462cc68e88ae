"""Charts of the datasets themselves: class balance (``explore`` outputs) and 2-D maps
(``embedding`` outputs) of raw pixels and of each model's cached features."""

from __future__ import annotations

import altair as alt
import pandas as pd

from transfer_atlas.report.figures.style import KEEP_DATASET, declare

# The embeddings chart holds every point of every map (the default study's 18 maps: about
# 9,000); as in heatmaps.py, Altair's 5,000-row guard must not refuse the report.
alt.data_transformers.disable_max_rows()


def class_counts(explores: list[dict]) -> alt.FacetChart:
    """Images per class and split, one panel per dataset: imbalance at a glance."""
    df = pd.DataFrame([{**row, "dataset": e["dataset"]} for e in explores for row in e["counts"]])
    bars = (
        alt.Chart()
        .mark_bar()
        .encode(
            x=alt.X("class:N", sort=None, title="class"),
            y=alt.Y("count:Q", title="images"),
            color=alt.Color(
                "split:N", sort=["train", "val", "test"], scale=alt.Scale(scheme="tableau10")
            ),
            order=alt.Order("split_order:Q"),
            tooltip=["dataset:N", "class:N", "split:N", "count:Q"],
        )
        .transform_calculate(split_order="indexof(['train', 'val', 'test'], datum.split)")
        .transform_filter(KEEP_DATASET)
        .properties(width=alt.Step(16), height=140)
    )
    chart = bars.facet(data=df, column=alt.Column("dataset:N", title=None))
    chart = chart.resolve_scale(x="independent").properties(title="class counts per split")
    return declare(chart, "dataset")


METHODS = {"pc1": "PCA", "ts1": "t-SNE"}
MAX_LEGEND = 40


def embeddings(maps: list[dict]) -> alt.FacetChart:
    """PCA and t-SNE maps of each target, from raw pixels and from each model's features.

    One row per representation (pixels first, then the models), one column per dataset x
    method; points are coloured by class. Coordinates come rescaled to [-1, 1], so all
    panels share their axes.
    """
    rows = []
    for e in maps:
        cols = e["columns"]
        for vals in zip(*e["values"], strict=True):
            row = dict(zip(cols, vals, strict=True))
            row.pop("split", None)
            rows.append({"dataset": e["dataset"], "source": e["source"], **row})
    df = pd.DataFrame(rows)
    sources = list(dict.fromkeys(["pixels"] + [e["source"] for e in maps]))
    n_classes = df["class"].nunique()  # past MAX_LEGEND the tooltip names the class
    # fold the two coordinate pairs into rows: (method, x), then y from the matching pair
    points = (
        alt.Chart()
        .transform_filter(KEEP_DATASET)
        .transform_fold(list(METHODS), as_=["method", "x"])
        .transform_calculate(
            y="datum.method == 'pc1' ? datum.pc2 : datum.ts2",
            panel="datum.dataset + ' · ' + (datum.method == 'pc1' ? 'PCA' : 't-SNE')",
        )
        .mark_circle(size=12, opacity=0.65)
        .encode(
            x=alt.X("x:Q", title=None, axis=alt.Axis(labels=False, ticks=False)),
            y=alt.Y("y:Q", title=None, axis=alt.Axis(labels=False, ticks=False)),
            color=alt.Color(
                "class:N",
                title="class",
                scale=alt.Scale(scheme="category20" if n_classes > 10 else "tableau10"),
                legend=alt.Legend(columns=2) if n_classes <= MAX_LEGEND else None,
            ),
            tooltip=["dataset:N", "source:N", "class:N"],
        )
        .properties(width=170, height=170)
    )
    chart = points.facet(
        data=df,
        row=alt.Row("source:N", sort=sources, title=None),
        column=alt.Column("panel:N", title=None),
    )
    sizes = ", ".join(sorted({f"{e['dataset']}: {e['n']} of {e['of']} images" for e in maps}))
    title = f"2-D maps of raw pixels and of each model's pre_logits features ({sizes})"
    return declare(chart.properties(title=title), "dataset")


FIGURES = {"dataset_counts": class_counts}
