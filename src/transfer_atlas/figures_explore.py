"""Charts of the datasets themselves (from ``explore`` outputs): class balance and PCA."""

from __future__ import annotations

import altair as alt
import pandas as pd

from transfer_atlas.figures_style import KEEP_DATASET, declare


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


def pca(explores: list[dict]) -> alt.FacetChart:
    """Raw pixels projected on their first two principal components, coloured by class."""
    rows = []
    for e in explores:
        p = e["pca"]
        cols = p["columns"]
        for vals in zip(*p["values"], strict=True):
            rows.append({"dataset": e["dataset"], **dict(zip(cols, vals, strict=True))})
    df = pd.DataFrame(rows)
    points = (
        alt.Chart()
        .mark_circle(size=14, opacity=0.6)
        .encode(
            x=alt.X("pc1:Q", title="PC 1"),
            y=alt.Y("pc2:Q", title="PC 2"),
            color=alt.Color("class:N", title="class"),
            tooltip=["dataset:N", "class:N", "split:N"],
        )
        .transform_filter(KEEP_DATASET)
        .properties(width=260, height=220)
    )
    chart = points.facet(data=df, column=alt.Column("dataset:N", title=None))
    chart = chart.resolve_scale(x="independent", y="independent", color="independent")
    share = ", ".join(
        f"{e['dataset']}: {100 * sum(e['pca']['explained']):.0f}% of variance, "
        f"{e['pca']['n']} of {e['pca']['of']} images"
        for e in explores
    )
    return declare(chart.properties(title=f"PCA of raw pixels ({share})"), "dataset")


FIGURES = {"dataset_counts": class_counts, "dataset_pca": pca}
