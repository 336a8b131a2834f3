"""A combo box whose shown text keeps its end when the box is narrower than it: model labels differ at
their end ("… Ep2 F32 · 514.8 MiB" vs "… Ep2 Q4_1 · 93.8 MiB"), and Qt's own combo clips them mid-letter there
("… Ep2 F3"), which hides the very part that tells two files apart. The list that drops down shows them whole."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics, QPaintEvent, QPalette
from PySide6.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox, QStylePainter


def elide_keeping_tail(text: str, fm: QFontMetrics, room: int) -> str:
    """`text` in `room` px: whole if it fits, else its head elided and its tail kept, the tail being the last
    word of the name and what follows " · " ("Smollm2 135M 8k… F32 · 514.8 MiB"); middle elision when even
    the tail does not fit."""
    if fm.horizontalAdvance(text) <= room:
        return text
    name, dot, rest = text.partition(" · ")
    head, space, last = name.rpartition(" ")
    tail = f"{space}{last}{dot}{rest}" if head else ""
    head_room = room - fm.horizontalAdvance(tail)
    if not tail or head_room < fm.horizontalAdvance(head[:4] + "…"):
        return fm.elidedText(text, Qt.TextElideMode.ElideMiddle, room)
    return fm.elidedText(head, Qt.TextElideMode.ElideRight, head_room) + tail


class ElidingComboBox(QComboBox):
    def _option(self) -> QStyleOptionComboBox:
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        if self.currentIndex() < 0 and self.placeholderText():  # as QComboBox.paintEvent does it (not initStyleOption)
            opt.palette.setBrush(QPalette.ColorRole.ButtonText, opt.palette.placeholderText())
            opt.currentText = self.placeholderText()
        return opt

    def shown_text(self) -> str:
        """What the closed box shows: its text in the room the style gives it (elide_keeping_tail)."""
        opt = self._option()
        room = max(self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                               QStyle.SubControl.SC_ComboBoxEditField, self).width(), 0)
        return elide_keeping_tail(opt.currentText, self.fontMetrics(), room)

    def paintEvent(self, _e: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QStylePainter(self)
        opt = self._option()
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, opt)
        opt.currentText = self.shown_text()
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, opt)
