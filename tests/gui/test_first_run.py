"""The first run: `make run` installs the starter model and opens the window; the window must end ready to chat,
with that model loaded, not on "No model loaded" and a Load button."""

from __future__ import annotations

import shutil

from app.core.infra.paths import app_paths
from app.ui.main_window import MainWindow


def test_the_only_model_is_loaded_on_a_first_run(qtbot, fixtures):
    only = app_paths().ensure().models / "starter.gguf"
    shutil.copy(fixtures["base"], only)
    w = MainWindow()
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.host.modelLoaded, timeout=60_000) as loaded:
        w.show()
    assert loaded.args[0] == "main" and loaded.args[1].path == str(only.absolute())
    qtbot.waitUntil(lambda: w.models.main is not None, timeout=5_000)
    assert w.sidebar.main_combo.currentText().startswith(loaded.args[1].name.split(" ·")[0][:10])


def test_with_several_models_and_no_last_one_nothing_is_loaded_unasked(qtbot, fixtures):
    models = app_paths().ensure().models
    shutil.copy(fixtures["base"], models / "one.gguf")
    shutil.copy(fixtures["spm"], models / "two.gguf")
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.sidebar.main_models.rowCount() >= 2, timeout=10_000)
    qtbot.wait(300)  # a load would have been asked for by now
    assert w.models.main is None
