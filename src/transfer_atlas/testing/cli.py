"""Entry point of scripts/make_standin.py."""

from __future__ import annotations

import argparse
import sys


def make_standin(argv: list[str] | None = None) -> int:
    """Write stand-in data and weights (real formats, generated content) for a study config.

    Lets a CI-sized study (config/studies/*-ci.yaml) run end to end with no downloads:
    every dataset and hub weight file the config reads from data/ is generated under ROOT.
    Existing files are left alone.
    """
    p = argparse.ArgumentParser(description=make_standin.__doc__)
    p.add_argument("--configfile", required=True, help="study config (YAML)")
    p.add_argument("--root", default=".", help="working directory the workflow runs in")
    p.add_argument("--per-class", type=int, default=4, help="images per class")
    p.add_argument("--size", type=int, default=12, help="image size of folder/CSV images")
    args = p.parse_args(argv)
    from transfer_atlas.spec.study import ConfigError
    from transfer_atlas.spec.validate import load_study
    from transfer_atlas.testing import standin

    try:
        study = load_study(args.configfile)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in standin.make_for_study(study, args.root, args.per_class, args.size):
        print(f"wrote {path}")
    return 0
