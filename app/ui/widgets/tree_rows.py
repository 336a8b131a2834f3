"""A QTreeWidget's top-level rows as a list: Qt's topLevelItem(i) may return None (an index out of range), which
every loop over its own count would otherwise check again."""

from __future__ import annotations

from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem


def top_level_items(tree: QTreeWidget) -> list[QTreeWidgetItem]:
    items = (tree.topLevelItem(i) for i in range(tree.topLevelItemCount()))
    return [item for item in items if item is not None]
