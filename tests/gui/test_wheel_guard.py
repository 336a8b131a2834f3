"""The mouse wheel over an unfocused spin box or combo box scrolls the page instead of changing the value
(issue: two notches while scrolling the sidebar changed Temperature from 0.70 to 0.60 without a sign); once the
field has the focus, the wheel steps it as before."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QWidget

from app.ui.sidebar.sidebar import Sidebar


def wheel(widget: QWidget, notches: int = -1) -> QWheelEvent:
    """One wheel turn over the widget's middle (a notch is 120 eighths of a degree; negative: towards the user)."""
    at = QPointF(widget.rect().center())
    ev = QWheelEvent(at, QPointF(widget.mapToGlobal(at.toPoint())), QPoint(0, 0), QPoint(0, 120 * notches),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, ev)
    return ev


def test_an_unfocused_field_leaves_the_wheel_to_the_page_and_a_focused_one_takes_it(qtbot) -> None:
    bar = Sidebar()
    qtbot.addWidget(bar)
    bar.show()
    qtbot.waitExposed(bar)
    bar.activateWindow()
    temp, ctx, mode = bar.temperature, bar.n_ctx, bar.mode
    temp.setValue(0.70)
    before = (temp.value(), ctx.value(), mode.currentIndex())
    for field in (temp, ctx, mode):
        assert field.focusPolicy() == Qt.FocusPolicy.StrongFocus  # a wheel does not focus it either
        ev = wheel(field)
        assert not ev.isAccepted()  # handed on to the scroll area around the sidebar
    assert (temp.value(), ctx.value(), mode.currentIndex()) == before

    temp.setFocus()
    qtbot.waitUntil(temp.hasFocus, timeout=5_000)
    wheel(temp, notches=-1)
    assert temp.value() == round(before[0] - temp.singleStep(), 2)  # focused: one notch, one step
