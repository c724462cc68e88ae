"""The README and the manual stay true to the repository.

The README's layout map lists exactly the library's subpackages, in layer order; the README
stays short; no markdown file points outside the repository; links, `make` targets and
repository paths the docs name exist; config/README.md documents every schema key and the
real training defaults.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from conftest import ROOT
from project_copy import project_files
from test_layers import ORDER

from transfer_atlas.spec.study import SCHEMA_DIR, TRAIN_DEFAULTS

README = ROOT / "README.md"
LIBRARY = ROOT / "src" / "transfer_atlas"
MAX_README_LINES = 250


def markdown_files() -> list[str]:
    """Every markdown file a clone has (tracked, or new and not ignored)."""
    return sorted(f for f in project_files() if f.endswith(".md"))


def section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section of a markdown text."""
    match = re.search(rf"^## {re.escape(heading)}[^\n]*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def layout_subpackages(text: str) -> list[str]:
    """Subpackages the README's layout map lists, in its order (table rows naming
    `src/transfer_atlas/<name>/`)."""
    rows = re.findall(r"^\| `src/transfer_atlas/(\w+)/` \|", section(text, "Layout"), re.M)
    return rows


def test_layout_map_lists_exactly_the_subpackages_in_layer_order():
    listed = layout_subpackages(README.read_text())
    existing = sorted(p.parent.name for p in LIBRARY.glob("*/__init__.py"))
    assert len(listed) == len(set(listed)), f"listed twice: {listed}"
    assert sorted(listed) == existing, (
        f"README layout map lists {sorted(listed)}, src/transfer_atlas/ has {existing}"
    )
    assert [p for p in listed if p in ORDER] == ORDER, (
        f"README lists the layers as {listed}; tests/unit/test_layers.py says {ORDER}"
    )


def test_layout_parser_sees_a_missing_subpackage():
    text = README.read_text()
    dropped = text.replace("| `src/transfer_atlas/nn/` |", "| `src/transfer_atlas/` (nn) |")
    assert "nn" in layout_subpackages(text) and "nn" not in layout_subpackages(dropped)


def test_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines (at most {MAX_README_LINES})"


def test_no_markdown_file_points_outside_the_repository():
    offenders = [f for f in markdown_files() if "../shared" in (ROOT / f).read_text()]
    assert not offenders, f"mention ../shared (not part of the repository): {offenders}"


# ------------------------------------------------------------------ links and names


def documents() -> list[str]:
    """The project's own prose: the README, config/, docs/, benchmarks/ markdown."""
    return [
        f
        for f in markdown_files()
        if f == "README.md" or f.split("/")[0] in ("config", "docs", "benchmarks")
    ]


def anchors(text: str) -> set[str]:
    """GitHub's anchors for the headings of ``text``."""
    out = set()
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower().replace("`", "")).replace(" ", "-")
        out.add(slug)
    return out


@pytest.mark.parametrize("doc", documents())
def test_relative_links_resolve(doc):
    path = ROOT / doc
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text()):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{doc}: broken links {broken}"


def code(text: str) -> list[str]:
    """The inline code spans of ``text``, then the lines of its fenced code blocks."""
    blocks = re.findall(r"^```\w*\n(.*?)^```", text, re.M | re.S)
    prose = re.sub(r"^```\w*\n.*?^```", "", text, flags=re.M | re.S)
    return re.findall(r"`([^`\n]+)`", prose) + [ln for b in blocks for ln in b.splitlines()]


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([\w-]+):", text, re.M))


#: Top-level folders whose paths the docs name in backticks.
PATH_ROOTS = ("src/", "scripts/", "workflow/", "tests/", "config/", "benchmarks/", "profiles/")
PATH_ROOTS += ("ci/", "docs/", "envs/", "report/")


@pytest.mark.parametrize("doc", documents())
def test_named_make_targets_and_paths_exist(doc):
    text = (ROOT / doc).read_text()
    targets = make_targets()
    snippets = code(text)
    commands = [m for s in snippets for m in re.findall(r"(?:^|&& )make ([\w-]+)", s)]
    missing = [f"make {t}" for t in commands if t not in targets]
    for token in {word for s in snippets for word in s.split()}:
        if not token.startswith(PATH_ROOTS) or re.search(r"[<>{}*\[\]|]", token):
            continue
        if not (ROOT / token.split(":")[0]).exists():
            missing.append(token)
    assert not missing, f"{doc} names what does not exist: {missing}"


# ------------------------------------------------------------------ config reference


def schema_keys(node, out: set[str]) -> set[str]:
    """Every property name anywhere in a JSON schema."""
    if isinstance(node, dict):
        out.update(node.get("properties", {}))
        for value in node.values():
            schema_keys(value, out)
    elif isinstance(node, list):
        for value in node:
            schema_keys(value, out)
    return out


def test_config_reference_names_every_schema_key():
    schema = json.loads((SCHEMA_DIR / "config.schema.json").read_text())
    text = (ROOT / "config" / "README.md").read_text()
    named = {word for span in code(text) for word in re.findall(r"\w+", span)}
    missing = sorted(schema_keys(schema, set()) - named)
    assert not missing, f"config/README.md does not document: {missing}"


def test_config_reference_gives_the_real_training_defaults():
    table = section((ROOT / "config" / "README.md").read_text(), "`train` (study level, ")
    documented = dict(re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", table, re.M))
    assert set(TRAIN_DEFAULTS) <= set(documented), set(TRAIN_DEFAULTS) - set(documented)
    wrong = {
        key: (documented[key], value)
        for key, value in TRAIN_DEFAULTS.items()
        if yaml.safe_load(documented[key]) != value
    }
    assert not wrong, f"documented vs real defaults: {wrong}"
