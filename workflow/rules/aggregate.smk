# Stage 5: every record -> tidy tables with mean, spread and 95% CI per cell.


rule aggregate:
    input:
        aggregate_records,  # params_common.smk: all records, or the shortlist's
    output:
        runs="results/runs.parquet",
        csv="results/runs.csv",
        summary="results/summary.csv",
    log:
        "logs/aggregate.log",
    conda:
        "../../envs/transfer-atlas.yaml"
    params:
        listing="results/.records.txt",
    run:
        # The record list goes through a file: tens of thousands of paths would
        # overflow a command line.
        from transfer_atlas.core import atomic

        atomic.write_text(params.listing, "\n".join(input) + "\n")
        shell(
            "$TA_PY $TA_SCRIPTS/aggregate.py --records {params.listing} --runs {output.runs}"
            " --summary {output.summary} > {log} 2>&1"
        )


# Each model's best setting per target, chosen on validation accuracy only (the test
# split never chooses); every figure, table and finding downstream reads this file.
rule best_settings:
    input:
        "results/runs.parquet",
    output:
        "results/best_settings.csv",
    log:
        "logs/best_settings.log",
    conda:
        "../../envs/transfer-atlas.yaml"
    shell:
        "$TA_PY $TA_SCRIPTS/best_settings.py --runs {input} --out {output} > {log} 2>&1"


# The study's findings in plain language; the README quotes the default study's.
rule findings:
    input:
        runs="results/runs.parquet",
        summary="results/summary.csv",
        best="results/best_settings.csv",
    output:
        "results/findings.md",
    log:
        "logs/findings.log",
    conda:
        "../../envs/transfer-atlas.yaml"
    shell:
        "$TA_PY $TA_SCRIPTS/findings.py --runs {input.runs} --summary {input.summary}"
        " --best {input.best} --out {output} > {log} 2>&1"


# Settings across every target x model x size: IQM and probability of improvement over
# full fine-tuning, with stratified-bootstrap intervals (results/across_targets.py).
rule across_targets:
    input:
        "results/runs.parquet",
    output:
        "results/across_targets.csv",
    log:
        "logs/across_targets.log",
    conda:
        "../../envs/transfer-atlas.yaml"
    shell:
        "$TA_PY $TA_SCRIPTS/across_targets.py --runs {input} --out {output} > {log} 2>&1"
