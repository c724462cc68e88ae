"""Every check of a study config, reached from one function: :func:`validate`.

The workflow's setup (``workflow/rules/setup.smk``) and ``transfer-atlas check-config``
both call it, so a config that one accepts the other accepts too. The checks run in this
order, each raising one :class:`~transfer_atlas.spec.study.ConfigError` that lists every
problem it found (the key, file and line, or name at fault):

1. duplicate keys in the YAML files (``preflight.check_config_files``), which YAML
   loaders, Snakemake's included, silently resolve by keeping the last one;
2. the JSON schema (``study.resolve``, which then fills in the defaults);
3. cross-checks of names: grid entries defined, architectures and sources known,
   package weights installed (``study.check_names``); feature grids and weights
   (``study.check_features``);
4. the shortlist (``shortlist.check_shortlist``), then the adaptation methods
   (``study.check_adapt``);
5. the preflight cross-checks of freeze depths, sizes, classes and splits
   (``preflight.check_study``).

Cheap enough for DAG time: YAML, jsonschema and plain Python, no torch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from transfer_atlas.spec import preflight
from transfer_atlas.spec.shortlist import check_shortlist
from transfer_atlas.spec.study import (
    ConfigError,
    Study,
    check_adapt,
    check_features,
    check_names,
    resolve,
)


def _check_shortlist(study: Study) -> None:
    check_shortlist(study, ConfigError)


#: The checks of a resolved study, in the order they run (steps 3 to 5 above).
STUDY_CHECKS = (check_names, check_features, _check_shortlist, check_adapt, preflight.check_study)


def validate(config: dict, files: Iterable[str | os.PathLike] = ()) -> Study:
    """Check a study config and return it resolved (defaults filled in, grid expanded).

    ``config`` is the parsed config (Snakemake's ``config``); ``files`` the YAML files it
    was read from, re-read for duplicate keys (``workflow.configfiles``). Raises
    :class:`ConfigError` at the first check that fails (see the module docstring).
    """
    preflight.check_config_files(files)
    study = resolve(config)
    for check in STUDY_CHECKS:
        check(study)
    return study


def load_study(path: str | os.PathLike) -> Study:
    """Read a YAML config file and validate it; YAML syntax errors and duplicate keys name
    the file and line."""
    path = Path(path)
    config = preflight.load_yaml_strict(path)  # the duplicate-key check of step 1
    if not isinstance(config, dict):
        kind = type(config).__name__
        raise ConfigError(f"{path}: the config must be a mapping of keys, got {kind}")
    return validate(config)
