"""The package's import graph: no module imports itself in a circle, and no layer imports back up.

Built with ``ast`` from the source files, so nothing is imported to check it; ``if TYPE_CHECKING:`` blocks
are left out (they never run). Module-level imports must not form a circle (Python would fail on it at
import time, depending on which module comes first); nor may the imports deferred into functions: a late
import is how a circle gets hidden (the store seam once imported its backends that way, which import
it), while registries sit apart from what they name (STYLE.md). A cycle is reported as the chain of
modules that closes it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO

PACKAGE = REPO / "mmsearch"


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: the body and its ``if``/``try``/``with`` blocks,
    not function or class bodies (a class body runs too, but holds no imports here) nor TYPE_CHECKING."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _module_level(block)
        elif isinstance(node, ast.With):
            yield from _module_level(node.body)


def _anywhere(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import under ``node``, in functions and classes too, but not under ``if TYPE_CHECKING``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.orelse:
                yield from _anywhere(ast.Module(body=[stmt], type_ignores=[]))
        else:
            yield from _anywhere(child)


def imported_modules(path: Path, known: set[str], root: Path = PACKAGE, deferred: bool = False) -> set[str]:
    """The package's modules that ``path`` imports at module level (``deferred``: anywhere)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in _anywhere(tree) if deferred else _module_level(tree.body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, *([base] if base else [])])
        for alias in node.names:  # ``from pkg import module`` imports the module
            found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {target for target in found if target in known and target != name}


def import_graph(root: Path = PACKAGE, deferred: bool = False) -> dict[str, set[str]]:
    files = sorted(root.rglob("*.py"))
    known = {module_name(path, root) for path in files}
    return {module_name(path, root): imported_modules(path, known, root, deferred) for path in files}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None (depth-first search, colouring nodes)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 90 and "mmsearch.index.store" in graph  # the whole package was read
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_import_deferred_into_a_function_closes_a_circle_either() -> None:
    graph = import_graph(deferred=True)
    assert graph["mmsearch.index.store_registry"] >= {
        "mmsearch.index.edge_store",
        "mmsearch.index.qdrant_store",
    }
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle through a deferred import: " + " -> ".join(cycle or [])


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("mmsearch.ingest", "mmsearch.index"),
        ("mmsearch.ingest", "mmsearch.search"),
        ("mmsearch.index", "mmsearch.search"),
    ],
)
def test_no_layer_imports_the_layer_above(lower: str, higher: str) -> None:
    """DESIGN.md: ``search`` may import ``index`` and ``ingest``; ``index`` may import ``ingest``;
    ``ingest`` imports neither."""
    graph = import_graph()
    upward = {
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.startswith(lower + ".")
        for target in targets
        if target == higher or target.startswith(higher + ".")
    }
    assert upward == set()


def test_the_checker_sees_a_cycle_and_skips_what_never_runs_at_import(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    for path, text in {
        "__init__.py": "",
        "sub/__init__.py": "",
        "a.py": "from pkg.sub import b\n",
        "sub/b.py": "from ..c import thing\n",
        "c.py": "import pkg.a\n",
        "d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import e\n",
        "e.py": "import pkg.d\ndef late():\n    from pkg import a\n",
    }.items():
        (root / path).write_text(text)
    graph = import_graph(root)
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.c"}
    assert graph["pkg.d"] == set() and graph["pkg.e"] == {"pkg.d"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]
    (root / "c.py").write_text("def late():\n    import pkg.a\n")
    assert find_cycle(import_graph(root)) is None
    assert find_cycle(import_graph(root, deferred=True)) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]
    assert import_graph(root, deferred=True)["pkg.d"] == set()  # TYPE_CHECKING never runs
