"""Entry point of scripts/check_config.py (``make check-config``)."""

from __future__ import annotations

import argparse
import sys


def check_config(argv: list[str] | None = None) -> int:
    """Check a study config without running anything: YAML syntax (file and line), then
    every check the workflow runs (``spec.validate.validate``): duplicate keys, the schema,
    names, the shortlist, and the freeze-depth / size / class cross-checks that need no data.

    Snakemake's own YAML error does not name the line; run this for a precise message.
    Exit status 0 if the config is valid, 2 otherwise.
    """
    p = argparse.ArgumentParser(description=check_config.__doc__.splitlines()[0])
    p.add_argument("configfile", nargs="+")
    args = p.parse_args(argv)
    from transfer_atlas.spec.study import ConfigError
    from transfer_atlas.spec.validate import load_study  # YAML and jsonschema: after --help

    status = 0
    for path in args.configfile:
        try:
            study = load_study(path)
        except ConfigError as exc:
            msg = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
            print(f"error: {msg}", file=sys.stderr)
            status = 2
            continue
        print(f"{path}: valid ({sum(1 for _ in study.finetune_cells())} fine-tune jobs)")
    return status
