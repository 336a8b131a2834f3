"""What the Downloads window's tabs share: the tab order, the item role that carries a row's choice, the
"in your library" mark, and how their status lines, trees and cells look."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QLabel, QTreeWidget, QTreeWidgetItem

CHOICE_ROLE = Qt.ItemDataRole.UserRole + 1
SEARCH_TAB, PAIRS_TAB, DRAFTS_TAB, QUEUE_TAB = range(4)
IN_LIBRARY = "✓ in your library"


def status_label() -> QLabel:
    label = QLabel("")
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def fit_columns(tree: QTreeWidget, stretch: int, elide: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle) -> None:
    """One column takes the spare width, the others their contents' width; long names elide in the middle (a
    file's quantization is at its end), and every cell carries its full text as a tooltip."""
    header = tree.header()
    header.setStretchLastSection(False)
    for col in range(tree.columnCount()):
        header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch if col == stretch
                                    else QHeaderView.ResizeMode.ResizeToContents)
    tree.setTextElideMode(elide)
    tree.setRootIsDecorated(False)
    tree.setUniformRowHeights(True)


def tooltips(item: QTreeWidgetItem) -> None:
    for col in range(item.columnCount()):
        if not item.toolTip(col):
            item.setToolTip(col, item.text(col))
