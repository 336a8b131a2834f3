"""Colours, fonts and cached text formats of the chat view, derived from the palette (light or dark).

Formats are built once per palette and shared by every message: the renderer never creates a format per token
(DESIGN.md: cached QTextCharFormats per kind), and the highlighted twin of each format is cached beside it.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QFontDatabase, QPalette, QTextCharFormat

from app.ui.chat.code_colors import CodeColors

MAX_READING_WIDTH = 820  # px of text column: ~90 characters, a comfortable line; wider windows get margins


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightness() < 128


def highlight_color(palette: QPalette) -> QColor:
    """The accepted-draft tint: green, readable on light and dark themes and over code backgrounds."""
    return QColor(40, 100, 56) if is_dark(palette) else QColor(190, 236, 190)


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(round(a.red() + (b.red() - a.red()) * t), round(a.green() + (b.green() - a.green()) * t),
                  round(a.blue() + (b.blue() - a.blue()) * t))


class ChatTheme:
    def __init__(self, palette: QPalette, base_font: QFont) -> None:
        self.dark = is_dark(palette)
        base = palette.color(QPalette.ColorRole.Base)
        self.text = palette.color(QPalette.ColorRole.Text)
        self.muted = _mix(base, self.text, 0.55)
        self.link = QColor("#6cb6ff") if self.dark else QColor("#0b62c4")
        self.highlight = highlight_color(palette)
        self.user_bg = _mix(base, QColor("#3b82f6"), 0.16 if self.dark else 0.09)
        self.code_bg = _mix(base, self.text, 0.07 if self.dark else 0.04)
        self.thinking_bg = _mix(base, self.text, 0.05 if self.dark else 0.03)  # a reasoning block's frame
        self.code_header_bg = _mix(base, self.text, 0.13 if self.dark else 0.09)
        self.border = _mix(base, self.text, 0.2)
        self.inline_code_bg = _mix(base, self.text, 0.12 if self.dark else 0.08)
        self.point_size = base_font.pointSizeF() if base_font.pointSizeF() > 0 else 10.0

        self.plain = QTextCharFormat()
        self.plain.setForeground(self.text)
        self.plain.setFontPointSize(self.point_size)
        self.plain.setFontWeight(QFont.Weight.Normal)
        self.mono_family = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).family()
        self.code = QTextCharFormat(self.plain)
        self.code.setFontFamilies([self.mono_family])
        self.code.setFontPointSize(self.point_size * 0.95)
        self.inline_code = QTextCharFormat(self.code)
        self.inline_code.setBackground(self.inline_code_bg)
        self.role = QTextCharFormat(self.plain)
        self.role.setFontWeight(QFont.Weight.DemiBold)
        self.role.setForeground(self.muted)
        self.role.setFontPointSize(self.point_size * 0.9)
        self.small = QTextCharFormat(self.plain)
        self.small.setForeground(self.muted)
        self.small.setFontPointSize(self.point_size * 0.85)
        self.code_label = QTextCharFormat(self.small)
        self.code_label.setFontFamilies([self.mono_family])
        self.colors = CodeColors(self.dark, self.code)
        self._highlighted: dict[int, tuple[QTextCharFormat, QTextCharFormat]] = {}
        self._styled: dict[tuple, tuple[QTextCharFormat, QTextCharFormat]] = {}

    def action(self, href: str) -> QTextCharFormat:
        """A small link (per-message and code-block actions): the view handles its href itself."""
        fmt = QTextCharFormat(self.small)
        fmt.setAnchor(True)
        fmt.setAnchorHref(href)
        fmt.setForeground(self.link)
        return fmt

    def styled(self, base: QTextCharFormat, bold: bool, italic: bool, strike: bool) -> QTextCharFormat:
        key = (id(base), bold, italic, strike)
        pair = self._styled.get(key)
        if pair is not None and pair[0] is base:
            return pair[1]
        fmt = QTextCharFormat(base)
        if bold:
            fmt.setFontWeight(QFont.Weight.Bold)
        if italic:
            fmt.setFontItalic(True)
        if strike:
            fmt.setFontStrikeOut(True)
        self._styled[key] = (base, fmt)  # base kept alive with it: its id cannot be reused by another format
        return fmt

    def link_format(self, base: QTextCharFormat, href: str) -> QTextCharFormat:
        fmt = QTextCharFormat(base)
        fmt.setAnchor(True)
        fmt.setAnchorHref(href)
        fmt.setForeground(self.link)
        fmt.setFontUnderline(True)
        fmt.setToolTip(href)
        return fmt

    def heading(self, level: int) -> QTextCharFormat:
        scale = {1: 1.5, 2: 1.3, 3: 1.15}.get(level, 1.0)
        fmt = QTextCharFormat(self.plain)
        fmt.setFontPointSize(self.point_size * scale)
        fmt.setFontWeight(QFont.Weight.Bold)
        return fmt

    def highlighted(self, fmt: QTextCharFormat) -> QTextCharFormat:
        """The same format with the accepted-draft background (cached by the format's identity)."""
        pair = self._highlighted.get(id(fmt))
        if pair is None or pair[0] is not fmt:
            hl = QTextCharFormat(fmt)
            hl.setBackground(self.highlight)
            pair = (fmt, hl)
            self._highlighted[id(fmt)] = pair
        return pair[1]
