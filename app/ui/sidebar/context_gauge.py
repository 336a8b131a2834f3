"""The status bar's context gauge: how much of the loaded model's context the open chat takes.

A chat that reaches the context length stops its answer (stop reason "context"); the gauge says so before it
happens, with what to do about it.
"""

from __future__ import annotations

from PySide6.QtWidgets import QProgressBar, QWidget

WARN_AT = 0.85  # past this share the next answers have little room left


def gauge_text(tokens: int, n_ctx: int) -> tuple[str, str]:
    """The gauge's label and its tooltip."""
    share = tokens / n_ctx
    label = f"context {tokens:,} / {n_ctx:,}"
    tip = (f"This chat takes {tokens:,} of the model's {n_ctx:,} context tokens ({share:.0%}), counted with its chat "
           "template. An answer stops when the context is full.")
    if share >= WARN_AT:
        label = f"context {share:.0%} full"
        tip += " Start a new chat, or reload the model with a larger context (sidebar, Context)."
    return label, tip


class ContextGauge(QProgressBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedWidth(190)
        self.setMaximumHeight(18)
        self.setTextVisible(True)
        self.hide()

    def show_usage(self, tokens: int, n_ctx: int) -> None:
        if tokens < 0 or not n_ctx:
            self.hide()
            return
        label, tip = gauge_text(tokens, n_ctx)
        self.setRange(0, n_ctx)
        self.setValue(min(tokens, n_ctx))
        self.setFormat(label)
        self.setToolTip(tip)
        warn = tokens / n_ctx >= WARN_AT
        if warn != self.property("warn"):  # a style sheet re-polishes the widget: not on every streamed batch
            self.setProperty("warn", warn)
            self.setStyleSheet("QProgressBar::chunk { background: #c0392b; }" if warn else "")
        self.show()
