"""Altair figures built from the summary and the runs; each saved as Vega-Lite JSON, SVG, PNG.

``FIGURES`` maps a figure's name to a function of ``views.Tables``. The names are
``spec.names.FIGURE_NAMES`` (which the workflow's outputs use), in that order, and each
needs a caption in report/templates/captions/<name>.txt (a test checks both).

One module per kind of figure: ``heatmaps`` (score and gain per cell), ``runs`` (ranking,
learning curves, confusion), ``costs`` (accuracy against size, time, latency, trainable
parameters), ``across`` (across targets), ``explore`` (the datasets themselves, drawn in
the report only), ``transferability`` (scores vs accuracy); ``style`` holds what they share.
To add a figure from another stage, put its function in its own module, read its table
from ``Tables.extra`` and register it below.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt

from transfer_atlas.core import atomic
from transfer_atlas.report.figures import across, costs, heatmaps, runs
from transfer_atlas.report.figures.heatmaps import accuracy_heatmap, gain_heatmap
from transfer_atlas.report.figures.transferability import transferability_scatter

__all__ = [
    "FIGURES",
    "POOLED",
    "accuracy_heatmap",
    "gain_heatmap",
    "save",
    "transferability_scatter",
]

FIGURES = {
    "accuracy_heatmap": heatmaps.accuracy_heatmap,
    "gain_heatmap": heatmaps.gain_heatmap,
    "ranking": runs.ranking,
    "learning_curves": runs.learning_curves,
    "confusion_matrices": runs.confusion_matrices,
    "accuracy_density": costs.accuracy_density,
    "accuracy_vs_time": costs.accuracy_vs_time,
    "pareto_latency": costs.pareto_latency,
    "accuracy_vs_trainable": costs.accuracy_vs_trainable,
    "across_targets": across.across_targets,
}
#: Figures that pool every target and model by design (statistics bootstrapped over all of
#: them): the report's dataset / model selections do not apply to them.
POOLED = ("across_targets",)


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
