"""The sidebar on its own: what it shows for models and errors, and the typed settings it hands out."""

from __future__ import annotations

from PySide6.QtGui import QTextDocument

from app.ui.sidebar import Sidebar

SUMMARY = {"path": "/m/x.gguf", "name": "<i>Evil</i> & Co", "backend": "CPU", "offloaded_layers": 0, "n_layers": 3,
           "n_ctx": 2048, "chat_format": "<template>"}


def shown(label) -> str:  # type: ignore[no-untyped-def]
    doc = QTextDocument()
    doc.setHtml(label.text())
    return doc.toPlainText()


def test_names_and_errors_are_text_not_markup(qtbot):
    """Model names come from GGUF metadata and errors quote file names: "<b>" in them is shown, not obeyed."""
    s = Sidebar()
    qtbot.addWidget(s)
    s.set_main_state(None, "cannot load <b>x</b>.gguf: a & b")
    assert shown(s.model_state) == "cannot load <b>x</b>.gguf: a & b"
    s.set_main_state(SUMMARY)
    assert "<i>Evil</i> & Co" in shown(s.model_state) and "chat format: <template>" in shown(s.model_state)
    s.set_advice(["<b>big</b> draft"])
    assert shown(s.advice) == "<b>big</b> draft"
