"""What the Search tab's result list shows before any search: the curated recommended pairs (models/catalog.toml),
the ones this machine runs first, instead of an empty list. They need no hub call to be shown, so they are there
offline too; choosing one offers "Download pair" (both files, as the Recommended pairs tab does)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QListWidgetItem

from app.core.hub.catalog import CatalogPair, PairFit, sort_by_fit
from app.core.hub.gguf_files import MemoryBudget
from app.core.models.formatting import format_bytes
from app.ui.downloads.pairs_tab import FIT_MARKS, catalog_installed, fit_tooltip

PAIR_ROLE = Qt.ItemDataRole.UserRole + 2  # a suggestion's (CatalogPair, PairFit); a repo result has none
INTRO = ("Suggested pairs: a main model and a smaller draft that share a tokenizer. Search above for any other "
         "model.")


def suggestion_items(pairs: list[CatalogPair], budget: MemoryBudget, muted: QColor) -> list[QListWidgetItem]:
    """One row per pair; `muted` (the list's disabled text colour) for the ones too big for this machine: still
    shown, visibly not for here, as in the Recommended pairs tab."""
    out = []
    for pair, fit in sort_by_fit(pairs, budget):
        mark, _ = FIT_MARKS[fit.placement]
        size = f"{format_bytes(pair.size)}" if pair.size else "size unknown"
        item = QListWidgetItem(f"★ {pair.title}    {size}    {mark}")
        item.setData(PAIR_ROLE, (pair, fit))
        item.setToolTip(f"{pair.title}\nmain: {pair.main.repo} ({pair.main.quant})\ndraft: {pair.draft.repo} "
                        f"({pair.draft.quant})\n{fit_tooltip(fit, budget)}")
        if fit.placement == "too_big":
            item.setForeground(QBrush(muted))
        out.append(item)
    return out


def in_library(models_dir: Path, pair: CatalogPair) -> tuple[bool, bool]:
    return catalog_installed(models_dir, pair.main), catalog_installed(models_dir, pair.draft)


def describe(pair: CatalogPair, fit: PairFit, budget: MemoryBudget, models_dir: Path) -> str:
    """The line under the lists for a chosen suggestion: its two files, what it needs here, what is there."""
    main, draft = in_library(models_dir, pair)
    have = (" Both files are in your library." if main and draft else
            " The main model is in your library: only the draft downloads." if main else
            " The draft is in your library: only the main model downloads." if draft else "")
    return (f"{pair.title}: main {pair.main.repo} ({pair.main.quant}), draft {pair.draft.repo} ({pair.draft.quant})."
            f" {fit_tooltip(fit, budget)}{have}")
