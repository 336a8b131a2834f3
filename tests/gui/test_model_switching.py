"""Switching the main model in one click, and the memory estimate under the dropdown, in the real window on real
tiny models: the button says what a click does with the selection, a selection alone never loads, and the
estimate names what the selection needs against what is free."""

from __future__ import annotations

import shutil

import pytest

from app.core.infra.paths import app_paths
from app.core.models.memory_estimate import estimate_memory
from app.core.models.formatting import format_bytes
from app.core.models.model_info import read_model_info
from app.ui.sidebar import memory_hint
from app.ui.main_window import MainWindow
from tests.fixtures.model_factory import write_tiny_model

LONG = 60_000


@pytest.fixture
def two_models(fixtures, smol_tokenizer):
    models = app_paths().ensure().models
    shutil.copy(fixtures["base"], models / "first.gguf")
    write_tiny_model(models / "second.gguf", smol_tokenizer, name="Second Model", n_layer=3, n_head=4,
                     n_head_kv=2, seed=5)
    return models


def open_window(qtbot) -> MainWindow:
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.sidebar.main_models.usable_count() == 2, timeout=LONG)
    return w


def select(w: MainWindow, name: str) -> None:
    s = w.sidebar
    s.main_combo.setCurrentIndex(next(i for i in range(s.main_models.rowCount())
                                      if s.main_models.index(i).data().startswith(name)))


def test_one_click_switches_and_a_selection_alone_never_loads(qtbot, two_models):
    w = open_window(qtbot)
    s = w.sidebar
    select(w, "Tiny Main")
    assert s.load_button.full_text() == "Load" and s.load_button.isEnabled()
    with qtbot.waitSignal(w.host.modelLoaded, timeout=LONG):
        s.load_button.click()
    assert s.load_button.full_text() == "Unload"

    requested = []
    w.host.requestLoad.connect(lambda role, path, _opts: requested.append((role, path)))
    select(w, "Second Model")
    qtbot.wait(300)  # a selection costs nothing: nothing is asked of the engine
    assert requested == [] and w.host.loaded["main"].path == str(two_models / "first.gguf")
    assert s.load_button.full_text().startswith("Switch to Second Model")
    assert "Tiny Main" in s.load_button.toolTip() and "Second Model" in s.load_button.toolTip()

    with qtbot.waitSignal(w.host.modelLoaded, timeout=LONG) as loaded:
        s.load_button.click()  # one click: the engine unloads the first model and loads the second
    assert requested == [("main", str(two_models / "second.gguf"))]
    assert loaded.args[1].path == str(two_models / "second.gguf")
    assert w.host.loaded["main"].path == str(two_models / "second.gguf")
    assert s.load_button.full_text() == "Unload" and w.models.main.path.endswith("second.gguf")

    select(w, "Tiny Main")  # back to the other one: Switch again; the loaded one selected: Unload
    assert s.load_button.full_text().startswith("Switch to Tiny Main")
    select(w, "Second Model")
    with qtbot.waitSignal(w.host.modelUnloaded, timeout=LONG):
        s.load_button.click()
    assert "main" not in w.host.loaded and s.load_button.full_text() == "Load"


def test_the_button_waits_while_a_model_loads(qtbot, two_models):
    w = open_window(qtbot)
    s = w.sidebar
    select(w, "Tiny Main")
    with qtbot.waitSignal(w.host.modelLoaded, timeout=LONG):
        s.load_button.click()
        assert not s.load_button.isEnabled() and s.load_button.full_text() == "Loading first.gguf…"
    assert s.load_button.isEnabled()


def test_the_estimate_shows_for_the_selection_and_warns_when_it_will_not_fit(qtbot, two_models, monkeypatch):
    w = open_window(qtbot)
    s = w.sidebar
    select(w, "Second Model")
    s.n_ctx.setValue(8192)
    hint = s.memory_hint
    info = read_model_info(two_models / "second.gguf")
    est = estimate_memory(info.memory, 8192, w.settings.runtime.n_batch)
    assert hint.isVisible()
    assert hint.text().startswith(f"Needs about {format_bytes(est.ram - est.context)} RAM (+ "
                                  f"{format_bytes(est.context)} for the context at n_ctx 8192)")
    assert "this machine has" in hint.text() and "⚠" not in hint.text()
    s.n_ctx.setValue(16384)  # the context's share follows the spin box at once
    assert f"{format_bytes(2 * est.context)} for the context at n_ctx 16384" in hint.text()

    monkeypatch.setattr(memory_hint, "available_ram", lambda: 1 << 20)  # a machine with 1 MiB free
    s.n_ctx.setValue(4096)
    assert "1.0 MiB free" in hint.text() and "⚠ It will probably not fit" in hint.text()
    assert "b26b00" in hint.styleSheet()  # in the warning colour; the Load button stays usable
    assert s.load_button.isEnabled()
    monkeypatch.undo()

    with qtbot.waitSignal(w.host.modelLoaded, timeout=LONG):
        s.load_button.click()
    assert not hint.isVisible()  # the loaded model's own line says what it holds
    select(w, "Tiny Main")
    assert hint.isVisible() and hint.text().startswith("Needs about")


def test_long_labels_keep_the_end_that_tells_two_files_apart(qtbot, fixtures, smol_tokenizer):
    """Two files of one long-named model ("Smollm2 135M 8k Lc100K Mix1 Ep2" F32 and Q4_1): in a 900×600 window
    the dropdown clipped them mid-letter ("… Ep2 F3") and "Switch to …" was cut before the quantization."""
    models = app_paths().ensure().models
    long_name = "Smollm2 135M 8k Lc100K Mix1 Ep2 Experimental Long Name"
    write_tiny_model(models / "long-a.gguf", smol_tokenizer, name=long_name, seed=1)
    write_tiny_model(models / "long-b.gguf", smol_tokenizer, name=long_name, n_layer=3, seed=2)
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(900, 600)
    w.show()
    s = w.sidebar
    qtbot.waitUntil(lambda: s.main_models.usable_count() == 2, timeout=LONG)
    labels = [s.main_models.index(i).data() for i in range(2)]
    assert labels[0] != labels[1]
    with qtbot.waitSignal(w.host.modelLoaded, timeout=LONG):
        s.main_combo.setCurrentIndex(0)
        s.load_button.click()
    s.main_combo.setCurrentIndex(1)
    qtbot.wait(50)
    shown = s.main_combo.shown_text()
    assert "…" in shown and shown != labels[1]  # the box is narrower than the label
    # the two files read as one model title: each label ends with its file name, and that end is what stays
    assert labels[1].endswith(" · long-b.gguf") and labels[0].endswith(" · long-a.gguf")
    assert shown.endswith(" · long-b.gguf") and shown.index("…") < shown.index("long-b.gguf")
    button = s.load_button.text()
    full = s.load_button.full_text()
    assert "…" in button and button.startswith("Switch to") and button.endswith(full[-8:])
