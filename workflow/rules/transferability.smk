# Stage 4b: rank models without fine-tuning them (LogME, LEEP, NCE, H-score, SFDA and the
# k-NN and prior baselines), from the cached pre_logits and predictions features of each
# target's training split; then check each ranking against the accuracy fine-tuning
# reached (weighted Kendall tau).


rule transferability:
    input:
        unpack(source_info),
        pre_logits="results/features/{dataset}/{model}/pre_logits.npz",
        predictions="results/features/{dataset}/{model}/predictions.npz",
    output:
        "results/transferability/{dataset}/{model}.json",
    log:
        "logs/transferability/{dataset}/{model}.log",
    conda:
        "../../envs/transfer-atlas.yaml"
    params:
        # the (size, seed) training subsets the fine-tunes use: a shortlist scores each
        job=lambda w: json.dumps(
            {
                "study": STUDY.name,
                "dataset": w.dataset,
                "model": w.model,
                "subsets": [
                    [str(n), int(s)]
                    for n in STUDY.grid["sizes"]
                    for s in STUDY.grid["seeds"]
                ],
                "numerics": NUMERICS,
                **_EXPECTED_SHA[w.model],
            },
            sort_keys=True,
        ),
        info=lambda w, input: (
            f"--source-info {input.info}" if "info" in input.keys() else ""
        ),
    shell:
        "OMP_NUM_THREADS=1 $TA_PY $TA_SCRIPTS/transferability.py --job {params.job:q}"
        " --pre-logits {input.pre_logits} --predictions {input.predictions}"
        " {params.info} --out {output} > {log} 2>&1"


rule transferability_table:
    input:
        scores=TRANSFER_SCORES,
        summary="results/summary.csv",
        best="results/best_settings.csv",
        runs="results/runs.parquet",
    output:
        table="results/transferability.csv",
        tau="results/transferability_tau.csv",
        figure=multiext(
            "results/figures/transferability_scatter.", "vl.json", "svg", "png"
        ),
    log:
        "logs/transferability_table.log",
    conda:
        "../../envs/transfer-atlas.yaml"
    shell:
        "$TA_PY $TA_SCRIPTS/transferability_table.py --scores {input.scores}"
        " --summary {input.summary} --best {input.best} --runs {input.runs}"
        " --table {output.table} --tau {output.tau}"
        " --figure results/figures/transferability_scatter > {log} 2>&1"
