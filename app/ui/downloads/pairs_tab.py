"""The "Recommended pairs" tab: the curated main/draft pairs (models/catalog.toml), each with its download size,
whether it fits this machine's memory, and which of its files the library already has; the ones this machine runs
first."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from app.core.hub.catalog import CatalogModel, CatalogPair, PairFit, sort_by_fit
from app.core.hub.download_jobs import installed_file
from app.core.hub.gguf_files import MemoryBudget
from app.core.hub.transfer import PartSpec
from app.core.models.formatting import format_bytes
from app.ui.widgets.tree_rows import top_level_items

PAIR_ROLE = Qt.ItemDataRole.UserRole + 1
COL_PAIR, COL_SIZE, COL_FIT, COL_LIBRARY = range(4)

# mid-tone marks: readable on a light and on a dark window
FIT_MARKS = {"fits": ("✓ fits", QColor(30, 150, 60)), "partial": ("◐ partly on the CPU", QColor(200, 130, 0)),
             "too_big": ("✗ too big", QColor(210, 50, 50)), "unknown": ("? size unknown", QColor(128, 128, 128))}


def catalog_installed(models_dir: Path, model: CatalogModel) -> bool:
    """The catalog's file at its download destination (the size from the catalog is approximate: not checked)."""
    return bool(model.file) and installed_file(models_dir, model.repo, [PartSpec(model.file, 0, "")]) is not None


def machine_text(budget: MemoryBudget) -> str:
    ram = f"{budget.ram_bytes / 2**30:.0f} GiB RAM"
    return f"{budget.vram_bytes / 2**30:.0f} GiB of NVIDIA VRAM and {ram}" if budget.vram_bytes else \
        f"{ram}, no NVIDIA GPU found"


def budget_text(budget: MemoryBudget) -> str:
    if budget.vram_bytes:
        return (f"This machine: {machine_text(budget)}; a pair that fits runs wholly on the GPU "
                f"(up to ~{budget.bytes / 2**30:.1f} GiB).")
    return (f"This machine: {machine_text(budget)}; models may use ~{budget.bytes / 2**30:.1f} GiB "
            f"(60% of the RAM: the system and other programs need the rest).")


def fit_tooltip(fit: PairFit, budget: MemoryBudget) -> str:
    if fit.placement == "unknown":
        return "The catalog gives no size for one of its files: the hub's listing will tell at download time."
    need = f"Both loaded need about {fit.need_bytes / 2**30:.1f} GiB (weights, KV cache and buffers)"
    return {"fits": f"{need}: fits in {fit.where}.",
            "partial": f"{need}: more than the {fit.where}; the layers that do not fit run on the CPU (slower).",
            "too_big": f"{need}: more than this machine has ({machine_text(budget)})."}[fit.placement]


class PairsTab(QWidget):
    downloadRequested = Signal(object)  # CatalogPair

    def __init__(self, pairs: list[CatalogPair], budget: MemoryBudget, models_dir: Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.budget = budget
        self.models_dir = models_dir
        intro = QLabel("Main and draft models known to share a tokenizer; one click queues both. "
                       + html.escape(budget_text(budget)))
        intro.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Pair", "Download size", "On this machine", "In your library"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_PAIR, QHeaderView.ResizeMode.Stretch)
        for col in (COL_SIZE, COL_FIT, COL_LIBRARY):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.detail = QLabel("")
        self.detail.setWordWrap(True)
        self.detail.setTextFormat(Qt.TextFormat.RichText)
        self.status = QLabel("")  # this tab's own messages
        self.status.setWordWrap(True)
        self.download_button = QPushButton("Download pair")
        self.download_button.setEnabled(False)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.download_button)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.detail)
        lay.addLayout(bottom)
        for pair, fit in sort_by_fit(pairs, budget):
            self._add(pair, fit)
        self.refresh_library()
        self.tree.currentItemChanged.connect(lambda *_: self._selected())
        self.tree.itemDoubleClicked.connect(lambda *_: self.download_selected())
        self.download_button.clicked.connect(self.download_selected)

    # ---- rows -------------------------------------------------------------------------------------------------
    def _add(self, pair: CatalogPair, fit: PairFit) -> None:
        size = (f"{format_bytes(pair.main.size)} + {format_bytes(pair.draft.size)}" if pair.size else "?")
        mark, color = FIT_MARKS[fit.placement]
        if fit.need_bytes:
            mark += f" · needs ~{fit.need_bytes / 2**30:.1f} GiB"
        item = QTreeWidgetItem([pair.title, size, mark, ""])
        item.setData(COL_PAIR, PAIR_ROLE, (pair, fit))
        item.setToolTip(COL_PAIR, self._pair_tooltip(pair))
        item.setToolTip(COL_SIZE, "main + draft, as the catalog lists them")
        item.setToolTip(COL_FIT, fit_tooltip(fit, self.budget))
        item.setForeground(COL_FIT, QBrush(color))
        if fit.placement == "too_big":  # still offered (a bigger machine, a later upgrade), but visibly not for here
            muted = self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
            for col in (COL_PAIR, COL_SIZE, COL_LIBRARY):
                item.setForeground(col, QBrush(muted))
        self.tree.addTopLevelItem(item)

    @staticmethod
    def _pair_tooltip(pair: CatalogPair) -> str:
        return (f"{pair.title}\nmain: {pair.main.repo} ({pair.main.quant})\ndraft: {pair.draft.repo} "
                f"({pair.draft.quant})" + (f"\n{pair.notes}" if pair.notes else ""))

    def pair_at(self, row: int) -> tuple[CatalogPair, PairFit]:
        return top_level_items(self.tree)[row].data(COL_PAIR, PAIR_ROLE)

    def in_library(self, pair: CatalogPair) -> tuple[bool, bool]:
        return catalog_installed(self.models_dir, pair.main), catalog_installed(self.models_dir, pair.draft)

    def refresh_library(self) -> None:
        """Mark the files the library has (after a download finishes, say); a few stat calls."""
        for item in top_level_items(self.tree):
            pair, _ = item.data(COL_PAIR, PAIR_ROLE)
            main, draft = self.in_library(pair)
            text = ("✓ main and draft" if main and draft else "✓ main" if main else "✓ draft" if draft else "—")
            item.setText(COL_LIBRARY, text)
            item.setToolTip(COL_LIBRARY, "Already downloaded: a pair downloads only what the library lacks"
                            if main or draft else "Neither file is in the library yet")
        self._selected()

    # ---- selection and download -------------------------------------------------------------------------------
    def _selected(self) -> None:
        item = self.tree.currentItem()
        if item is None:
            self.detail.setText("Choose a pair to see its models and notes.")
            self.download_button.setEnabled(False)
            return
        pair, fit = item.data(COL_PAIR, PAIR_ROLE)
        main, draft = self.in_library(pair)
        have = (" Both files are in your library already." if main and draft else
                " The main model is in your library: only the draft downloads." if main else
                " The draft is in your library: only the main model downloads." if draft else "")
        self.detail.setText(
            f"<b>{html.escape(pair.title)}</b> — main {html.escape(pair.main.repo)} ({pair.main.quant}), "
            f"draft {html.escape(pair.draft.repo)} ({pair.draft.quant}). {html.escape(pair.notes)} "
            f"<i>{html.escape(fit_tooltip(fit, self.budget))}</i>{html.escape(have)}")
        self.download_button.setEnabled(not (main and draft))
        self.download_button.setToolTip("Both files are in your library" if main and draft else
                                        "Queue the main and the draft (files already here are skipped)")

    def download_selected(self) -> None:
        item = self.tree.currentItem()
        if item is None or not self.download_button.isEnabled():
            return
        self.downloadRequested.emit(item.data(COL_PAIR, PAIR_ROLE)[0])
