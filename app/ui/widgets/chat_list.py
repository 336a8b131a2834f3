"""The chat list's rows: the title, and on the right when it was last written to ("14:05", "Mon", "3 Dec",
"3 Dec 2025"), so chats with the same title can be told apart; and a right-click that opens the row's menu
without moving the highlight off the chat that is open (Qt selects on any button's press).
"""

from __future__ import annotations

import time
from datetime import datetime

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QMouseEvent, QPainter, QPalette
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from app.ui.widgets.item_models import ChatRoles

Index = QModelIndex | QPersistentModelIndex


def when_text(updated: float, now: float | None = None) -> str:
    """A chat's last change as the list shows it: the time today, the weekday this week, the date this year,
    else the date with its year."""
    now = time.time() if now is None else now
    then, today = datetime.fromtimestamp(updated), datetime.fromtimestamp(now)
    if then.date() == today.date():
        return then.strftime("%H:%M")
    if 0 < (today.date() - then.date()).days < 7:
        return then.strftime("%a")
    if then.year == today.year:
        return f"{then.day} {then.strftime('%b')}"
    return f"{then.day} {then.strftime('%b %Y')}"


class ChatRowDelegate(QStyledItemDelegate):
    GAP = 8

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        widget = opt.widget
        style = widget.style() if widget is not None else None
        if style is None:
            super().paint(painter, option, index)
            return
        updated = index.data(ChatRoles.Updated)
        when = when_text(float(updated)) if isinstance(updated, (int, float)) and updated else ""
        metrics = opt.fontMetrics
        reserve = metrics.horizontalAdvance(when) + self.GAP if when else 0
        # the row's panel (selection, hover) as the style draws it, then the title elided before the date
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, opt, painter, widget)
        text_rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, opt, widget)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        painter.save()
        painter.setFont(opt.font)
        painter.setPen(opt.palette.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text))
        title_rect = text_rect.adjusted(0, 0, -reserve, 0)
        title = metrics.elidedText(opt.text, Qt.TextElideMode.ElideRight, max(0, title_rect.width()))
        align = Qt.AlignmentFlag.AlignVCenter
        painter.drawText(title_rect, int(align | Qt.AlignmentFlag.AlignLeft), title)
        if when:
            painter.setPen(opt.palette.color(QPalette.ColorRole.HighlightedText if selected
                                             else QPalette.ColorRole.PlaceholderText))
            painter.drawText(text_rect, int(align | Qt.AlignmentFlag.AlignRight), when)
        painter.restore()


class RightClickKeepsSelection(QObject):
    """A right-button press on the list is not a choice: it opens the menu (Qt sends the context-menu event
    anyway) and leaves the open chat highlighted."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick) and \
                isinstance(event, QMouseEvent) and event.button() == Qt.MouseButton.RightButton:
            return True
        return super().eventFilter(watched, event)


def dress_chat_list(view: QListView, parent: QWidget | None = None) -> None:
    """The chat list's rows with their dates, and right-clicks that keep the highlight."""
    view.setItemDelegate(ChatRowDelegate(view))
    keeper = RightClickKeepsSelection(parent or view)
    view.viewport().installEventFilter(keeper)
    view.setProperty("rightClickKeeper", keeper)  # kept alive with the view
