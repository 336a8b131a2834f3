"""Markdown blocks (markdown-it tokens, app/core/chats/markdown_blocks.py) written into a QTextDocument through a cursor.

Every rendered run of text is placed back on its source characters (SourceCursor), so accepted-draft spans
(source offsets) get the highlight background wherever they land: in **bold**, `inline code`, tables, code
blocks. Code blocks are a two-row table: a header with the language and a "Copy" link, then the code in a
monospace font on its own background with Pygments colours. The copy link's href names the block; the view
looks the code up in CodeBlocks, so exactly that block's code reaches the clipboard.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import (QTextBlockFormat, QTextCharFormat, QTextCursor, QTextFormat, QTextFrameFormat, QTextLength,
                           QTextListFormat,
                           QTextTableCellFormat, QTextTableFormat)

from app.core.chats.markdown_blocks import Block, SourceCursor, SpanIndex
from app.ui.chat.chat_theme import ChatTheme

LINE_HEIGHT = 125  # percent: prose reads easier with some air between lines
PARAGRAPH_GAP = 7
HEADING_GAP = 12
_EMPHASIS = {"strong_open": ("bold", True), "strong_close": ("bold", False), "em_open": ("italic", True),
             "em_close": ("italic", False), "s_open": ("strike", True), "s_close": ("strike", False)}
LIST_STYLES = (QTextListFormat.Style.ListDisc, QTextListFormat.Style.ListCircle, QTextListFormat.Style.ListSquare)


class CodeBlocks:
    """The code of each rendered block by key, for its copy link (`copy-code:<key>`)."""

    def __init__(self) -> None:
        self._code: dict[str, str] = {}

    def put(self, key: str, code: str) -> str:
        self._code[key] = code
        return f"copy-code:{key}"

    def get(self, key: str) -> str | None:
        return self._code.get(key)

    def drop_prefix(self, prefix: str) -> None:
        for k in [k for k in self._code if k.startswith(prefix)]:
            del self._code[k]

    def clear(self) -> None:
        self._code.clear()


def block_format(top: float = PARAGRAPH_GAP, left: float = 0.0) -> QTextBlockFormat:
    fmt = QTextBlockFormat()
    fmt.setTopMargin(top)
    fmt.setBottomMargin(0)
    fmt.setLeftMargin(left)
    fmt.setLineHeight(LINE_HEIGHT, QTextBlockFormat.LineHeightTypes.ProportionalHeight.value)
    return fmt


def collapse_block(cursor: QTextCursor) -> None:
    """An empty block Qt insists on (between two tables, before a frame) made as good as no height."""
    fmt = QTextBlockFormat()
    fmt.setLineHeight(1, QTextBlockFormat.LineHeightTypes.FixedHeight.value)
    cursor.setBlockFormat(fmt)
    tiny = QTextCharFormat()
    tiny.setFontPointSize(1)
    cursor.setBlockCharFormat(tiny)


class MarkdownRenderer:
    def __init__(self, theme: ChatTheme, codes: CodeBlocks) -> None:
        self.theme = theme
        self.codes = codes
        self._after_table = -1  # position of the empty block Qt keeps after the last table written

    def new_block(self, cursor: QTextCursor, fmt: QTextBlockFormat, char_fmt: QTextCharFormat) -> None:
        """Start a block; the empty block Qt leaves after a table is used rather than left as a blank line."""
        if cursor.position() == self._after_table and cursor.block().length() == 1:
            cursor.setBlockFormat(fmt)
            cursor.setBlockCharFormat(char_fmt)
            return
        cursor.insertBlock(fmt, char_fmt)

    def start_in_empty_block(self, cursor: QTextCursor) -> None:
        """The next block is written into the cursor's empty block (a frame's first) instead of after it."""
        self._after_table = cursor.position()

    def _before_table(self, cursor: QTextCursor) -> None:
        """Two tables in a row keep an empty block between them: make it (nearly) no height."""
        if cursor.position() == self._after_table and cursor.block().length() == 1:
            collapse_block(cursor)

    def _end_table(self, cursor: QTextCursor, table) -> None:  # noqa: ANN001
        cursor.setPosition(table.lastPosition() + 1)
        self._after_table = cursor.position()

    def render(self, cursor: QTextCursor, blocks: list[Block], text: str, base: int, spans: SpanIndex | None,
               key: str, continuation: bool = False) -> None:
        """Write `blocks` (parsed from `text`, which starts at offset `base` of the answer) at the cursor.
        `continuation`: the first block continues a paragraph cut by split_point (no gap before it)."""
        self._text, self._base, self._spans, self._key = text, base, spans, key
        for i, block in enumerate(blocks):
            self._src = SourceCursor(text, block.start, block.end)
            self._block(cursor, block, continuation and i == 0)

    # ---- text with highlighting -----------------------------------------------------------------------------
    def _emit(self, cursor: QTextCursor, text: str, fmt: QTextCharFormat) -> None:
        if self._spans is None:
            self._src.place(text)
            cursor.insertText(text, fmt)
            return
        for off, length, src in self._src.place(text):
            self._emit_at(cursor, text[off:off + length], fmt, src)

    def _emit_at(self, cursor: QTextCursor, text: str, fmt: QTextCharFormat, src: int) -> None:
        """`text` whose first character is source offset `src` (of the parsed text)."""
        if self._spans is None:
            cursor.insertText(text, fmt)
            return
        for off, length, hl in self._spans.cut(self._base + src, len(text)):
            cursor.insertText(text[off:off + length], self.theme.highlighted(fmt) if hl else fmt)

    # ---- blocks ---------------------------------------------------------------------------------------------
    def _block(self, cursor: QTextCursor, block: Block, continuation: bool) -> None:
        t = self.theme
        toks = block.tokens
        lists: list[tuple[QTextListFormat, list]] = []  # per open list: its format and [QTextList or None]
        item_pending = False
        quote = 0
        i = 0
        while i < len(toks):
            tok = toks[i]
            kind = tok.type
            if kind == "heading_open":
                level = int(tok.tag[1])
                self.new_block(cursor, block_format(HEADING_GAP if level <= 3 else PARAGRAPH_GAP), t.plain)
                self._inline(cursor, toks[i + 1], t.heading(level), in_paragraph=False)
                i += 3
                continue
            if kind == "paragraph_open":
                left = 18.0 * quote
                gap = 0 if continuation else (2 if lists and item_pending else PARAGRAPH_GAP)
                self.new_block(cursor, block_format(gap, left), t.plain)
                if lists and item_pending:
                    self._add_to_list(cursor, lists[-1])
                    item_pending = False
                elif lists:
                    fmt = cursor.blockFormat()
                    fmt.setIndent(lists[-1][0].indent())  # a second paragraph of an item: under its text
                    cursor.setBlockFormat(fmt)
                base = t.plain if not quote else self._quote_format()
                self._inline(cursor, toks[i + 1], base, in_paragraph=not lists and not quote)
                i += 3
                continue
            if kind in ("bullet_list_open", "ordered_list_open"):
                lf = QTextListFormat()
                depth = len(lists)
                if kind == "ordered_list_open":
                    lf.setStyle(QTextListFormat.Style.ListDecimal)
                    lf.setStart(int(tok.attrs.get("start", 1)))
                else:
                    lf.setStyle(LIST_STYLES[depth % len(LIST_STYLES)])
                lf.setIndent(depth + 1)
                lists.append((lf, [None]))
            elif kind in ("bullet_list_close", "ordered_list_close"):
                lists.pop()
                item_pending = False
            elif kind == "list_item_open":
                if item_pending:  # the previous item had no paragraph (an empty "- " while streaming)
                    self.new_block(cursor, block_format(2), t.plain)
                    self._add_to_list(cursor, lists[-1])
                item_pending = True
            elif kind == "list_item_close":
                if item_pending:
                    self.new_block(cursor, block_format(2), t.plain)
                    self._add_to_list(cursor, lists[-1])
                    item_pending = False
            elif kind == "blockquote_open":
                quote += 1
            elif kind == "blockquote_close":
                quote -= 1
            elif kind in ("fence", "code_block"):
                if item_pending and lists:
                    self.new_block(cursor, block_format(2), t.plain)
                    self._add_to_list(cursor, lists[-1])
                    item_pending = False
                self._code(cursor, tok, block)
            elif kind == "table_open":
                i = self._table(cursor, toks, i)
                continue
            elif kind == "hr":
                fmt = block_format(HEADING_GAP)
                fmt.setProperty(QTextFormat.Property.BlockTrailingHorizontalRulerWidth,
                                QTextLength(QTextLength.Type.PercentageLength, 100))
                self.new_block(cursor, fmt, t.plain)
                self._src.skip_to(self._src.limit)
            elif kind == "html_block":
                self.new_block(cursor, block_format(), t.plain)
                self._emit(cursor, tok.content.rstrip("\n"), t.plain)
            i += 1

    def _quote_format(self) -> QTextCharFormat:
        fmt = QTextCharFormat(self.theme.plain)
        fmt.setForeground(self.theme.muted)
        fmt.setFontItalic(True)
        return fmt

    def _add_to_list(self, cursor: QTextCursor, entry: tuple[QTextListFormat, list]) -> None:
        fmt, holder = entry
        if holder[0] is None:
            holder[0] = cursor.createList(fmt)
        else:
            holder[0].add(cursor.block())

    # ---- inline ---------------------------------------------------------------------------------------------
    def _inline(self, cursor: QTextCursor, tok, base: QTextCharFormat, in_paragraph: bool) -> None:  # noqa: ANN001
        t = self.theme
        bold = italic = strike = False
        href: str | None = None
        for child in tok.children or []:
            kind = child.type
            if kind == "text" or kind == "html_inline":
                fmt = t.styled(base, bold, italic, strike)
                self._emit(cursor, child.content, t.link_format(fmt, href) if href else fmt)
            elif kind == "code_inline":
                fmt = t.styled(t.inline_code, bold, italic, strike)
                self._emit(cursor, child.content, t.link_format(fmt, href) if href else fmt)
            elif kind in ("softbreak", "hardbreak"):
                self._src.place("\n")
                if in_paragraph:  # a line of its own: short blocks lay out fast and split cleanly
                    self.new_block(cursor, block_format(0, cursor.blockFormat().leftMargin()), base)
                else:
                    cursor.insertText("\u2028", base)
            elif kind in _EMPHASIS:
                name, on = _EMPHASIS[kind]
                bold, italic, strike = (on if name == "bold" else bold, on if name == "italic" else italic,
                                        on if name == "strike" else strike)
            elif kind == "link_open":
                href = str(child.attrs.get("href", ""))
            elif kind == "link_close":
                href = None
            elif kind == "image":
                alt = child.content or str(child.attrs.get("src", ""))
                self._emit(cursor, alt, t.link_format(t.styled(base, bold, True, strike),
                                                      str(child.attrs.get("src", ""))))

    # ---- code blocks ----------------------------------------------------------------------------------------
    def _code(self, cursor: QTextCursor, tok, block: Block) -> None:  # noqa: ANN001
        t = self.theme
        code = tok.content[:-1] if tok.content.endswith("\n") else tok.content
        language = tok.info.split()[0] if tok.type == "fence" and tok.info.strip() else ""
        if tok.type == "fence":  # the code starts on the line after the opening fence
            self._src.skip_to(self._text.find("\n", self._src.pos) + 1 or self._src.limit)
        href = self.codes.put(f"{self._key}:{self._base + block.start}:{tok.map[0] if tok.map else 0}", code)

        table_fmt = QTextTableFormat()
        table_fmt.setBorder(1)
        table_fmt.setBorderBrush(t.border)
        table_fmt.setBorderStyle(QTextFrameFormat.BorderStyle.BorderStyle_Solid)
        table_fmt.setBorderCollapse(True)
        table_fmt.setCellSpacing(0)
        table_fmt.setCellPadding(0)
        table_fmt.setTopMargin(PARAGRAPH_GAP + 3)
        table_fmt.setBottomMargin(PARAGRAPH_GAP)
        table_fmt.setWidth(QTextLength(QTextLength.Type.PercentageLength, 100))

        self._before_table(cursor)
        table = cursor.insertTable(2, 2, table_fmt)
        table.mergeCells(1, 0, 1, 2)

        for col in (0, 1):
            cell = table.cellAt(0, col)
            cf = QTextTableCellFormat()
            cf.setBackground(t.code_header_bg)
            cf.setPadding(5)
            cf.setLeftPadding(10)
            cf.setRightPadding(10)
            if col == 0:  # one header bar: no rule between the label and the copy link (collapsed borders take
                cf.setRightBorderBrush(t.code_header_bg)  # the wider of the two sides: both go to zero)
                cf.setRightBorder(0)
                cf.setRightBorderStyle(QTextFrameFormat.BorderStyle.BorderStyle_None)
            else:
                cf.setLeftBorderBrush(t.code_header_bg)
                cf.setLeftBorder(0)
                cf.setLeftBorderStyle(QTextFrameFormat.BorderStyle.BorderStyle_None)
            cell.setFormat(cf)
        c = table.cellAt(0, 0).firstCursorPosition()
        c.insertText(language or "text", t.code_label)
        c = table.cellAt(0, 1).firstCursorPosition()
        right = QTextBlockFormat()
        right.setAlignment(Qt.AlignmentFlag.AlignRight)
        c.setBlockFormat(right)
        c.insertText("Copy", t.action(href))

        cell = table.cellAt(1, 0)
        cf = QTextTableCellFormat()
        cf.setBackground(t.code_bg)
        cf.setPadding(10)
        cf.setLeftPadding(12)
        cell.setFormat(cf)
        c = cell.firstCursorPosition()
        line_fmt = QTextBlockFormat()
        line_fmt.setLineHeight(115, QTextBlockFormat.LineHeightTypes.ProportionalHeight.value)
        c.setBlockFormat(line_fmt)
        self._code_lines(c, code, language, line_fmt)
        self._end_table(cursor, table)

    def _code_lines(self, c: QTextCursor, code: str, language: str, line_fmt: QTextBlockFormat) -> None:
        """Each code line a block of its own (short blocks lay out fast); colours from one lex of the block."""
        t = self.theme
        line_src: list[int] = []  # source offset of each line's first character
        for line in code.split("\n"):
            runs = self._src.place(line)
            line_src.append(runs[0][2] - runs[0][0] if runs else self._src.pos)
            self._src.place("\n")
        line_starts = [0]
        for line in code.split("\n")[:-1]:
            line_starts.append(line_starts[-1] + len(line) + 1)
        line_no = 0
        for offset, value, fmt in t.colors.runs(code, language):
            pos = 0
            while pos < len(value):
                while line_no + 1 < len(line_starts) and offset + pos >= line_starts[line_no + 1]:
                    line_no += 1
                nl = value.find("\n", pos)
                piece = value[pos:] if nl < 0 else value[pos:nl]
                if piece:
                    self._emit_at(c, piece, fmt, line_src[line_no] + offset + pos - line_starts[line_no])
                if nl < 0:
                    break
                c.insertBlock(line_fmt, t.code)
                pos = nl + 1

    # ---- tables ---------------------------------------------------------------------------------------------
    def _table(self, cursor: QTextCursor, toks: list, i: int) -> int:
        """A GitHub table: header cells bold; returns the index after table_close."""
        t = self.theme
        rows: list[list[tuple[object, bool, str]]] = []
        j = i + 1
        header = False
        while j < len(toks) and toks[j].type != "table_close":
            kind = toks[j].type
            if kind == "thead_open":
                header = True
            elif kind == "thead_close":
                header = False
            elif kind == "tr_open":
                rows.append([])
            elif kind in ("th_open", "td_open"):
                style = str(toks[j].attrs.get("style", ""))
                rows[-1].append((toks[j + 1], header, style))
                j += 2
            j += 1
        n_cols = max((len(r) for r in rows), default=1)
        if not rows:
            return j + 1
        fmt = QTextTableFormat()
        fmt.setBorder(1)
        fmt.setBorderBrush(t.border)
        fmt.setBorderCollapse(True)
        fmt.setCellSpacing(0)
        fmt.setCellPadding(5)
        fmt.setTopMargin(PARAGRAPH_GAP + 3)
        fmt.setBottomMargin(PARAGRAPH_GAP)
        self._before_table(cursor)
        table = cursor.insertTable(len(rows), n_cols, fmt)
        for r, row in enumerate(rows):
            for col, (inline, is_header, style) in enumerate(row):
                cell = table.cellAt(r, col)
                if is_header:
                    cf = QTextTableCellFormat()
                    cf.setBackground(t.code_bg)
                    cell.setFormat(cf)
                c = cell.firstCursorPosition()
                if "right" in style or "center" in style:
                    bf = QTextBlockFormat()
                    bf.setAlignment(Qt.AlignmentFlag.AlignRight if "right" in style else Qt.AlignmentFlag.AlignHCenter)
                    c.setBlockFormat(bf)
                self._inline(c, inline, t.styled(t.plain, is_header, False, False), in_paragraph=False)
        self._end_table(cursor, table)
        return j + 1


