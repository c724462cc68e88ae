"""The per-job JSON a fine-tune job receives (its Snakemake ``params`` value).

Snakemake compares this string with the one stored for each output, so it must be a pure
function of the cell and the model's spec (``json.dumps(..., sort_keys=True)``): changing
one model's spec changes exactly that model's strings. A template-based fast path once
built it ~10x faster; ``benchmarks/dryrun_scaling.py --ablate`` showed it saved ~1% of a
20k-job dry run, so it was dropped (workflow/rules/dag_speed.smk has the figures).
"""

from __future__ import annotations

import json


def job_json_reference(study: str, model_json: str, cell: dict) -> str:
    """The definition: the grid cell, the study name and the model spec, keys sorted."""
    return json.dumps(
        {
            "study": study,
            "dataset": cell["dataset"],
            "model": cell["model"],
            "init": cell["init"],
            "freeze": cell["freeze"],
            "size": cell["size"],
            "seed": int(cell["seed"]),
            "model_spec": json.loads(model_json),
        },
        sort_keys=True,
    )
