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
        self._asked: dict[int, int] = {}  # a file's request id -> the caller's key
        self._answers: dict[int, int] = {}  # a file's request id -> its prompt's tokens, until the empty one is in
        # the empty question's prompt: the same for every file of a model, so counted once per model (reset)
        self._empty: int | None = None
        self._empty_asked = 0
        host.measured.connect(self._measured)

    def reset(self) -> None:
        """Another model is loaded (or none): the empty question is counted again with the next file."""
        self._empty, self._empty_asked = None, 0

    def count(self, key: int, attachment: Attachment) -> None:
        """Ask for the file's tokens; `counted(key, n)` answers. A newer ask for the same key wins."""
        self.forget(key)
        if self._empty is None and not self._empty_asked:
            self._empty_asked = self.host.measure(_question(""))
        self._asked[self.host.measure(_question(question_with_files("", [attachment])))] = key

    def forget(self, key: int) -> None:
        """The chip is gone: its count, when it comes, is dropped."""
        for rid, k in list(self._asked.items()):
            if k == key:
                del self._asked[rid]
                self._answers.pop(rid, None)

    def _measured(self, request_id: int, tokens: int) -> None:
        if request_id == self._empty_asked:
            self._empty, self._empty_asked = tokens, 0
        elif request_id in self._asked:
            self._answers[request_id] = tokens
        else:
            return  # the context meter's, or a forgotten chip's
        if self._empty is None:
            return
        for rid, with_file in list(self._answers.items()):
            key = self._asked.pop(rid)
            del self._answers[rid]
            n = with_file - self._empty if with_file >= 0 and self._empty >= 0 else -1
            log.debug("attachment %d counted: %d tokens", key, n)
            self.counted.emit(key, max(n, 1) if n >= 0 else -1)
