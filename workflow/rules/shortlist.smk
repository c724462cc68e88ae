# Shortlist mode (grid.shortlist: {k, by, audit}): the transferability jobs score every
# grid model on each target, on each (size, seed) training subset the fine-tunes use; this
# checkpoint ranks them and keeps the top k per target x size x seed; only those cells are
# fine-tuned (pretrained and scratch). Snakemake re-reads the fine-tune
# records the aggregate needs after the checkpoint, so one plain run does both phases
# and a rerun with results/shortlist.csv in place has nothing to redo (SHORTLIST and
# SHORTLIST_FILES: paths.smk; the aggregate reads the table back: aggregate.smk).
from transfer_atlas.spec.shortlist import finetune_jobs


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
