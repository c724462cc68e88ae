# Stage 6: figures (Vega-Lite JSON + SVG + PNG) and the self-contained HTML report.


rule figures:
    input:
        "results/summary.csv",
    output:
        FIGURE_FILES,
    log:
        "logs/figures.log",
    conda:
        "../../envs/transfer-atlas.yaml"
    shell:
        "$TA_PY $TA_SCRIPTS/figures.py --summary {input} --outdir results/figures > {log} 2>&1"


rule report:
    input:
        runs="results/runs.parquet",
        summary="results/summary.csv",
        figures=expand("results/figures/{name}.vl.json", name=FIGURE_NAMES),
        transfer_figures=TRANSFER_FIGURES,
        transfer=TRANSFER_TABLES,
    output:
        "results/report.html",
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
        " --config {params.config:q} --out {output} > {log} 2>&1"
