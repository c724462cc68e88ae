# Stage 3: one job per grid cell, one JSON record each.


rule finetune:
    input:
        finetune_input,
    output:
        RUN_PATTERN,
    log:
        "logs/finetune/{dataset}/{model}/{init}_f{freeze}_n{size}_s{seed}.log",
    conda:
        "../../envs/transfer-atlas.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        gpu=GPU_PER_JOB,  # 1 where GPUs were found (setup.smk); with_gpus.py picks which
    params:
        job=job_json,
        weights=weights_option,
    shell:
        "$TA_PY $TA_SCRIPTS/with_gpus.py {resources.gpu}"
        " $TA_PY $TA_SCRIPTS/finetune.py finetune --job {params.job:q}"
        " --data results/prepared/{wildcards.dataset} {params.weights}"
        " --out {output} --threads {threads} > {log} 2>&1"
