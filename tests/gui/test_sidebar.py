"""The sidebar on its own: what it shows for models and errors, and the typed settings it hands out."""

from __future__ import annotations

from PySide6.QtGui import QTextDocument

from app.core.inference.engine_process.protocol import ModelSummary
from app.ui.sidebar.sidebar import Sidebar

SUMMARY = ModelSummary(path="/m/x.gguf", name="<i>Evil</i> & Co", size_label="", quantization="", offloaded_layers=0,
                      n_layers=3, backend="CPU", n_ctx=2048, devices=[("CPU", 3)], chat_format="<template>")


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
    assert shown(s.advice) == "<b>big</b> draft."  # as a sentence


def test_the_mode_names_fit_a_narrow_sidebar_and_say_what_they_mean(qtbot):
    """At 900x600 the sidebar is 280 px: "N-gram (prompt lookup)" was cut to "N-gram (prompt looku". The names
    are short and whole; what each mode does is in its tooltip."""
    s = Sidebar()
    qtbot.addWidget(s)
    s.resize(280, 1200)
    s.show()
    qtbot.waitExposed(s)
    mode = s.mode
    widest = max(mode.fontMetrics().horizontalAdvance(mode.itemText(i)) for i in range(mode.count()))
    assert mode.width() >= mode.sizeHint().width() and mode.width() > widest
    mode.setCurrentIndex(mode.findData("ngram"))
    assert mode.currentText() == "N-gram lookup" and "earlier in the chat" in mode.toolTip()
