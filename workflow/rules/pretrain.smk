# Stage 2: source weights the workflow trains itself (once per model).


rule pretrain:
    input:
        pretrain_input,
    output:
        weights="results/weights/{model}.safetensors",
        info="results/weights/{model}.json",
    log:
        "logs/pretrain/{model}.log",
    priority: 50  # every fine-tune of this model waits for it
    conda:
        "../../envs/transfer-atlas.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        gpu=GPU_PER_JOB,  # 1 where GPUs were found (setup.smk); with_gpus.py picks which
    params:
        job=pretrain_json,
        data=lambda w, input: Path(input[0]).parent,
    shell:
        "$TA_PY $TA_SCRIPTS/with_gpus.py {resources.gpu}"
        " $TA_PY $TA_SCRIPTS/finetune.py pretrain --job {params.job:q} --data {params.data}"
        " --out {output.weights} --threads {threads} > {log} 2>&1"
