# Transfer Atlas: pretrained model x dataset x freeze depth x training size x seed.
# Rules live in workflow/rules/ (one file per stage); this file only wires them up.
from snakemake.utils import min_version

min_version("9.0")


# The default study, unless the user names config files (they would be merged into it).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/weights.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/transferability.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/explore.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        "results/report.html",
        "results/runs.parquet",
        FIGURE_FILES,
