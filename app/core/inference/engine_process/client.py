"""The app's end of the engine process: start it, send commands, hear its events, notice when it dies.

LM Studio, Jan and Ollama run inference in a process of its own for the same reason: llama.cpp ends the whole
process on an assert or a crash (DESIGN.md: the AMX segfault, GGML_ASSERTs on odd metadata), and then it must
cost one answer, not the window. The engine runs server.py; its stderr is `logs/engine.log`, so llama.cpp's
messages and faulthandler's stacks of a crash are there.

Events arrive on a reader thread and are handed to `on_event` there (the Qt host re-emits them on the GUI thread).
When the process ends without being asked, the client snapshots what was under way, starts a fresh engine with
nothing loaded, and only then hands on a `Died` event naming the signal, the work and the log: a command sent
after that goes to the new engine, one sent before is in `Died.lost`, so none is silently dropped.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

from app.core.inference.engine_process import protocol as p

log = logging.getLogger("specchat.engine_process")

ENGINE_FLAG = "--engine-host"  # `SpecChat --engine-host --fd N`: how a frozen bundle runs the engine
ENGINE_LOG = "engine.log"
LOG_MAX_BYTES = 4_000_000  # the engine log is rotated (one old copy) when a new engine starts past this


def _command(fd: int) -> list[str]:
    if getattr(sys, "frozen", False):  # PyInstaller: sys.executable is the app itself
        return [sys.executable, ENGINE_FLAG, "--fd", str(fd)]
    return [sys.executable, "-m", "app.core.inference.engine_process.server", "--fd", str(fd)]


def signal_name(exit_code: int) -> str:
    if exit_code < 0:
        try:
            return signal.Signals(-exit_code).name
        except ValueError:
            return f"signal {-exit_code}"
    return f"exit code {exit_code}"


def describe(lost: tuple[p.Command, ...], loaded: dict[str, p.ModelSummary]) -> str:
    """What the engine was doing, in words: "answering with X", "loading Y" (a load or an answer before the
    context gauge's count, which is queued beside them)."""
    if not lost:
        return "idle"
    cmd = sorted(lost, key=lambda c: isinstance(c, p.Measure))[0]
    main = loaded["main"].name if "main" in loaded else "the loaded model"
    if isinstance(cmd, p.Load):
        return f"loading {Path(cmd.path).name}"
    if isinstance(cmd, p.Generate):
        return f"answering with {main}"
    if isinstance(cmd, p.Bench):
        return f"benchmarking {main}"
    if isinstance(cmd, p.Measure):
        return "counting the chat's tokens"
    return "idle"


class EngineClient:
    def __init__(self, on_event: Callable[[p.Event], None], log_dir: Path | None,
                 env: dict[str, str] | None = None) -> None:
        """on_event: called on the reader thread for every event (and for Died); keep it short and thread-safe.
        log_dir: where engine.log goes (None: the engine's stderr is ours). env: extra environment for it."""
        self.on_event = on_event
        self.log_dir = log_dir
        self.env = env or {}
        self._lock = threading.Lock()
        self._inflight: dict[tuple[str, object], p.Command] = {}
        # request id -> who hears that request's events instead of on_event (the local server's requests)
        self._routes: dict[int, Callable[[p.Event], object]] = {}
        self._last_id = 0
        self.loaded: dict[str, p.ModelSummary] = {}  # role -> model, as the engine last said
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._closing = False
        self._reader: threading.Thread | None = None
        self.pid = 0
        self.generation = 0  # how many engines were started (1 = the first)

    @property
    def log_path(self) -> Path | None:
        return self.log_dir / ENGINE_LOG if self.log_dir is not None else None

    # ---- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            self._spawn()

    def _spawn(self) -> None:
        """Start an engine (the lock is held). Its socket end is inherited by fd number."""
        ours, theirs = socket.socketpair()
        stderr = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            path = self.log_dir / ENGINE_LOG
            try:
                if path.stat().st_size > LOG_MAX_BYTES:
                    os.replace(path, path.with_name(ENGINE_LOG + ".1"))
            except OSError:
                pass
            stderr = open(path, "ab")  # noqa: SIM115 - the child keeps it; ours is closed after the start
        env = {**os.environ, **self.env, "GGML_NO_BACKTRACE": os.environ.get("GGML_NO_BACKTRACE", "1")}
        try:
            self._proc = subprocess.Popen(_command(theirs.fileno()), pass_fds=(theirs.fileno(),),
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                          env=env, start_new_session=False)
        finally:
            theirs.close()
            if stderr is not None:
                stderr.close()
        self._conn = Connection(os.dup(ours.fileno()))
        ours.close()
        self.pid = self._proc.pid
        self.generation += 1
        self.loaded = {}
        log.info("engine process %d started (engine %d)", self.pid, self.generation)
        self._reader = threading.Thread(target=self._read, args=(self._conn, self._proc), name="engine-events",
                                        daemon=True)
        self._reader.start()

    def close(self, timeout_s: float = 10.0) -> None:
        """Cancel what runs, ask the engine to free its models and exit; kill it if it does not in time."""
        with self._lock:
            self._closing = True
            proc, conn = self._proc, self._conn
            pending = list(self._inflight.values())
        if proc is None or conn is None:
            return
        for cmd in pending:
            if isinstance(cmd, (p.Generate, p.Bench)):
                self._send_raw(conn, p.Cancel(cmd.request_id))
            elif isinstance(cmd, p.Load):
                self._send_raw(conn, p.CancelLoad())
        self._send_raw(conn, p.Shutdown())
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.error("the engine did not exit within %.0f s: killed", timeout_s)
            proc.kill()
            proc.wait()
        # The reader hands events to on_event until it reads the end of the socket. It must be done before close()
        # returns: the window (or test) that owns on_event's QObject deletes it next, and a signal emitted on a
        # QObject being deleted is a segfault (CI saw one at a test's teardown while an answer was streaming).
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(timeout_s)
            if reader.is_alive():
                log.error("the engine's event reader did not end within %.0f s", timeout_s)
        conn.close()

    # ---- commands -------------------------------------------------------------------------------------------
    def next_id(self) -> int:
        """A request id no other user of this engine has: the window and the local server share it, and the
        engine keeps a cancel per id."""
        with self._lock:
            self._last_id += 1
            return self._last_id

    def send(self, cmd: p.Command, route: Callable[[p.Event], object] | None = None) -> None:
        """route: for a Generate, Bench or Measure, the callable that hears its events (on the reader thread)
        in place of on_event, up to and including its final one; a Died event if the engine dies first."""
        with self._lock:
            key = self._key(cmd)
            if key is not None:
                self._inflight[key] = cmd
            if route is not None and isinstance(cmd, (p.Generate, p.Bench, p.Measure)):
                self._routes[cmd.request_id] = route
            conn = self._conn
        if conn is not None:
            self._send_raw(conn, cmd)  # a dead engine: the reader reports it, with this command in Died.lost

    @staticmethod
    def _send_raw(conn: Connection, cmd: p.Command) -> None:
        try:
            conn.send(cmd)
        except (BrokenPipeError, ConnectionResetError, OSError) as e:
            log.info("the engine did not take %s: %s", type(cmd).__name__, e)

    @staticmethod
    def _key(cmd: p.Command | p.Event) -> tuple[str, object] | None:
        """Commands that owe an answer, and the events that answer them, share a key."""
        if isinstance(cmd, (p.Load, p.Loaded, p.LoadFailed)):
            return ("load", cmd.role)
        if isinstance(cmd, (p.Unload, p.Unloaded)):
            return ("unload", cmd.role)
        if isinstance(cmd, (p.Generate, p.Finished)):
            return ("generate", cmd.request_id)
        if isinstance(cmd, (p.Bench, p.BenchFinished)):
            return ("bench", cmd.request_id)
        if isinstance(cmd, (p.Measure, p.Measured)):
            return ("measure", cmd.request_id)
        return None

    # ---- events ---------------------------------------------------------------------------------------------
    def _read(self, conn: Connection, proc: subprocess.Popen[bytes]) -> None:
        while True:
            try:
                event = conn.recv()
            except (EOFError, OSError):
                break
            key = self._key(event)
            rid = getattr(event, "request_id", None)
            with self._lock:
                route = self._routes.get(rid) if rid is not None else None
                if rid is not None and route is not None and isinstance(event, (p.Finished, p.BenchFinished,
                                                                                  p.Measured)):
                    del self._routes[rid]
                if key is not None:
                    self._inflight.pop(key, None)
                if isinstance(event, p.Loaded):
                    self.loaded[event.role] = event.summary
                elif isinstance(event, p.LoadFailed):
                    self._set_loaded(event.role, event.kept)
                elif isinstance(event, p.Unloaded):
                    self._set_loaded(event.role, None)
            (route or self.on_event)(event)
        code = proc.wait()
        with self._lock:
            if self._closing or proc is not self._proc:
                return
            lost = tuple(self._inflight.values())
            self._inflight.clear()
            routes, self._routes = self._routes, {}
            loaded = dict(self.loaded)
            self._spawn()  # nothing loaded: the user chooses what to load again
            reason = signal_name(code)
            where = f"; log: {self.log_path}" if self.log_path else ""
            message = (f"the engine {'crashed' if code < 0 else 'stopped'} ({reason}) while "
                       f"{describe(lost, loaded)}{where}")
            log.error("engine process %d ended: %s (lost: %s)", proc.pid, reason,
                      ", ".join(type(c).__name__ for c in lost) or "nothing")
            # handed on under the lock: the new engine's events (read under it too) and any command sent after
            # this (send takes it) come after the Died event
            died = p.Died(code, reason, message, lost, loaded, str(self.log_path or ""))
            self.on_event(died)
            for route in routes.values():  # each routed request hears it too: its answer is lost
                route(died)

    def _set_loaded(self, role: str, summary: p.ModelSummary | None) -> None:
        if summary:
            self.loaded[role] = summary
        else:
            self.loaded.pop(role, None)
            if role == "main":
                self.loaded.pop("draft", None)  # unloading the main unloads its draft
