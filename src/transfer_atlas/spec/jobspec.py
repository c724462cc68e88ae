"""The per-job JSON a fine-tune job receives (its Snakemake ``params`` value).

Snakemake compares this string with the one stored for each output, so it must be a pure
function of the cell and the model's spec (``json.dumps(..., sort_keys=True)``): changing
one model's spec changes exactly that model's strings. A template-based fast path once
built it ~10x faster; ``benchmarks/dryrun_scaling.py --ablate`` showed it saved ~1% of a
20k-job dry run, so it was dropped (workflow/rules/dag_speed.smk has the figures).
"""

from __future__ import annotations

import json

from transfer_atlas.spec.names import ADAPT_METHODS


def job_json_reference(
    study: str,
    model_json: str,
    cell: dict,
    adapt_args: dict | None = None,
    numerics: str = "portable",
) -> str:
    """The definition: the grid cell, the study name, the model spec and the CPU numerics
    mode (``core.numerics``: it changes the numbers, so it reruns jobs), keys sorted.

    A cell whose freeze slot names an adaptation method also gets ``adapt`` (the method)
    and ``adapt_args`` (its options, ``Study.adapt_args``); freeze-depth cells get
    neither, so their strings are what they were before adaptation methods existed.
    """
    extra = {}
    if cell["freeze"] in ADAPT_METHODS:
        extra = {"adapt": cell["freeze"], "adapt_args": adapt_args or {}}
    return json.dumps(
        {
            **extra,
            "study": study,
            "dataset": cell["dataset"],
            "model": cell["model"],
            "init": cell["init"],
            "freeze": cell["freeze"],
            "size": cell["size"],
            "seed": int(cell["seed"]),
            "model_spec": json.loads(model_json),
            "numerics": numerics,
        },
        sort_keys=True,
    )
