# Stage 6: figures (Vega-Lite JSON + SVG + PNG) and the self-contained HTML report.
# The SVGs and the HTML report also go into Snakemake's own report
# (`snakemake --report results/snakemake-report.zip`), captioned from report/captions/.


rule figures:
    input:
        summary="results/summary.csv",
        runs="results/runs.parquet",
        meta=expand(
            "results/prepared/{dataset}/meta.json", dataset=STUDY.grid["targets"]
        ),
    output:
        [f"results/figures/{name}.vl.json" for name in FIGURE_NAMES],
        [f"results/figures/{name}.png" for name in FIGURE_NAMES],
        [
            report(
                f"results/figures/{name}.svg",
                caption=f"../../report/captions/{name}.txt",
                category="Figures",
                labels={"figure": name.replace("_", " ")},
            )
            for name in FIGURE_NAMES
        ],
    log:
        "logs/figures.log",
    conda:
        "../../envs/transfer-atlas.yaml"
    shell:
        "$TA_PY $TA_SCRIPTS/figures.py --summary {input.summary} --runs {input.runs}"
        " --meta {input.meta} --outdir results/figures > {log} 2>&1"


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
        summary="results/summary.csv",
        prepared=expand(
            "results/prepared/{dataset}/arrays.npz", dataset=STUDY.grid["targets"]
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
        "$TA_PY $TA_SCRIPTS/mistakes.py --runs {input.runs} --summary {input.summary}"
        " --prepared {params.dirs} --out {output} > {log} 2>&1"


# Models whose weights the workflow pretrains have a first layer worth drawing.
# One picture set per distinct pretrained weights file (variants share their source's).
_PICTURED = {}
for _m in STUDY.grid["models"]:
    if STUDY.weights_path(_m):
        _PICTURED.setdefault(STUDY.weights_path(_m), _m)
PICTURED_MODELS = list(_PICTURED.values())


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
    shell:
        "$TA_PY $TA_SCRIPTS/model_pictures.py --model {wildcards.model} --spec {params.spec:q}"
        " --weights {input.weights} --data {params.data} --out {output} > {log} 2>&1"


rule report:
    input:
        runs="results/runs.parquet",
        summary="results/summary.csv",
        figures=expand("results/figures/{name}.vl.json", name=FIGURE_NAMES),
        transfer_figures=TRANSFER_FIGURES,
        transfer=TRANSFER_TABLES,
        explore=expand(
            "results/explore/datasets/{dataset}.json", dataset=STUDY.grid["targets"]
        ),
        mistakes="results/explore/mistakes.json",
        pictures=expand("results/explore/models/{model}.json", model=PICTURED_MODELS),
    output:
        html=report(
            "results/report.html",
            caption="../../report/captions/html_report.rst",
            category="Report",
            labels={"file": "report.html"},
        ),
        comparisons="results/comparisons.csv",
    log:
        "logs/report.log",
    conda:
        "../../envs/transfer-atlas.yaml"
    params:
        config=json.dumps(config, sort_keys=True),
        transfer=lambda w, input: (
            f"--transferability {' '.join(input.transfer)}" if input.transfer else ""
        ),
    shell:
        "$TA_PY $TA_SCRIPTS/report.py --runs {input.runs} --summary {input.summary}"
        " --figures {input.figures} {input.transfer_figures} {params.transfer}"
        " --config {params.config:q} --out {output.html}"
        " --comparisons {output.comparisons} --explore {input.explore}"
        " --mistakes {input.mistakes} --pictures {input.pictures} > {log} 2>&1"
