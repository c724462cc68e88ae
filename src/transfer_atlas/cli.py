"""The ``transfer-atlas`` command: what a user types, as subcommands of one program.

``transfer-atlas check-config CONFIG...``, ``transfer-atlas restore-mtimes``,
``transfer-atlas readme`` and ``transfer-atlas jobs CONFIG`` (``--help`` on each). Each
calls a library function the workflow and the ``make`` targets use too; the scripts in
``scripts/`` stay the thin entry points the rules call. Installed by ``make env``
(``[project.scripts]`` in pyproject.toml); ``python -m transfer_atlas.cli`` works as well.

The top layer beside ``jobs``: it may import every layer but ``testing``; none imports it.
"""

from __future__ import annotations

import sys


def check_config(argv: list[str]) -> int:
    """Check study configs without running anything (exit status 2 if one is invalid)."""
    from transfer_atlas.spec.cli import check_config

    return check_config(argv)


def restore_mtimes(argv: list[str]) -> int:
    """After `dvc pull`: give the study's outputs modification times in DAG order."""
    from transfer_atlas.core.sharing import restore_mtimes

    return restore_mtimes(argv)


def readme(argv: list[str]) -> int:
    """Quote a fresh default study's findings.md between the README's findings markers."""
    import argparse
    from pathlib import Path

    from transfer_atlas.results.findings import quote_in_readme

    p = argparse.ArgumentParser(prog="transfer-atlas readme", description=readme.__doc__)
    p.add_argument("--findings", default="results/findings.md", help="(default: %(default)s)")
    p.add_argument("--readme", default="README.md", help="(default: %(default)s)")
    args = p.parse_args(argv)
    if not Path(args.findings).is_file():
        p.error(f"{args.findings} does not exist: run the default study first (make study)")
    quote_in_readme(args.readme, Path(args.findings).read_text())
    print(f"{args.readme}: findings block refreshed from {args.findings}")
    return 0


def _cells(study) -> dict:
    """The study's grid jobs by kind (spec.study.Study), in data-flow order."""
    pretrain = [  # models that share a pretraining share its job (spec.study)
        {"model": m}
        for m, spec in study.models.items()
        if study.pretrain_spec(m) and "weights_from" not in spec
    ]
    return {
        "prepare_dataset": [{"dataset": d} for d in study.datasets],
        "pretrain": pretrain,
        "finetune": list(study.finetune_cells()),
        "extract_features": list(study.extraction_cells()),
        "classify": list(study.feature_cells()),
        "transferability": list(study.transferability_cells()),
    }


def jobs(argv: list[str]) -> int:
    """List a study's jobs: how many of each kind, or (--list KIND) each one's wildcards."""
    import argparse
    import json

    from transfer_atlas.spec.study import ConfigError
    from transfer_atlas.spec.validate import load_study

    p = argparse.ArgumentParser(prog="transfer-atlas jobs", description=jobs.__doc__)
    p.add_argument("configfile")
    p.add_argument("--list", metavar="KIND", help="print each job of this kind, one a line")
    args = p.parse_args(argv)
    try:
        cells = _cells(load_study(args.configfile))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.list:
        if args.list not in cells:
            p.error(f"--list: one of {', '.join(cells)}")
        for cell in cells[args.list]:
            print(json.dumps(cell, sort_keys=True))
        return 0
    for kind, listed in cells.items():
        print(f"{kind:18} {len(listed):6}")
    print("(the grid's jobs: with grid.shortlist, only the top k models are fine-tuned)")
    return 0


COMMANDS = {
    "check-config": check_config,
    "restore-mtimes": restore_mtimes,
    "readme": readme,
    "jobs": jobs,
}


def usage() -> str:
    lines = ["usage: transfer-atlas COMMAND [ARGS...]   (COMMAND --help for its arguments)", ""]
    lines += [f"  {name:15} {func.__doc__.splitlines()[0]}" for name, func in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
