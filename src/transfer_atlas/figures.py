"""Altair figures built from the summary table; each saved as Vega-Lite JSON, SVG and PNG."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd

from transfer_atlas import atomic
from transfer_atlas.results import freeze_order, size_order

alt.data_transformers.disable_max_rows()


def _heatmap(
    df: pd.DataFrame, value: str, title: str, scale: alt.Scale, fmt: str, sizes, freezes
) -> alt.FacetChart:
    base = alt.Chart(df).encode(
        x=alt.X("size:N", sort=sizes, title="training-set size n"),
        y=alt.Y("freeze_label:N", sort=freezes, title="frozen groups"),
    )
    tooltip = [
        "dataset",
        "model",
        "freeze_label",
        "size",
        "n_train",
        f"{value}:Q",
        "n:Q",
        alt.Tooltip("ci_low:Q", format=".3f"),
        alt.Tooltip("ci_high:Q", format=".3f"),
    ]
    rect = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", scale=scale, title=title), tooltip=tooltip
    )
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text(f"{value}:Q", format=fmt),
        color=alt.condition(f"abs(datum.{value}) > 0.5", alt.value("white"), alt.value("black")),
    )
    return (
        alt.layer(rect, text, data=df)
        .properties(width=34 * len(sizes), height=26 * len(freezes))
        .facet(
            row=alt.Row("model:N", title="model"),
            column=alt.Column("dataset:N", title="target dataset"),
        )
        .properties(title=title)
    )


def accuracy_heatmap(summary: pd.DataFrame) -> alt.FacetChart:
    """Mean test accuracy per freeze depth x training size (scratch baseline as its own row)."""
    df = summary[summary["regime"] == "finetune"].copy()
    df["freeze_label"] = df.apply(
        lambda r: "scratch" if r["init"] == "scratch" else str(r["freeze"]), axis=1
    )
    df = df.rename(
        columns={
            "n_runs": "n",
            "accuracy_ci95_low": "ci_low",
            "accuracy_ci95_high": "ci_high",
            "accuracy_mean": "accuracy",
        }
    )
    freezes = ["scratch"] + freeze_order(df.loc[df["init"] == "pretrained", "freeze"])
    cols = [
        "dataset",
        "model",
        "freeze_label",
        "size",
        "n_train",
        "accuracy",
        "n",
        "ci_low",
        "ci_high",
    ]
    return _heatmap(
        df[cols],
        "accuracy",
        "test accuracy (mean over seeds)",
        alt.Scale(scheme="viridis", domain=[0, 1]),
        ".2f",
        size_order(df["size"]),
        freezes,
    )


def gain_heatmap(summary: pd.DataFrame) -> alt.FacetChart:
    """Accuracy gain over the from-scratch baseline, paired by seed; diverging around zero."""
    df = summary[(summary["regime"] == "finetune") & (summary["init"] == "pretrained")].copy()
    df = df.dropna(subset=["gain_mean"])
    df["freeze_label"] = df["freeze"].astype(str)
    df = df.rename(
        columns={
            "gain_n_pairs": "n",
            "gain_ci95_low": "ci_low",
            "gain_ci95_high": "ci_high",
            "gain_mean": "gain",
        }
    )
    cols = ["dataset", "model", "freeze_label", "size", "n_train", "gain", "n", "ci_low", "ci_high"]
    limit = max(0.05, float(df["gain"].abs().max())) if len(df) else 1.0
    return _heatmap(
        df[cols],
        "gain",
        "gain over scratch (accuracy points, paired by seed)",
        alt.Scale(scheme="redblue", domain=[-limit, limit], domainMid=0),
        "+.2f",
        size_order(df["size"]),
        freeze_order(df["freeze_label"]),
    )


FIGURES = {"accuracy_heatmap": accuracy_heatmap, "gain_heatmap": gain_heatmap}


def save(chart: alt.TopLevelMixin, stem: Path, formats=("json", "svg", "png")) -> None:
    """Write ``stem``.vl.json (+ .svg/.png) atomically; the JSON is what the report embeds."""
    import json

    import vl_convert as vlc

    spec = chart.to_dict()
    if "json" in formats:
        atomic.write_text(f"{stem}.vl.json", json.dumps(spec, allow_nan=False))
    if "svg" in formats:
        atomic.write_text(f"{stem}.svg", vlc.vegalite_to_svg(spec))
    if "png" in formats:
        atomic.write_bytes(f"{stem}.png", vlc.vegalite_to_png(spec, scale=1.5))


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
