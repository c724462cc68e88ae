"""The report's shortlist section: which models the shortlist fine-tuned (per target, size
and seed), what skipping the others saved, and (when an audit also ran the full grid) what
it cost in accuracy per size, on the pretrained pool."""

from __future__ import annotations

import pandas as pd


def shortlist_section(path, runs: pd.DataFrame, best: pd.DataFrame) -> dict:
    """Numbers and HTML tables for the template (``results/shortlist.csv`` at ``path``)."""
    from transfer_atlas.results import shortlist

    table = shortlist.read(path)
    audit = shortlist.is_audit(table, runs)
    saved = shortlist.savings(table, runs if audit else None)
    skipped_cells = shortlist.cells(table[~table["selected"].astype(bool)])
    per_cell = table.groupby(shortlist.CELL)["selected"].sum() if len(table) else None
    out = {
        "by": str(table["by"].iloc[0]) if len(table) else "",
        "k": int(per_cell.max()) if per_cell is not None else 0,
        "audit": audit,
        "saved": saved,
        "skipped": [f"{m} on {d} (n={n}, seed {s})" for d, m, n, s in skipped_cells],
        "table": _html(table),
    }
    if audit:
        out["regret"] = _html(shortlist.regret(table, runs, best))
    return out


def _html(df: pd.DataFrame) -> str:
    return df.to_html(
        index=False, classes="tbl", float_format=lambda v: f"{v:.3f}", na_rep="–", border=0
    )
