"""Settings written on change: a burst of edits is one write soon after; a write that fails says so once."""

from __future__ import annotations

import json
from pathlib import Path

from app.core.infra.settings import Settings, load_settings
from app.workers.settings_saver import SettingsSaver


def test_a_burst_of_edits_is_one_write_after_it(qtbot, tmp_path: Path):
    path = tmp_path / "settings.json"
    settings = Settings()
    collected: list[int] = []

    def collect(st: Settings) -> None:  # what the widgets hold, read at write time
        collected.append(st.generation.max_tokens)

    saver = SettingsSaver(settings, collect, path, delay_ms=100)
    for n in range(50):
        settings.generation.max_tokens = 100 + n
        saver.changed()
    assert not path.exists() and saver.pending
    qtbot.waitUntil(lambda: path.exists(), timeout=2_000)
    assert collected == [149]  # one write, of the last value
    assert load_settings(path).generation.max_tokens == 149
    assert not path.with_name("settings.json.tmp").exists()

    settings.ui.theme = "dark"
    saver.changed()
    assert saver.flush() and not saver.pending  # closing: written at once, the pending write folded in
    assert json.loads(path.read_text())["ui"]["theme"] == "dark"
    qtbot.wait(200)
    assert collected == [149, 149]


def test_a_write_that_fails_is_said_once_and_the_next_good_one_goes_through(qtbot, tmp_path: Path):
    blocker = tmp_path / "config"
    blocker.write_text("a file where the settings folder should be")
    path = blocker / "settings.json"
    saver = SettingsSaver(Settings(), lambda _st: None, path)
    said: list[str] = []
    saver.failed.connect(said.append)
    assert not saver.flush() and not saver.flush()
    assert len(said) == 1 and "Settings not saved" in said[0] and "config" in said[0]
    blocker.unlink()
    assert saver.flush() and path.is_file()
