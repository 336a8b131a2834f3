"""Spin boxes and combo boxes take the mouse wheel only when they have the keyboard focus.

Qt's default lets a wheel turned over a field change it: scrolling the sidebar with the pointer passing over
Temperature changed it from 0.70 to 0.60 (and Context from 4096 to 3840) without a sign. Here such a field, while
unfocused, leaves the wheel to its scroll area (the page scrolls on), and a wheel no longer gives it the focus:
click it (or Tab to it) first, then the wheel steps its value, as in LM Studio and most settings pages.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QWidget


class WheelGuard(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            # ignored and filtered: the field does not see it, and Qt hands it on to the parents (the scroll area)
            event.ignore()
            return True
        return super().eventFilter(watched, event)


def guard_wheel(root: QWidget) -> WheelGuard:
    """Every spin box and combo box under `root` (as built now) takes the wheel only when focused."""
    guard = WheelGuard(root)
    for field in (*root.findChildren(QAbstractSpinBox), *root.findChildren(QComboBox)):
        if field.focusPolicy() == Qt.FocusPolicy.WheelFocus:
            field.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the wheel alone no longer focuses it
        field.installEventFilter(guard)
    return guard
