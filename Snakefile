# Transfer Atlas: pretrained model x dataset x freeze depth x training size x seed.
# Rules live in workflow/rules/ (one file per stage); this file only wires them up.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        "results/report.html",
        "results/runs.parquet",
        FIGURE_FILES,
    default_target: True
