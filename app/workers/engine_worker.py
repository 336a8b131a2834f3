"""The one long-lived engine thread: it owns the loaded models and runs loads and generations off the GUI thread.

Requests arrive as queued signals (so they run on the engine thread, in order); `cancel()` is the exception: it
is called directly from the GUI thread and only sets a threading.Event that the token loop checks between
rounds, so Stop takes effect while a generation is running (GPT4All's chatllm keeps an atomic stop flag the
same way). Every generation carries a request id; token batches and the final stats carry it back, so the UI
drops anything from a request it no longer shows.

Token events are batched here (at most one signal per BATCH_S) so a 1 000 tok/s stream does not flood the GUI
event queue with 1 000 queued calls per second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.core.inference.bench import BenchCancelled, run_bench
from app.core.inference.engine import Engine
from app.core.inference.llama_runtime import ModelLoadError
from app.core.inference.load_guard import LoadGuard
from app.core.inference.load_probe import probe_model
from app.core.inference.speculative import GenerationStats
from app.core.infra.requests import BenchRequest, GenerateRequest, LoadOptions

log = logging.getLogger("specchat.worker")

BATCH_S = 0.016  # one token batch per frame at most


def model_summary(engine: Engine, role: str) -> dict[str, Any]:
    m = engine.main if role == "main" else engine.draft
    if m is None:
        return {}
    i = m.info
    return {"path": m.path, "name": i.display_name, "size_label": i.size_label, "quantization": i.file_type,
            "offloaded_layers": m.offloaded_layers, "n_layers": m.n_layer + 1, "backend": m.backend,
            "n_ctx": m.n_ctx, "devices": m.layout, "chat_format": engine.chat_format().source if role == "main" else ""}


class EngineWorker(QObject):
    loadProgress = Signal(str, float)  # role ("main" | "draft"), fraction 0..1
    modelLoaded = Signal(str, dict)  # role, model_summary()
    # role, message, a GPU layer count worth offering (-1: none), what the engine holds for that role now
    # (model_summary(), {} for nothing): unload-first switching means a failed load may leave nothing loaded
    loadFailed = Signal(str, str, int, dict)
    modelUnloaded = Signal(str)  # role
    tokens = Signal(int, list)  # request id, [(text, from_draft), ...]
    # request id, {"tokens_per_second", "acceptance_rate", "generated_tokens", "prompt_tokens"}
    liveStats = Signal(int, dict)
    finished = Signal(int, dict)  # request id, stats (GenerationStats.to_json() + stop_reason, error)
    benchProgress = Signal(int, str, float)  # request id, line, fraction done
    benchFinished = Signal(int, dict)  # request id, app.core.inference.bench report, or {"error": ...}
    measured = Signal(int, int)  # request id, the prompt's tokens (-1: it could not be counted)

    def __init__(self, guard: LoadGuard | None = None) -> None:
        """guard: the record of loads (marker before each, known-good files after); with one, a file that never
        loaded here is probed in a child process first, so an abort in llama.cpp costs a message, not the app."""
        super().__init__()
        self.engine = Engine()
        self.guard = guard
        self._cancels: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self._load_cancel = threading.Event()  # the running load (cleared when the next one starts)
        self._closing = threading.Event()  # set once by shutdown: every load still queued is cancelled too

    # ---- called from the GUI thread ---------------------------------------------------------------------------
    def cancel(self, request_id: int) -> None:
        """Thread-safe: stop that generation (a no-op if it already ended)."""
        with self._lock:
            event = self._cancels.setdefault(request_id, threading.Event())
        event.set()

    def cancel_load(self) -> None:
        self._load_cancel.set()

    def begin_shutdown(self) -> None:
        """Thread-safe: cancel the running load and every queued one (a load's start clears only its own flag,
        so a shutdown's cancel cannot be wiped by the next queued load)."""
        self._closing.set()
        self._load_cancel.set()

    @contextmanager
    def _cancel_event(self, request_id: int) -> Iterator[threading.Event]:
        """The request's cancel flag (set already if cancel() came first), forgotten when the request ends."""
        with self._lock:
            event = self._cancels.setdefault(request_id, threading.Event())
            for old in [rid for rid in self._cancels if rid < request_id]:
                del self._cancels[old]  # cancels that arrived after their request had ended
        try:
            yield event
        finally:
            with self._lock:
                self._cancels.pop(request_id, None)

    # ---- slots, run on the engine thread ----------------------------------------------------------------------
    @Slot(str, str, object)
    def load(self, role: str, path: str, opts: LoadOptions) -> None:
        if self._closing.is_set():
            self.loadFailed.emit(role, "loading cancelled: the app is closing", -1, model_summary(self.engine, role))
            return
        self._load_cancel.clear()

        def progress(fraction: float) -> bool:
            self.loadProgress.emit(role, fraction)
            return not (self._load_cancel.is_set() or self._closing.is_set())

        guard = self.guard
        try:
            if guard is not None:
                guard.begin(path, role)  # a crash from here on is seen at the next start
                if not guard.has_loaded(path):
                    probe = probe_model(path)
                    if probe.crashed:
                        guard.failed(path)
                        self.loadFailed.emit(role, probe.message, -1, model_summary(self.engine, role))
                        return
            if role == "main":
                self.engine.load_main(path, opts, progress)
            else:
                self.engine.load_draft(path, opts, progress)
            summary = model_summary(self.engine, role)  # inside the try: its chat format renders a template
        except ModelLoadError as e:
            log.warning("loading %s failed: %s", path, e)
            self._failed(role, path, str(e), -1 if e.retry_gpu_layers is None else e.retry_gpu_layers)
            return
        except Exception as e:  # noqa: BLE001 - the UI must hear "loaded" or "load failed", never nothing
            log.exception("loading %s failed", path)
            self._failed(role, path, f"loading failed: {type(e).__name__}: {e}", -1)
            return
        if guard is not None:
            guard.succeeded(path)
        self.modelLoaded.emit(role, summary)

    def _failed(self, role: str, path: str, message: str, retry_layers: int) -> None:
        if self.guard is not None:
            self.guard.failed(path)
        self.loadFailed.emit(role, message, retry_layers, model_summary(self.engine, role))

    @Slot(str)
    def unload(self, role: str) -> None:
        if role == "main":
            self.engine.unload_main()
        else:
            self.engine.unload_draft()
        self.modelUnloaded.emit(role)

    @Slot(int, object)
    def generate(self, request_id: int, request: GenerateRequest) -> None:
        stats = GenerationStats()
        try:
            with self._cancel_event(request_id) as cancel:
                if cancel.is_set():  # stopped before it started
                    stats.stop_reason = "cancelled"
                    return
                self._stream(request_id, request, stats, cancel)
        except (ModelLoadError, ValueError, TypeError) as e:  # no model, bad settings, a template that failed
            stats.stop_reason, stats.error = "error", str(e)
        except Exception as e:  # the thread must survive anything one request does
            log.exception("generation failed")
            stats.stop_reason, stats.error = "error", f"{type(e).__name__}: {e}"
        finally:
            lost = self.engine.main.rpc_lost() if self.engine.main is not None else None
            self.finished.emit(request_id, {**stats.to_json(), "stop_reason": stats.stop_reason,
                                            "error": stats.error, "elapsed_s": round(stats.elapsed_s, 4),
                                            "rpc_lost": lost[0] if lost else ""})

    def _stream(self, request_id: int, request: GenerateRequest, stats: GenerationStats,
                cancel: threading.Event) -> None:
        """Run one generation, emitting its events in batches of at most BATCH_S."""
        events = self.engine.answer(request, stats, cancel)
        batch: list[tuple[str, bool]] = []
        last_emit = time.perf_counter()
        for ev in events:
            batch.append((ev.text, ev.from_draft))
            now = time.perf_counter()
            if now - last_emit >= BATCH_S:
                self._flush(request_id, batch, stats)
                batch = []
                last_emit = now
        if batch:
            self._flush(request_id, batch, stats)

    def _flush(self, request_id: int, batch: list[tuple[str, bool]], stats: GenerationStats) -> None:
        self.tokens.emit(request_id, batch)
        self.liveStats.emit(request_id, {"generated_tokens": stats.generated_tokens,
                                         "prompt_tokens": stats.prompt_tokens,
                                         "acceptance_rate": stats.acceptance_rate,
                                         "tokens_per_second": stats.tokens_per_second_now()})

    @Slot(int, object)
    def measure(self, request_id: int, request: GenerateRequest) -> None:
        """How many tokens the request's prompt takes (the context gauge): the chat template renders it."""
        try:
            n = len(self.engine.prompt(request)[0])
        except (ModelLoadError, ValueError, TypeError) as e:  # no model, or a template that fails on this chat
            log.info("the prompt could not be counted: %s", e)
            n = -1
        self.measured.emit(request_id, n)

    @Slot(int, object)
    def bench(self, request_id: int, request: BenchRequest) -> None:
        try:
            with self._cancel_event(request_id) as cancel:
                prompt, _ = self.engine.prompt(request.prompt)
                report = run_bench(self.engine, prompt, request.prompt.speculation, list(request.draft_tokens),
                                   request.prompt.max_tokens, request.rounds,
                                   progress=lambda line, f: self.benchProgress.emit(request_id, line, f),
                                   cancel=cancel, sampling=request.prompt.sampling)
        except (BenchCancelled, ModelLoadError, ValueError, TypeError, RuntimeError) as e:
            report = {"error": str(e)}
        self.benchFinished.emit(request_id, report)

    @Slot()
    def shutdown(self) -> None:
        self.engine.close()


class EngineHost(QObject):
    """Starts the engine thread and forwards requests to it as queued signals; owned by the main window.

    The worker's signals are re-emitted by this object, which lives on the GUI thread: connect to these, and
    every handler runs on the GUI thread (a Python callable connected to the worker itself would run on the
    engine thread).
    """

    loadProgress = Signal(str, float)
    modelLoaded = Signal(str, dict)
    loadFailed = Signal(str, str, int, dict)
    modelUnloaded = Signal(str)
    tokens = Signal(int, list)
    liveStats = Signal(int, dict)
    finished = Signal(int, dict)
    benchProgress = Signal(int, str, float)
    benchFinished = Signal(int, dict)
    measured = Signal(int, int)

    requestLoad = Signal(str, str, object)  # role, path, LoadOptions
    requestBench = Signal(int, object)  # request id, BenchRequest
    requestMeasure = Signal(int, object)  # request id, GenerateRequest
    requestUnload = Signal(str)
    requestGenerate = Signal(int, object)  # request id, GenerateRequest
    requestShutdown = Signal()

    def __init__(self, parent: QObject | None = None, guard: LoadGuard | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("specchat-engine")
        self.worker = EngineWorker(guard)
        self.worker.moveToThread(self.thread)
        self.requestLoad.connect(self.worker.load)
        self.requestUnload.connect(self.worker.unload)
        self.requestGenerate.connect(self.worker.generate)
        self.requestShutdown.connect(self.worker.shutdown)
        self.requestBench.connect(self.worker.bench)
        self.requestMeasure.connect(self.worker.measure)
        for name in ("loadProgress", "modelLoaded", "loadFailed", "modelUnloaded", "tokens", "liveStats",
                     "finished", "benchProgress", "benchFinished", "measured"):
            getattr(self.worker, name).connect(getattr(self, name))  # queued: the host lives on the GUI thread
        self.thread.start()
        self._next_id = 0

    def generate(self, request: GenerateRequest) -> int:
        self._next_id += 1
        self.requestGenerate.emit(self._next_id, request)
        return self._next_id

    def bench(self, request: BenchRequest) -> int:
        self._next_id += 1
        self.requestBench.emit(self._next_id, request)
        return self._next_id

    def measure(self, request: GenerateRequest) -> int:
        self._next_id += 1
        self.requestMeasure.emit(self._next_id, request)
        return self._next_id

    def cancel(self, request_id: int) -> None:
        self.worker.cancel(request_id)

    def stop(self, timeout_ms: int = 10_000) -> None:
        """Cancel what runs, free the models on their own thread, and end the thread."""
        for rid in range(1, self._next_id + 1):
            self.worker.cancel(rid)
        self.worker.begin_shutdown()
        self.requestShutdown.emit()
        self.thread.quit()
        if not self.thread.wait(timeout_ms):
            log.error("the engine thread did not end within %d ms", timeout_ms)
            return
        # quit() can end the loop before the queued shutdown ran: with the thread gone, free the models here
        self.worker.engine.close()
