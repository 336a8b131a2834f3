"""The Settings window (Ctrl+,, File > Settings…) on a real window and a real tiny model: each choice applies at
once, is saved, and reaches what it changes (the gauge's policy, new chats' system prompt, the sidebar's Context, a
reload with the new options, the library's folders, the font, the theme)."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

from app.core.infra.settings import load_settings
from app.ui.theme import apply_theme
from tests.gui.test_main_window import library, load_main, open_window  # noqa: F401  (library: a fixture)

LONG = 30_000


@pytest.fixture
def app_font_after():
    app = QApplication.instance()
    font = QFont(app.font())
    yield
    app.setFont(font)
    apply_theme("system")


def test_ctrl_comma_opens_it_and_the_chat_choices_apply_and_stay(qtbot, app_font_after):
    w = open_window(qtbot)
    act = next(a for a in w.actions() if a.objectName() == "settings")
    assert act.shortcut().toString() == "Ctrl+," and act in w.menuBar().file_menu.actions()
    act.trigger()
    s = w.settings_window
    assert s is not None and s.isVisible()

    s.overflow.setCurrentIndex(s.overflow.findData("rolling_window"))
    assert w.settings.generation.overflow == "rolling_window" and w.context_gauge.policy == "rolling_window"
    assert "oldest turns" in s.overflow_help.text()
    s.system_prompt.setPlainText("You are a terse assistant.")
    qtbot.waitUntil(lambda: load_settings().generation.overflow == "rolling_window" and
                    load_settings().generation.default_system_prompt == "You are a terse assistant.",
                    timeout=5_000)  # saved within a moment, not only at close
    w.new_chat()
    assert w.store.chat(w.chat_id).system_prompt == "You are a terse assistant."
    assert w.system_prompt.text() == "You are a terse assistant."
    w.new_chat()  # the empty chat with the default prompt is reused, not piled up
    assert len(w.store.chats()) == 1

    s.font_size.setCurrentIndex(s.font_size.findData(16))
    assert QApplication.instance().font().pointSize() == 16 and w.view.font().pointSize() == 16
    s.theme.setCurrentIndex(s.theme.findData("dark"))
    assert w.menuBar().theme_actions["dark"].isChecked() and w.view._theme.dark
    qtbot.waitUntil(lambda: load_settings().ui.font_size == 16 and load_settings().ui.theme == "dark",
                    timeout=5_000)
    w.close()

    again = open_window(qtbot)  # the next start: the same choices
    assert QApplication.instance().font().pointSize() == 16 and again.context_gauge.policy == "rolling_window"
    again.open_settings()
    assert again.settings_window.overflow.currentData() == "rolling_window"
    assert again.settings_window.system_prompt.toPlainText() == "You are a terse assistant."
    again.settings_window.font_size.setCurrentIndex(0)  # back to the system's size
    again.settings_window.theme.setCurrentIndex(again.settings_window.theme.findData("system"))


def test_a_load_option_change_says_it_applies_at_the_next_load_and_reload_applies_it(qtbot, library):
    w = open_window(qtbot)
    load_main(qtbot, w, "Tiny Main")  # at a context of 2048
    s = w.open_settings()
    assert s.n_ctx.value() == 2048 and s.reload_button.isHidden() and "runs with these" in s.reload_note.text()
    s.n_ctx.setValue(1024)
    assert w.sidebar.n_ctx.value() == 1024  # one value: the sidebar's Context says the same
    assert "another context size" in s.reload_note.text() and not s.reload_button.isHidden()
    s.n_threads.setValue(1)
    assert "context size, threads" in s.reload_note.text() and w.settings.runtime.n_threads == 1
    with qtbot.waitSignal(w.host.modelLoaded, timeout=LONG):
        s.reload_button.click()
    qtbot.waitUntil(lambda: w.models.main is not None and w.models.main.n_ctx == 1024, timeout=LONG)
    assert s.reload_button.isHidden() and "runs with these" in s.reload_note.text()
    w.sidebar.n_ctx.setValue(1536)  # and the other way: the sidebar's field shows here
    assert s.n_ctx.value() == 1536 and not s.reload_button.isHidden()


def test_another_models_folder_is_listed_watched_and_removed(qtbot, fixtures, tmp_path):
    elsewhere = tmp_path / "lm-studio-models"
    elsewhere.mkdir()
    shutil.copy(fixtures["base"], elsewhere / "kept-elsewhere.gguf")
    w = open_window(qtbot)
    s = w.open_settings()
    s._add_model_dir(str(elsewhere))
    assert w.settings.library.extra_model_dirs == [str(elsewhere)] and s.model_dirs.count() == 1
    qtbot.waitUntil(lambda: any(e.path.endswith("kept-elsewhere.gguf") for e in w.models.library), timeout=LONG)
    assert str(elsewhere) in w.watcher.directories()
    s.model_dirs.setCurrentRow(0)
    assert s.remove_dir_button.isEnabled()
    s.remove_dir_button.click()
    assert w.settings.library.extra_model_dirs == [] and str(elsewhere) not in w.watcher.directories()
    qtbot.waitUntil(lambda: not any(e.path.endswith("kept-elsewhere.gguf") for e in w.models.library), timeout=LONG)
    qtbot.waitUntil(lambda: load_settings().library.extra_model_dirs == [], timeout=5_000)
