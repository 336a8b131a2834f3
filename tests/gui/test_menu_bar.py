"""The menu bar: its menus, New chat, export to Markdown/JSON (and a failed export said), the folders it opens,
the theme (applied to the chat view, saved, restored at the next start), About."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QTimer, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox

from app import __version__
from app.core.infra.logging_setup import LOG_NAME
from app.core.infra.paths import app_paths
from app.core.infra.settings import load_settings
from app.ui.main_window import MainWindow
from app.ui.theme import apply_theme


def texts(menu) -> list[str]:
    return [a.text() for a in menu.actions() if not a.isSeparator()]


def open_window(qtbot) -> MainWindow:
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    return w


@pytest.fixture
def system_theme_after():
    yield
    apply_theme("system")  # whatever a test chose, the next test starts on the system palette


class UrlCatcher(QObject):
    """Receives file:// URLs instead of the desktop's file manager (QDesktopServices.setUrlHandler)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_menus_and_new_chat(qtbot):
    w = open_window(qtbot)
    bar = w.menuBar()
    assert [a.text() for a in bar.actions()] == ["&File", "&Chat", "&View", "&Server", "&Help"]
    assert texts(bar.file_menu) == ["New chat", "Export chat as Markdown…", "Export chat as JSON…",
                                    "&Import GGUF files…", "Open &models folder", "Open &logs folder", "&Settings…",
                                    "&Quit"]
    assert texts(bar.help_menu) == ["&About SpecChat"]
    before = len(w.store.chats())
    bar.new_chat_action.trigger()
    assert len(w.store.chats()) == before + 1 and w.chat_id is not None
    # exports are enabled only with a chat open
    w.chat_id = None
    bar.file_menu.aboutToShow.emit()
    assert not bar.export_actions["markdown"].isEnabled()


def test_export_current_chat(qtbot, tmp_path: Path):
    w = open_window(qtbot)
    chat = w.store.create_chat("Export me")
    w.store.add_message(chat.id, "user", "What is 2+2?")
    answer = w.store.start_answer(chat.id)
    w.store.save_answer(answer.id, "**4**", [(2, 3)], {"accepted": 1}, state="done")
    w.refresh_chats()
    w.open_chat(chat.id)
    md = w.menuBar().export_current("markdown", tmp_path / "chat.md")
    assert md == tmp_path / "chat.md"
    assert "## You\n\nWhat is 2+2?" in md.read_text() and "## Assistant\n\n**4**" in md.read_text()
    assert str(md) in w.statusBar().currentMessage()
    js = json.loads(w.menuBar().export_current("json", tmp_path / "chat.json").read_text())
    assert js["messages"][1]["highlights"] == [[2, 3]]

    shown: list[str] = []

    def close_warning() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, close_warning)
            return
        shown.append(box.text())
        box.accept()

    QTimer.singleShot(0, close_warning)
    assert w.menuBar().export_current("markdown", tmp_path / "no-such-folder" / "chat.md") is None
    assert shown and shown[0].startswith("The chat was not exported: the folder") and "does not exist" in shown[0]


def test_open_folders(qtbot):
    w = open_window(qtbot)
    catcher = UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "open")
    try:
        actions = {a.text(): a for a in w.menuBar().file_menu.actions()}
        actions["Open &logs folder"].trigger()
        actions["Open &models folder"].trigger()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [Path(u.toLocalFile()) for u in catcher.urls] == [app_paths().logs, app_paths().models]


def test_theme_is_applied_saved_and_restored(qtbot, system_theme_after):
    w = open_window(qtbot)
    bar = w.menuBar()
    assert bar.theme_actions["system"].isChecked()
    bar.theme_actions["dark"].trigger()
    app = QApplication.instance()
    assert app.palette().color(QPalette.ColorRole.Base).lightness() < 60
    assert w.view._theme.dark  # the chat view rebuilt its colours from the new palette
    qtbot.waitUntil(lambda: load_settings().ui.theme == "dark", timeout=5_000)  # saved soon, not only on close
    w.close()

    again = open_window(qtbot)  # the next start comes up dark
    assert again.menuBar().theme_actions["dark"].isChecked() and again.view._theme.dark
    again.menuBar().theme_actions["light"].trigger()
    assert app.palette().color(QPalette.ColorRole.Base).lightness() > 200 and not again.view._theme.dark
    again.menuBar().theme_actions["system"].trigger()
    qtbot.waitUntil(lambda: load_settings().ui.theme == "system", timeout=5_000)


def test_about_names_versions_backend_and_paths(qtbot):
    w = open_window(qtbot)
    text = w.menuBar().about_text()
    assert f"SpecChat {__version__}" in text
    assert "llama-cpp-python 0.3.36" in text
    assert "Backend" in text and ("CPU" in text or "CUDA" in text)
    assert str(app_paths().models) in text and LOG_NAME in text or "no log file" in text


def test_file_import_opens_the_downloads_tab_which_says_when_it_is_empty(qtbot, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from app.ui.downloads.downloads_window import QUEUE_TAB

    asked: list[str] = []
    monkeypatch.setattr(QFileDialog, "getOpenFileNames",
                        lambda _parent, title, *_a, **_k: asked.append(title) or ([], ""))
    w = open_window(qtbot)
    w.menuBar().import_action.trigger()
    window = w.downloads_window
    assert asked == ["Import GGUF models"] and window is not None and window.isVisible()
    assert window.tabs.currentIndex() == QUEUE_TAB
    assert window.queue_tab.empty.isVisible() and "No downloads yet" in window.queue_tab.empty.text()


def test_the_dark_theme_draws_unchecked_boxes_that_can_be_seen(qtbot, system_theme_after):
    from PySide6.QtWidgets import QCheckBox

    apply_theme("dark")
    box = QCheckBox("off")
    qtbot.addWidget(box)
    box.show()
    image = box.grab().toImage()
    # the box's rule: some pixel of the indicator is much lighter than the dark window behind it
    lightest = max(image.pixelColor(x, y).lightness() for x in range(min(20, image.width()))
                   for y in range(image.height()))
    assert lightest > 110
    apply_theme("light")
    assert QApplication.instance().styleSheet() == ""
