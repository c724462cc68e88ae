# Transfer Atlas: pretrained model x dataset x freeze depth x training size x seed.
# Rules live in workflow/rules/, one file per stage, after four files of helpers (start-up,
# DAG speed, paths, job params); this file sets the import path and wires them up.
import importlib.util
import os
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

# The one place that touches the import path. An installed transfer_atlas (`make env`
# installs it editable; the conda env too) is used as is. A bare checkout gets its own
# src/ on the path, here and (through PYTHONPATH) in the jobs' `$TA_PY script.py`.
if importlib.util.find_spec("transfer_atlas") is None:
    _SRC = str(Path(workflow.basedir) / "src")
    sys.path.insert(0, _SRC)
    os.environ.update(
        PYTHONPATH=os.pathsep.join(filter(None, [_SRC, os.environ.get("PYTHONPATH")]))
    )


# The default study, unless the user names config files: Snakemake would merge them into
# it (its documented behaviour), and a study of one's own must not inherit the default's
# models. Snakemake has no documented flag for "config files were given on the command
# line"; `overwrite_configfiles` is the list its --configfile option fills (the common
# idiom). `--replace-workflow-config` would not do: it also makes `--config gpu_slots=N`
# alone replace the whole study.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/setup.smk"
include: "workflow/rules/dag_speed.smk"
include: "workflow/rules/paths.smk"
include: "workflow/rules/params_common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/weights.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/transferability.smk"
include: "workflow/rules/shortlist.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/explore.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        "results/report.html",
        "results/runs.parquet",
        FIGURE_FILES,
