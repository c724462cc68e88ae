# Stage 2: source weights the workflow trains itself (once per model).


def pretrain_input(w):
    spec = STUDY.pretrain_spec(w.model)
    if spec is None:
        raise WorkflowError(f"model '{w.model}' has no 'weights: pretrain:' source")
    return prepared(spec["pretrain"])


def pretrain_json(w):
    spec = STUDY.pretrain_spec(w.model)
    return json.dumps(
        {
            "model": w.model,
            "source": spec["pretrain"],
            "seed": 0,
            "model_spec": json.loads(ARCH_JSON[w.model]),
            "train": spec["train"],
        },
        sort_keys=True,
    )


rule pretrain:
    input:
        pretrain_input,
    output:
        weights="results/weights/{model}.safetensors",
        info="results/weights/{model}.json",
    log:
        "logs/pretrain/{model}.log",
    priority: 50  # every fine-tune of this model waits for it
    threads: 1
    resources:
        mem_mb=2000,
    params:
        job=pretrain_json,
        data=lambda w, input: Path(input[0]).parent,
    shell:
        "{PY} {SCRIPTS}/finetune.py pretrain --job {params.job:q} --data {params.data}"
        " --out {output.weights} --threads {threads} > {log} 2>&1"
