"""A thinking model's reasoning in the conversation: a header line ("Thinking…", then "▸ Thought for 12 s") and,
when open, the reasoning in a tinted frame, muted, above the answer.

While an answer streams, `LiveThinking` shows the reasoning as it arrives (plain text, accepted draft tokens
highlighted: appended at the frame's end, never re-rendered) and folds it to its header once the block closes,
as LM Studio and Open WebUI do. A finished answer's block is drawn by `draw_thinking` (Markdown, from the stored
text), folded unless the reader opened it or the block never closed (then the reasoning is all there is).
"""

from __future__ import annotations

import time

from PySide6.QtGui import QPalette, QTextCharFormat, QTextCursor, QTextDocument, QTextFrame, QTextFrameFormat

from app.core.chats.markdown_blocks import SpanIndex, split_blocks
from app.core.models.reasoning import AnswerParts, thought_for
from app.ui.chat.chat_theme import ChatTheme
from app.ui.chat.markdown_render import MarkdownRenderer, block_format

HEADER_GAP = 6


def muted_theme(palette: QPalette, theme: ChatTheme, font) -> ChatTheme:  # noqa: ANN001 - QFont
    """The chat's theme with the reasoning's text colour (its Markdown renderer draws with it)."""
    p = QPalette(palette)
    p.setColor(QPalette.ColorRole.Text, theme.muted)
    return ChatTheme(p, font)


def _frame_format(theme: ChatTheme) -> QTextFrameFormat:
    frame = QTextFrameFormat()
    frame.setBackground(theme.thinking_bg)
    frame.setPadding(10)
    frame.setTopMargin(4)
    frame.setBorder(0)
    return frame


def draw_header(cursor: QTextCursor, theme: ChatTheme, title: str, href: str, opened: bool) -> None:
    """The header line: a link that opens or folds the block ("" href: not a link, while it streams)."""
    cursor.insertBlock(block_format(HEADER_GAP), theme.small)
    arrow = "▾" if opened else "▸"
    cursor.insertText(f"{arrow} {title}", theme.action(href) if href else theme.small)


def draw_thinking(cursor: QTextCursor, theme: ChatTheme, renderer: MarkdownRenderer, md, parts: AnswerParts,  # noqa: ANN001
                  title: str, spans: SpanIndex | None, key: str, href: str, opened: bool) -> None:
    """A finished answer's block: its header and, when open, its reasoning as Markdown in the tinted frame.
    `key` names its code blocks (under the answer's own key, so they go with the answer)."""
    draw_header(cursor, theme, title, href, opened)
    if not opened or not parts.reasoning:
        return
    frame = cursor.insertFrame(_frame_format(theme))
    blocks, _ = split_blocks(md, parts.reasoning)
    renderer.start_in_empty_block(cursor)
    renderer.render(cursor, blocks, parts.reasoning, 0, spans, key)
    cursor.setPosition(frame.lastPosition() + 1)


class LiveThinking:
    """The streaming answer's reasoning: begun at `start` (where the answer's text would begin)."""

    def __init__(self, document: QTextDocument, theme: ChatTheme, start: int, began: float | None = None) -> None:
        """`began`: when the thinking began (a block drawn again after a theme change keeps its clock)."""
        self.document, self.theme = document, theme
        self.began = time.monotonic() if began is None else began
        self.header_pos = start
        cursor = QTextCursor(document)
        cursor.setPosition(start)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()  # the "Processing prompt…" line, if any
        draw_header(cursor, theme, "Thinking…", "", True)
        self.frame: QTextFrame | None = cursor.insertFrame(_frame_format(theme))
        cursor.setBlockFormat(block_format(0))
        self.text_format = QTextCharFormat(theme.plain)
        self.text_format.setForeground(theme.muted)

    def end(self) -> int:
        """The document position after the block (where the answer's text begins)."""
        return self.frame.lastPosition() + 1 if self.frame is not None else self.document.characterCount() - 1

    def add(self, pieces: list[tuple[str, bool]], highlight: bool) -> None:
        if self.frame is None:
            return
        cursor = QTextCursor(self.document)
        cursor.setPosition(self.frame.lastPosition())
        cursor.beginEditBlock()  # one layout pass for the tick's pieces, not one per piece
        for text, accepted in pieces:
            cursor.insertText(text, self.theme.highlighted(self.text_format) if accepted and highlight
                              else self.text_format)
        cursor.endEditBlock()

    def fold(self) -> int:
        """The block closed: only its header stays ("Thought for 12 s", timed by this clock until the answer is
        saved with the engine's figure). Returns where the answer begins."""
        cursor = QTextCursor(self.document)
        cursor.setPosition(self.header_pos)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        self.frame = None
        draw_header(cursor, self.theme, thought_for(time.monotonic() - self.began), "", False)
        return cursor.position()
