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
        problems += _mixed_sources(study, models)
    if problems:
        raise error("invalid config:\n  " + "\n  ".join(problems))


def _mixed_sources(study, models) -> list[str]:
    """``prior`` compares source accuracies: only meaningful when every model was
    pretrained on the same source task (else each is a score on a different test)."""
    sources = {}
    for m in models:
        spec = study.pretrain_spec(m)
        if spec:
            sources.setdefault(spec["pretrain"], []).append(m)
    if len(sources) < 2:
        return []
    named = "; ".join(f"{', '.join(ms)} on '{src}'" for src, ms in sorted(sources.items()))
    return [
        "config key 'grid.shortlist.by': 'prior' ranks models by their source test accuracy, "
        f"but the grid models were pretrained on different sources ({named}: "
        "models.<name>.weights.pretrain), whose accuracies are on different tasks; rank by a "
        "score computed on the target (e.g. 'logme') or pretrain every model on one source"
    ]


def finetune_jobs(study) -> dict:
    """``"dataset/model/size/seed"`` -> the number of fine-tune jobs (pretrained settings +
    scratch) that cell of the full grid runs: the shortlist is made per size and seed."""
    return dict(
        Counter(
            f"{c['dataset']}/{c['model']}/{c['size']}/{c['seed']}" for c in study.finetune_cells()
        )
    )
