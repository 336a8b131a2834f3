"""A push button whose text is elided in the middle when the button is narrower than it ("Switch to Qwen2.5 7B
In…ct Q4_K_M"): a long model name must not widen a 280 px sidebar, and must not be cut mid-letter either; the
middle goes, so the end that tells two files apart (their quantization) stays. The caller's tooltip says the
whole action."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QPushButton, QSizePolicy, QStyle, QStyleOptionButton, QWidget

MIN_CHARS = 8  # the narrowest it gets: about this many characters, then "…"


class ElidingButton(QPushButton):
    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Preferred, not QPushButton's Minimum: with Minimum a layout never gives it less than the whole text
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self._full = ""
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self._elide()
        self.updateGeometry()

    def full_text(self) -> str:
        return self._full

    def _padding(self) -> int:
        opt = QStyleOptionButton()
        self.initStyleOption(opt)
        opt.text = ""
        return self.style().sizeFromContents(QStyle.ContentsType.CT_PushButton, opt, QSize(0, 0), self).width()

    def _elide(self) -> None:
        # Qt returns the text whole when it fits
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle,
                                              max(self.width() - self._padding(), 0))
        if shown != self.text():
            self.setText(shown)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name): the whole text, when there is room for it
        hint = super().sizeHint()
        return QSize(self.fontMetrics().horizontalAdvance(self._full) + self._padding(), hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        hint = super().minimumSizeHint()
        return QSize(self.fontMetrics().averageCharWidth() * MIN_CHARS + self._padding(), hint.height())

    def resizeEvent(self, e: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(e)
        self._elide()
