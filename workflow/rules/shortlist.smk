# Shortlist mode (grid.shortlist: {k, by, audit}): the transferability jobs score every
# grid model on each target, on each (size, seed) training subset the fine-tunes use; this
# checkpoint ranks them and keeps the top k per target x size x seed; only those cells are
# fine-tuned (pretrained and scratch). Snakemake re-reads the fine-tune
# records the aggregate needs after the checkpoint, so one plain run does both phases
# and a rerun with results/shortlist.csv in place has nothing to redo.
from transfer_atlas.spec.shortlist import finetune_jobs

SHORTLIST = STUDY.grid.get("shortlist")


checkpoint shortlist:
    input:
        TRANSFER_SCORES,
    output:
        "results/shortlist.csv",
    log:
        "logs/shortlist.log",
    conda:
        "../../envs/transfer-atlas.yaml"
    params:
        by=lambda w: SHORTLIST["by"],
        k=lambda w: SHORTLIST["k"],
        jobs=json.dumps(finetune_jobs(STUDY), sort_keys=True),
    shell:
        "$TA_PY $TA_SCRIPTS/shortlist.py --scores {input} --by {params.by} --k {params.k}"
        " --jobs {params.jobs:q} --out {output} > {log} 2>&1"


def aggregate_records(wildcards):
    """Every record, or in shortlist mode (without an audit) the selected models' fine-tunes."""
    if not SHORTLIST or SHORTLIST.get("audit"):
        return RECORDS + FEATURE_RECORDS
    import pandas as pd

    from transfer_atlas.results.shortlist import read, selected_cells

    kept = selected_cells(read(checkpoints.shortlist.get().output[0]))
    cells = [
        c
        for c in STUDY.finetune_cells()
        if (c["dataset"], c["model"], c["size"], int(c["seed"])) in kept
    ]
    return [RUN_PATTERN.format(**c) for c in cells] + FEATURE_RECORDS


SHORTLIST_FILES = ["results/shortlist.csv"] if SHORTLIST else []
