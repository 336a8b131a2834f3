"""List models for the chat list and the model pickers: QAbstractListModel with a Roles enum and targeted
dataChanged (GPT4All's chatmodel, qutebrowser's downloads); each is checked with pytest-qt's qtmodeltester."""

from __future__ import annotations

import os
from enum import IntEnum
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from app.core.chat_store import Chat
from app.core.library import LibraryEntry
from app.core.model_info import format_parameter_count

Index = QModelIndex | QPersistentModelIndex
T = TypeVar("T")


class RowListModel(QAbstractListModel, Generic[T]):
    """A flat list of rows replaced as a whole; subclasses say what each role shows in `row_data`."""

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[T] = []

    def set_rows(self, rows: list[T]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        return self.row_data(self._rows[index.row()], role)

    def row_data(self, row: T, role: int) -> Any:
        raise NotImplementedError


class ChatRoles(IntEnum):
    ChatId = Qt.ItemDataRole.UserRole + 1
    Title = Qt.ItemDataRole.UserRole + 2
    Updated = Qt.ItemDataRole.UserRole + 3


class ChatListModel(RowListModel[Chat]):
    def set_chats(self, chats: list[Chat]) -> None:
        self.set_rows(chats)

    def row_data(self, c: Chat, role: int) -> Any:
        if role in (Qt.ItemDataRole.DisplayRole, ChatRoles.Title):
            return c.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return c.system_prompt or None
        if role == ChatRoles.ChatId:
            return c.id
        if role == ChatRoles.Updated:
            return c.updated
        return None

    def roleNames(self) -> dict[int, bytes]:
        return {**super().roleNames(), ChatRoles.ChatId: b"chatId", ChatRoles.Title: b"title",
                ChatRoles.Updated: b"updated"}

    def row_of(self, chat_id: int) -> int:
        return next((i for i, c in enumerate(self._rows) if c.id == chat_id), -1)

    def rename(self, chat_id: int, title: str) -> None:
        row = self.row_of(chat_id)
        if row >= 0:
            self._rows[row].title = title
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DisplayRole, ChatRoles.Title])


class ModelRoles(IntEnum):
    Path = Qt.ItemDataRole.UserRole + 1
    Advice = Qt.ItemDataRole.UserRole + 2


def model_label(e: LibraryEntry) -> str:
    i = e.info
    if i is None:
        return e.path
    size = f"{i.file_size / 1e6:.0f} MB"
    return f"{i.display_name} · {format_parameter_count(i.parameter_count)} · {i.file_type} · {size}"


class ModelListModel(RowListModel[tuple[LibraryEntry, list[str]]]):
    """Library entries with a label each ("SmolLM2 135M Instruct · 135M · Q4_1 · 98 MB") and optional advice."""

    def set_entries(self, rows: list[tuple[LibraryEntry, list[str]]]) -> None:
        self.set_rows(rows)

    def row_data(self, row: tuple[LibraryEntry, list[str]], role: int) -> Any:
        entry, advice = row
        if role == Qt.ItemDataRole.DisplayRole:
            return model_label(entry)
        if role == Qt.ItemDataRole.ToolTipRole:
            return "\n".join([entry.path, *advice])
        if role == ModelRoles.Path:
            return entry.path
        if role == ModelRoles.Advice:
            return list(advice)
        return None

    def roleNames(self) -> dict[int, bytes]:
        return {**super().roleNames(), ModelRoles.Path: b"path", ModelRoles.Advice: b"advice"}

    def row_of(self, path: str) -> int:
        """The row of a model file, however the path reached it (a symlink in the models dir, or its target)."""
        if not path:
            return -1
        real = os.path.realpath(path)
        return next((i for i, (e, _) in enumerate(self._rows) if os.path.realpath(e.path) == real), -1)
