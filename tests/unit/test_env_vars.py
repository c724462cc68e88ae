"""Every environment variable the project reads has one prefix and a row in the docs table
(docs/environment.md)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    "src",
    "scripts",
    "workflow",
    "ci",
    "Snakefile",
    "tests/workflow",
    "tests/conftest.py",
    "tests/snakemake_forks.py",
]
NAME = re.compile(r"\b(?:TA|TRANSFER_ATLAS)_[A-Z][A-Z0-9_]*\b")


def _files():
    for entry in SOURCES:
        path = ROOT / entry
        if path.is_file():
            yield path
        else:
            yield from (
                p for p in path.rglob("*") if p.suffix in {".py", ".smk", ".sh", ""} and p.is_file()
            )


def _used() -> set[str]:
    names = set()
    for path in _files():
        names |= set(NAME.findall(path.read_text(errors="replace")))
    return names


def test_one_prefix():
    assert not {n for n in _used() if n.startswith("TRANSFER_ATLAS_")}


def test_every_variable_in_the_docs_table():
    table = (ROOT / "docs" / "environment.md").read_text()
    documented = set(re.findall(r"`(TA_[A-Z0-9_]+)`", table))
    used = {n for n in _used() if not n.endswith("_ENV")}
    assert used - documented == set(), "add these to docs/environment.md"
    assert documented - used == set(), "docs/environment.md names variables nothing reads"
