"""Each attached file's own size in the loaded model's tokens, for its chip, counted by the engine.

The engine counts prompts, not strings (one code path: the Measure request the context gauge uses): a file's
tokens are the prompt of one question holding only that file, as it is sent (fenced under its name), less the
prompt of an empty question. The template's own tokens cancel out, the file's header and fence stay: what the
file adds to any question it goes with.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from app.core.chats.attachments import Attachment
from app.core.chats.sent_turns import question_with_files
from app.core.infra.requests import GenerateRequest
from app.workers.engine_worker import EngineHost

log = logging.getLogger("specchat.session")


def _question(content: str) -> GenerateRequest:
    return GenerateRequest(messages=({"role": "user", "content": content},))


class AttachmentCounter(QObject):
    counted = Signal(int, int)  # the caller's key for the file, its tokens (-1: could not be counted: no model)

    def __init__(self, host: EngineHost, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self._asked: dict[int, tuple[int, int]] = {}  # file's request id -> (key, the empty question's request id)
        self._answers: dict[int, int] = {}  # request id -> tokens, until both of a pair are in
        host.measured.connect(self._measured)

    def count(self, key: int, attachment: Attachment) -> None:
        """Ask for the file's tokens; `counted(key, n)` answers. A newer ask for the same key wins."""
        self.forget(key)
        empty = self.host.measure(_question(""))
        rid = self.host.measure(_question(question_with_files("", [attachment])))
        self._asked[rid] = (key, empty)

    def forget(self, key: int) -> None:
        """The chip is gone: its count, when it comes, is dropped."""
        for rid, (k, empty) in list(self._asked.items()):
            if k == key:
                del self._asked[rid]
                self._answers.pop(rid, None)
                self._answers.pop(empty, None)

    def _measured(self, request_id: int, tokens: int) -> None:
        if request_id not in self._answers and not self._expects(request_id):
            return  # the context meter's, or a forgotten chip's
        self._answers[request_id] = tokens
        for rid, (key, empty) in list(self._asked.items()):
            if rid in self._answers and empty in self._answers:
                with_file, without = self._answers.pop(rid), self._answers.pop(empty)
                del self._asked[rid]
                n = with_file - without if with_file >= 0 and without >= 0 else -1
                log.debug("attachment %d counted: %d tokens", key, n)
                self.counted.emit(key, max(n, 1) if n >= 0 else -1)

    def _expects(self, request_id: int) -> bool:
        return any(request_id in (rid, empty) for rid, (_key, empty) in self._asked.items())
