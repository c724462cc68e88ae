# Stage 5: every record -> tidy tables with mean, spread and 95% CI per cell.


rule aggregate:
    input:
        RECORDS + FEATURE_RECORDS,
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
