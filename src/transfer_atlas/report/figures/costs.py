"""Accuracy against what it costs: size on disk, training time, inference latency.

All at each dataset's largest training size; the Pareto figure marks the models that no
other model beats on both latency and score (computed per dataset and metric).
"""

from __future__ import annotations

import altair as alt

from transfer_atlas.report.figures.style import controlled, declare, metric_columns, metric_title
from transfer_atlas.results.views import (
    METRICS,
    Tables,
    at_best,
    compact,
    finetune_cells,
    largest_size,
    pareto_flags,
    setting_order,
    size_order,
)


def _cells(tables: Tables):
    return largest_size(finetune_cells(tables.summary, tables.runs)).rename(columns={"n_runs": "n"})


def _score_tooltip() -> list:
    """Model, setting and the selected metric's mean with its 95% CI (cost charts' tooltips)."""
    return [
        "model:N",
        "setting:N",
        alt.Tooltip("score:Q", format=".3f", title="mean"),
        alt.Tooltip("score_low:Q", format=".3f", title="95% CI low"),
        alt.Tooltip("score_high:Q", format=".3f", title="95% CI high"),
    ]


def accuracy_density(tables: Tables) -> alt.FacetChart:
    """Accuracy per MB on disk, per model and setting (mean and 95% CI across seeds)."""
    cols = ["dataset", "model", "setting", "size", "n", "size_bytes"]
    cols += ["accuracy_density_mean", "accuracy_density_ci95_low", "accuracy_density_ci95_high"]
    df = _cells(tables)
    df = compact(df[[c for c in cols if c in df]])
    settings = setting_order(df["setting"])
    base = alt.Chart().encode(
        x=alt.X("model:N", title=None),
        xOffset=alt.XOffset("setting:N", sort=settings),
    )
    tooltip = [
        "model:N",
        "setting:N",
        alt.Tooltip("accuracy_density_mean:Q", format=".3f", title="accuracy / MB"),
        alt.Tooltip("accuracy_density_ci95_low:Q", format=".3f", title="95% CI low"),
        alt.Tooltip("accuracy_density_ci95_high:Q", format=".3f", title="95% CI high"),
        alt.Tooltip("size_bytes:Q", format=",", title="size on disk (bytes)"),
        alt.Tooltip("n:Q", title="n runs"),
    ]
    bars = base.mark_bar().encode(
        y=alt.Y("accuracy_density_mean:Q", title="accuracy density (accuracy per MB on disk)"),
        color=alt.Color("setting:N", sort=settings, title="setting"),
        tooltip=tooltip,
    )
    err = base.mark_rule(color="#333").encode(
        y="accuracy_density_ci95_low:Q", y2="accuracy_density_ci95_high:Q"
    )
    layer = controlled(alt.layer(bars, err), "dataset", "model").properties(width=220, height=180)
    chart = layer.facet(data=df, column=alt.Column("dataset:N", title="target dataset"))
    chart = chart.resolve_scale(y="independent").properties(
        title="accuracy density = test accuracy / size on disk in MB (largest training size)"
    )
    return declare(chart, "dataset", "model")


def accuracy_vs_time(tables: Tables) -> alt.FacetChart:
    """Score vs training time; bubble area = parameters; one bubble per model x setting."""
    df = _cells(tables)
    cols = ["dataset", "model", "setting", "size", "n", "params_total", "params_trainable"]
    cols += ["train_s_mean"] + metric_columns()
    df = compact(df[[c for c in cols if c in df]])
    points = (
        alt.Chart()
        .mark_point(filled=True, opacity=0.7, stroke="#333", strokeWidth=0.5)
        .encode(
            x=alt.X("train_s_mean:Q", scale=alt.Scale(type="log"), title="training time (s, mean)"),
            y=alt.Y("score:Q", title="mean test score (metric in the title)"),
            size=alt.Size("params_total:Q", title="parameters", scale=alt.Scale(range=[30, 900])),
            color=alt.Color("model:N", title="model"),
            shape=alt.Shape("setting:N", title="setting", sort=setting_order(df["setting"])),
            tooltip=[
                *_score_tooltip(),
                alt.Tooltip("train_s_mean:Q", format=".2f", title="train s"),
                alt.Tooltip("params_total:Q", format=",", title="parameters"),
                alt.Tooltip("params_trainable:Q", format=",", title="trainable"),
                alt.Tooltip("n:Q", title="n runs"),
            ],
        )
        .properties(width=260, height=200)
    )
    chart = controlled(points, "dataset", "model", "metric").facet(
        data=df, column=alt.Column("dataset:N", title="target dataset")
    )
    chart = chart.properties(
        title=metric_title("test {metric} vs training time (bubble area = parameters)")
    )
    return declare(chart, "dataset", "model", "metric")


def pareto_latency(tables: Tables) -> alt.FacetChart:
    """Score vs inference latency, bubble = size on disk; the Pareto front is joined and ringed."""
    cells = finetune_cells(tables.summary, tables.runs)
    df = largest_size(at_best(cells, tables.chosen())).rename(columns={"n_runs": "n"})
    df = df.reset_index(drop=True)
    for m in METRICS:
        df[f"front_{m}"] = 0
        for _, idx in df.groupby("dataset").groups.items():
            flags = pareto_flags(df.loc[idx, "latency_ms_mean"], df.loc[idx, f"{m}_mean"])
            df.loc[idx, f"front_{m}"] = flags.astype(int)
    df["size_mb"] = df["size_bytes"] / 1e6 if "size_bytes" in df else float("nan")
    cols = ["dataset", "model", "setting", "size", "n", "latency_ms_mean", "size_mb"]
    cols += metric_columns() + [f"front_{m}" for m in METRICS]
    df = compact(df[cols])
    x = alt.X(
        "latency_ms_mean:Q",
        scale=alt.Scale(type="log"),
        title="inference latency (ms per image, mean)",
    )
    y = alt.Y("score:Q", title="mean test score (metric in the title)")
    front = (
        alt.Chart()
        .mark_line(color="#d62728", strokeDash=[4, 2], point=False)
        .encode(x=x, y=y, order="latency_ms_mean:Q")
        .transform_filter("datum.front == 1")
    )
    points = (
        alt.Chart()
        .mark_circle(opacity=0.75)
        .encode(
            x=x,
            y=y,
            size=alt.Size("size_mb:Q", title="size on disk (MB)", scale=alt.Scale(range=[30, 900])),
            color=alt.Color("model:N", title="model"),
            stroke=alt.condition("datum.front == 1", alt.value("#d62728"), alt.value(None)),
            strokeWidth=alt.value(2),
            tooltip=[
                *_score_tooltip(),
                alt.Tooltip("latency_ms_mean:Q", format=".3f", title="latency ms"),
                alt.Tooltip("size_mb:Q", format=".3f", title="MB"),
                alt.Tooltip("front:Q", title="on Pareto front"),
                alt.Tooltip("n:Q", title="n runs"),
            ],
        )
    )
    layer = controlled(alt.layer(front, points), "dataset", "model", "metric")
    layer = layer.transform_calculate(front="datum['front_' + metric]").properties(
        width=260, height=200
    )
    chart = layer.facet(data=df, column=alt.Column("dataset:N", title="target dataset"))
    chart = chart.properties(
        title=metric_title(
            "test {metric} vs inference latency (bubble = size on disk; red: Pareto front)"
        )
    )
    return declare(chart, "dataset", "model", "metric")


def accuracy_vs_trainable(tables: Tables) -> alt.FacetChart:
    """Score vs trainable parameters (log), one point per model x setting, one row per
    training size: where freeze depths and adaptation methods (BitFit, LoRA, ...) trade
    parameters trained for accuracy."""
    df = finetune_cells(tables.summary, tables.runs).rename(columns={"n_runs": "n"})
    cols = ["dataset", "model", "setting", "size", "n", "params_trainable", "task_bytes"]
    cols += ["trainable_fraction"]
    df = compact(df[[c for c in cols + metric_columns() if c in df]])
    x = alt.X("params_trainable:Q", scale=alt.Scale(type="log"), title="trainable parameters")
    points = (
        alt.Chart()
        .mark_point(filled=True, opacity=0.8, size=70)
        .encode(
            x=x,
            y=alt.Y("score:Q", title="mean test score (metric in the title)"),
            color=alt.Color("model:N", title="model"),
            shape=alt.Shape("setting:N", title="setting", sort=setting_order(df["setting"])),
            tooltip=[
                *_score_tooltip(),
                alt.Tooltip("params_trainable:Q", format=",", title="trainable"),
                alt.Tooltip("trainable_fraction:Q", format=".2%", title="trainable share"),
                alt.Tooltip("task_bytes:Q", format=",", title="stored per task (bytes)"),
                alt.Tooltip("n:Q", title="n runs"),
            ],
        )
        .properties(width=240, height=160)
    )
    chart = controlled(points, "dataset", "model", "metric").facet(
        data=df,
        column=alt.Column("dataset:N", title="target dataset"),
        row=alt.Row("size:N", title="training size", sort=size_order(df["size"])),
    )
    chart = chart.properties(title=metric_title("test {metric} vs trainable parameters"))
    return declare(chart, "dataset", "model", "metric")
