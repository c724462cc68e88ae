"""The per-job JSON a fine-tune job receives, built fast for grids of 10^4-10^5 jobs.

Snakemake compares this string (a ``params`` value) with the one stored for each
output, so it must stay byte-for-byte what ``json.dumps(..., sort_keys=True)`` gives:
changing one model's spec changes exactly that model's strings. Building it from a
precomputed per-model template is ~10x cheaper than a ``json.dumps`` per job, which
matters while Snakemake builds the DAG.
"""

from __future__ import annotations

import json

_dumps = json.dumps


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


class JobJson:
    """``job_json_reference`` with the study- and model-level parts formatted once."""

    def __init__(self, study: str, model_json: dict[str, str]):
        # model_json values come from json.dumps(sort_keys=True): re-dumping the loaded
        # spec gives the same text, so it can be pasted in as is.
        study_s = _dumps(study)
        self._tail = {
            m: f', "model_spec": {s}, "seed": %d, "size": %s, "study": {study_s}}}'
            for m, s in model_json.items()
        }

    def __call__(self, dataset: str, model: str, init: str, freeze: str, size: str, seed) -> str:
        head = (
            f'{{"dataset": {_dumps(dataset)}, "freeze": {_dumps(freeze)}, '
            f'"init": {_dumps(init)}, "model": {_dumps(model)}'
        )
        return head + self._tail[model] % (int(seed), _dumps(size))
