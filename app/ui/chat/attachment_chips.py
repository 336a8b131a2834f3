"""The files going with the question being written: a row of chips above the input, "transfer.py · 1,234 tokens"
with a × to take one off, a tooltip with where it came from and its size, and a red chip for a file the model's
context could never hold (Send refuses it with a sentence: window_attachments.py).

The chips hold the files' text and their counts; counting is the window's (the engine's, through
AttachmentCounter), which answers with set_tokens."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QToolButton, QWidget

from app.core.chats.attachments import Attachment
from app.ui.widgets.flow_layout import FlowLayout
from app.ui.widgets.plain_text import plain_tooltip
from app.core.models.formatting import count_phrase, format_bytes, tokens_phrase

log = logging.getLogger("specchat.ui")

NAME_CHARS = 36  # a longer name loses its middle on the chip (its end says what kind of file it is)
CHIP_STYLE = ("QFrame#attachmentChip { border: 1px solid palette(mid); border-radius: 9px; "
              "background: palette(alternate-base); }")
TOO_BIG_STYLE = ("QFrame#attachmentChip { border: 1px solid #c0392b; border-radius: 9px; "
                 "background: palette(alternate-base); } QLabel { color: #c0392b; }")


@dataclass
class PendingFile:
    key: int  # the chip's own number (a name can repeat: two "notes.txt" from two folders)
    attachment: Attachment
    source: str = ""  # the file's path; "" for a paste, or a file brought back from the chat (Edit)
    tokens: int | None = None  # its tokens in the loaded model (None: being counted; -1: no model to count with)


def short_name(name: str, limit: int = NAME_CHARS) -> str:
    if len(name) <= limit:
        return name
    keep = limit - 1
    return name[:keep - keep // 2] + "…" + name[len(name) - keep // 2:]


def line_count(text: str) -> int:
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def chip_text(f: PendingFile, n_ctx: int) -> str:
    name = short_name(f.attachment.name)
    if f.tokens is None:
        return f"{name} · counting…"
    if f.tokens < 0:
        return f"{name} · {format_bytes(f.attachment.size)}"  # no model loaded: the size is what is known
    if n_ctx and f.tokens > n_ctx:
        return f"{name} · {tokens_phrase(f.tokens)}: too large for the context ({n_ctx:,})"
    return f"{name} · {tokens_phrase(f.tokens)}"


def chip_tooltip(f: PendingFile, n_ctx: int) -> str:
    lines = [f.source or f.attachment.name,
             f"{format_bytes(f.attachment.size)} · {count_phrase(line_count(f.attachment.text), 'line')}"]
    if f.tokens is None:
        lines.append("Being counted in the loaded model's tokens…")
    elif f.tokens < 0:
        lines.append("Its tokens are counted once a model is loaded.")
    else:
        lines.append(f"{tokens_phrase(f.tokens)} with the loaded model's tokenizer.")
        if n_ctx and f.tokens > n_ctx:
            lines.append(f"More than the model's whole context ({n_ctx:,} tokens): it can't be sent. Attach a part "
                         "of it, or reload the model with a larger context (sidebar, Context).")
    return "\n".join(lines)


class AttachmentChip(QFrame):
    def __init__(self, f: PendingFile, remove: Callable[[int], None]) -> None:
        super().__init__()
        self.setObjectName("attachmentChip")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 1, 2, 1)
        row.setSpacing(2)
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # a file name is text, never markup
        self.close_button = QToolButton()
        self.close_button.setText("×")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip(plain_tooltip(f"Remove {f.attachment.name}"))
        self.close_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.close_button.clicked.connect(lambda: remove(f.key))
        row.addWidget(self.label)
        row.addWidget(self.close_button)

    def show_file(self, f: PendingFile, n_ctx: int) -> None:
        self.label.setText(chip_text(f, n_ctx))
        self.setToolTip(plain_tooltip(chip_tooltip(f, n_ctx)))
        self.setStyleSheet(TOO_BIG_STYLE if f.tokens is not None and n_ctx and f.tokens > n_ctx else CHIP_STYLE)


MAX_LINES = 3  # chip lines shown at most; more scroll (300 files must not squeeze the chat away)


class AttachmentChips(QScrollArea):
    """The row; hidden while no file goes with the question. Files that do not fit one line wrap onto the next
    (a flow layout: in a narrow window a chip is never out of sight behind a sideways scroll bar); past
    MAX_LINES lines the chips scroll."""

    changed = Signal()  # a file added or taken off: the question is counted again

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._files: list[PendingFile] = []
        self._chips: dict[int, AttachmentChip] = {}
        self._next_key = 1
        self.n_ctx = 0
        inner = QWidget()
        self._row = FlowLayout(inner)
        self.setWidget(inner)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.hide()

    def _fit_height(self) -> None:
        """As tall as the chips' lines at this width, at most MAX_LINES of them."""
        width = self.viewport().width()
        full = self._row.heightForWidth(width)
        line = max((c.sizeHint().height() for c in self._chips.values()), default=0)
        cap = MAX_LINES * line + (MAX_LINES - 1) * self._row.spacing()
        m = self.contentsMargins()
        self.setFixedHeight(min(full, cap) + m.top() + m.bottom() if full else 0)

    def resizeEvent(self, e: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(e)
        self._fit_height()

    # ---- what the window asks ----------------------------------------------------------------------------------
    def add(self, attachment: Attachment, source: str = "") -> PendingFile:
        f = PendingFile(self._next_key, attachment, source)
        self._next_key += 1
        self._files.append(f)
        chip = self._chips[f.key] = AttachmentChip(f, self.remove)
        self._row.addWidget(chip)
        self._fit_height()
        chip.show_file(f, self.n_ctx)
        self.show()
        self.changed.emit()
        return f

    def remove(self, key: int) -> None:
        chip = self._chips.pop(key, None)
        if chip is None:
            return
        self._files = [f for f in self._files if f.key != key]
        self._row.removeWidget(chip)
        chip.deleteLater()
        self._fit_height()
        self.setVisible(bool(self._files))
        self.changed.emit()

    def clear(self) -> None:
        for chip in self._chips.values():
            self._row.removeWidget(chip)
            chip.deleteLater()
        had = bool(self._files)
        self._files, self._chips = [], {}
        self.hide()
        if had:
            self.changed.emit()

    def set_tokens(self, key: int, tokens: int | None) -> PendingFile | None:
        """A file's count came (None: it is being counted again): its chip says it. Returns the file (None: the chip
        was taken off since)."""
        for i, f in enumerate(self._files):
            if f.key == key:
                self._files[i] = f = replace(f, tokens=tokens)
                self._chips[key].show_file(f, self.n_ctx)
                return f
        return None

    def set_context(self, n_ctx: int) -> None:
        """The loaded model's context (0: none), which a file must fit in."""
        self.n_ctx = n_ctx
        for f in self._files:
            self._chips[f.key].show_file(f, n_ctx)

    # ---- what the window reads ---------------------------------------------------------------------------------
    def files(self) -> list[PendingFile]:
        return list(self._files)

    def attachments(self) -> list[Attachment]:
        """The files as stored with the question: with their counts where the engine gave one."""
        return [replace(f.attachment, tokens=max(f.tokens or 0, 0)) for f in self._files]

    def too_big(self) -> list[PendingFile]:
        """The files that alone take more than the whole context (none without a model, or before counting)."""
        return [f for f in self._files if self.n_ctx and f.tokens is not None and f.tokens > self.n_ctx]

    def chip(self, key: int) -> AttachmentChip:
        return self._chips[key]
