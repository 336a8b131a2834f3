"""The Models & downloads window: hub search, recommended pairs (pairs_tab.py), find a draft (drafts_tab.py), the
download queue and import (download_queue.py).

Everything slow (hub calls, header checks, transfers, copies) runs in the worker layer; this window only sends
requests and shows answers. Answers carry request ids: one from a search the user has since replaced is dropped.
Each tab has its own status line, so a message never shows under a tab it does not belong to. Files the library
already has are marked wherever the hub offers them. Before any search the Search tab lists the recommended pairs
(suggested_pairs.py). An unreachable hub puts the window in its offline state (offline_banner.py): what failed is
remembered, Retry repeats it, and any answer from the hub ends the state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QPalette
from PySide6.QtWidgets import (QComboBox, QDialog, QFileDialog, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QPushButton, QTabWidget, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from app.core.hub.catalog import CatalogPair, PairFit, load_catalog
from app.core.hub.client import SORTS, RepoFiles, RepoSummary, resolve_token, save_token, saved_token
from app.core.hub.download_jobs import installed_file
from app.core.hub.downloads import DownloadJob, State
from app.core.hub.gguf_files import GgufChoice, MemoryBudget, machine_budget
from app.core.hub.transfer import PartSpec
from app.core.models.formatting import format_bytes
from app.ui.downloads.download_queue import QueueTab
from app.ui.downloads.drafts_tab import DraftsTab
from app.ui.downloads.hub_rows import (CHOICE_ROLE, DRAFTS_TAB, IN_LIBRARY, PAIRS_TAB, QUEUE_TAB,  # noqa: F401
                                       SEARCH_TAB, fit_columns, status_label, tooltips)  # (the tabs: re-exported)
from app.ui.downloads.offline_banner import OfflineBanner
from app.ui.downloads.pairs_tab import PairsTab
from app.ui.downloads.suggested_pairs import INTRO, PAIR_ROLE, describe, in_library, suggestion_items
from app.ui.widgets.screen_fit import fit_to_screen
from app.ui.widgets.tree_rows import top_level_items
from app.ui.widgets.wheel_guard import guard_wheel
from app.workers.download_worker import DownloadHost, HubTasks

log = logging.getLogger("specchat.ui")



class DownloadsWindow(DraftsTab, QDialog):
    findDraftsRequested = Signal()  # the main window answers with find_drafts_for(its main model)

    def __init__(self, host: DownloadHost, tasks: HubTasks, parent: QWidget | None = None,
                 budget: MemoryBudget | None = None) -> None:
        """`budget`: the memory the recommendations are for; this machine's unless given."""
        super().__init__(parent)
        self.setWindowTitle("Models & downloads")
        self.setAcceptDrops(True)
        self.host = host
        self.tasks = tasks
        self.models_dir: Path = host.paths.models
        self.budget = budget or machine_budget()
        self._listing: RepoFiles | None = None
        # kind ("search" | "files" | "drafts") -> how to send its latest request again; those that found the hub
        # offline wait in _retry until Retry
        self._requests: dict[str, Callable[[], None]] = {}
        self._retry: dict[str, Callable[[], None]] = {}
        self.catalog = load_catalog()
        self.offline_banner = OfflineBanner()
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_search(), "Search the hub")
        self.pairs_tab = PairsTab(self.catalog, self.budget, self.models_dir)
        self.tabs.addTab(self.pairs_tab, "Recommended pairs")
        self.tabs.addTab(self._build_drafts(), "Find a draft")
        self.queue_tab = QueueTab(host, self.choose_import)
        self.tabs.addTab(self.queue_tab, "Downloads")
        lay = QVBoxLayout(self)
        lay.addWidget(self.offline_banner)  # above the tabs: every hub tab is affected alike
        lay.addWidget(self.tabs, 1)
        lay.addLayout(self._build_token_row())
        # connect before copying the jobs: a change in between arrives as a signal instead of being lost
        host.jobChanged.connect(self._job_changed)
        for job in host.jobs():
            self.queue_tab.update_job(job)
        host.failed.connect(self.show_error)
        host.importsDone.connect(self._imports_done)
        tasks.searched.connect(self._searched)
        tasks.listed.connect(self._listed)
        tasks.draftFound.connect(self._draft_found)
        tasks.draftsDone.connect(self._drafts_done)
        tasks.error.connect(self._task_error)
        tasks.offline.connect(self._hub_offline)
        self.offline_banner.retryRequested.connect(self.retry_hub)
        self.pairs_tab.downloadRequested.connect(self.download_pair)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.wheel_guard = guard_wheel(self)
        fit_to_screen(self, 980, 640)

    # ---- building ---------------------------------------------------------------------------------------------
    def _build_search(self) -> QWidget:
        w = QWidget()
        self.query = QLineEdit()
        self.query.setPlaceholderText("Search GGUF models, e.g. Qwen2.5 7B Instruct")
        self.sort = QComboBox()
        for key in SORTS:
            self.sort.addItem(f"by {key}", key)
        self.search_button = QPushButton("Search")
        self.suggestions_label = QLabel(INTRO)  # says what the list holds while it holds the suggestions
        self.suggestions_label.setWordWrap(True)
        self.results = QListWidget()
        self.results.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.files_tree = QTreeWidget()
        self.files_tree.setHeaderLabels(["File", "Quantization", "Size", "Note"])
        fit_columns(self.files_tree, stretch=0)
        self.fit_label = QLabel("")
        self.fit_label.setWordWrap(True)
        self.search_status = status_label()
        self.download_button = QPushButton("Download")
        self.download_button.setEnabled(False)
        self.remote_drafts_button = QPushButton("Find drafts for this file")
        self.remote_drafts_button.setToolTip("Before downloading it: which smaller models share its tokenizer")
        self.remote_drafts_button.setEnabled(False)
        row = QHBoxLayout()
        for x in (self.query, self.sort, self.search_button):
            row.addWidget(x)
        bottom = QHBoxLayout()
        bottom.addWidget(self.fit_label, 1)
        bottom.addWidget(self.remote_drafts_button)
        bottom.addWidget(self.download_button)
        lay = QVBoxLayout(w)
        lay.addLayout(row)
        lay.addWidget(self.suggestions_label)
        lay.addWidget(self.results, 1)
        lay.addWidget(self.files_tree, 1)
        lay.addLayout(bottom)
        lay.addWidget(self.search_status)
        self.query.returnPressed.connect(self.run_search)
        self.search_button.clicked.connect(self.run_search)
        self.results.currentItemChanged.connect(self._repo_selected)
        self.files_tree.currentItemChanged.connect(self._file_selected)
        self.remote_drafts_button.clicked.connect(self.find_drafts_for_selected_file)
        self.files_tree.itemDoubleClicked.connect(lambda *_: self.download_selected_file())
        self.download_button.clicked.connect(self._download_clicked)
        self._show_suggestions()
        return w

    def _build_token_row(self) -> QHBoxLayout:
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("Hugging Face token for gated or private repos (hf_…)")
        self.token.setText(saved_token(self.host.paths.hf_token))
        self.token_button = QPushButton("Save token")
        self.token_state = QLabel("")
        self._show_token_state()
        self.token_button.clicked.connect(self.save_token)
        row = QHBoxLayout()
        row.addWidget(self.token, 1)
        row.addWidget(self.token_button)
        row.addWidget(self.token_state)
        return row

    # ---- the library ----------------------------------------------------------------------------------------
    def installed(self, repo_id: str, choice: GgufChoice | None) -> bool:
        """Whether this hub file is in the library already (at its download destination, the same size)."""
        if choice is None:
            return False
        parts = [PartSpec(p.path, p.size, p.sha256, p.blob_id) for p in choice.parts]
        return installed_file(self.models_dir, repo_id, parts) is not None

    def refresh_library_marks(self) -> None:
        """After a download finished: the marks in every tab follow what the library now holds."""
        self.pairs_tab.refresh_library()
        chosen = self.results.currentItem()
        if chosen is not None and chosen.data(PAIR_ROLE) is not None:  # a suggested pair: what is left to download
            self._suggestion_selected(*chosen.data(PAIR_ROLE))
        if self._listing is not None:
            for item in top_level_items(self.files_tree):
                self._mark_file(item, item.data(0, CHOICE_ROLE))
            self._file_selected(self.files_tree.currentItem())
        for item in top_level_items(self.drafts_tree):
            item.setText(3, self._verdict(item.data(0, CHOICE_ROLE)))
            item.setToolTip(3, item.text(3))
        self._draft_selected(self.drafts_tree.currentItem())

    def _tab_changed(self, index: int) -> None:
        if index in (PAIRS_TAB, QUEUE_TAB):
            self.pairs_tab.refresh_library()

    # ---- search -----------------------------------------------------------------------------------------------
    def _send(self, kind: str, request: Callable[[], None]) -> None:
        """Send a hub request, and keep it: Retry sends it again if it finds the hub offline."""
        self._requests[kind] = request
        request()

    def run_search(self) -> None:
        query, sort = self.query.text(), self.sort.currentData()

        def request() -> None:
            self.search_status.setText("Searching…")
            self.tasks.search(query, sort)

        self._send("search", request)

    def _show_suggestions(self) -> None:
        """Before any search: the recommended pairs, so the list is a place to start, not an empty box."""
        self.results.clear()
        muted = self.results.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        for item in suggestion_items(self.catalog, self.budget, muted):
            self.results.addItem(item)
        self.suggestions_label.setVisible(bool(self.catalog))

    def _searched(self, repos: list[RepoSummary]) -> None:
        self._hub_answered("search")
        self.suggestions_label.hide()
        self.results.clear()
        self.files_tree.clear()
        self.fit_label.setText("")
        for r in repos:
            item = QListWidgetItem(f"{r.repo_id}    ↓ {r.downloads:,}   ♥ {r.likes:,}{'   (gated)' if r.gated else ''}")
            item.setData(CHOICE_ROLE, r.repo_id)
            item.setToolTip(item.text())
            self.results.addItem(item)
        self.search_status.setText(f"{len(repos)} repo{'s' if len(repos) != 1 else ''} with GGUF files" if repos
                                   else "No GGUF repos match.")

    def _repo_selected(self, item: QListWidgetItem | None, _: object = None) -> None:
        if item is None:
            return
        self.files_tree.clear()
        self._listing = None
        self.download_button.setText("Download")
        self.remote_drafts_button.setEnabled(False)
        if item.data(PAIR_ROLE) is not None:
            self._suggestion_selected(*item.data(PAIR_ROLE))
            return
        self.download_button.setEnabled(False)
        repo_id = item.data(CHOICE_ROLE)

        def request() -> None:
            self.fit_label.setText("Reading the file list…")
            self.tasks.files(repo_id)

        self._send("files", request)

    def _suggestion_selected(self, pair: CatalogPair, fit: PairFit) -> None:
        main, draft = in_library(self.models_dir, pair)
        self.fit_label.setText(describe(pair, fit, self.budget, self.models_dir))
        self.download_button.setText("Download pair")
        self.download_button.setEnabled(not (main and draft))
        self.download_button.setToolTip("Both files are in your library" if main and draft else
                                        "Queue the main and the draft (files already here are skipped)")

    def _download_clicked(self) -> None:
        item = self.results.currentItem()
        if item is not None and item.data(PAIR_ROLE) is not None:
            self.download_pair(item.data(PAIR_ROLE)[0])
        else:
            self.download_selected_file()

    def _listed(self, listing: RepoFiles, choices: list[GgufChoice], best: GgufChoice | None, budget: str) -> None:
        self._hub_answered("files")
        self._listing = listing
        self.files_tree.clear()
        for c in choices:
            parts = f"  ({len(c.parts)} parts)" if len(c.parts) > 1 else ""
            item = QTreeWidgetItem([c.name + parts, c.quant or "?", format_bytes(c.size), ""])
            item.setData(0, CHOICE_ROLE, c)
            item.setData(1, CHOICE_ROLE, c is best)
            if c is best:
                font = item.font(0)
                font.setBold(True)
                for col in range(4):
                    item.setFont(col, font)
            self._mark_file(item, c)
            self.files_tree.addTopLevelItem(item)
            if c is best:
                self.files_tree.setCurrentItem(item)
        self.fit_label.setText(f"Recommended: the best quality that fits {budget}."
                               if best else f"No file here fits {budget}; smaller quantizations run partly on CPU.")

    def _mark_file(self, item: QTreeWidgetItem, c: GgufChoice) -> None:
        notes = ["★ recommended"] if item.data(1, CHOICE_ROLE) else []
        notes += ["vision projector"] if c.is_projector else [] if c.complete else ["incomplete split"]
        if self._listing is not None and self.installed(self._listing.repo_id, c):
            notes.append(IN_LIBRARY)
        item.setText(3, " · ".join(notes))
        for col in range(4):
            item.setToolTip(col, "")
        item.setToolTip(3, "The best quality that fits this machine" if item.data(1, CHOICE_ROLE) else "")
        tooltips(item)

    def _file_selected(self, item: QTreeWidgetItem | None, _: object = None) -> None:
        choice: GgufChoice | None = item.data(0, CHOICE_ROLE) if item else None
        have = bool(choice and self._listing and self.installed(self._listing.repo_id, choice))
        self.download_button.setEnabled(choice is not None and not have)
        self.download_button.setToolTip("Already in your library" if have else "")
        self.remote_drafts_button.setEnabled(choice is not None and not choice.is_projector)

    def find_drafts_for_selected_file(self) -> None:
        item = self.files_tree.currentItem()
        if item is None or self._listing is None:
            return
        choice: GgufChoice = item.data(0, CHOICE_ROLE)
        listing, query = self._listing, self.draft_query.text().strip()

        def request() -> None:
            self._start_draft_search(f"{listing.repo_id} · {choice.name}")
            self.tasks.find_drafts_remote(listing.repo_id, listing.revision, choice, query)

        self._send("drafts", request)

    def download_selected_file(self) -> None:
        item = self.files_tree.currentItem()
        if item is None or self._listing is None:
            return
        self.host.enqueue(self._listing.repo_id, self._listing.revision, item.data(0, CHOICE_ROLE))
        self.tabs.setCurrentIndex(QUEUE_TAB)

    # ---- pairs --------------------------------------------------------------------------------------------------
    def download_pair(self, pair: CatalogPair) -> None:
        self.queue_tab.waiting_for_pair(pair.id, pair.title)
        self.host.enqueue_pair(pair)
        self.tabs.setCurrentIndex(QUEUE_TAB)

    # ---- queue --------------------------------------------------------------------------------------------------
    def _job_changed(self, job: DownloadJob) -> None:
        self.queue_tab.update_job(job)
        if job.state == State.DONE:
            self.refresh_library_marks()

    # ---- import -------------------------------------------------------------------------------------------------
    def show_pairs(self) -> None:
        self.tabs.setCurrentIndex(PAIRS_TAB)

    def choose_import(self) -> None:
        """Pick GGUF files to import; their progress shows on the Downloads tab."""
        self.tabs.setCurrentIndex(QUEUE_TAB)
        files, _ = QFileDialog.getOpenFileNames(self, "Import GGUF models", str(Path.home()), "GGUF models (*.gguf)")
        if files:
            self.import_files(files)

    def import_files(self, files: list[str]) -> None:
        self.tabs.setCurrentIndex(QUEUE_TAB)
        self.queue_tab.say(f"Importing {len(files)} file{'s' if len(files) != 1 else ''}…")
        self.host.import_files(files, self.queue_tab.import_mode_value())

    def _imports_done(self, imported: list[str], failures: list[str]) -> None:
        done = (f"Imported {imported[0]} into the library." if len(imported) == 1 else
                f"Imported {len(imported)} files into the library." if imported else "Nothing was imported.")
        self.queue_tab.say(" ".join([done, *failures]))

    def dragEnterEvent(self, e: QDragEnterEvent) -> None:
        if any(u.toLocalFile().lower().endswith(".gguf") for u in e.mimeData().urls()):
            e.acceptProposedAction()

    def dropEvent(self, e: QDropEvent) -> None:
        files = [u.toLocalFile() for u in e.mimeData().urls() if u.toLocalFile().lower().endswith(".gguf")]
        if files:
            e.acceptProposedAction()
            self.import_files(files)

    # ---- token and messages ---------------------------------------------------------------------------------
    def save_token(self) -> None:
        save_token(self.host.paths.hf_token, self.token.text())
        self._show_token_state()

    def _show_token_state(self) -> None:
        if saved_token(self.host.paths.hf_token):
            self.token_state.setText("saved")
            self.token_state.setToolTip(f"Kept in {self.host.paths.hf_token}, readable by you only; never logged.")
        elif resolve_token(None):
            self.token_state.setText("using huggingface-hub's token")
            self.token_state.setToolTip("From HF_TOKEN or `hf auth login`.")
        else:
            self.token_state.setText("no token")
            self.token_state.setToolTip("Public repos need none.")

    def show_error(self, message: str) -> None:
        """A request the download host could not queue (a pair, a file, an import): said under Downloads, where
        every such request leads."""
        self.queue_tab.say(message)

    # ---- the hub offline -------------------------------------------------------------------------------------
    def _hub_offline(self, kind: str, endpoint: str, sentence: str) -> None:
        """No connection to the hub: the banner says so with what to check; the tab's own line no longer says
        "Searching…" (the cause went to the log, not to the user)."""
        request = self._requests.get(kind)
        if request is not None:
            self._retry[kind] = request
        self.offline_banner.show_offline(endpoint, sentence)
        if kind == "search":
            self.search_status.setText("Not searched: the hub is offline.")
        elif kind == "files":
            self.fit_label.setText("The file list could not be read: the hub is offline.")
        else:
            self.drafts_status.setText("Not searched: the hub is offline.")

    def retry_hub(self) -> None:
        """Send again what found the hub offline (a search with nothing waiting looks again for the last query)."""
        waiting = dict(self._retry) or {"search": self._requests.get("search", self.run_search)}
        self._retry.clear()
        for request in waiting.values():
            request()

    def _hub_answered(self, kind: str) -> None:
        """The hub answered: it is reachable, whatever was asked."""
        self._retry.pop(kind, None)
        if self.offline_banner.offline:
            log.info("the hub answered again (%s): offline state cleared", kind)
        self.offline_banner.clear()

    def _task_error(self, kind: str, message: str) -> None:
        self._hub_answered(kind)  # not HubUnreachable: a connection was made (an error status, a slow answer)
        if kind in ("search", "files"):
            self.search_status.setText(message)
            if kind == "files":
                self.fit_label.setText("")
        else:
            self.drafts_status.setText(message)
