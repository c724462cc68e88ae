# Stage 5b: pictures of the data and of what the models learned, for the report.
# Each reads the study's own caches (prepared arrays, feature caches, run records,
# pretrained weights): no figure makes its own pass over a dataset.


rule explore_dataset:
    input:
        prepared("{dataset}"),
    output:
        "results/explore/datasets/{dataset}.json",
    log:
        "logs/explore/datasets/{dataset}.log",
    conda:
        "../../envs/transfer-atlas.yaml"
    shell:
        "$TA_PY $TA_SCRIPTS/explore_dataset.py --data results/prepared/{wildcards.dataset}"
        " --out {output} > {log} 2>&1"


rule mistakes:
    input:
        runs="results/runs.parquet",
        best="results/best_settings.csv",
        prepared=expand(
            "results/prepared/{dataset}/images.npy", dataset=STUDY.grid["targets"]
        ),
    output:
        "results/explore/mistakes.json",
    log:
        "logs/mistakes.log",
    conda:
        "../../envs/transfer-atlas.yaml"
    params:
        dirs=lambda w, input: [str(Path(f).parent) for f in input.prepared],
    shell:
        "$TA_PY $TA_SCRIPTS/mistakes.py --runs {input.runs} --best {input.best}"
        " --prepared {params.dirs} --out {output} > {log} 2>&1"


rule model_pictures:
    input:
        weights=lambda w: STUDY.weights_path(w.model),
        data=prepared(STUDY.grid["targets"][0]),
    output:
        "results/explore/models/{model}.json",
    log:
        "logs/explore/models/{model}.log",
    conda:
        "../../envs/transfer-atlas.yaml"
    params:
        spec=lambda w: ARCH_JSON[w.model],  # architecture only: training settings do not matter
        data=lambda w, input: str(Path(input.data[0]).parent),
        image=config.get("report", {}).get("feature_map_image", 0),
        sha=lambda w: (
            f"--sha256 {STUDY.pinned_sha256(w.model)}"
            if STUDY.pinned_sha256(w.model)
            else ""
        ),
    shell:
        "$TA_PY $TA_SCRIPTS/model_pictures.py --model {wildcards.model} --spec {params.spec:q}"
        " --image {params.image} {params.sha}"
        " --weights {input.weights} --data {params.data} --out {output} > {log} 2>&1"


rule embed:
    input:
        unpack(embed_input),
    output:
        "results/explore/embeddings/{dataset}/{source}.json",
    log:
        "logs/explore/embeddings/{dataset}/{source}.log",
    conda:
        "../../envs/transfer-atlas.yaml"
    params:
        features=lambda w, input: (
            f"--features {input.features}" if "features" in input.keys() else ""
        ),
    shell:
        "$TA_PY $TA_SCRIPTS/embed.py --data results/prepared/{wildcards.dataset}"
        " --source {wildcards.source} {params.features} --out {output} > {log} 2>&1"
