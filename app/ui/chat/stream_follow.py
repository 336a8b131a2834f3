"""Following a growing document the way a chat reader expects (qtconsole's console_widget does the same).

While the reader is at the bottom, every change of the document's height keeps them there; scrolling up pauses
that and shows a "Jump to latest" button over the view's bottom edge; coming back to the bottom, or the button,
follows again. Scrolls the view does itself (following, Qt's own scroll on first show) never count as the
reader's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractScrollArea, QToolButton

BOTTOM_SLACK = 4  # px: "at the bottom" despite rounding


class StreamFollower(QObject):
    changed = Signal(bool)  # following or not

    def __init__(self, view: QAbstractScrollArea) -> None:
        super().__init__(view)
        self.view = view
        self.following = True
        self._ours = False  # a scroll of ours, not the reader's
        self.button = QToolButton(view)
        self.button.setText("↓  Jump to latest")
        self.button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.button.clicked.connect(self.jump_to_latest)
        self.button.hide()
        bar = view.verticalScrollBar()
        bar.rangeChanged.connect(self._range_changed)
        bar.valueChanged.connect(self._value_changed)

    def set_colour(self, colour: QColor) -> None:
        self.button.setStyleSheet(
            f"QToolButton {{ background: {colour.name()}; color: white; border: none; border-radius: 14px;"
            f" padding: 6px 14px; font-weight: 600; }}")

    @contextmanager
    def not_the_readers(self) -> Iterator[None]:
        """Scrolls inside are the view's own (they never stop following)."""
        was, self._ours = self._ours, True
        try:
            yield
        finally:
            self._ours = was

    def follow_now(self) -> None:
        """To the bottom, if following."""
        if self.following:
            with self.not_the_readers():
                self.view.verticalScrollBar().setValue(self.view.verticalScrollBar().maximum())
        self.place_button()

    def jump_to_latest(self) -> None:
        self._set_following(True)
        self.follow_now()

    def place_button(self) -> None:
        bar = self.view.verticalScrollBar()
        show = not self.following and bar.maximum() > 0 and bar.value() < bar.maximum() - BOTTOM_SLACK
        if show:
            self.button.adjustSize()
            vp = self.view.viewport().geometry()
            self.button.move(vp.center().x() - self.button.width() // 2, vp.bottom() - self.button.height() - 14)
            self.button.raise_()
        self.button.setVisible(show)

    def _set_following(self, on: bool) -> None:
        if on != self.following:
            self.following = on
            self.changed.emit(on)
        self.place_button()

    def _range_changed(self, _lo: int, _hi: int) -> None:
        self.follow_now()

    def _value_changed(self, value: int) -> None:
        if not self._ours:  # the reader scrolled: follow again only once they are back at the bottom
            self._set_following(value >= self.view.verticalScrollBar().maximum() - BOTTOM_SLACK)
