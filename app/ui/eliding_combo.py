"""A combo box whose shown text is elided in the middle when the box is narrower than it: model labels differ at
their end ("… Ep2 F32 · 514.8 MiB" vs "… Ep2 Q4_1 · 93.8 MiB"), and Qt's own combo clips them mid-letter there
("… Ep2 F3"), which hides the very part that tells two files apart. The list that drops down shows them whole."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox, QStylePainter


class ElidingComboBox(QComboBox):
    def _option(self) -> QStyleOptionComboBox:
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)  # the current text, or the placeholder when nothing is selected
        return opt

    def shown_text(self) -> str:
        """What the closed box shows: its text, elided in the middle to the room the style gives it."""
        opt = self._option()
        room = self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                           QStyle.SubControl.SC_ComboBoxEditField, self).width()
        return self.fontMetrics().elidedText(opt.currentText, Qt.TextElideMode.ElideMiddle, max(room, 0))

    def paintEvent(self, _e: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QStylePainter(self)
        opt = self._option()
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, opt)
        opt.currentText = self.shown_text()
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, opt)
