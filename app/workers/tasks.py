"""One way to run background work for the window: `TaskRunner.run(kind, fn)` on a plain thread.

Every call gets an id; its outcome comes back on the GUI thread as `result(id, kind, value)` or
`errored(id, kind, message)` (superqt's thread_worker shape: returned/errored/yielded). A function that takes
two arguments gets `report` too: each `report(value)` comes back as `progressed(id, kind, value)` (the draft
finder's results one at a time, an import's files as each lands), under the same stale rule.

Stale results are dropped here and nowhere else: with `latest_only` (the default) only the newest call of a
kind is delivered, so an older library scan or hub search that finishes last cannot overwrite a newer one (Orange3's pattern: cancel the old task and never let its signals land).
`cancel(kind)` sets the cancel event handed to the function and drops its result.

An exception the function does not expect is logged with its traceback and delivered as `errored` too: no
background thread dies silently. `install_thread_excepthook` covers threads started elsewhere.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

log = logging.getLogger("specchat.tasks")


class TaskRunner(QObject):
    result = Signal(int, str, object)  # task id, kind, the function's return value
    errored = Signal(int, str, str)  # task id, kind, a message for the user
    progressed = Signal(int, str, object)  # task id, kind, a value the function reported on its way
    _done = Signal(int, str, bool, object)  # from the worker thread; queued to _deliver on the GUI thread
    _reported = Signal(int, str, object)  # likewise, to _deliver_report

    def __init__(self, expected: tuple[type[BaseException], ...] = (OSError,), parent: QObject | None = None) -> None:
        """expected: the errors a task reports as a plain message (anything else is logged as a bug first)."""
        super().__init__(parent)
        self.expected = expected
        self._ids = itertools.count(1)
        self._latest: dict[str, int] = {}  # kind -> the id whose result is wanted
        self._cancels: dict[int, threading.Event] = {}
        self._done.connect(self._deliver)
        self._reported.connect(self._deliver_report)

    def run(self, kind: str, fn: Callable[..., Any], *, latest_only: bool = True) -> int:
        """Run fn() on a new daemon thread (fn(cancel_event) when it takes one argument, fn(cancel_event, report)
        when it takes two); returns the id. `latest_only=False`: calls of the kind are independent (imports)."""
        task_id = next(self._ids)
        cancel = threading.Event()
        if latest_only:
            old = self._latest.get(kind)
            if old is not None and old in self._cancels:
                self._cancels[old].set()  # the newer call supersedes it: it may stop early
            self._latest[kind] = task_id
        self._cancels[task_id] = cancel
        n_args = len(inspect.signature(fn).parameters)

        def report(value: object) -> None:
            self._reported.emit(task_id, kind, value)

        def work() -> None:
            try:
                value = fn(cancel, report) if n_args == 2 else fn(cancel) if n_args == 1 else fn()
            except self.expected as e:
                self._done.emit(task_id, kind, False, str(e))
            except Exception as e:  # noqa: BLE001 - a bug: logged with its traceback, reported, thread ends clean
                log.exception("background task %s failed", kind)
                self._done.emit(task_id, kind, False, f"{type(e).__name__}: {e}")
            else:
                self._done.emit(task_id, kind, True, value)

        threading.Thread(target=work, name=f"task-{kind}-{task_id}", daemon=True).start()
        return task_id

    def cancel(self, kind: str) -> None:
        task_id = self._latest.pop(kind, None)
        if task_id is not None and task_id in self._cancels:
            self._cancels[task_id].set()

    def is_current(self, task_id: int, kind: str) -> bool:
        cancel = self._cancels.get(task_id)
        return self._latest.get(kind, task_id) == task_id and cancel is not None and not cancel.is_set()

    @Slot(int, str, object)
    def _deliver_report(self, task_id: int, kind: str, value: object) -> None:
        if self.is_current(task_id, kind):
            self.progressed.emit(task_id, kind, value)

    @Slot(int, str, bool, object)
    def _deliver(self, task_id: int, kind: str, ok: bool, value: object) -> None:
        current = self.is_current(task_id, kind)
        self._cancels.pop(task_id, None)
        if not current:
            log.debug("dropping the result of %s task %d: a newer one was started or it was cancelled", kind, task_id)
            return
        if ok:
            self.result.emit(task_id, kind, value)
        else:
            self.errored.emit(task_id, kind, str(value))


class _ThreadErrorRelay(QObject):
    raised = Signal(str)  # emitted on the failing thread, delivered on the GUI thread


_relay: _ThreadErrorRelay | None = None


def install_thread_excepthook(show: Callable[[str], None]) -> None:
    """threading.excepthook: an exception that ends any thread is logged and `show`n on the GUI thread (the
    error dialog), instead of going to stderr only. Call on the GUI thread, once the QApplication exists."""
    global _relay
    _relay = _ThreadErrorRelay()
    _relay.raised.connect(show)
    relay = _relay

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        log.error("unhandled exception in thread %s", name,
                  exc_info=(args.exc_type, args.exc_value, args.exc_traceback))  # type: ignore[arg-type]
        relay.raised.emit(f"{args.exc_value}")

    threading.excepthook = hook
