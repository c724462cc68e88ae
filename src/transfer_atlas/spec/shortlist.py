"""Shortlist mode (``grid.shortlist: {k, by, audit}``): which models a study may shortlist.

The workflow scores every grid model on each target (the transferability jobs), then
fine-tunes only the ``k`` best by score ``by`` (``results.shortlist`` ranks them). This
module checks, before any job runs, that such a ranking can exist, and says how many
fine-tune jobs each model x target would cost (what skipping a model saves).
"""

from __future__ import annotations

from collections import Counter


def check_shortlist(study, error=ValueError) -> None:
    """Raise ``error`` naming every reason the study's shortlist cannot run."""
    sl = study.grid.get("shortlist")
    if not sl:
        return
    models, problems = study.grid["models"], []
    if not study.grid.get("transferability"):
        problems.append(
            "config key 'grid.shortlist' ranks models by a transferability score: "
            "set 'grid.transferability: true'"
        )
    if sl["k"] > len(models):
        problems.append(
            f"config key 'grid.shortlist.k': {sl['k']} is more than the {len(models)} grid "
            f"models ({', '.join(models)}); a shortlist keeps fewer"
        )
    unscored = [m for m in models if not study.has_weights(m)]
    if unscored:
        problems.append(
            f"config key 'grid.shortlist': model(s) {', '.join(unscored)} have no source "
            "weights, so no score can rank them; drop them from grid.models"
        )
    if sl["by"] == "prior":
        unrecorded = [m for m in models if study.has_weights(m) and not study.pretrain_spec(m)]
        if unrecorded:
            problems.append(
                f"config key 'grid.shortlist.by': 'prior' is the source accuracy the "
                f"workflow's own pretraining records; {', '.join(unrecorded)} have hub, "
                "file or package weights without one"
            )
    if problems:
        raise error("invalid config:\n  " + "\n  ".join(problems))


def finetune_jobs(study) -> dict:
    """``"dataset/model"`` -> the number of fine-tune jobs (pretrained + scratch) it runs
    in the full grid."""
    return dict(Counter(f"{c['dataset']}/{c['model']}" for c in study.finetune_cells()))
