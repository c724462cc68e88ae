# Stage 1: prepare each dataset once (arrays + fixed splits + fingerprint).


rule prepare_dataset:
    output:
        prepared("{dataset}"),
    log:
        "logs/prepare/{dataset}.log",
    priority: 100
    conda:
        "../../envs/transfer-atlas.yaml"
    # Decoding workers: file sources decode in parallel (the first jobs of a run).
    # Snakemake caps threads at --cores; a plain number (not workflow.cores) also lets
    # commands without --cores (--unlock, --report) read the rule.
    threads: 8
    params:
        spec=lambda w: DATASET_JSON[w.dataset],
        content=source_content,  # the source files' hash: a dataset is its content
    shell:
        "$TA_PY $TA_SCRIPTS/prepare_dataset.py --name {wildcards.dataset} --spec {params.spec:q}"
        " --out results/prepared/{wildcards.dataset} --workers {threads} > {log} 2>&1"
