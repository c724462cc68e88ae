# Stage 6: figures (Vega-Lite JSON + SVG + PNG) and the self-contained HTML report,
# which also embeds the pictures of the data and the models (explore.smk).
# The SVGs and the HTML report also go into Snakemake's own report
# (`snakemake --report results/snakemake-report.zip`), captioned from report/captions/.


rule figures:
    input:
        summary="results/summary.csv",
        runs="results/runs.parquet",
        best="results/best_settings.csv",
        across="results/across_targets.csv",
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
        " --meta {input.meta} --best {input.best} --across {input.across}"
        " --outdir results/figures > {log} 2>&1"


rule report:
    input:
        runs="results/runs.parquet",
        summary="results/summary.csv",
        best="results/best_settings.csv",
        findings="results/findings.md",
        figures=expand("results/figures/{name}.vl.json", name=FIGURE_NAMES),
        transfer_figures=TRANSFER_FIGURES,
        transfer=TRANSFER_TABLES,
        explore=expand(
            "results/explore/datasets/{dataset}.json", dataset=STUDY.grid["targets"]
        ),
        mistakes="results/explore/mistakes.json",
        pictures=expand("results/explore/models/{model}.json", model=PICTURED_MODELS),
        embeddings=EMBEDDINGS,
        shortlist=SHORTLIST_FILES,
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
        config=json.dumps(STUDY_CONFIG, sort_keys=True),
        transfer=lambda w, input: (
            f"--transferability {' '.join(input.transfer)}" if input.transfer else ""
        ),
        shortlist=lambda w, input: (
            f"--shortlist {input.shortlist}" if input.shortlist else ""
        ),
    shell:
        "$TA_PY $TA_SCRIPTS/report.py --runs {input.runs} --summary {input.summary}"
        " --best {input.best}"
        " --figures {input.figures} {input.transfer_figures} {params.transfer}"
        " --config {params.config:q} --out {output.html}"
        " --comparisons {output.comparisons} --explore {input.explore}"
        " --mistakes {input.mistakes} --pictures {input.pictures}"
        " --embeddings {input.embeddings} {params.shortlist} > {log} 2>&1"
