"""Files that ship beside the code (icons, the .desktop template, the catalog), wherever SpecChat runs from:
a source tree or editable install (the repo root), a wheel install (share/specchat/, from pyproject's
data-files), or the PyInstaller bundle (its root, sys._MEIPASS)."""

from __future__ import annotations

import sys
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[3]


def resource_path(relative: str) -> Path:
    """The first existing copy of `relative` (e.g. "resources/specchat.svg"); the source-tree path otherwise,
    so an error message names where it was expected."""
    roots = [Path(getattr(sys, "_MEIPASS", SOURCE_ROOT)), SOURCE_ROOT, Path(sys.prefix) / "share" / "specchat"]
    for root in roots:
        p = root / relative
        if p.exists():
            return p
    return SOURCE_ROOT / relative
