"""The SLURM profile's job groups hold for the shipped studies, without a cluster.

Snakemake refuses a group that a rule outside it splits (a rule between `aggregate` and
`report` missing from group `summary`): a dry run with the profile builds the same DAG and
groups as `snakemake --workflow-profile slurm`, so a new closing rule that is not added to
profiles/slurm/config.yaml fails here in seconds instead of on the cluster.
"""

from __future__ import annotations

import pytest
from conftest import ROOT, dry_run

CONFIGS = [ROOT / "config" / "config.yaml", ROOT / "tests" / "configs" / "slurm.yaml"]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_slurm_profile_groups_build(config, tmp_path):
    counts = dry_run(tmp_path, config, "--workflow-profile", str(ROOT / "profiles" / "slurm"))
    closing = {"aggregate", "best_settings", "across_targets", "findings", "figures", "report"}
    assert closing <= set(counts), sorted(counts)
