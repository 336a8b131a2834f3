"""The window as a desktop user drives it: the sidebar and the chat list hide and come back (View menu, Ctrl+B,
Ctrl+Shift+B) and stay as left at the next start; the chat shortcuts are in a Chat menu without any key bound
twice; an empty chat says who will answer and which keys do what."""

from __future__ import annotations

import shutil
from collections import Counter

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from app.core.infra.paths import app_paths
from app.core.infra.settings import load_settings
from app.ui.chat.chat_view import ShownMessage
from app.ui.main_window import MainWindow

LONG = 60_000


def open_window(qtbot) -> MainWindow:
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def press(qtbot, w: MainWindow, key: Qt.Key, mods: Qt.KeyboardModifier) -> None:
    """A key as the platform delivers it: to the window, through Qt's shortcut map (a key sent to a widget
    skips the map when the offscreen platform has no active window)."""
    qtbot.keyClick(w.windowHandle(), key, mods)


def action(w: MainWindow, name: str) -> QAction:
    return next(a for a in w.actions() if a.objectName() == name)


def test_sidebar_and_chat_list_hide_with_their_keys_and_are_remembered(qtbot):
    w = open_window(qtbot)
    w.resize(900, 600)
    side, chats = w.sidebar_scroll, w.chat_list_pane
    assert side.isVisible() and chats.isVisible()
    center_before = w.split.sizes()[1]
    press(qtbot, w, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    assert not side.isVisible() and not action(w, "toggle_sidebar").isChecked()
    assert w.split.sizes()[1] > center_before + 250  # the chat takes the sidebar's width
    press(qtbot, w, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert not chats.isVisible() and not action(w, "toggle_chat_list").isChecked()
    w.close()
    assert (load_settings().ui.show_sidebar, load_settings().ui.show_chat_list) == (False, False)

    again = open_window(qtbot)  # the next start keeps what was hidden
    assert not again.sidebar_scroll.isVisible() and not again.chat_list_pane.isVisible()
    view = again.menuBar().view_menu
    toggles = [a for a in view.actions() if a.objectName() in ("toggle_sidebar", "toggle_chat_list")]
    assert [a.text() for a in toggles] == ["Sidebar", "Chat list"] and not any(a.isChecked() for a in toggles)
    toggles[0].trigger()  # from the View menu
    assert again.sidebar_scroll.isVisible() and again.settings.ui.show_sidebar


def test_chat_menu_holds_the_window_shortcuts_and_no_key_is_bound_twice(qtbot):
    w = open_window(qtbot)
    bar = w.menuBar()
    entries = [(a.text(), a.shortcut().toString()) for a in bar.chat_menu.actions() if not a.isSeparator()]
    assert entries == [("Regenerate", "Ctrl+R"), ("Edit last question", "Ctrl+E"), ("Stop", "Esc"),
                       ("Search chats", "Ctrl+F")]
    # the menu shows the window's own actions: one QAction per key, so Qt never finds the key ambiguous
    assert all(a in w.actions() for a in bar.chat_menu.actions() if not a.isSeparator())
    keys = Counter(a.shortcut().toString() for a in w.findChildren(QAction) if not a.shortcut().isEmpty())
    assert [k for k, n in keys.items() if n > 1] == [], keys
    fired = []
    for a in w.findChildren(QAction):
        a.triggered.connect(lambda _=False, a=a: fired.append(a.objectName() or a.text()))
    for key, name in ((Qt.Key.Key_F, "search_chats"), (Qt.Key.Key_R, "regenerate"), (Qt.Key.Key_E, "edit_last")):
        fired.clear()
        press(qtbot, w, key, Qt.KeyboardModifier.ControlModifier)
        assert fired == [name]  # once, by the one action on the key (an ambiguous key fires none)
    fired.clear()
    press(qtbot, w, Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier)
    assert fired == ["stop"]
    assert QKeySequence("Ctrl+B") in [a.shortcut() for a in bar.pane_actions]


def test_an_empty_chat_shows_who_answers_and_the_keys(qtbot, fixtures):
    shutil.copy(fixtures["base"], app_paths().ensure().models / "only.gguf")
    w = MainWindow()
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.host.modelLoaded, timeout=LONG):  # a first run: the only model loads by itself
        w.show()
    hint = w.view.empty_hint
    qtbot.waitUntil(lambda: "Ready to chat with" in hint.text(), timeout=LONG)
    assert hint.isVisible() and "Tiny Main" in hint.text()
    assert "Answers will run with" in hint.text() and w.sidebar.spec_state.text() in hint.text()
    for key in ("Enter", "Shift+Enter", "Esc", "Ctrl+R", "Ctrl+E", "Ctrl+N", "Ctrl+F", "Ctrl+B"):
        assert f"<b>{key}</b>" in hint.text()
    vp = w.view.viewport().rect()  # centred in the chat area
    assert abs(hint.geometry().center().x() - vp.center().x()) <= 2
    assert abs(hint.geometry().center().y() - vp.center().y()) <= 10

    w.view.set_messages([ShownMessage("user", "hello")])
    assert not hint.isVisible()  # a chat with a message is the chat
    w.view.set_messages([])
    assert hint.isVisible()
    w.view.begin_answer()  # the first answer streaming into a chat whose question is not shown yet
    assert not hint.isVisible()
    w.view.cancel_stream()
    with qtbot.waitSignal(w.host.modelUnloaded, timeout=LONG):
        w.sidebar.load_button.click()  # Unload: the hint says how to get a model
    assert "No model loaded" in hint.text() and "Load a model in the sidebar" in hint.text()


def test_a_tiny_saved_geometry_comes_back_at_the_default_size(qtbot):
    """A geometry saved at 1x and restored at 1.5x came back as 711x378 logical: the chat column ~330 px."""
    from app.core.infra.settings import load_settings
    from app.ui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    w.resize(711, 378)
    qtbot.waitUntil(lambda: w.width() == 711, timeout=5_000)
    w.close()
    assert load_settings().ui.window_geometry
    again = MainWindow()
    qtbot.addWidget(again)
    screen = again.screen().availableGeometry()  # the default size, within the screen (screen_fit)
    assert again.width() >= min(900, screen.width() - 40) and again.height() >= min(560, screen.height() - 60)
