"""The answer being written: one generation at a time, streamed into the chat store and out to the view.

It owns what the window once kept in flags: the request id of the answer shown, its message row, the pieces
streamed so far (text, drafted-or-not), the answer being continued, the checkpoint clock. The window asks
(`start`, `stop`, `abandon`) and shows what the signals say; the store is written here and only here:
- a checkpoint every CHECKPOINT_S while streaming, so a crash keeps what was shown;
- at the end: done / error / interrupted with its figures (an interrupted answer gets none: no made-up
  "0.0 tok/s"); an answer stopped before its first token is deleted (nothing to keep); a continuation that
  added nothing leaves the answer exactly as it was.
Late token batches of an answer no longer shown (switched chat, regenerate, Stop then a new question) are
dropped here by request id, in one place.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.core.chats.chat_store import ChatStore, Message, MessageState, pieces_from_spans, spans_from_flags
from app.core.chats.sent_turns import sent_turn
from app.core.inference.answer_stats import AnswerStats
from app.core.inference.engine_process.protocol import LiveStats
from app.core.inference.speculation_status import live_text
from app.core.models.reasoning import Reasoning, ReasoningFormat
from app.core.infra.requests import GenerateRequest
from app.workers.engine_worker import EngineHost

log = logging.getLogger("specchat.session")

CHECKPOINT_S = 0.5  # a streaming answer is saved this often, so a crash keeps what was shown


def answer_history(store: ChatStore, chat_id: int, continuing: Message | None = None) -> list[Message]:
    """The turns an answer is written from: failed answers and empty ones (an older version kept answers stopped
    before any text) are not turns, nor is the answer being continued (it is the prompt's end instead)."""
    return [m for m in store.messages(chat_id)
            if m.state != "error" and (m.content or m.role == "user")
            and (continuing is None or m.id != continuing.id)]


def chat_messages(history: list[Message], system_prompt: str) -> tuple[dict[str, str], ...]:
    """The chat as the engine's chat template takes it: the system prompt, then the turns."""
    return tuple(([{"role": "system", "content": system_prompt}] if system_prompt else []) +
                 [sent_turn(m) for m in history])


class AnswerSession(QObject):
    started = Signal(list)  # the history shown above the answer ([Message]); then streaming begins
    streaming = Signal(list)  # pieces to append: [(text, from_draft)] (a continued answer's old text first)
    live = Signal(str)  # the status bar's live figures ("" when no answer runs)
    contextUsed = Signal(int)  # tokens of the context the streaming answer holds: its prompt and what it wrote
    ended = Signal(object, str)  # the answer as saved (Message), or None when none was kept; a status message
    finished = Signal(object)  # the engine's AnswerStats of the answer that was shown (after `ended`)
    busyChanged = Signal(bool)
    promptProgress = Signal(int, int)  # prompt tokens evaluated, of how many (a long prompt, before any text)
    # a question that could not fit the context (the "stop" overflow policy) was taken back out of the chat: its
    # text and its attached files ([Attachment]), for the input and its chips (nothing the user gave is lost)
    questionReturned = Signal(str, list)

    def __init__(self, host: EngineHost, store: ChatStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.host, self.store = host, store
        self.request_id = 0  # the generation shown now (0: none)
        self.answer: Message | None = None
        self.continuing: Message | None = None  # the answer as it was before "Continue" (kept if nothing comes)
        self.continued_from = 0  # pieces it had
        self.pieces: list[tuple[str, bool]] = []
        self.label = ""  # what the answer runs with (speculation_label), for its status and footer
        self.draft_name = ""
        self._last_checkpoint = 0.0
        self._stopped_before_text = False  # Stop came before any new text was shown: late text is not kept
        self._sent: list[int] = []  # the chat positions of the request's messages, after its system prompt
        self._n_system = 0  # 1 when the request began with a system prompt
        self.question: Message | None = None  # the question just sent for this answer (taken back if it can't fit)
        self.reasoning: ReasoningFormat | None = None  # the markers the streaming answer is read with
        host.tokens.connect(self._tokens)
        host.promptProgress.connect(self._prompt_progress)
        host.liveStats.connect(self._live_stats)
        host.finished.connect(self._finished)

    @property
    def busy(self) -> bool:
        return bool(self.request_id)

    def start(self, chat_id: int, request: GenerateRequest, system_prompt: str, label: str, draft_name: str,
              continuing: Message | None = None, question: Message | None = None,
              reasoning: ReasoningFormat | None = None) -> None:
        """A new answer to the chat's last question; or, with `continuing` (the chat's last message, an answer cut
        short), more of that answer: it is the prompt's end and grows in place. `question`: the chat's last
        message when the user just sent it: if the chat cannot take it (the context is too small and the overflow
        policy is "stop"), it is taken out again and handed back (questionReturned). `reasoning`: the loaded
        model's markers (a continued answer keeps the ones it was written with)."""
        self.abandon()
        history = answer_history(self.store, chat_id, continuing)
        request = replace(request, messages=chat_messages(history, system_prompt))
        self._sent, self._n_system = [m.position for m in history], 1 if system_prompt else 0
        self.question = question if continuing is None else None
        self.label, self.draft_name, self.continuing = label, draft_name, continuing
        if continuing is not None:  # read with the markers it was written with (none: an ordinary answer)
            reasoning = continuing.reasoning.format if continuing.reasoning is not None else None
            request = replace(request, read_reasoning=reasoning is not None)
        self.reasoning = reasoning
        if continuing is None:
            self.answer = self.store.start_answer(chat_id)
            self.pieces = []
            if reasoning is not None:  # stored from the start: a crash mid-thought still reads as one
                self.store.save_answer(self.answer.id, "", [], reasoning=Reasoning(reasoning))
                self.answer = replace(self.answer, reasoning=Reasoning(reasoning))
        else:
            request = replace(request, answer_prefix=continuing.content)
            self.answer = continuing
            self.pieces = pieces_from_spans(continuing.content, continuing.highlights)
            self.store.save_answer(continuing.id, continuing.content, continuing.highlights, state="streaming")
        self.continued_from = len(self.pieces)
        self._stopped_before_text = False
        self._last_checkpoint = time.monotonic()
        self.started.emit(history)
        self.streaming.emit(list(self.pieces))
        self.request_id = self.host.generate(request)
        self.busyChanged.emit(True)

    def stop(self) -> None:
        """Stop the answer; what it has is kept when the engine says it ended. A Stop before any new text was shown
        keeps nothing: the tokens the engine wrote while the cancel was on its way were never seen, so they are
        dropped rather than saved as an answer the user stopped before it began (what was on screen decides)."""
        if self.request_id:
            if len(self.pieces) == self.continued_from:
                self._stopped_before_text = True
            self.host.cancel(self.request_id)

    def abandon(self) -> None:
        """Leave the streaming answer now (chat switched, regenerated, window closed): cancel it and keep what was
        shown as interrupted; its late batches are dropped by request id."""
        if self.request_id:
            self.stop()
            self._close("interrupted", None)

    # ---- the engine's events --------------------------------------------------------------------------------
    def _tokens(self, request_id: int, batch: list) -> None:
        if request_id != self.request_id or self.answer is None or self._stopped_before_text:
            return  # a stream no longer shown, or stopped before it showed anything
        self.pieces.extend(batch)
        self.streaming.emit(batch)
        if time.monotonic() - self._last_checkpoint > CHECKPOINT_S:
            self._last_checkpoint = time.monotonic()
            self.store.save_answer(self.answer.id, "".join(t for t, _ in self.pieces), spans_from_flags(self.pieces))

    def _prompt_progress(self, request_id: int, done: int, total: int) -> None:
        if request_id == self.request_id and len(self.pieces) == self.continued_from:
            self.promptProgress.emit(done, total)

    def _live_stats(self, request_id: int, live: LiveStats) -> None:
        if request_id == self.request_id:
            self.live.emit(live_text(live, self.label))  # what runs, not what the mode asks for
            self.contextUsed.emit(live.prompt_tokens + live.generated_tokens)

    def _finished(self, request_id: int, stats: AnswerStats) -> None:
        if request_id != self.request_id:
            return
        self._close("error" if stats.stop_reason == "error" else "done", stats)
        self.finished.emit(stats)

    def _left_out(self, dropped: tuple[int, int]) -> tuple[int, int]:
        """The chat positions [first, last + 1) of the request's messages [start, end) the engine left out."""
        start, end = dropped[0] - self._n_system, dropped[1] - self._n_system
        if not 0 <= start < end <= len(self._sent):
            return (0, 0)
        return (self._sent[start], self._sent[end - 1] + 1)

    def _reasoning(self, stats: AnswerStats | None) -> Reasoning | None:
        """The answer's reasoning record as it ended: its format, and how long it thought when the block closed in
        this generation (a continuation that closed none keeps the time it had)."""
        if self.reasoning is None or self.answer is None:
            return None
        had = self.answer.reasoning
        if stats is not None and stats.reasoning_s > 0:
            return Reasoning(self.reasoning, stats.reasoning_s)
        return had if had is not None else Reasoning(self.reasoning)

    def _close(self, state: MessageState, stats: AnswerStats | None) -> None:
        """Write the answer as it stands (done, interrupted or error) and say how it stays."""
        kept: Message | None = None
        note = ""
        if self.answer is not None:
            content = "".join(t for t, _ in self.pieces)
            spans = spans_from_flags(self.pieces)
            stopped = (state == "interrupted" or (stats is not None and stats.stop_reason == "cancelled")
                       or self._stopped_before_text)
            if self.continuing is not None and len(self.pieces) == self.continued_from:
                kept = self.continuing  # continued, then nothing new (stopped, or failed): it stays as it was
                self.store.save_answer(kept.id, kept.content, kept.highlights, kept.stats, state=kept.state)
                if stats is not None and stats.error:
                    note = f"Could not continue: {stats.error}"
            elif not content and stopped:  # stopped before its first token: no answer to keep, no figures
                self.store.delete_message(self.answer.id)
                self.store.versions.drop_empty(self.answer.chat_id, self.answer.position)  # a regenerate's: the
                note = "Stopped before any text: no answer was kept (Ctrl+R asks again)."  # old answer is back
            elif not content and stats is not None and stats.stop_reason == "context" and self.question is not None:
                # the question just sent cannot fit: it goes back to the input, the chat stays as it was before
                self.store.delete_message(self.answer.id)
                self.store.delete_message(self.question.id)
                self.store.versions.drop_empty(self.question.chat_id, self.question.position)  # an edit's: undone
                note = (f"Not sent: {stats.error}. Your message is back in the input; Settings > Context overflow "
                        "can leave the oldest turns out instead.")
                self.questionReturned.emit(self.question.content, list(self.question.attachments))
            else:
                saved: dict[str, Any] = {}  # an interrupted answer has no figures: none are made up, saved or shown
                if stats is not None:
                    drafted = bool(stats.drafted)
                    saved = replace(stats, speculation=self.label if drafted else "",
                                    draft_name=self.draft_name if drafted else "",
                                    continued=self.continuing is not None,  # a continuation's own figures
                                    left_out=self._left_out(stats.dropped)).to_json()
                if self.continuing is not None and state == "error":
                    state = "interrupted"  # the text before the failure is a good answer, still a turn of the chat
                thought = self._reasoning(stats)
                self.store.save_answer(self.answer.id, content, spans, saved, state=state, reasoning=thought)
                kept = replace(self.answer, content=content, highlights=spans, stats=saved, state=state,
                               reasoning=thought or self.answer.reasoning)
        self.answer = self.continuing = self.question = None
        self.request_id = 0
        self.live.emit("")
        self.ended.emit(kept, note)
        self.busyChanged.emit(False)
