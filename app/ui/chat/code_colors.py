"""Syntax colours for code blocks: Pygments tokens turned into cached QTextCharFormats, one style per scheme.

Pygments lexes with stripnl/ensurenl off and through get_tokens_unprocessed, so every token's index is an offset
into the code exactly as the block shows it (what the highlight spans and the copy button rely on).
"""

from __future__ import annotations

import logging
from functools import lru_cache

from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.lexers.special import TextLexer
from pygments.styles import get_style_by_name
from pygments.token import Token, _TokenType
from pygments.util import ClassNotFound
from PySide6.QtGui import QColor, QFont, QTextCharFormat

log = logging.getLogger("specchat.ui")

LIGHT_STYLE = "default"
DARK_STYLE = "github-dark"


@lru_cache(maxsize=64)
def lexer_for(language: str) -> Lexer:
    """The Pygments lexer for a fence's info word (python, py, js, bash...); plain text when unknown."""
    name = language.strip().lower()
    if name:
        try:
            return get_lexer_by_name(name, stripnl=False, ensurenl=False)
        except ClassNotFound:
            log.debug("no lexer for %r: shown as plain text", name)
    return TextLexer(stripnl=False, ensurenl=False)


class CodeColors:
    def __init__(self, dark: bool, base: QTextCharFormat) -> None:
        self.style = get_style_by_name(DARK_STYLE if dark else LIGHT_STYLE)
        self.base = base  # monospace, the code block's own text colour
        self._formats: dict[_TokenType, QTextCharFormat] = {}

    def format_for(self, ttype: _TokenType) -> QTextCharFormat:
        fmt = self._formats.get(ttype)
        if fmt is None:
            fmt = QTextCharFormat(self.base)
            spec = self.style.style_for_token(ttype)
            if spec["color"] and ttype is not Token.Text:
                fmt.setForeground(QColor("#" + spec["color"]))
            if spec["bold"]:
                fmt.setFontWeight(QFont.Weight.Bold)
            if spec["italic"]:
                fmt.setFontItalic(True)
            self._formats[ttype] = fmt
        return fmt

    def runs(self, code: str, language: str) -> list[tuple[int, str, QTextCharFormat]]:
        """(offset, text, format) covering `code`, adjacent runs of one format merged."""
        out: list[tuple[int, str, QTextCharFormat]] = []
        for index, ttype, value in lexer_for(language).get_tokens_unprocessed(code):
            if not value:
                continue
            fmt = self.format_for(ttype)
            if out and out[-1][2] is fmt and out[-1][0] + len(out[-1][1]) == index:
                out[-1] = (out[-1][0], out[-1][1] + value, fmt)
            else:
                out.append((index, value, fmt))
        return out
