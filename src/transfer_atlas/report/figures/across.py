"""The across-targets figure: IQM per setting and the probability of improving on full
fine-tuning, each with its stratified-bootstrap 95% interval (``results.across_targets``)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from transfer_atlas.results.views import Tables, setting_order

TITLES = {
    "iqm": "IQM of test accuracy over targets x models x sizes x seeds",
    "probability_of_improvement": "P(setting beats freeze 0), tasks: targets x models x sizes",
}


def across_table(tables: Tables) -> pd.DataFrame:
    """``results/across_targets.csv`` when the figures job was given it, else computed."""
    if "across_targets" in tables.extra:
        return tables.extra["across_targets"]
    from transfer_atlas.results.across_targets import table

    if tables.runs is None:
        raise ValueError("the across-targets figure needs the runs table")
    return table(tables.runs)


def _panel(df: pd.DataFrame, stat: str, order: list[str]) -> alt.LayerChart:
    part = df[df["statistic"] == stat]
    y = alt.Y("setting:N", sort=order, title=None)
    scale = alt.Scale(domain=[0, 1]) if stat != "iqm" else alt.Scale(zero=False)
    tooltip = [
        "setting:N",
        "versus:N",
        alt.Tooltip("estimate:Q", format=".3f"),
        alt.Tooltip("ci95_low:Q", format=".3f", title="95% CI low"),
        alt.Tooltip("ci95_high:Q", format=".3f", title="95% CI high"),
        alt.Tooltip("n_tasks:Q", title="tasks"),
        alt.Tooltip("n_runs:Q", title="runs"),
    ]
    base = alt.Chart(part).encode(y=y, tooltip=tooltip)
    layers = [
        base.mark_rule(strokeWidth=2).encode(
            x=alt.X("ci95_low:Q", scale=scale, title=TITLES[stat]), x2="ci95_high:Q"
        ),
        base.mark_point(filled=True, size=60, color="black").encode(x="estimate:Q"),
    ]
    if stat != "iqm":  # no improvement either way
        layers.append(
            alt.Chart(pd.DataFrame({"x": [0.5]})).mark_rule(strokeDash=[4, 4]).encode(x="x:Q")
        )
    return alt.layer(*layers).properties(width=300, height=22 * max(1, len(part)))


def across_targets(tables: Tables) -> alt.VConcatChart:
    """Two panels, one row per setting: the IQM and P(setting > freeze 0), 95% intervals."""
    df = across_table(tables)
    order = setting_order(df["setting"])
    panels = [_panel(df, stat, order) for stat in TITLES if (df["statistic"] == stat).any()]
    if not panels:  # nothing to compare: an empty panel says so
        panels = [
            alt.Chart(pd.DataFrame({"t": ["no fine-tune runs"]})).mark_text().encode(text="t:N")
        ]
    return alt.vconcat(*panels).properties(
        title="Settings across targets (stratified bootstrap over seeds within each task)"
    )
