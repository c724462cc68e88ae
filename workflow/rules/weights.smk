# Stage 2b: hub weights (timm / Hugging Face, torchvision), fetched once into data/weights/
# and tracked there by DVC. A file already there (or `dvc pull`ed) is used as is; without
# network the job fails with a message saying how to get it.
rule fetch_weights:
    output:
        "data/weights/{hubkey}.safetensors",
    log:
        "logs/weights/{hubkey}.log",
    conda:
        "../../envs/transfer-atlas.yaml"
    params:
        spec=lambda w: HUB_SPECS[w.hubkey],
    shell:
        "$TA_PY $TA_SCRIPTS/fetch_weights.py --spec {params.spec:q} --out {output} > {log} 2>&1"
