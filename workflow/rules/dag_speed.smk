# DAG-building speed on large grids: every trick the workflow plays for it is here, and
# only those `benchmarks/dryrun_scaling.py --ablate` shows still pay. Figures: CPU time of
# `snakemake -n`, best of 3, trick off vs on (`... --points 1000 5000 --repeats 3 --ablate`,
# benchmarks/results/dryrun_ablation.json; 20k from dryrun_ablation-5k20k.json, run under load):
#   gc tuning      1k 3.88 vs 3.49 s (+11%), 5k 11.41 vs 10.23 s (+12%), 20k +6%
#   once_signed    5k 10.77 vs 10.23 s (+5%; +7% in the earlier run), 20k +3%, 1k noise
# Dropped (no gain the benchmark can see; CPU spread between repeats is ~5%):
#   functools.cache on input functions: 5k +0.3%, 1k -6%, 20k -4%; the uncached
#     function costs 0.03 s per 20k jobs in all.
#   the JobJson fast path (spec/jobspec.py): 5k +2% and +6%, 1k -3%, 20k -6%; it saves
#     0.4 s per 20k jobs (0.47 vs 0.08 s), ~1% of a 20k dry run.
# TA_DAG_SPEED_OFF=gc,signature turns tricks off, for that measurement only.
import gc
import inspect
import os

from snakemake.common import overwrite_function_params

_OFF = set(filter(None, os.environ.get("TA_DAG_SPEED_OFF", "").split(",")))

# Snakemake keeps several objects per job alive while it builds the DAG, and the cyclic
# garbage collector rescans them again and again. Collect less often; freeze what the
# start-up made (modules, the study), which is never garbage.
if "gc" not in _OFF:
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def once_signed(func):
    """Snakemake calls inspect.signature on a rule's function for every job; store the
    parameters on the function once, where Snakemake looks first."""
    if "signature" not in _OFF:
        overwrite_function_params(func, inspect.signature(func).parameters)
    return func
