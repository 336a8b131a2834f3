"""The window's handle on the engine process: requests go out as protocol commands, events come back as signals.

The engine (llama.cpp, the loaded models, the speculative loop, the benchmark) runs in a process of its own
(app/core/inference/engine_process): a native crash there costs the answer under way, never the window. This
QObject lives on the GUI thread; the client hands events over on its reader thread, and they are re-emitted here
through a queued connection, so every handler connected to these signals runs on the GUI thread.

Every generation carries a request id; token batches and the final stats carry it back, so the UI drops anything
from a request it no longer shows (AnswerSession). When the engine dies, every request it owed an answer fails
with the same sentence ("the engine crashed (SIGSEGV) while answering with X; log: PATH"), what it had loaded is
reported unloaded, a fresh engine is already starting, and the model that was loaded is no longer "known good"
(LoadGuard): it is not loaded again at the next start without the user asking.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, Signal

from app.core.inference.answer_stats import AnswerStats
from app.core.inference.engine_process import protocol as p
from app.core.inference.engine_process.client import EngineClient
from app.core.inference.load_guard import LoadGuard
from app.core.infra.logging_setup import log_file
from app.core.infra.paths import app_paths
from app.core.infra.requests import BenchRequest, GenerateRequest, LoadOptions

log = logging.getLogger("specchat.worker")


class EngineHost(QObject):
    """Starts the engine process and speaks for it; owned by the main window (or a test)."""

    loadProgress = Signal(str, float)  # role ("main" | "draft"), fraction 0..1
    modelLoaded = Signal(str, object)  # role, the ModelSummary (engine_process.server.model_summary)
    # role, message, a GPU layer count worth offering (-1: none), what the engine holds for that role now
    # (a ModelSummary, or None for nothing): unload-first switching means a failed load may leave nothing loaded
    loadFailed = Signal(str, str, int, object)
    modelUnloaded = Signal(str)  # role
    tokens = Signal(int, list)  # request id, [(text, from_draft), ...]
    liveStats = Signal(int, object)  # request id, protocol.LiveStats (speed, acceptance and tokens so far)
    promptProgress = Signal(int, int, int)  # request id, prompt tokens evaluated, of how many
    finished = Signal(int, object)  # request id, AnswerStats
    benchProgress = Signal(int, str, float)  # request id, line, fraction done
    benchFinished = Signal(int, object, str)  # request id, the BenchReport (None: it failed), why it failed
    measured = Signal(int, int)  # request id, the prompt's tokens (-1: it could not be counted)
    engineReady = Signal(str)  # a (new) engine process is up: its CPU and weight-buffer line
    # the engine died: the sentence for the user, and the main model it had loaded (a ModelSummary, or None: Retry
    # loads it again); a new engine is starting with nothing loaded
    engineCrashed = Signal(str, object)

    requestLoad = Signal(str, str, object)  # role, path, LoadOptions
    requestUnload = Signal(str)
    _event = Signal(object)  # from the client's reader thread to the GUI thread

    def __init__(self, parent: QObject | None = None, guard: LoadGuard | None = None,
                 env: dict[str, str] | None = None) -> None:
        """guard: the record of loads (marker before each, known-good files after). env: extra environment
        for the engine process (tests: SPECCHAT_TEST_HOOKS=1)."""
        super().__init__(parent)
        self.guard = guard
        self.loaded: dict[str, p.ModelSummary] = {}  # role -> model, as the signals said (GUI thread)
        self.cpu = ""  # the engine's CPU and weight-buffer line
        self.facts: dict[str, str] = {}  # the engine's llama.cpp build facts (Help > About)
        self._loading: dict[str, str] = {}  # role -> path of the load under way
        self._stopped = False
        self._event.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)
        self.requestLoad.connect(self.load)
        self.requestUnload.connect(self.unload)
        logs = log_file()  # the engine's log sits beside the app's (the data dir's logs/ without one)
        self.client = EngineClient(self._event.emit, logs.parent if logs else app_paths().logs, env)
        self.client.start()

    # ---- requests ---------------------------------------------------------------------------------------------
    def load(self, role: p.ModelRole, path: str, options: LoadOptions) -> None:
        if self.guard is not None:
            self.guard.begin(path, role)  # the whole app killed from here on is seen at the next start
        self._loading[role] = path
        self.client.send(p.Load(role, path, options))

    def unload(self, role: p.ModelRole) -> None:
        self.client.send(p.Unload(role))

    def generate(self, request: GenerateRequest) -> int:
        rid = self.client.next_id()  # ids shared with the local server's requests
        self.client.send(p.Generate(rid, request))
        return rid

    def bench(self, request: BenchRequest) -> int:
        rid = self.client.next_id()  # ids shared with the local server's requests
        self.client.send(p.Bench(rid, request))
        return rid

    def measure(self, request: GenerateRequest) -> int:
        rid = self.client.next_id()  # ids shared with the local server's requests
        self.client.send(p.Measure(rid, request))
        return rid

    def cancel(self, request_id: int) -> None:
        """Stop that generation or benchmark (a no-op if it already ended); the engine acts on it at once."""
        self.client.send(p.Cancel(request_id))

    def crash_for_test(self, how: str = "abort") -> None:
        """Test only (the engine ignores it unless started with SPECCHAT_TEST_HOOKS=1): a native crash now."""
        self.client.send(p.Crash(how))

    def stop(self, timeout_s: float = 10.0) -> None:
        """Cancel what runs, let the engine free its models and exit (killed past the timeout). Nothing the engine
        still sends is handed on after this: the window that asked is closing."""
        self._stopped = True
        self.client.close(timeout_s)

    # ---- events (GUI thread) -------------------------------------------------------------------------------------
    def _dispatch(self, ev: p.Event) -> None:
        if self._stopped:
            return
        if isinstance(ev, p.Tokens):
            self.tokens.emit(ev.request_id, ev.pieces)
            self.liveStats.emit(ev.request_id, ev.live)
        elif isinstance(ev, p.PromptProgress):
            self.promptProgress.emit(ev.request_id, ev.done, ev.total)
        elif isinstance(ev, p.Finished):
            self.finished.emit(ev.request_id, ev.stats)
        elif isinstance(ev, p.LoadProgress):
            self.loadProgress.emit(ev.role, ev.fraction)
        elif isinstance(ev, p.Loaded):
            path = self._loading.pop(ev.role, ev.summary.path)
            if self.guard is not None:
                self.guard.succeeded(path)
            self.loaded[ev.role] = ev.summary
            self.modelLoaded.emit(ev.role, ev.summary)
        elif isinstance(ev, p.LoadFailed):
            path = self._loading.pop(ev.role, "")
            if self.guard is not None and path:
                self.guard.failed(path)
            self._set_loaded(ev.role, ev.kept)
            self.loadFailed.emit(ev.role, ev.message, ev.retry_gpu_layers, ev.kept)
        elif isinstance(ev, p.Unloaded):
            self._set_loaded(ev.role, None)
            self.modelUnloaded.emit(ev.role)
        elif isinstance(ev, p.BenchProgress):
            self.benchProgress.emit(ev.request_id, ev.line, ev.fraction)
        elif isinstance(ev, p.BenchFinished):
            self.benchFinished.emit(ev.request_id, ev.report, ev.error)
        elif isinstance(ev, p.Measured):
            self.measured.emit(ev.request_id, ev.tokens)
        elif isinstance(ev, p.Ready):
            self.cpu, self.facts = ev.cpu, ev.facts
            log.info("engine %d ready: %s", ev.pid, ev.cpu)
            self.engineReady.emit(ev.cpu)
        elif isinstance(ev, p.Died):
            self._died(ev)

    def _set_loaded(self, role: str, summary: p.ModelSummary | None) -> None:
        if summary:
            self.loaded[role] = summary
        else:
            self.loaded.pop(role, None)
            if role == "main":
                self.loaded.pop("draft", None)

    def _died(self, ev: p.Died) -> None:
        """Every request the dead engine owed fails with the crash's sentence; what it held is gone."""
        log.error("%s", ev.message)
        if self.guard is not None:
            for model in ev.loaded.values():  # a model that crashed the engine is not loaded by itself again
                self.guard.failed(model.path)
        for cmd in ev.lost:
            if isinstance(cmd, p.Generate):
                self.finished.emit(cmd.request_id, AnswerStats(stop_reason="error", error=ev.message,
                                                               error_code="engine_crashed", crashed=True,
                                                               log=ev.log_path))
            elif isinstance(cmd, p.Load):
                self._loading.pop(cmd.role, None)
                if self.guard is not None:
                    self.guard.failed(cmd.path)
                self.loadFailed.emit(cmd.role, ev.message, -1, None)
            elif isinstance(cmd, p.Bench):
                self.benchFinished.emit(cmd.request_id, None, ev.message)
            elif isinstance(cmd, p.Measure):
                self.measured.emit(cmd.request_id, -1)
        for role in ("draft", "main"):
            if self.loaded.pop(role, None) is not None:
                self.modelUnloaded.emit(role)
        self.engineCrashed.emit(ev.message, ev.loaded.get("main"))
