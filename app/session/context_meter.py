"""How much of the model's context the open chat takes: counted by the engine's own chat template and tokenizer.

The count is what the next answer's prompt starts from (system prompt and every kept turn). It is asked again
when it can change: a chat opened, an answer ended, a model loaded, the system prompt edited. The engine thread
answers in order after any running generation; an answer to an older question is dropped here.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.core.chats.chat_store import ChatStore
from app.core.infra.requests import GenerateRequest
from app.session.answer_session import answer_history, chat_messages
from app.workers.engine_worker import EngineHost


class ContextMeter(QObject):
    changed = Signal(int, int)  # tokens the chat takes (-1: unknown), the context length (0: no model loaded)
    # the message being typed: (its text, the tokens the chat takes with it as the next question); counted off the
    # GUI thread, so the window debounces the asking
    inputMeasured = Signal(str, int)

    def __init__(self, host: EngineHost, store: ChatStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.host, self.store = host, store
        self._asked = 0
        self._n_ctx = 0
        self._input_asked = 0
        self._input_text = ""
        host.measured.connect(self._measured)

    def measure(self, chat_id: int | None, system_prompt: str, n_ctx: int) -> None:
        """Count the chat `chat_id` (None: a chat not created yet, only its system prompt) for a model of n_ctx."""
        self._n_ctx = n_ctx
        if not n_ctx:
            self._asked = 0
            self.changed.emit(-1, 0)
            return
        messages = self._messages(chat_id, system_prompt)
        if not messages:  # an empty chat takes nothing yet (and a template has nothing to render)
            self._asked = 0
            self.changed.emit(0, n_ctx)
            return
        self._asked = self.host.measure(GenerateRequest(messages=messages))

    def measure_input(self, chat_id: int | None, system_prompt: str, text: str, before: int | None = None) -> None:
        """Count the chat with `text` sent as its next question (inputMeasured answers; a newer ask wins).
        `before`: an edited question's position: the text replaces it and what follows it."""
        self._input_text = text
        messages = self._messages(chat_id, system_prompt, before) + ({"role": "user", "content": text},)
        self._input_asked = self.host.measure(GenerateRequest(messages=messages))

    def _messages(self, chat_id: int | None, system_prompt: str, before: int | None = None
                  ) -> tuple[dict[str, str], ...]:
        history = answer_history(self.store, chat_id) if chat_id is not None else []
        if before is not None:
            history = [m for m in history if m.position < before]
        return chat_messages(history, system_prompt)

    def _measured(self, request_id: int, tokens: int) -> None:
        if request_id == self._asked:
            self.changed.emit(tokens, self._n_ctx)
        elif request_id == self._input_asked:
            self.inputMeasured.emit(self._input_text, tokens)
