"""What import-linter's contracts cannot say: app/workers and app/session use QtCore only (it cannot forbid
subpackages of an external package), and no import circle remains anywhere in app/ (its layers contracts see
only the modules they name)."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

APP = Path(__file__).resolve().parents[2] / "app"


@pytest.mark.parametrize("package", ["workers", "session"])
def test_threads_and_controllers_import_qtcore_only(package: str) -> None:
    for path in (APP / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name.startswith("PySide6"):
                    assert name in ("PySide6", "PySide6.QtCore"), f"{path.name} imports {name}"


def import_circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    circles: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
    return circles


def test_no_import_circle_in_app() -> None:
    # imports under TYPE_CHECKING count too: a circle only the type checker sees is still one a reader must untangle
    graph = grimp.build_graph("app", exclude_type_checking_imports=False, cache_dir=None)
    assert import_circles(graph) == []


def test_the_circle_finder_finds_a_circle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "circles_probe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from circles_probe import b\n")
    (pkg / "b.py").write_text("from circles_probe import c\n")
    (pkg / "c.py").write_text("import circles_probe.a\n")
    (pkg / "d.py").write_text("import circles_probe.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("circles_probe", cache_dir=None)
    assert import_circles(graph) == [["circles_probe.a", "circles_probe.b", "circles_probe.c"]]
