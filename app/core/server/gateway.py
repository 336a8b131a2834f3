"""The local server's way into the engine process it shares with the window, and its request log.

The engine runs one command at a time, in the order they arrive (engine_process/server.py): a server request
sent while the window answers waits until that answer ends, and the other way round, so no tokens ever mix and
nothing needs a second copy of the model. Each server request gets a request id from the same counter as the
window's and its events are routed to it (EngineClient.send(route=...)) on the client's reader thread.

Stop and disconnect: a client that goes away cancels its own request (the engine stops it within a round); the
window's Stop stops the window's answer only; the server window's "Stop request" stops the request it shows.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from app.core.inference.answer_stats import AnswerStats
from app.core.inference.engine_process import protocol as p
from app.core.inference.engine_process.client import EngineClient
from app.core.infra.requests import GenerateRequest
from app.core.server.openai_api import Defaults, ServedModels, model_ids

log = logging.getLogger("specchat.server")

LOG_KEPT = 200  # request-log entries kept for the window


RequestState = Literal["queued", "running", "done", "error", "cancelled", "disconnected"]


@dataclass
class RequestRecord:
    """One line of the request log. Mutated on the server's threads; copies go to listeners."""
    number: int
    client: str
    endpoint: str
    model: str
    stream: bool
    speculation: str
    started: float = field(default_factory=time.time)
    state: RequestState = "queued"
    status: int = 0  # the HTTP status once known
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_per_second: float = 0.0
    drafted: int = 0
    accepted: int = 0
    prediction_accepted: int = 0
    prediction_rejected: int = 0
    error: str = ""
    request_id: int = 0  # the engine's


class EngineGateway:
    def __init__(self, client: EngineClient, defaults: Defaults = Defaults(),
                 on_record: Callable[[RequestRecord], None] | None = None) -> None:
        """on_record: called (on any thread) with a copy of a log line each time it changes."""
        self.client = client
        self.defaults = defaults  # replaced whole when the window's settings change (a frozen dataclass)
        self.on_record = on_record
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self.records: list[RequestRecord] = []

    # ---- what is served -------------------------------------------------------------------------------------
    def served(self) -> ServedModels:
        loaded = dict(self.client.loaded)
        main, draft = loaded.get("main"), loaded.get("draft")
        main_id, main_names = model_ids(main) if main else ("", frozenset())
        draft_id, draft_names = model_ids(draft) if draft else ("", frozenset())
        return ServedModels(main_id, main_names, draft_id, draft_names, main.n_ctx if main else 0)

    # ---- requests -------------------------------------------------------------------------------------------
    def open_record(self, client: str, endpoint: str, model: str, stream: bool, speculation: str) -> RequestRecord:
        record = RequestRecord(next(self._numbers), client, endpoint, model, stream, speculation)
        with self._lock:
            self.records.append(record)
            del self.records[:-LOG_KEPT]
        self._publish(record)
        return record

    def submit(self, request: GenerateRequest, record: RequestRecord, on_event: Callable[[p.Event], object]) -> int:
        """Send one generation to the engine; its events go to on_event (on the client's reader thread)."""
        rid = self.client.next_id()
        self.update(record, request_id=rid)
        self.client.send(p.Generate(rid, request), route=on_event)
        log.info("request %d (%s) queued as engine request %d", record.number, record.endpoint, rid)
        return rid

    def cancel(self, request_id: int) -> None:
        if request_id:
            self.client.send(p.Cancel(request_id))

    def cancel_running(self) -> bool:
        """The server window's Stop: the request being answered (or the oldest waiting one) stops."""
        with self._lock:
            live = [r for r in self.records if r.state in ("running", "queued") and r.request_id]
        live.sort(key=lambda r: (r.state != "running", r.number))
        if not live:
            return False
        self.cancel(live[0].request_id)
        return True

    def update(self, record: RequestRecord, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(record, key, value)
        self._publish(record)

    def finish(self, record: RequestRecord, state: RequestState, status: int, stats: AnswerStats | None = None,
               error: str = "") -> None:
        """The request's last log line; without measured figures (none yet, a crash) it keeps the live ones."""
        if stats is None or stats.crashed:
            self.update(record, state=state, status=status, error=error)
        else:
            kept = stats.prediction_accepted
            self.update(record, state=state, status=status, error=error, prompt_tokens=stats.prompt_tokens,
                        completion_tokens=stats.generated_tokens, tokens_per_second=stats.tokens_per_second,
                        drafted=stats.drafted, accepted=stats.accepted, prediction_accepted=kept,
                        prediction_rejected=stats.prediction_drafted - kept)
        log.info("request %d: %s %d (%s tokens, %.1f tok/s)%s", record.number, state, status,
                 record.completion_tokens, record.tokens_per_second, f": {error}" if error else "")

    def _publish(self, record: RequestRecord) -> None:
        if self.on_record is not None:
            with self._lock:
                copy = replace(record)
            self.on_record(copy)
