"""The chat list: rows say when each chat was last written to (chats with one title told apart), and a
right-click leaves the open chat highlighted (27.9)."""

from __future__ import annotations

import time
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.ui.widgets.chat_list import ChatRowDelegate, when_text
from app.ui.widgets.item_models import ChatRoles
from tests.gui.test_main_window import open_window


def test_when_a_chat_was_written_reads_as_people_say_it():
    now = datetime(2026, 12, 7, 15, 30).timestamp()
    assert when_text(datetime(2026, 12, 7, 9, 5).timestamp(), now) == "09:05"
    assert when_text(datetime(2026, 12, 4, 9, 5).timestamp(), now) == "Fri"
    assert when_text(datetime(2026, 3, 1, 9, 5).timestamp(), now) == "1 Mar"
    assert when_text(datetime(2025, 3, 1, 9, 5).timestamp(), now) == "1 Mar 2025"


def test_a_right_click_keeps_the_open_chat_highlighted_and_rows_show_their_date(qtbot):
    w = open_window(qtbot)
    first = w.store.create_chat("Same title").id
    second = w.store.create_chat("Same title").id
    w.store.db.execute("UPDATE chats SET updated=? WHERE id=?", (time.time() - 86400 * 40, first))
    w.refresh_chats()
    w.open_chat(second)
    view = w.chat_list
    assert isinstance(view.itemDelegate(), ChatRowDelegate)
    rows = {view.model().index(i, 0).data(ChatRoles.ChatId): i for i in range(view.model().rowCount())}
    open_row = view.model().index(rows[second], 0)
    other = view.model().index(rows[first], 0)
    assert view.currentIndex() == open_row
    asked: list = []
    view.customContextMenuRequested.disconnect()  # the menu itself is Qt's; here: what the press does
    view.customContextMenuRequested.connect(asked.append)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.RightButton, pos=view.visualRect(other).center())
    assert view.currentIndex() == open_row and w.chat_id == second  # still the open chat
    assert view.selectionModel().isSelected(open_row) and not view.selectionModel().isSelected(other)
    # the rows are drawn with their dates: the older chat's date differs from today's time
    image = view.viewport().grab().toImage()
    assert not image.isNull()
    assert when_text(w.store.chat(first).updated) != when_text(w.store.chat(second).updated)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(other).center())
    qtbot.waitUntil(lambda: w.chat_id == first, timeout=5_000)  # a left click still opens it
