"""The engine process: it owns llama.cpp, the loaded models, the speculative loop and the benchmark.

Started by EngineClient (client.py) as `python -m app.core.inference.engine_process.server --fd N` (a bundle:
`SpecChat --engine-host --fd N`), it talks over the inherited socket in protocol.py's messages. A native crash
in llama.cpp ends this process only: the app sees the socket close, reports it and starts a fresh engine.

Two threads: a reader that takes every command as it arrives (Cancel and CancelLoad act at once, so Stop reaches
a running generation within a round; the test-only Crash too), and the engine thread (this process's main
thread), which runs the rest in order. stderr is the engine's log file (client.py opens it), so llama.cpp's own
messages, an assert's text and faulthandler's stacks of a crash land there; Python logging goes to the same file.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections import OrderedDict
from multiprocessing.connection import Connection
from typing import Any

from app.core.inference.engine_process import protocol as p

log = logging.getLogger("specchat.engine_process")

TEST_HOOKS_ENV = "SPECCHAT_TEST_HOOKS"
DONE_KEPT = 4096  # ended request ids remembered, so a Cancel that arrives after its request ended is dropped


def model_summary(engine: Any, role: str) -> p.ModelSummary | None:
    m = engine.main if role == "main" else engine.draft
    if m is None:
        return None
    i = m.info
    return p.ModelSummary(m.path, i.display_name, i.size_label, i.file_type, m.offloaded_layers, m.n_layer + 1,
                         m.backend, m.n_ctx, list(m.layout), engine.chat_format().source if role == "main" else "",
                         engine.reasoning_format() if role == "main" else None)


class EngineServer:
    def __init__(self, conn: Connection) -> None:
        from app.core.inference.engine import Engine  # llama.cpp loads here, in the engine process only

        self.conn = conn
        self.engine = Engine()
        self._send_lock = threading.Lock()
        self._queue: queue.Queue[p.Command] = queue.Queue()
        self._cancels: dict[int, threading.Event] = {}
        self._cancels_lock = threading.Lock()
        self._done: OrderedDict[int, None] = OrderedDict()  # ids that ended (the newest DONE_KEPT)
        self._load_cancel = threading.Event()
        self._test_hooks = os.environ.get(TEST_HOOKS_ENV) == "1"

    # ---- the socket -----------------------------------------------------------------------------------------
    def send(self, event: p.Event) -> None:
        with self._send_lock:
            try:
                self.conn.send(event)
            except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
                os._exit(0)  # the app went away: nobody is left to answer

    def _read(self) -> None:
        """The reader thread: urgent commands act now, the rest queue for the engine thread."""
        while True:
            try:
                cmd = self.conn.recv()
            except (EOFError, OSError):
                os._exit(0)  # the app closed (or was killed): an engine with no app must not linger
            if isinstance(cmd, p.Cancel):
                with self._cancels_lock:
                    if cmd.request_id in self._done:
                        continue  # it ended already: nothing to stop, nothing to keep
                self._cancel_event(cmd.request_id).set()
            elif isinstance(cmd, p.CancelLoad):
                self._load_cancel.set()
            elif isinstance(cmd, p.Crash):
                if self._test_hooks:
                    log.warning("test hook: crashing the engine (%s)", cmd.how)
                    logging.shutdown()
                    os.kill(os.getpid(), signal.SIGSEGV if cmd.how == "segv" else signal.SIGABRT)
                else:
                    log.warning("a Crash command was ignored (test hooks are off)")
            else:
                self._queue.put(cmd)

    def _cancel_event(self, request_id: int) -> threading.Event:
        with self._cancels_lock:
            return self._cancels.setdefault(request_id, threading.Event())

    def _forget_cancel(self, request_id: int) -> None:
        """The request ended. Ids are not run in order (the window and the local server take them from one
        counter but send from two threads), so only this id's cancel goes; a later Cancel for it is dropped."""
        with self._cancels_lock:
            self._cancels.pop(request_id, None)
            self._done[request_id] = None
            if len(self._done) > DONE_KEPT:
                self._done.popitem(last=False)

    # ---- the engine thread ----------------------------------------------------------------------------------
    def serve(self) -> None:
        from app.core.inference.llama_backend import build_facts, init_backend

        buffers = init_backend()
        threading.Thread(target=self._read, name="engine-reader", daemon=True).start()
        self.send(p.Ready(os.getpid(), buffers.summary(), build_facts()))
        handlers = {p.Load: self.load, p.Unload: self.unload, p.Generate: self.generate, p.Measure: self.measure,
                    p.Bench: self.bench}
        while True:
            cmd = self._queue.get()
            if isinstance(cmd, p.Shutdown):
                self.engine.close()
                return
            handlers[type(cmd)](cmd)  # type: ignore[operator]

    def load(self, cmd: p.Load) -> None:
        from app.core.inference.llama_runtime import ModelLoadError

        self._load_cancel.clear()

        def progress(fraction: float) -> bool:
            self.send(p.LoadProgress(cmd.role, fraction))
            return not self._load_cancel.is_set()

        try:
            if cmd.role == "main":
                self.engine.load_main(cmd.path, cmd.options, progress)
            else:
                self.engine.load_draft(cmd.path, cmd.options, progress)
            summary = model_summary(self.engine, cmd.role)  # inside the try: its chat format renders a template
            assert summary is not None, "a load that raised nothing left the role empty"
        except ModelLoadError as e:
            log.warning("loading %s failed: %s", cmd.path, e)
            self.send(p.LoadFailed(cmd.role, str(e), -1 if e.retry_gpu_layers is None else e.retry_gpu_layers,
                                   model_summary(self.engine, cmd.role)))
            return
        except Exception as e:  # noqa: BLE001 - the app must hear "loaded" or "load failed", never nothing
            log.exception("loading %s failed", cmd.path)
            self.send(p.LoadFailed(cmd.role, f"loading failed: {type(e).__name__}: {e}", -1,
                                   model_summary(self.engine, cmd.role)))
            return
        self.send(p.Loaded(cmd.role, summary))

    def unload(self, cmd: p.Unload) -> None:
        if cmd.role == "main":
            self.engine.unload_main()
        else:
            self.engine.unload_draft()
        self.send(p.Unloaded(cmd.role))

    def generate(self, cmd: p.Generate) -> None:
        from app.core.inference.llama_runtime import ModelLoadError
        from app.core.inference.speculative import GenerationStats

        stats = GenerationStats()
        cancel = self._cancel_event(cmd.request_id)
        try:
            if cancel.is_set():  # stopped before it started
                stats.stop_reason = "cancelled"
            else:
                self._stream(cmd, stats, cancel)
        except (ModelLoadError, ValueError, TypeError) as e:  # no model, bad settings, a template that failed
            stats.stop_reason, stats.error = "error", str(e)
            stats.error_code = getattr(e, "code", "")  # RequestRejected says which rule refused it
        except Exception as e:  # the engine must survive anything one request does
            log.exception("generation failed")
            stats.stop_reason, stats.error = "error", f"{type(e).__name__}: {e}"
        finally:
            self._forget_cancel(cmd.request_id)
            lost = self.engine.main.rpc_lost() if self.engine.main is not None else None
            self.send(p.Finished(cmd.request_id, stats.answer_stats(lost[0] if lost else "")))

    def _stream(self, cmd: p.Generate, stats: Any, cancel: threading.Event) -> None:
        """Run one generation, sending its tokens in batches of at most BATCH_S."""
        rid = cmd.request_id

        def prompt_progress(done: int, total: int) -> None:
            self.send(p.PromptProgress(rid, done, total))

        events = self.engine.answer(cmd.request, stats, cancel, prompt_progress)
        batch: list[tuple[str, bool]] = []
        last_send = time.perf_counter()
        for ev in events:
            batch.append((ev.text, ev.from_draft))
            now = time.perf_counter()
            if now - last_send >= p.BATCH_S:
                self._flush(rid, batch, stats)
                batch = []
                last_send = now
        if batch:
            self._flush(rid, batch, stats)

    def _flush(self, rid: int, batch: list[tuple[str, bool]], stats: Any) -> None:
        self.send(p.Tokens(rid, batch, p.LiveStats(stats.generated_tokens, stats.prompt_tokens,
                                                   stats.acceptance_rate, stats.tokens_per_second_now())))

    def measure(self, cmd: p.Measure) -> None:
        from app.core.inference.llama_runtime import ModelLoadError

        try:
            n = len(self.engine.prompt(cmd.request)[0])
        except (ModelLoadError, ValueError, TypeError) as e:  # no model, or a template that fails on this chat
            log.info("the prompt could not be counted: %s", e)
            n = -1
        self.send(p.Measured(cmd.request_id, n))

    def bench(self, cmd: p.Bench) -> None:
        from app.core.inference.bench import BenchCancelled, run_bench
        from app.core.inference.llama_runtime import ModelLoadError

        rid, request = cmd.request_id, cmd.request
        cancel = self._cancel_event(rid)
        try:
            prompt, _ = self.engine.prompt(request.prompt)
            report = run_bench(self.engine, prompt, request.prompt.speculation, list(request.draft_tokens),
                               request.prompt.max_tokens, request.rounds,
                               progress=lambda line, f: self.send(p.BenchProgress(rid, line, f)),
                               cancel=cancel, sampling=request.prompt.sampling)
        except (BenchCancelled, ModelLoadError, ValueError, TypeError, RuntimeError) as e:
            self.send(p.BenchFinished(rid, None, str(e)))
            return
        finally:
            self._forget_cancel(rid)
        self.send(p.BenchFinished(rid, report))


def _setup_logging() -> None:
    """Python logging into stderr, which is the engine's log file (the client opened it for us)."""
    root = logging.getLogger("specchat")
    root.setLevel(logging.DEBUG if os.environ.get("SPECCHAT_DEBUG") else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s[engine %(process)d]: %(message)s"))
    root.addHandler(handler)
    root._specchat_configured = True  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engine-host", description="SpecChat's engine process (started by the app)")
    parser.add_argument("--fd", type=int, required=True, help="the socket inherited from the app")
    args = parser.parse_args(argv)
    faulthandler.enable(file=sys.stderr, all_threads=True)  # a native crash leaves every thread's stack in the log
    _setup_logging()
    conn = Connection(args.fd)
    try:
        EngineServer(conn).serve()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
