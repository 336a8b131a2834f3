"""The status bar's context gauge: how much of the loaded model's context the open chat takes, and the message being
typed on top of it.

What happens when a chat outgrows the context is the overflow policy's (Settings > Context overflow): "stop"
refuses a question that cannot fit, the others leave the oldest turns out. The gauge says which will happen
before Send is pressed.
"""

from __future__ import annotations

from PySide6.QtWidgets import QProgressBar, QWidget

from app.core.inference.context_fit import POLICY_LABELS, OverflowPolicy

WARN_AT = 0.85  # past this share the next answers have little room left


def gauge_text(tokens: int, n_ctx: int, with_typed: int = -1, policy: OverflowPolicy = "stop") -> tuple[str, str]:
    """The gauge's label and its tooltip. `with_typed`: the chat's tokens with the message being typed sent as its
    next question (an edit: in place of the edited one); -1: nothing typed."""
    total = max(tokens, with_typed)
    typed = max(0, with_typed - tokens) if with_typed >= 0 else 0
    share = total / n_ctx
    label = f"context {tokens:,} + {typed:,} / {n_ctx:,}" if typed else f"context {tokens:,} / {n_ctx:,}"
    tip = (f"This chat takes {tokens:,} of the model's {n_ctx:,} context tokens ({tokens / n_ctx:.0%}), counted with "
           "its chat template.")
    if typed:
        tip += f" The message being typed adds {typed:,}."
    if total >= n_ctx:
        if policy == "stop":
            label = "message won't fit" if typed else "context full"
            tip += (" It does not fit: Send will not send it. Start a new chat, shorten the message, reload the "
                    "model with a larger context (sidebar, Context), or let older turns be left out (Settings > "
                    "Context overflow).")
        else:
            label = "older turns left out"
            tip += f" Older turns will be left out of the model's context ({POLICY_LABELS[policy]})."
    elif share >= WARN_AT:
        label = f"context {share:.0%} full"
        tip += (" An answer stops when the context is full: start a new chat, or reload the model with a larger "
                "context (sidebar, Context)." if policy == "stop" else
                f" When it is full, older turns are left out ({POLICY_LABELS[policy]}).")
    else:
        tip += " An answer stops when the context is full." if policy == "stop" else ""
    return label, tip


class ContextGauge(QProgressBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedWidth(190)
        self.setMaximumHeight(18)
        self.setTextVisible(True)
        self.policy: OverflowPolicy = "stop"
        self._tokens, self._n_ctx, self._with_typed = -1, 0, -1
        self.hide()

    def show_usage(self, tokens: int, n_ctx: int) -> None:
        """The chat's own count (the typed message's is kept until the input is counted again)."""
        self._tokens, self._n_ctx = tokens, n_ctx
        self._show()

    def show_typed(self, with_typed: int) -> None:
        """The chat's tokens with the typed message as its next question (-1: nothing typed)."""
        self._with_typed = with_typed
        self._show()

    def set_policy(self, policy: OverflowPolicy) -> None:
        self.policy = policy
        self._show()

    def wont_fit(self) -> bool:
        """The typed message, as last counted, cannot be sent under the "stop" policy."""
        return self.policy == "stop" and self._n_ctx > 0 and self._with_typed >= self._n_ctx

    def _show(self) -> None:
        tokens, n_ctx = self._tokens, self._n_ctx
        if tokens < 0 or not n_ctx:
            self.hide()
            return
        label, tip = gauge_text(tokens, n_ctx, self._with_typed, self.policy)
        total = max(tokens, self._with_typed)
        self.setRange(0, n_ctx)
        self.setValue(min(total, n_ctx))
        self.setFormat(label)
        self.setToolTip(tip)
        # red when the next answer may be refused or cut short; under a policy that leaves turns out, a full
        # context is how a long chat goes on, not a fault
        warn = total / n_ctx >= WARN_AT and self.policy == "stop"
        if warn != self.property("warn"):  # a style sheet re-polishes the widget: not on every streamed batch
            self.setProperty("warn", warn)
            self.setStyleSheet("QProgressBar::chunk { background: #c0392b; }" if warn else "")
        self.show()
