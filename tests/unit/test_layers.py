"""The library's layering: imports flow one way, from later subpackages to earlier ones.

Every import is read, function-level ones included (a deferred import hides a cycle, it
does not remove it), and so are imports by name: ``importlib.import_module("...")`` /
``__import__("...")`` with a literal name, and any string that names a library module or
a job target (``"transfer_atlas.x.y"``, ``"transfer_atlas.x.y:func"``). A module may
import its own subpackage and the ones listed before it; ``runtime`` may use ``core``
alone; ``jobs`` (the job table) may use every layer but ``testing``, and the
``transfer-atlas`` command (``cli``) ``jobs`` too; nothing imports ``testing``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import transfer_atlas

PKG = Path(transfer_atlas.__file__).resolve().parent
ORDER = ["core", "spec", "data", "nn", "train", "features", "results", "report"]
#: What each subpackage may import besides itself (``testing`` may use anything).
ALLOWED = {name: set(ORDER[:i]) for i, name in enumerate(ORDER)}
ALLOWED["runtime"] = {"core"}
ALLOWED["jobs"] = set(ORDER) | {"runtime"}
ALLOWED["cli"] = ALLOWED["jobs"] | {"jobs"}
ALLOWED["testing"] = set(ORDER) | {"runtime"}
#: A string naming a library module or a job target: an import by name.
NAMED = re.compile(r"transfer_atlas(\.\w+)+(:[\w.]+)?")
#: Third-party imports a layer must not make, even lazily.
FORBIDDEN_LIBS = {
    "core": {"torch", "numpy", "pandas", "timm", "torchvision", "yaml"},
    "spec": {"torch", "pandas", "timm", "torchvision"},
}


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _named(node: ast.AST, strings: bool) -> set[str]:
    """Modules a node names as a string: ``import_module("m")``, ``__import__("m")``, or a
    ``"transfer_atlas.m"`` / ``"transfer_atlas.m:func"`` constant (with each parent
    package, so that ``"transfer_atlas.report.html.build"`` counts as its module)."""
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
            return {node.args[0].value}
    if strings and isinstance(node, ast.Constant) and isinstance(node.value, str):
        if NAMED.fullmatch(node.value):
            parts = node.value.partition(":")[0].split(".")
            return {".".join(parts[:i]) for i in range(2, len(parts) + 1)}
    return set()


def imports_of(path: Path, strings: bool = True) -> set[str]:
    """Every module ``path`` imports (absolute names), at any nesting level, by statement
    or by name (:func:`_named`). ``strings=False``: without the module names a string
    merely holds (a ``python -m`` command names a module, it does not import it)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        out |= _named(node, strings)
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative imports are not used here; resolve them anyway
                base = module_name(path).split(".")
                base = base[: len(base) - node.level + (path.name == "__init__.py")]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            # ``from pkg import module`` imports the module too
            out |= {f"{mod}.{a.name}" for a in node.names}
    return out


def library_graph(strings: bool = True) -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PKG.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = {m for m in imports_of(path, strings) if m in modules and m != name}
    return graph


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_module_lives_in_a_known_subpackage():
    strays = [m for m in library_graph() if m != "transfer_atlas" and layer(m) not in ALLOWED]
    assert not strays, f"modules outside the layered subpackages: {strays}"


def against_layering(mod: str, deps: set[str]) -> list[str]:
    """The imports of ``mod`` that its layer may not make."""
    here, upward = layer(mod), []
    for dep in deps:
        there = layer(dep)
        if here is None or there is None or there == here:
            continue
        if there not in ALLOWED[here]:
            upward.append(f"{mod} imports {dep} ({here} may use: {sorted(ALLOWED[here])})")
    return upward


def test_imports_flow_one_way():
    upward = []
    for mod, deps in library_graph().items():
        upward += against_layering(mod, deps)
    assert not upward, "imports against the layering:\n  " + "\n  ".join(sorted(upward))


def test_no_import_cycles():
    graph = library_graph(strings=False)  # imports only: a string names, it does not load
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycles.append(" -> ".join(stack[stack.index(dep) :] + [dep]))
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n  " + "\n  ".join(cycles)


def test_lower_layers_do_not_import_heavy_libraries():
    bad = []
    for path in PKG.rglob("*.py"):
        mod = module_name(path)
        banned = FORBIDDEN_LIBS.get(layer(mod) or "", set())
        for dep in imports_of(path):
            if dep.split(".")[0] in banned:
                bad.append(f"{mod} imports {dep}")
    assert not bad, "\n".join(sorted(bad))


def test_the_checker_sees_function_level_imports_and_cycles(tmp_path):
    # The checks above would pass vacuously if deferred imports were missed.
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from transfer_atlas.report import html\n    import torch\n")
    assert {"transfer_atlas.report", "transfer_atlas.report.html", "torch"} <= imports_of(src)


@pytest.mark.parametrize(
    "planted",
    [
        'import importlib\n\ndef f():\n    importlib.import_module("transfer_atlas.report.html")\n',
        'from importlib import import_module\nimport_module("transfer_atlas.report.html")\n',
        '__import__("transfer_atlas.report.html")\n',
        'TARGET = "transfer_atlas.report.cli:report"  # a job target, by name\n',
        'JOBS = ("transfer_atlas.report.html.build",)\n',
    ],
)
def test_the_checker_catches_imports_by_name(tmp_path, planted):
    """An upward import written as a string, planted in core/, fails the layering test:
    the checker run on the planted file, as ``core/planted.py``, finds it."""
    src = tmp_path / "planted.py"
    src.write_text(planted)
    known = set(library_graph())
    deps = {m for m in imports_of(src) if m in known}
    assert "transfer_atlas.report.html" in deps or "transfer_atlas.report.cli" in deps
    assert against_layering("transfer_atlas.core.planted", deps)
    # and the same file planted in core/ of the library is read the same way
    assert module_name(PKG / "core" / "planted.py") == "transfer_atlas.core.planted"


def test_runtime_names_no_job():
    """Runtime is handed its jobs (transfer_atlas.jobs); it names none, not even by string."""
    named = set()
    for path in (PKG / "runtime").rglob("*.py"):
        mods = {m for m in imports_of(path) if m.startswith("transfer_atlas.")}
        named |= {m for m in mods if layer(m) not in ("runtime", "core")}
    assert not named, sorted(named)


def test_test_file_names_are_unique():
    """pytest's default (rootdir-relative) import mode needs one basename per test module:
    two tests/**/test_x.py stop collection before any test runs."""
    tests = Path(__file__).resolve().parents[1]
    names = [p.name for p in tests.rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
