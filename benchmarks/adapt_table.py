"""Accuracy, trainable parameters and stored bytes per setting at the largest size, as a
markdown table (benchmarks/README.md, "Adaptation methods"), from a study's runs table:

    python benchmarks/adapt_table.py results/runs.parquet
"""

from __future__ import annotations

import sys

from transfer_atlas.results.tables import read_runs
from transfer_atlas.results.views import largest_size, run_settings, setting_order


def main(path: str) -> None:
    r = largest_size(run_settings(read_runs(path)))
    g = r.groupby(["model", "setting", "dataset"])
    acc = g["accuracy"].agg(["mean", "std", "count"]).unstack("dataset")
    cost = (
        g[["params_trainable", "params_total", "task_bytes"]].first().groupby(level=[0, 1]).first()
    )
    datasets = sorted(r["dataset"].unique())
    order = {s: i for i, s in enumerate(setting_order(r["setting"]))}
    rows = sorted(acc.index, key=lambda k: (k[0], order[k[1]]))
    head = ["model", "setting", *(f"{d} accuracy (sd, n)" for d in datasets)]
    head += ["trainable / total params", "stored per task (KB)"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for key in rows:
        cells = [f"{acc.loc[key, ('mean', d)]:.3f} ({acc.loc[key, ('std', d)]:.3f}, "
                 f"{acc.loc[key, ('count', d)]:.0f})" for d in datasets]  # fmt: skip
        c = cost.loc[key]
        cells += [
            f"{c.params_trainable:,.0f} / {c.params_total:,.0f}",
            f"{c.task_bytes / 1024:.1f}",
        ]
        print("| " + " | ".join([*key, *cells]) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
