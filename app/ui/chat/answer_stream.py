"""The streaming answer as live Markdown, re-rendered per tick at a cost bounded by its open tail.

The answer's source grows at its end. Each tick parses only the source after the last frozen block: every
top-level block but the last is final, so it is rendered once, frozen, and never touched again; the last
(open) block is removed and rendered again with what arrived. A tail block that grows past SPLIT_CHARS without
ending (a model that never leaves a blank line) is cut at a line or list-item boundary and its head frozen too,
rendered so that the two halves look like the whole. When the answer ends, the tail is rendered one last time
as it will stay: no reflow, and nothing else in the conversation is rendered again.
"""

from __future__ import annotations

from PySide6.QtGui import QTextBlockFormat, QTextCharFormat, QTextCursor, QTextDocument

from app.core.chats.chat_store import Span, extend_spans
from app.core.chats.markdown_blocks import SpanIndex, split_blocks, split_point
from app.ui.chat.markdown_render import MarkdownRenderer


class AnswerStream:
    def __init__(self, document: QTextDocument, renderer: MarkdownRenderer, md, start: int, key: str,  # noqa: ANN001
                 highlight: bool) -> None:
        self.document = document
        self.renderer = renderer
        self.md = md
        self.key = key  # names this answer's code blocks (their copy links)
        self.highlight = highlight
        self.chunks: list[str] = []
        self.length = 0
        self.spans: list[Span] = []
        self.frozen = 0  # source offset: everything before it is rendered for good
        self.tail_pos = start  # document position where the tail's rendering begins
        self.continuation = False  # the tail continues a paragraph whose head was frozen

    def source(self) -> str:
        if len(self.chunks) > 1:
            self.chunks = ["".join(self.chunks)]
        return self.chunks[0] if self.chunks else ""

    def add(self, pieces: list[tuple[str, bool]]) -> None:
        self.chunks.extend(t for t, _ in pieces)
        self.length = extend_spans(self.spans, self.length, pieces)

    def render(self, final: bool = False) -> None:
        """Re-render the tail (and freeze what became final). `final`: the answer is complete."""
        cursor = QTextCursor(self.document)
        cursor.beginEditBlock()
        self._truncate(cursor)
        spans = SpanIndex(self.spans) if self.highlight else None
        text = self.source()[self.frozen:]
        blocks, lines = split_blocks(self.md, text)
        if final:
            self.renderer.render(cursor, blocks, text, self.frozen, spans, self.key, self.continuation)
            cursor.endEditBlock()
            return
        if len(blocks) >= 2:  # all but the last block are final
            self.renderer.render(cursor, blocks[:-1], text, self.frozen, spans, self.key, self.continuation)
            self._freeze(cursor, blocks[-1].start, continuation=False)
            text = text[blocks[-1].start:]
            blocks, lines = split_blocks(self.md, text)
        cut = split_point(blocks[0], lines) if blocks else None
        if cut is not None:  # a long open block: its head becomes final
            head, _ = split_blocks(self.md, text[:cut])
            self.renderer.render(cursor, head, text[:cut], self.frozen, spans, self.key, self.continuation)
            self._freeze(cursor, cut, continuation=blocks[0].kind == "paragraph_open")
            text = text[cut:]
            blocks, lines = split_blocks(self.md, text)
        self.renderer.render(cursor, blocks, text, self.frozen, spans, self.key, self.continuation)
        cursor.endEditBlock()

    def placeholder(self, text: str, fmt: QTextCharFormat) -> None:
        """Before the first text: a line where the answer will be ("Processing prompt… 35%"). The first render
        removes it with the rest of the tail."""
        if self.length:
            return
        cursor = QTextCursor(self.document)
        cursor.beginEditBlock()
        self._truncate(cursor)
        cursor.insertText(text, fmt)
        cursor.endEditBlock()

    def _freeze(self, cursor: QTextCursor, offset: int, continuation: bool) -> None:
        self.frozen += offset
        self.tail_pos = cursor.position()
        self.continuation = continuation

    def _truncate(self, cursor: QTextCursor) -> None:
        """Remove the tail's rendering; the block it began in goes back to a plain, list-free block."""
        cursor.setPosition(self.tail_pos)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        block = cursor.block()
        if block.length() == 1:  # the empty block after a frozen table, reused by the tail's first block
            if block.textList() is not None:
                block.textList().remove(block)
            cursor.setBlockFormat(QTextBlockFormat())
