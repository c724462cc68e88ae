# Stage 2b: hub weights (timm / Hugging Face, torchvision), fetched once into data/weights/
# and tracked there by DVC. A file already there (or `dvc pull`ed) is used as is; without
# network the job fails with a message saying how to get it.
rule fetch_weights:
    output:
        "data/weights/{hubkey}.safetensors",
    log:
        "logs/weights/{hubkey}.log",
    wildcard_constraints:
        hubkey=known_keys(HUB_SPECS),
    conda:
        "../../envs/transfer-atlas.yaml"
    params:
        spec=lambda w: HUB_SPECS[w.hubkey],
    shell:
        "$TA_PY $TA_SCRIPTS/fetch_weights.py --spec {params.spec:q} --out {output} > {log} 2>&1"


# Stage 2c: a checkpoint shipped in an installed Python distribution (pinned in
# requirements.lock), converted once from its own layout to safetensors, with a .json
# beside it recording distribution, version, file and both sha256s.
rule convert_weights:
    output:
        weights="results/weights/package/{pkgkey}.safetensors",
        info="results/weights/package/{pkgkey}.json",
    log:
        "logs/weights/package/{pkgkey}.log",
    wildcard_constraints:
        pkgkey=known_keys(PACKAGE_SPECS),
    conda:
        "../../envs/transfer-atlas.yaml"
    resources:
        mem_mb=1000,
    params:
        spec=lambda w: PACKAGE_SPECS[w.pkgkey],
    shell:
        "$TA_PY $TA_SCRIPTS/convert_weights.py --spec {params.spec:q} --out {output.weights}"
        " > {log} 2>&1"
