"""The study's findings in plain language (results/findings.md), and the script that
writes results/best_settings.csv.

Everything here is computed from the tables, never typed by hand: the README quotes
findings.md between ``<!-- findings:start -->`` and ``<!-- findings:end -->``. Per target
it says which model and setting validation accuracy chose, the test accuracy there, the
gain over training from scratch and whether that gain survives the corrected test.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from transfer_atlas.core import atomic

VARIATION = (
    "Intervals are 95% t-intervals over seeds (accuracy intervals clipped to 0-100%); a "
    "seed varies the training subset, the head's initialisation and the data order, not the "
    "pretraining (one run per model) nor the test split (one per target)."
)


def _pct(v: float) -> str:
    return "–" if pd.isna(v) else f"{100 * v:.1f}%"


def _pts(v: float) -> str:
    return "–" if pd.isna(v) else f"{100 * v:+.1f}"


def _interval(low: float, high: float, fmt) -> str:
    return "one run, no interval" if pd.isna(low) else f"{fmt(low)} to {fmt(high)}"


def star_note(summary: pd.DataFrame, alpha: float) -> str:
    """Whether any fine-tune gain cell can reach significance after Holm's correction."""
    from transfer_atlas.results.stats.paired import smallest_p

    g = summary[(summary["regime"] == "finetune") & summary["gain_p"].notna()]
    if not len(g):
        return "No gain over scratch was measured (no scratch baseline)."
    k, m = int(g["gain_n_tested"].max()), len(g)
    floor = min(1.0, m * smallest_p(k))
    head = (
        f"Gains are tested per cell with Wilcoxon's signed-rank test over seeds, Holm-corrected "
        f"over the {m} fine-tune cells (α = {alpha})."
    )
    if floor > alpha:
        return (
            f"{head} With at most {k} seed pair(s) per cell whose gain is not zero, the smallest "
            f"possible p is {smallest_p(k):.3g} ({floor:.3g} after Holm's correction), so no "
            "gain can be declared significant at this number of seeds."
        )
    return head


def tie_sentence(top) -> list[str]:
    """The settings within noise of the validation leader, named, and the rule that chose
    among them (``results.ties``); nothing when the leader stands alone."""
    from transfer_atlas.results.stats.ties import TIE_RULE

    tied = [t for t in str(top.get("tied") or "").split("; ") if t]
    if not tied:
        return []
    return [
        f"Its settings {', '.join(tied)} are tied within noise on validation (a paired "
        f"test over sizes x seeds against the leader {tied[0]}: Wilcoxon signed-rank, or a "
        f"t-test where too few pairs for Wilcoxon to reject; p >= 0.05 for each, largest "
        f"p = {top['tie_p']:.3g}); the one used here and downstream is "
        f"{top['setting']}, by the tie rule: {TIE_RULE}."
    ]


def _claim_lines(comparisons, dataset: str, top, others) -> list[str]:
    """One line per other model: the paired test on test accuracy, direction in words."""
    from transfer_atlas.results.stats.comparisons import claim

    lines = []
    for other in others.itertuples():
        c = comparisons[
            (comparisons["dataset"] == dataset)
            & comparisons["model_a"].isin([top["model"], other.model])
            & comparisons["model_b"].isin([top["model"], other.model])
        ]
        if c.empty:
            continue
        c = c.iloc[0]
        diff = c["mean_diff"] if c["model_a"] == top["model"] else -c["mean_diff"]
        verb, direction = claim(top["model"], other.model, c["verdict"], diff)
        points = f"{abs(100 * diff):.1f} points {direction}" if diff else "the same"
        lines.append(
            f"- {top['model']} {verb} {other.model} ({other.setting}): test accuracy "
            f"{points} on average over {c['n_pairs']} (size, seed) pairs, "
            f"Holm-adjusted p = {c['p_holm']:.3g}."
        )
    return lines


def findings(runs: pd.DataFrame, summary: pd.DataFrame, best: pd.DataFrame) -> str:
    """The markdown text of results/findings.md (deterministic: no dates, no paths)."""
    from transfer_atlas.results.stats.comparisons import compare_models
    from transfer_atlas.results.stats.paired import ALPHA
    from transfer_atlas.results.aggregate import size_order
    from transfer_atlas.results.views import finetune_cells, finetune_keys

    cells = finetune_cells(summary)
    comparisons = compare_models(runs, best)
    ft_best = best[best["pool"] == "finetune"]
    lines = [VARIATION, "", star_note(summary, ALPHA), ""]
    for dataset, b in ft_best.groupby("dataset", sort=True):
        b = b.sort_values(["val_accuracy_mean", "model"], ascending=[False, True])
        top = b.iloc[0]
        lines += [
            f"**{dataset}**: by validation accuracy (mean over sizes and seeds) the best model "
            f"is **{top['model']}** at **{top['setting']}** (validation "
            f"{_pct(top['val_accuracy_mean'])}, test {_pct(top['accuracy_mean'])}).",
            *tie_sentence(top),
            "",
            "| n | test accuracy (95% CI) | gain over scratch, points (95% CI) | Holm p |",
            "|---|---|---|---|",
        ]
        mine = cells.merge(finetune_keys(b.iloc[[0]]), on=["dataset", "model", "setting"])
        order = {s: i for i, s in enumerate(size_order(mine["size"]))}
        for c in mine.sort_values("size", key=lambda s: s.map(order)).itertuples():
            # a t-interval can pass 0 or 100%, which accuracy cannot: clipped, as in the figures
            low, high = max(c.accuracy_ci95_low, 0.0), min(c.accuracy_ci95_high, 1.0)
            interval = _interval(low, high, _pct)  # max/min keep NaN (one run)
            acc = f"{_pct(c.accuracy_mean)} ({interval})"
            if pd.isna(c.gain_mean):
                why = "this is scratch" if c.init == "scratch" else "no scratch baseline"
                gain, p = f"– ({why})", "–"
            else:
                gain = f"{_pts(c.gain_mean)} ({_interval(c.gain_ci95_low, c.gain_ci95_high, _pts)})"
                sig = "significant" if c.gain_p_holm < ALPHA else "not significant"
                p = f"{c.gain_p_holm:.3g}, {sig}"
            lines.append(f"| {c.size} ({c.n_train} images) | {acc} | {gain} | {p} |")
        lines.append("")
        lines += _claim_lines(comparisons, dataset, top, b.iloc[1:])
        fe = best[(best["regime"] == "features") & (best["dataset"] == dataset)]
        for f in fe.sort_values("model").itertuples():
            lines.append(
                f"- Features regime, {f.model}: validation chose {f.setting} "
                f"(test {_pct(f.accuracy_mean)}, mean over sizes)."
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main_best(argv: list[str] | None = None) -> int:
    """Choose each model's best setting on validation accuracy: results/best_settings.csv."""
    p = argparse.ArgumentParser(description=main_best.__doc__)
    p.add_argument("--runs", required=True, help="runs.parquet")
    p.add_argument("--out", required=True, help="output best_settings.csv")
    args = p.parse_args(argv)
    from transfer_atlas.results.tables import read_runs
    from transfer_atlas.results.views import best_settings

    best = best_settings(read_runs(args.runs))
    atomic.write_csv(args.out, best)
    print(best.to_string(index=False))
    return 0


def main_findings(argv: list[str] | None = None) -> int:
    """Write the plain-language findings (markdown) from runs, summary and best settings."""
    p = argparse.ArgumentParser(description=main_findings.__doc__)
    p.add_argument("--runs", required=True, help="runs.parquet")
    p.add_argument("--summary", required=True, help="summary.csv")
    p.add_argument("--best", required=True, help="best_settings.csv")
    p.add_argument("--out", required=True, help="output findings.md")
    p.add_argument(
        "--readme",
        help="also quote the findings in this README (between its findings markers); for the "
        "default study's run only, by hand: the workflow never edits the README",
    )
    args = p.parse_args(argv)
    from transfer_atlas.results.tables import read_runs, read_summary
    from transfer_atlas.results.views import read_best

    text = findings(read_runs(args.runs), read_summary(args.summary), read_best(args.best))
    atomic.write_text(args.out, text)
    if args.readme:
        quote_in_readme(args.readme, text)
    print(text)
    return 0


START, END = "<!-- findings:start -->\n", "<!-- findings:end -->"


def _split(readme: str | Path) -> tuple[str, str, str]:
    text = Path(readme).read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme}: no '{START.strip()}' ... '{END}' block")
    head, rest = text.split(START, 1)
    block, tail = rest.split(END, 1)
    return head, block, tail


def readme_block(readme: str | Path) -> str:
    """The text between the README's findings markers (what must equal findings.md)."""
    return _split(readme)[1]


def quote_in_readme(readme: str | Path, text: str) -> None:
    """Put ``text`` (a fresh default study's findings.md) between the README's markers."""
    head, _, tail = _split(readme)
    atomic.write_text(readme, head + START + text + END + tail)
