"""List models for the chat list and the model pickers: QAbstractListModel with a Roles enum and targeted
dataChanged (GPT4All's chatmodel, qutebrowser's downloads); each is checked with pytest-qt's qtmodeltester."""

from __future__ import annotations

import os
from enum import IntEnum
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractListModel, QByteArray, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

from app.core.chats.chat_store import Chat
from app.core.hub.downloads import DownloadJob
from app.core.hub.downloads import State as DownloadState
from app.core.models.labels import entry_label, entry_labels
from app.core.models.library import LibraryEntry
from app.core.models.formatting import format_bytes

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

    def roleNames(self) -> dict[int, QByteArray]:
        return {**super().roleNames(), ChatRoles.ChatId: QByteArray(b"chatId"),
                ChatRoles.Title: QByteArray(b"title"), ChatRoles.Updated: QByteArray(b"updated")}

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
    Problem = Qt.ItemDataRole.UserRole + 3  # why a listed file cannot be chosen ("" when it can)


def model_label(e: LibraryEntry) -> str:
    """One entry's label, on its own (a list's labels come from entry_labels, distinct across the list)."""
    return entry_label(e)


_LOADED_MARK: QIcon | None = None


def loaded_mark() -> QIcon:
    """The loaded model's mark: a green dot (made once, after the application exists)."""
    global _LOADED_MARK
    if _LOADED_MARK is None:
        pixmap = QPixmap(12, 12)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(QColor(46, 160, 67))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(2, 2, 8, 8)
        painter.end()
        _LOADED_MARK = QIcon(pixmap)
    return _LOADED_MARK


class ModelListModel(RowListModel[tuple[LibraryEntry, list[str]]]):
    """Library entries with a label each ("SmolLM2 135M Instruct Q4_1 · 93.9 MiB") and optional advice.

    After the entries that can be chosen come, greyed and not selectable, the files that cannot (broken, or not a
    chat model: `set_unusable`), labelled with the reason and explained in their tooltip. Labels are distinct
    across the list (labels.entry_labels): two copies of one model read differently."""

    def __init__(self) -> None:
        super().__init__()
        self._labels: list[str] = []
        self._loaded = ""  # the real path of the model loaded now (marked with a green dot in the list)

    def set_entries(self, rows: list[tuple[LibraryEntry, list[str]]]) -> None:
        self.set_rows(rows)
        self._labels = entry_labels([e for e, _ in self._rows])

    def set_unusable(self, entries: list[LibraryEntry]) -> None:
        """Replace the greyed rows at the end; the rows before them (and so a combo's current row) stay."""
        old = list(self._labels)
        first = self.usable_count()
        if first < len(self._rows):
            self.beginRemoveRows(QModelIndex(), first, len(self._rows) - 1)
            del self._rows[first:]
            del self._labels[first:]
            self.endRemoveRows()
        rows: list[tuple[LibraryEntry, list[str]]] = [(e, []) for e in entries if not e.usable]
        if rows:
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self._labels = entry_labels([e for e, _ in self._rows])
            self.endInsertRows()
        self._labels = entry_labels([e for e, _ in self._rows])
        changed = [i for i in range(first) if old[i] != self._labels[i]]
        if changed:  # a listed file can change what tells another one's label apart
            self.dataChanged.emit(self.index(changed[0]), self.index(changed[-1]), [Qt.ItemDataRole.DisplayRole])

    def usable_count(self) -> int:
        return next((i for i, (e, _) in enumerate(self._rows) if not e.usable), len(self._rows))

    def entry_at(self, row: int) -> LibraryEntry | None:
        return self._rows[row][0] if 0 <= row < len(self._rows) else None

    def unusable_entries(self) -> list[LibraryEntry]:
        return [e for e, _ in self._rows if not e.usable]

    def flags(self, index: Index) -> Qt.ItemFlag:
        entry = self.entry_at(index.row()) if index.isValid() else None
        if entry is not None and not entry.usable:  # shown, greyed by the style, never chosen
            return Qt.ItemFlag.ItemNeverHasChildren
        return super().flags(index)

    def set_loaded(self, path: str) -> None:
        """Mark the model loaded now ("" for none): the list says which one runs, not only which is chosen."""
        real = os.path.realpath(path) if path else ""
        if real != self._loaded:
            self._loaded = real
            if self._rows:
                self.dataChanged.emit(self.index(0), self.index(len(self._rows) - 1),
                                      [Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.ToolTipRole])

    def is_loaded(self, row: int) -> bool:
        entry = self.entry_at(row)
        return bool(self._loaded) and entry is not None and os.path.realpath(entry.path) == self._loaded

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and index.isValid() and 0 <= index.row() < len(self._labels):
            return self._labels[index.row()]
        if role == Qt.ItemDataRole.DecorationRole and index.isValid() and self.is_loaded(index.row()):
            return loaded_mark()  # a green dot before the loaded model's name, in the list and the closed combo
        if role == Qt.ItemDataRole.ToolTipRole and index.isValid() and 0 <= index.row() < len(self._labels):
            entry, advice = self._rows[index.row()]
            if entry.usable:  # the whole name (the combo elides it), whether it runs, where it is
                loaded = ["Loaded now"] if self.is_loaded(index.row()) else []
                return "\n".join([self._labels[index.row()], *loaded, entry.path, *advice])
        return super().data(index, role)

    def row_data(self, row: tuple[LibraryEntry, list[str]], role: int) -> Any:
        entry, advice = row
        problem = entry.problem
        if role == Qt.ItemDataRole.DisplayRole:
            return model_label(entry)
        if role == Qt.ItemDataRole.ToolTipRole:
            if problem is not None:
                what = "This file is damaged" if problem.broken else "Not a chat model"
                reason = problem.reason.removeprefix(f"{os.path.basename(entry.path)}: ")  # the path follows
                return f"{what}: {reason}\n{entry.path}\nRight-click it to remove the file."
            return "\n".join([entry.path, *advice])
        if role == ModelRoles.Path:
            return entry.path
        if role == ModelRoles.Advice:
            return list(advice)
        if role == ModelRoles.Problem:
            return problem.reason if problem else ""
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        return {**super().roleNames(), ModelRoles.Path: QByteArray(b"path"), ModelRoles.Advice: QByteArray(b"advice"),
                ModelRoles.Problem: QByteArray(b"problem")}

    def row_of(self, path: str) -> int:
        """The row of a model file that can be chosen, however the path reached it (a symlink in the models dir,
        or its target); -1 for a file not listed or listed as unusable."""
        if not path:
            return -1
        real = os.path.realpath(path)
        return next((i for i, (e, _) in enumerate(self._rows) if e.usable and os.path.realpath(e.path) == real), -1)


class DownloadRoles(IntEnum):
    JobId = Qt.ItemDataRole.UserRole + 1
    State = Qt.ItemDataRole.UserRole + 2
    Fraction = Qt.ItemDataRole.UserRole + 3
    Detail = Qt.ItemDataRole.UserRole + 4  # "1.2 GiB of 4.4 GiB · 23 MB/s · 2 min left", or the error


def format_duration(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"


def download_detail(j: DownloadJob) -> str:
    done = f"{format_bytes(j.done_bytes)} of {format_bytes(j.total_bytes)}"
    if j.state == DownloadState.RUNNING:
        if j.speed <= 0:
            return f"{done} · starting…"
        eta = j.eta_seconds
        return f"{done} · {format_bytes(j.speed)}/s" + (f" · {format_duration(eta)} left" if eta is not None else "")
    if j.error:
        return f"{j.state.value}: {j.error}"
    return f"{j.state.value} · {done}"


class DownloadListModel(RowListModel[DownloadJob]):
    """One row per download job; a job's progress updates its own row only (dataChanged), new jobs append."""

    def update_job(self, job: DownloadJob) -> None:
        row = next((i for i, j in enumerate(self._rows) if j.id == job.id), -1)
        if row < 0:
            self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows))
            self._rows.append(job)
            self.endInsertRows()
            return
        self._rows[row] = job
        idx = self.index(row)
        self.dataChanged.emit(idx, idx)

    def remove_job(self, job_id: str) -> None:
        row = next((i for i, j in enumerate(self._rows) if j.id == job_id), -1)
        if row >= 0:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()

    def job_at(self, row: int) -> DownloadJob | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_data(self, j: DownloadJob, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{j.repo_id} · {j.name}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return download_detail(j)
        if role == DownloadRoles.JobId:
            return j.id
        if role == DownloadRoles.State:
            return j.state.value
        if role == DownloadRoles.Fraction:
            return j.fraction
        if role == DownloadRoles.Detail:
            return download_detail(j)
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        return {**super().roleNames(), DownloadRoles.JobId: QByteArray(b"jobId"),
                DownloadRoles.State: QByteArray(b"state"),
                DownloadRoles.Fraction: QByteArray(b"fraction"), DownloadRoles.Detail: QByteArray(b"detail")}
