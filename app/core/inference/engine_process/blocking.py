"""An engine process driven without an event loop: start it, load models and wait for each, then use its client.

The window has EngineHost (Qt signals); headless users (`serve`) need the same engine process with plain calls.
Events that no request route takes (Ready, load progress, Died) arrive here; `on_died` hears a crash.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from pathlib import Path

from app.core.inference.engine_process import protocol as p
from app.core.inference.engine_process.client import EngineClient
from app.core.infra.requests import LoadOptions

log = logging.getLogger("specchat.engine_process")


class EngineStartError(Exception):
    """The engine process did not come up, or a model did not load (the engine's own sentence)."""


class BlockingEngine:
    def __init__(self, log_dir: Path | None, on_died: Callable[[p.Died], None] | None = None,
                 timeout_s: float = 120.0) -> None:
        self._events: queue.Queue[p.Event] = queue.Queue()
        self.on_died = on_died
        self.client = EngineClient(self._on_event, log_dir)
        self.client.start()
        self.ready = self._wait(lambda e: isinstance(e, p.Ready), timeout_s)

    def _on_event(self, ev: p.Event) -> None:
        if isinstance(ev, p.Died) and self.on_died is not None:
            self.on_died(ev)
        self._events.put(ev)

    def _wait(self, match: Callable[[p.Event], bool], timeout_s: float) -> p.Event:
        while True:
            try:
                ev = self._events.get(timeout=timeout_s)
            except queue.Empty:
                raise EngineStartError(f"the engine process did not answer within {timeout_s:.0f} s "
                                       f"(log: {self.client.log_path})") from None
            if match(ev):
                return ev
            if isinstance(ev, p.Died):
                raise EngineStartError(ev.message)

    def load(self, role: p.ModelRole, path: Path | str, options: LoadOptions,
             progress: Callable[[float], None] | None = None, timeout_s: float = 3600.0) -> p.ModelSummary:
        """Load one model and wait: its summary, or EngineStartError with the engine's reason."""
        self.client.send(p.Load(role, str(path), options))
        while True:
            ev = self._wait(lambda e: isinstance(e, (p.LoadProgress, p.Loaded, p.LoadFailed)), timeout_s)
            if isinstance(ev, p.LoadProgress) and ev.role == role and progress is not None:
                progress(ev.fraction)
            elif isinstance(ev, p.Loaded) and ev.role == role:
                return ev.summary
            elif isinstance(ev, p.LoadFailed) and ev.role == role:
                raise EngineStartError(ev.message)

    def close(self) -> None:
        self.client.close()
