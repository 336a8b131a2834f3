"""The one background-task helper and the library scanner on it: results on the GUI thread, stale results
dropped, failures reported (a scan that hit a locked database once died silently)."""

from __future__ import annotations

import sqlite3
import threading

from app.core.infra.paths import app_paths
from app.workers.library_worker import LibraryScanner
from app.workers.tasks import TaskRunner


def test_only_the_newest_call_of_a_kind_is_delivered(qtbot):
    runner = TaskRunner()
    results: list[object] = []
    runner.result.connect(lambda _id, _kind, value: results.append(value))
    release = threading.Event()

    def slow(cancel: threading.Event) -> str:
        release.wait(5)
        return "old"

    old = runner.run("scan", slow)
    new = runner.run("scan", lambda: "new")
    qtbot.waitUntil(lambda: results == ["new"], timeout=5_000)
    release.set()
    qtbot.wait(200)  # the old one ends now: its result must not land
    assert results == ["new"] and old != new
    other = runner.run("other", lambda: 1 // 0)
    with qtbot.waitSignal(runner.errored, timeout=5_000) as failed:
        pass
    assert failed.args[:2] == [other, "other"] and "ZeroDivisionError" in failed.args[2]


def test_reports_of_a_superseded_task_are_dropped_and_its_cancel_is_set(qtbot):
    """The draft finder reports each suggestion as it is checked: an older search's late ones never land."""
    runner = TaskRunner()
    reports: list[object] = []
    runner.progressed.connect(lambda _id, _kind, value: reports.append(value))
    go_on = threading.Event()
    told_to_stop = threading.Event()

    def old_search(cancel: threading.Event, report) -> str:  # type: ignore[no-untyped-def]
        report("old-1")
        go_on.wait(5)
        if cancel.is_set():
            told_to_stop.set()
        report("old-2")  # too late: a newer search started
        return "old"

    def new_search(cancel: threading.Event, report) -> str:  # type: ignore[no-untyped-def]
        report("new-1")
        return "new"

    runner.run("drafts", old_search)
    qtbot.waitUntil(lambda: reports == ["old-1"], timeout=5_000)
    with qtbot.waitSignal(runner.result, timeout=5_000):
        runner.run("drafts", new_search)
    go_on.set()
    qtbot.waitUntil(told_to_stop.is_set, timeout=5_000)
    qtbot.wait(200)
    assert reports == ["old-1", "new-1"]


def test_a_scan_that_cannot_open_its_database_says_so(qtbot):
    paths = app_paths().ensure()
    db = paths.data / "locked.sqlite3"
    holder = sqlite3.connect(db)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the database
    try:
        scanner = LibraryScanner([paths.models], db)
        with qtbot.waitSignal(scanner.failed, timeout=30_000) as failed:
            scanner.scan()
        assert "could not be scanned" in failed.args[0] and "locked" in failed.args[0]
    finally:
        holder.rollback()
        holder.close()
