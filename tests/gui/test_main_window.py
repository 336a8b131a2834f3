"""The window opens offscreen and shows the library (or says how to get a model)."""

from __future__ import annotations

import shutil

from app.core.paths import app_paths
from app.ui.main_window import MainWindow


def test_empty_state(qtbot):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: "No models yet" in w.status.text())
    assert w.models.count() == 0


def test_lists_library(qtbot, fixtures):
    models = app_paths().ensure().models
    shutil.copy(fixtures["base"], models / "tiny.gguf")
    (models / "broken.gguf").write_bytes(b"nope" * 10)
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.models.count() == 2)
    texts = sorted(w.models.item(i).text() for i in range(2))
    assert texts[0].startswith("Tiny Main · 6.4M · F16") and "not a GGUF model file" in texts[1]
    assert w.status.text().startswith("1 model(s)")


def test_application_identity(qapp):
    from app import APP_ID
    from app.ui.application import create_application

    app = create_application([])
    assert app.desktopFileName() == APP_ID and not app.windowIcon().isNull()
