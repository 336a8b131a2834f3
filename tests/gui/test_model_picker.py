"""The main-model picker with files it cannot offer: a truncated download and a tokenizer-only GGUF are listed,
greyed, not selectable, explained; "Remove file…" moves one to the trash and the list follows."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app.core.infra.paths import app_paths
from app.ui.widgets.item_models import ModelListModel, ModelRoles
from app.ui.main_window import MainWindow
from tests.fixtures.model_factory import sdist_vocab
from tests.gui.test_main_window import library  # noqa: F401  (a fixture)


@pytest.fixture
def odd_models(fixtures, model_cache):
    models = app_paths().ensure().models
    shutil.copy(fixtures["base"], models / "main.gguf")
    shutil.copy(fixtures["base"], models / "main-copy.gguf")
    shutil.copy(sdist_vocab(model_cache, "llama-spm"), models / "ggml-vocab-llama-spm.gguf")
    data = fixtures["base"].read_bytes()
    (models / "partial.gguf").write_bytes(data[: len(data) // 2])
    return models


def click_in_dialog(button_text: str) -> None:
    """Press a button of the next modal dialog once it shows (the dialog runs its own event loop)."""
    def attempt() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, attempt)
            return
        next(b for b in box.buttons() if b.text().replace("&", "") == button_text).click()
    QTimer.singleShot(0, attempt)


def window_listing(qtbot, n: int) -> MainWindow:
    """The window, once its first scan listed `n` files in the main-model picker."""
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.sidebar.main_models.rowCount() == n, timeout=10_000)
    return w


def rows(model: ModelListModel) -> list[str]:
    return [model.index(i).data() for i in range(model.rowCount())]


def test_unusable_files_are_listed_greyed_with_their_reason(qtbot, qtmodeltester, odd_models):
    w = window_listing(qtbot, 4)
    m = w.sidebar.main_models
    labels = rows(m)
    assert labels[0].startswith("Tiny Main") and labels[1].startswith("Tiny Main")
    assert labels[0] != labels[1]  # two copies of one model: the file names tell them apart
    assert labels[2:] == ["ggml-vocab-llama-spm.gguf · tokenizer only", "partial.gguf · incomplete download"]
    for row in (2, 3):
        flags = m.flags(m.index(row))
        assert not flags & Qt.ItemFlag.ItemIsEnabled and not flags & Qt.ItemFlag.ItemIsSelectable
    tip = m.index(3).data(Qt.ItemDataRole.ToolTipRole)
    assert "This file is damaged" in tip and "its tensors need" in tip and "(an incomplete download?)" in tip
    assert "Right-click it to remove the file" in tip
    assert "0 parameters" in m.index(2).data(ModelRoles.Problem)
    # the combo never lands on them: not by default, not from the last session, not by the keyboard
    combo = w.sidebar.main_combo
    assert combo.currentIndex() == 0
    assert m.row_of(str(odd_models / "partial.gguf")) == -1
    combo.setCurrentIndex(1)
    qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert combo.currentIndex() == 1 and w.sidebar.selected_main().endswith(".gguf")
    assert "partial" not in w.sidebar.selected_main() and "vocab" not in w.sidebar.selected_main()
    qtmodeltester.check(m)


def test_remove_file_moves_it_to_the_trash_and_the_list_follows(qtbot, odd_models, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # the trash of this test, not the user's
    w = window_listing(qtbot, 4)
    m = w.sidebar.main_models
    partial = m.entry_at(3)
    assert partial is not None and partial.path.endswith("partial.gguf")

    menu = w.model_file_actions.menu_for([partial])
    assert [a.text() for a in menu.actions()] == ["Remove file…", "Show in folder"]
    click_in_dialog("Cancel")
    menu.actions()[0].trigger()
    assert (odd_models / "partial.gguf").exists()  # cancelled: nothing touched

    click_in_dialog("Move to Trash")
    menu.actions()[0].trigger()
    assert not (odd_models / "partial.gguf").exists()
    trashed = list((tmp_path / "xdg").rglob("partial.gguf"))
    assert len(trashed) == 1 and trashed[0].parent.name == "files"  # the freedesktop trash: restorable
    qtbot.waitUntil(lambda: m.rowCount() == 3, timeout=10_000)
    assert all("partial" not in label for label in rows(m))

    # the closed combo's own context menu names every remaining unusable file
    names = [a.text() for a in w.model_file_actions.menu_for(m.unusable_entries()).actions()]
    assert names == ["Remove file…", "Show in folder"] and len(m.unusable_entries()) == 1


def test_where_there_is_no_trash_the_file_is_deleted_only_when_confirmed(qtbot, odd_models, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder would be: no trash can be made")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker / "share"))
    w = window_listing(qtbot, 4)
    m = w.sidebar.main_models
    vocab = m.entry_at(2)
    assert vocab is not None and vocab.path.endswith("ggml-vocab-llama-spm.gguf")
    remove = w.model_file_actions.menu_for([vocab]).actions()[0]
    click_in_dialog("Move to Trash")
    QTimer.singleShot(300, lambda: click_in_dialog("No"))  # "Delete permanently?" No: the file stays
    remove.trigger()
    assert (odd_models / "ggml-vocab-llama-spm.gguf").exists()
    click_in_dialog("Move to Trash")
    QTimer.singleShot(300, lambda: click_in_dialog("Yes"))
    remove.trigger()
    assert not (odd_models / "ggml-vocab-llama-spm.gguf").exists()
    qtbot.waitUntil(lambda: m.rowCount() == 3, timeout=10_000)


def test_a_broken_file_that_arrives_is_said_when_it_arrives(qtbot, odd_models):
    """Known files are not announced at start (they are listed); one copied in while the app runs is said in the
    status bar at once, with its reason, besides its greyed row."""
    w = window_listing(qtbot, 4)
    assert "can't be used" not in w.statusBar().currentMessage()
    data = (odd_models / "main.gguf").read_bytes()
    (odd_models / "half.gguf").write_bytes(data[: len(data) // 3])
    w.scanner.scan()  # the folder watcher does this after a copy settles
    qtbot.waitUntil(lambda: w.sidebar.main_models.rowCount() == 5, timeout=30_000)
    message = w.statusBar().currentMessage()
    assert message.startswith("half.gguf can't be used: incomplete download.") and "Remove file" in message
    w.statusBar().clearMessage()
    with qtbot.waitSignal(w.models.libraryChanged, timeout=30_000):
        w.scanner.scan()  # the next scan does not say it again
    assert w.statusBar().currentMessage() == ""


def test_the_dropdowns_mark_the_loaded_model_and_tell_its_whole_name(qtbot, library):
    from PySide6.QtCore import Qt

    from tests.gui.test_main_window import load_main, open_window

    w = open_window(qtbot)
    w.sidebar.mode.setCurrentIndex(w.sidebar.mode.findData("off"))
    load_main(qtbot, w, "Tiny Main")
    m = w.sidebar.main_models
    loaded = [i for i in range(m.usable_count()) if m.index(i).data(Qt.ItemDataRole.DecorationRole) is not None]
    assert len(loaded) == 1 and m.entry_at(loaded[0]).path == w.models.main.path
    tip = m.index(loaded[0]).data(Qt.ItemDataRole.ToolTipRole)
    assert tip.splitlines()[:2] == [m.index(loaded[0]).data(), "Loaded now"]
    with qtbot.waitSignal(w.host.modelUnloaded, timeout=30_000):
        w.models.unload_main()
    assert all(m.index(i).data(Qt.ItemDataRole.DecorationRole) is None for i in range(m.rowCount()))
