"""Markdown source split into top-level blocks, and rendered text mapped back to source offsets.

Why markdown-it-py (and not Qt's QTextDocument.setMarkdown): its token stream carries source line maps, which
is what a streaming view needs. An answer grows at its end, so every top-level block before the last one is
final (a later line cannot reopen a list or a paragraph once a new block has begun; the one exception, a link
reference definition arriving after its use, is rare in model output and only costs a literal "[x]"). The chat
view renders those blocks once and re-renders only the open tail block per tick: the cost stays linear in the
answer's length. Qt's Markdown import gives a finished document with no source positions, so the accepted-draft
highlighting (stored as source character spans) could not be placed on the rendered characters.

No Qt here: the renderer in app/ui walks these tokens into a QTextDocument.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

Span = tuple[int, int]

# A tail block longer than this is cut at a line (paragraph) or item (list) boundary and its head frozen, so a
# model that never writes a blank line cannot make every tick re-render an ever longer block.
SPLIT_CHARS = 1500
# a continuation line must not start something else when parsed on its own (a list, heading, quote, table...)
_SAFE_LINE_START = re.compile(r"[^\W\d_]")


def make_parser() -> MarkdownIt:
    """CommonMark with GitHub tables and ~~strike~~. Raw HTML is shown as text (a model's output is not trusted
    markup). `breaks`: a single newline is a line break, as chat models mean it."""
    return MarkdownIt("commonmark", {"breaks": True, "html": False}).enable(["table", "strikethrough"])


@dataclass
class Block:
    tokens: list[Token]
    start: int  # offset in the parsed text of the block's first line
    end: int  # offset after its last line (trailing blank lines included)
    kind: str  # the opening token's type: paragraph_open, fence, bullet_list_open, table_open...


class LineStarts:
    """Offsets of line starts in a text, for turning markdown-it's line maps into character offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        pos = text.find("\n")
        while pos >= 0:
            self.starts.append(pos + 1)
            pos = text.find("\n", pos + 1)

    def offset(self, line: int) -> int:
        return self.starts[line] if line < len(self.starts) else len(self.text)


def split_blocks(md: MarkdownIt, text: str) -> tuple[list[Block], LineStarts]:
    lines = LineStarts(text)
    blocks: list[Block] = []
    current: list[Token] = []
    for tok in md.parse(text):
        if tok.level == 0 and tok.nesting >= 0 and tok.map is not None:
            current = [tok]
            blocks.append(Block(current, lines.offset(tok.map[0]), lines.offset(tok.map[1]), tok.type))
        elif current:
            current.append(tok)
    return blocks, lines


def split_point(block: Block, lines: LineStarts) -> int | None:
    """Where a long open tail block may be cut so that its two halves render as the whole would: at the last
    top-level item of a list, else at the last line that starts with a letter (a paragraph's line, or a lazy
    continuation line). None for code and tables, or when there is no such place."""
    if block.end - block.start < SPLIT_CHARS or block.kind not in _SPLITTABLE:
        return None
    if block.kind in ("bullet_list_open", "ordered_list_open"):
        items = [t for t in block.tokens if t.type == "list_item_open" and t.level == 1 and t.map]
        if len(items) >= 2:
            return lines.offset(items[-1].map[0])  # type: ignore[index]
    first = bisect.bisect_right(lines.starts, block.start)
    for i in range(len(lines.starts) - 1, first - 1, -1):  # the latest line start that is safe to cut at
        at = lines.starts[i]
        if block.start < at < block.end and _SAFE_LINE_START.match(lines.text, at):
            return at
    return None


_SPLITTABLE = ("paragraph_open", "bullet_list_open", "ordered_list_open", "blockquote_open")


class SourceCursor:
    """Walks the source while the renderer emits text, answering where each rendered run came from.

    Rendered text is nearly always a verbatim slice of the source (markup is dropped around it), so each run is
    found by a forward search; escapes and entities (`\\*`, `&amp;`) fall back to a per-character search."""

    def __init__(self, source: str, pos: int = 0, limit: int | None = None) -> None:
        self.source = source
        self.pos = pos
        self.limit = len(source) if limit is None else limit

    def place(self, text: str) -> list[tuple[int, int, int]]:
        """(offset in text, length, source offset) runs covering `text`."""
        if not text:
            return []
        i = self.source.find(text, self.pos, self.limit)
        if i >= 0:
            self.pos = i + len(text)
            return [(0, len(text), i)]
        runs: list[tuple[int, int, int]] = []
        for k, ch in enumerate(text):
            j = self.source.find(ch, self.pos, self.limit)
            if j < 0:
                j = max(self.pos - 1, 0)  # a character the source spells differently (an entity)
            else:
                self.pos = j + 1
            if runs and runs[-1][0] + runs[-1][1] == k and runs[-1][2] + runs[-1][1] == j:
                runs[-1] = (runs[-1][0], runs[-1][1] + 1, runs[-1][2])
            else:
                runs.append((k, 1, j))
        return runs

    def skip_to(self, pos: int) -> None:
        self.pos = max(self.pos, pos)


class SpanIndex:
    """Sorted, non-overlapping highlight spans; cuts a source range into highlighted and plain parts."""

    def __init__(self, spans: list[Span]) -> None:
        self.spans = spans
        self.starts = [s for s, _ in spans]

    def cut(self, start: int, length: int) -> list[tuple[int, int, bool]]:
        """(offset from start, length, highlighted) pieces covering [start, start + length)."""
        end = start + length
        out: list[tuple[int, int, bool]] = []
        pos = start
        i = max(bisect.bisect_right(self.starts, start) - 1, 0)
        while pos < end and i < len(self.spans):
            s, e = self.spans[i]
            if e <= pos:
                i += 1
                continue
            if s >= end:
                break
            if s > pos:
                out.append((pos - start, s - pos, False))
                pos = s
            stop = min(e, end)
            out.append((pos - start, stop - pos, True))
            pos = stop
            i += 1
        if pos < end:
            out.append((pos - start, end - pos, False))
        return out
