"""app/workers may use QtCore only (import-linter cannot forbid subpackages of an external package)."""

from __future__ import annotations

import ast
from pathlib import Path

WORKERS = Path(__file__).resolve().parents[2] / "app" / "workers"


def test_workers_import_qtcore_only():
    for path in WORKERS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name.startswith("PySide6"):
                    assert name in ("PySide6", "PySide6.QtCore"), f"{path.name} imports {name}"
