"""The conversation view: finished messages rendered once (Markdown), the streaming answer appended in batches.

Streaming design (DESIGN.md, after qtconsole's console_widget): token pieces queue up and a ~30 ms timer inserts
them through one persistent QTextCursor inside one edit block, with two cached character formats (plain and
accepted-draft). Two limits keep the GUI responsive whatever the engine's speed:
- a time budget per tick: a tick inserts for at most TICK_BUDGET_S and leaves the rest for the next tick, so
  the event loop never stalls on a backlog;
- bounded blocks: QTextDocument re-lays out the whole paragraph on every insert, so one long unbroken line
  (a minified file, a 3 000-token code line) makes naive streaming quadratic. While streaming, a block that
  reaches MAX_BLOCK_CHARS is continued in a new block. The answer is rendered again, properly, when it ends,
  so the split never reaches the finished message or the clipboard.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette, QTextBlockFormat, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QTextBrowser, QWidget

FLUSH_INTERVAL_MS = 30
TICK_BUDGET_S = 0.012
MAX_BLOCK_CHARS = 400
ROLE_TITLES = {"user": "You", "assistant": "Assistant", "system": "System"}


@dataclass
class ShownMessage:
    role: str
    content: str
    highlights: list[tuple[int, int]] = field(default_factory=list)
    footer: str = ""
    state: str = "done"


def highlight_color(palette: QPalette) -> QColor:
    """A green tint readable on light and dark themes."""
    base = palette.color(QPalette.ColorRole.Base)
    return QColor(60, 160, 80, 90) if base.lightness() < 128 else QColor(170, 230, 170)


class ChatView(QTextBrowser):
    streamed = Signal(int)  # characters shown so far in the streaming answer (tests and the bench use it)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenExternalLinks(True)
        self.setReadOnly(True)
        self.show_highlights = True
        self._messages: list[ShownMessage] = []
        self._queue: deque[tuple[str, bool]] = deque()
        self._cursor: QTextCursor | None = None
        self._block_chars = 0
        self._streamed_chars = 0
        self._plain = QTextCharFormat()
        self._draft = QTextCharFormat()
        self._draft.setBackground(highlight_color(self.palette()))
        self._timer = QTimer(self)
        self._timer.setInterval(FLUSH_INTERVAL_MS)
        self._timer.timeout.connect(self._flush)
        # light/dark follows the system: Qt swaps the palette, the highlight tint follows
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._scheme_changed)

    def _scheme_changed(self) -> None:
        self._draft.setBackground(highlight_color(self.palette()))
        if not self.streaming():
            self._render_all()

    # ---- whole conversation ---------------------------------------------------------------------------------
    def set_messages(self, messages: list[ShownMessage]) -> None:
        self.cancel_stream()
        self._messages = list(messages)
        self._render_all()

    def set_show_highlights(self, on: bool) -> None:
        """On: answers show their accepted draft tokens (plain text). Off: answers render as Markdown."""
        self.show_highlights = on
        self._render_all()

    def _render_all(self) -> None:
        self.clear()
        cursor = QTextCursor(self.document())
        for m in self._messages:
            self._render_message(cursor, m)
        self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    def _heading(self, cursor: QTextCursor, role: str, note: str = "") -> None:
        if not cursor.atStart():
            cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        bold = QTextCharFormat()
        bold.setFontWeight(700)
        cursor.insertText(ROLE_TITLES.get(role, role) + (f"  ({note})" if note else ""), bold)
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())

    def _render_message(self, cursor: QTextCursor, m: ShownMessage) -> None:
        note = {"interrupted": "interrupted", "error": "error", "streaming": "interrupted"}.get(m.state, "")
        self._heading(cursor, m.role, note)
        if m.role == "assistant" and self.show_highlights and m.highlights:
            self._insert_highlighted(cursor, m.content, m.highlights)
        elif m.role == "assistant":
            cursor.insertMarkdown(m.content)
        else:
            cursor.insertText(m.content, self._plain)
        if m.footer:
            cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
            small = QTextCharFormat()
            small.setForeground(self.palette().color(QPalette.ColorRole.PlaceholderText))
            cursor.insertText(m.footer, small)

    def _insert_highlighted(self, cursor: QTextCursor, text: str, spans: list[tuple[int, int]]) -> None:
        pos = 0
        for start, end in spans:
            if start > pos:
                cursor.insertText(text[pos:start], self._plain)
            cursor.insertText(text[start:end], self._draft)
            pos = end
        if pos < len(text):
            cursor.insertText(text[pos:], self._plain)

    # ---- the streaming answer -------------------------------------------------------------------------------
    def begin_answer(self) -> None:
        self.cancel_stream()
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        self._heading(cursor, "assistant")
        self._cursor = cursor
        self._block_chars = 0
        self._streamed_chars = 0
        self._timer.start()

    def append_tokens(self, pieces: list[tuple[str, bool]]) -> None:
        """(text, accepted_draft) pieces, in order; shown within one timer tick or spread over a few."""
        if self._cursor is not None:
            self._queue.extend(pieces)

    def pending(self) -> int:
        return len(self._queue)

    def _flush(self) -> None:
        if self._cursor is None or not self._queue:
            return
        bar = self.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 4
        deadline = time.perf_counter() + TICK_BUDGET_S
        cursor = self._cursor
        cursor.beginEditBlock()
        shown = 0
        while self._queue:
            text, from_draft = self._queue.popleft()
            fmt = self._draft if from_draft and self.show_highlights else self._plain
            while text:
                if "\n" in text:
                    head, _, rest = text.partition("\n")
                    self._insert_piece(cursor, head, fmt)
                    cursor.insertBlock()
                    self._block_chars = 0
                    shown += len(head) + 1
                    text = rest
                    continue
                self._insert_piece(cursor, text, fmt)
                shown += len(text)
                text = ""
            if shown >= 512 and time.perf_counter() > deadline:
                break
        cursor.endEditBlock()
        self._streamed_chars += shown
        if at_bottom:
            bar.setValue(bar.maximum())
        self.streamed.emit(self._streamed_chars)

    def _insert_piece(self, cursor: QTextCursor, text: str, fmt: QTextCharFormat) -> None:
        if not text:
            return
        if self._block_chars + len(text) > MAX_BLOCK_CHARS:
            cursor.insertBlock()  # streaming only: the finished answer is rendered again without it
            self._block_chars = 0
        cursor.insertText(text, fmt)
        self._block_chars += len(text)

    def end_answer(self, message: ShownMessage) -> None:
        """The answer is complete: show it as it will stay (Markdown or highlighted text, with its footer)."""
        self.cancel_stream()
        self._messages.append(message)
        self._render_all()

    def cancel_stream(self) -> None:
        """Stop showing the current stream (switching chats, regenerating); queued pieces are dropped."""
        self._timer.stop()
        self._queue.clear()
        self._cursor = None

    def streaming(self) -> bool:
        return self._cursor is not None

    def plain_text_of_last_answer(self) -> str:
        return next((m.content for m in reversed(self._messages) if m.role == "assistant"), "")
