"""The report's shortlist section: which models the shortlist fine-tuned, what skipping the
others saved, and (when an audit also ran the full grid) what it cost in accuracy."""

from __future__ import annotations

import pandas as pd


def shortlist_section(path, runs: pd.DataFrame, best: pd.DataFrame) -> dict:
    """Numbers and HTML tables for the template (``results/shortlist.csv`` at ``path``)."""
    from transfer_atlas.results import shortlist

    table = pd.read_csv(path)
    ft = runs[runs["regime"] == "finetune"] if "regime" in runs else runs[:0]
    ran = set(zip(ft["dataset"], ft["model"], strict=True))
    skipped = table[~table["selected"].astype(bool)]
    # An audit ran the full grid: every skipped model has fine-tune runs too.
    audit = len(skipped) > 0 and all(
        (d, m) in ran for d, m in zip(skipped["dataset"], skipped["model"], strict=True)
    )
    saved = shortlist.savings(table, runs if audit else None)
    out = {
        "by": str(table["by"].iloc[0]) if len(table) else "",
        "k": int(table.groupby("dataset")["selected"].sum().max()) if len(table) else 0,
        "audit": audit,
        "saved": saved,
        "skipped": [
            f"{m} on {d}" for d, m in zip(skipped["dataset"], skipped["model"], strict=True)
        ],
        "table": _html(table),
    }
    if audit:
        out["regret"] = _html(shortlist.regret(table, best))
    return out


def _html(df: pd.DataFrame) -> str:
    return df.to_html(
        index=False, classes="tbl", float_format=lambda v: f"{v:.3f}", na_rep="–", border=0
    )
