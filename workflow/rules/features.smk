# Stage 4a: features of a frozen pretrained model, extracted once per model x dataset x
# layer and cached; classical classifiers on them, one job per classifier x size x seed.


rule extract_features:
    input:
        unpack(extract_input),
    output:
        FEATURE_PATTERN,
    log:
        "logs/features/{dataset}/{model}/{layer}.log",
    priority: 40  # every classifier job of this cache waits for it
    conda:
        "../../envs/transfer-atlas.yaml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        job=extract_json,
        weights=lambda w, input: (
            f"--weights {input.weights}" if "weights" in input.keys() else ""
        ),
    shell:
        "$TA_PY $TA_SCRIPTS/extract_features.py --job {params.job:q}"
        " --data results/prepared/{wildcards.dataset} {params.weights}"
        " --out {output} --threads {threads} > {log} 2>&1"


rule classify:
    input:
        FEATURE_PATTERN,
    output:
        FEATURE_RUN_PATTERN,
    log:
        "logs/classify/{dataset}/{model}/{layer}_{classifier}_n{size}_s{seed}.log",
    conda:
        "../../envs/transfer-atlas.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        job=classify_json,
    shell:
        "OMP_NUM_THREADS={threads} $TA_PY $TA_SCRIPTS/classify.py --job {params.job:q}"
        " --features {input} --out {output} > {log} 2>&1"
