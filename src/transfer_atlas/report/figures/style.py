"""What every figure shares: the report's selection parameters and small encodings.

Each figure declares the Vega-Lite parameters ``dataset``, ``model`` and ``metric`` it
honours. Their defaults show everything (and accuracy), which is what the static SVG /
PNG exports draw; the HTML report sets them from one control bar for all figures.
"""

from __future__ import annotations

import altair as alt

from transfer_atlas.results.views import ALL, METRICS

DATASET = alt.param(name="dataset", value=ALL)
MODEL = alt.param(name="model", value=ALL)
METRIC = alt.param(name="metric", value="accuracy")
PARAMS = {"dataset": DATASET, "model": MODEL, "metric": METRIC}

KEEP_DATASET = f"dataset == '{ALL}' || datum.dataset == dataset"
KEEP_MODEL = f"model == '{ALL}' || datum.model == model"

# The metric's mean and 95% interval for the chosen metric, from summary columns.
METRIC_FIELDS = {
    "score": "datum[metric + '_mean']",
    "score_low": "datum[metric + '_ci95_low']",
    "score_high": "datum[metric + '_ci95_high']",
}
METRIC_TITLE = {"expr": "'test ' + replace(metric, '_', ' ') + ' (mean over seeds)'"}


def metric_title(text: str):
    """A chart title naming the chosen metric: ``text`` with {metric} filled in by Vega."""
    head, _, tail = text.partition("{metric}")
    return {"text": {"expr": f"{head!r} + replace(metric, '_', ' ') + {tail!r}"}}


def metric_columns(metric_cols=("mean", "ci95_low", "ci95_high")) -> list[str]:
    return [f"{m}_{c}" for m in METRICS for c in metric_cols]


def controlled(chart, *names: str):
    """Filter ``chart`` (a unit or layer, before faceting) on the dataset / model selection."""
    if "dataset" in names:
        chart = chart.transform_filter(KEEP_DATASET)
    if "model" in names:
        chart = chart.transform_filter(KEEP_MODEL)
    if "metric" in names:
        for name, expr in METRIC_FIELDS.items():
            chart = chart.transform_calculate(**{name: expr})
    return chart


def declare(chart, *names: str):
    """Declare the report parameters ``names`` on the top-level ``chart``."""
    return chart.add_params(*[PARAMS[n] for n in names])


def ci_tooltip(prefix: str = "score") -> list:
    return [
        alt.Tooltip(f"{prefix}:Q", format=".3f", title="mean"),
        alt.Tooltip(f"{prefix}_low:Q", format=".3f", title="95% CI low"),
        alt.Tooltip(f"{prefix}_high:Q", format=".3f", title="95% CI high"),
        alt.Tooltip("n:Q", title="n runs"),
    ]
