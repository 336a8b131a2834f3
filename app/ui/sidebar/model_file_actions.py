"""The files a model picker lists but cannot offer (broken, or not chat models): see why, and remove them.

Attached to a combo over a ModelListModel without changing the widget that owns it: a right-click on a greyed
row in the open list, or on the closed combo, offers "Remove file…" (to the trash, or deleted after a second
confirmation where there is no trash) and "Show in folder". The model's rows themselves are greyed, not
selectable and explained in their tooltip (item_models.ModelListModel).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QFile, QObject, QPoint, QStandardPaths, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QComboBox, QMenu, QMessageBox, QWidget

from app.core.models.library import LibraryEntry, entry_files
from app.core.models.formatting import count_phrase, format_bytes
from app.ui.widgets.item_models import ModelListModel

log = logging.getLogger("specchat.ui")

def _size(files: list[Path]) -> int:
    total = 0
    for f in files:
        try:
            total += f.lstat().st_size
        except OSError:
            pass
    return total


def _trash(path: Path) -> bool:
    """Into the desktop's trash (freedesktop on Linux: ~/.local/share/Trash); False where there is none."""
    data = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    try:  # Qt's trash gives up when the data folder itself is missing (a fresh or minimal account)
        Path(data).mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    return bool(QFile.moveToTrash(str(path)))


def remove_entry_files(parent: QWidget | None, entry: LibraryEntry) -> bool:
    """Ask, then move the entry's files to the trash (or delete them, asked again, where that fails). True
    when every file is gone; a failure is shown with the file and the reason, and nothing else is touched."""
    files = entry_files(entry)
    if not files:
        QMessageBox.information(parent, "Remove file", f"{os.path.basename(entry.path)} is no longer there.")
        return True
    problem = entry.problem
    why = f"\n\n{problem.reason}" if problem else ""
    names = "\n".join(f"  {f.name}" + ("  (a link: its target stays)" if f.is_symlink() else "") for f in files)
    box = QMessageBox(QMessageBox.Icon.Question, "Remove file",
                      f"Remove {count_phrase(len(files), 'file')} ({format_bytes(_size(files))}) from "
                      f"{files[0].parent}?\n\n{names}{why}", QMessageBox.StandardButton.Cancel, parent)
    box.setObjectName("removeModelFile")
    trash = box.addButton("Move to Trash", QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    if box.clickedButton() is not trash:
        return False
    left = [f for f in files if not _trash(f)]
    if left:
        answer = QMessageBox.question(
            parent, "No trash here",
            f"{count_phrase(len(left), 'file')} could not be moved to the trash. Delete permanently?\n\n"
            + "\n".join(f"  {f.name}" for f in left))
        if answer != QMessageBox.StandardButton.Yes:
            return False
        for f in left:
            try:
                f.unlink()
            except OSError as e:
                log.warning("cannot delete %s: %s", f, e)
                QMessageBox.warning(parent, "Remove file", f"{f} could not be deleted: {e.strerror or e}")
                return False
    log.info("removed %s", ", ".join(map(str, files)))
    return True


class ModelFileActions(QObject):
    """Right-click actions for a combo's unusable rows; `on_removed(path)` runs after a file went (a rescan)."""

    def __init__(self, combo: QComboBox, model: ModelListModel, on_removed: Callable[[str], object]) -> None:
        super().__init__(combo)
        self.combo = combo
        self.model = model
        self.on_removed = on_removed
        view = combo.view()
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._view_menu)
        combo.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        combo.customContextMenuRequested.connect(self._combo_menu)

    def menu_for(self, entries: list[LibraryEntry]) -> QMenu:
        """The actions for these entries (one each: "Remove name…"), built apart so tests can trigger them."""
        menu = QMenu(self.combo)
        for e in entries:
            name = os.path.basename(e.path)
            label = "Remove file…" if len(entries) == 1 else f"Remove {name}…"
            act = menu.addAction(label)
            act.setToolTip(e.problem.reason if e.problem else e.path)
            act.triggered.connect(lambda _=False, entry=e: self.remove(entry))
            show = menu.addAction("Show in folder" if len(entries) == 1 else f"Show {name} in folder")
            show.triggered.connect(lambda _=False, entry=e: self.show_in_folder(entry))
        return menu

    def remove(self, entry: LibraryEntry) -> None:
        self.combo.hidePopup()
        if remove_entry_files(self.combo.window(), entry):
            self.on_removed(entry.path)

    @staticmethod
    def show_in_folder(entry: LibraryEntry) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(entry.path).parent)))

    def _view_menu(self, pos: QPoint) -> None:
        view = self.combo.view()
        entry = self.model.entry_at(view.indexAt(pos).row())
        if entry is not None and not entry.usable:
            self.menu_for([entry]).exec(view.viewport().mapToGlobal(pos))

    def _combo_menu(self, pos: QPoint) -> None:
        entries = self.model.unusable_entries()
        if entries:
            self.menu_for(entries).exec(self.combo.mapToGlobal(pos))
