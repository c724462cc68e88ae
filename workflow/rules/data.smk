# Stage 1: prepare each dataset once (arrays + fixed splits + fingerprint).


rule prepare_dataset:
    output:
        prepared("{dataset}"),
    log:
        "logs/prepare/{dataset}.log",
    priority: 100
    params:
        spec=lambda w: DATASET_JSON[w.dataset],
    shell:
        "{PY} {SCRIPTS}/prepare_dataset.py --name {wildcards.dataset} --spec {params.spec:q}"
        " --out results/prepared/{wildcards.dataset} > {log} 2>&1"
