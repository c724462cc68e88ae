"""Each transferability score against the fine-tuned accuracy: the figure of the
``transferability_table`` job (``results/figures/transferability.*``), not of ``FIGURES``."""

from __future__ import annotations

import altair as alt
import pandas as pd


def transferability_scatter(table: pd.DataFrame) -> alt.FacetChart:
    """Each transferability score (x) against the fine-tuned accuracy (y), one dot per model.

    ``table`` is ``results/transferability.csv``: one row per dataset x model. The
    scores live on different scales, so each score gets its own panel and x axis.
    """
    scores = ["logme", "leep", "nce", "hscore"]
    keep = ["dataset", "model", "finetune_accuracy", *scores]
    df = table[keep].melt(
        id_vars=["dataset", "model", "finetune_accuracy"], var_name="score", value_name="value"
    )
    df = df[df["value"].abs() < float("inf")].dropna()  # LogME = inf on an exact fit
    base = alt.Chart(df).encode(
        x=alt.X(
            "value:Q",
            title="score (higher = predicted to transfer better)",
            scale=alt.Scale(zero=False),
        ),
        y=alt.Y("finetune_accuracy:Q", title="fine-tuned accuracy", scale=alt.Scale(zero=False)),
        color=alt.Color("dataset:N", title="target"),
        tooltip=[
            "dataset",
            "model",
            "score",
            alt.Tooltip("value:Q", format=".4f"),
            alt.Tooltip("finetune_accuracy:Q", format=".3f"),
        ],
    )
    layer = alt.layer(
        base.mark_point(size=60, filled=True),
        base.mark_text(dx=6, align="left", fontSize=9).encode(text="model:N"),
        data=df,
    )
    return (
        layer.properties(width=180, height=150)
        .facet(column=alt.Column("score:N", title=None, sort=scores))
        .resolve_scale(x="independent")
        .properties(title="transferability score vs fine-tuned accuracy (best cell, largest n)")
    )
