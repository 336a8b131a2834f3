"""The Models & downloads window: hub search, recommended pairs, find a draft, the download queue, import.

Everything slow (hub calls, header checks, transfers, copies) runs in the worker layer; this window only sends
requests and shows answers. Answers carry request ids: one from a search the user has since replaced is dropped.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QPainter
from PySide6.QtWidgets import (QApplication, QComboBox, QDialog, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QListView, QListWidget, QListWidgetItem, QPushButton, QStyle,
                               QStyledItemDelegate, QStyleOptionProgressBar, QStyleOptionViewItem, QTabWidget,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from app.core.hub.catalog import CatalogPair, load_catalog
from app.core.hub.downloads import DownloadJob, State
from app.core.hub.draft_finder import DraftSuggestion, suggestion_rank
from app.core.hub.gguf_files import GgufChoice
from app.core.hub.client import SORTS, RepoFiles, RepoSummary, resolve_token, save_token, saved_token, token_file
from app.core.models.importer import MODES as IMPORT_MODES
from app.core.models.model_info import format_bytes
from app.ui.item_models import DownloadListModel, DownloadRoles
from app.workers.download_worker import DownloadHost, HubTasks

log = logging.getLogger("specchat.ui")

Index = QModelIndex | QPersistentModelIndex
CHOICE_ROLE = Qt.ItemDataRole.UserRole + 1


class DownloadDelegate(QStyledItemDelegate):
    """Two lines per job (name; progress text) over a progress bar drawn by the style."""

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        size = super().sizeHint(option, index)
        size.setHeight(option.fontMetrics.height() * 3 + 16)
        return size

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        style = option.widget.style() if option.widget else QApplication.style()
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        r = option.rect.adjusted(6, 4, -6, -4)
        line = option.fontMetrics.height()
        painter.save()
        color = option.palette.highlightedText() if option.state & QStyle.StateFlag.State_Selected \
            else option.palette.text()
        painter.setPen(color.color())
        painter.drawText(QRect(r.left(), r.top(), r.width(), line), Qt.AlignmentFlag.AlignLeft,
                         str(index.data(Qt.ItemDataRole.DisplayRole)))
        detail = option.fontMetrics.elidedText(str(index.data(DownloadRoles.Detail)), Qt.TextElideMode.ElideRight,
                                               r.width())
        painter.drawText(QRect(r.left(), r.top() + line + 2, r.width(), line), Qt.AlignmentFlag.AlignLeft, detail)
        painter.restore()
        bar = QStyleOptionProgressBar()
        if option.widget:
            bar.initFrom(option.widget)
        bar.rect = QRect(r.left(), r.top() + 2 * line + 4, r.width(), line)
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = int(1000 * float(index.data(DownloadRoles.Fraction) or 0))
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal  # Qt 6: no orientation
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)


class DownloadsWindow(QDialog):
    findDraftsRequested = Signal()  # the main window answers with find_drafts_for(its main model)

    def __init__(self, host: DownloadHost, tasks: HubTasks, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models & downloads")
        self.setAcceptDrops(True)
        self.resize(900, 620)
        self.host = host
        self.tasks = tasks
        self._search_id = self._files_id = self._drafts_id = 0
        self._listing: RepoFiles | None = None
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_search(), "Search the hub")
        self.tabs.addTab(self._build_pairs(), "Recommended pairs")
        self.tabs.addTab(self._build_drafts(), "Find a draft")
        self.tabs.addTab(self._build_queue(), "Downloads")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay = QVBoxLayout(self)
        lay.addWidget(self.tabs, 1)
        lay.addWidget(self.status)
        lay.addLayout(self._build_token_row())
        # connected before the copy: a change from a transfer thread in between is queued to us, not lost
        host.jobChanged.connect(self._job_changed)
        for job in host.jobs():
            self.jobs.update_job(job)
        host.failed.connect(self.show_error)
        tasks.searched.connect(self._searched)
        tasks.listed.connect(self._listed)
        tasks.draftFound.connect(self._draft_found)
        tasks.draftsDone.connect(self._drafts_done)
        tasks.error.connect(self._task_error)

    # ---- building ---------------------------------------------------------------------------------------------
    def _build_search(self) -> QWidget:
        w = QWidget()
        self.query = QLineEdit()
        self.query.setPlaceholderText("Search GGUF models, e.g. Qwen2.5 7B Instruct")
        self.sort = QComboBox()
        for key in SORTS:
            self.sort.addItem(f"by {key}", key)
        self.search_button = QPushButton("Search")
        self.results = QListWidget()
        self.files_tree = QTreeWidget()
        self.files_tree.setHeaderLabels(["File", "Quantization", "Size", ""])
        self.files_tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.files_tree.header().setStretchLastSection(False)
        self.files_tree.setRootIsDecorated(False)
        self.fit_label = QLabel("")
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
        lay.addWidget(self.results, 1)
        lay.addWidget(self.files_tree, 1)
        lay.addLayout(bottom)
        self.query.returnPressed.connect(self.run_search)
        self.search_button.clicked.connect(self.run_search)
        self.results.currentItemChanged.connect(self._repo_selected)
        self.files_tree.currentItemChanged.connect(self._file_selected)
        self.remote_drafts_button.clicked.connect(self.find_drafts_for_selected_file)
        self.files_tree.itemDoubleClicked.connect(lambda *_: self.download_selected_file())
        self.download_button.clicked.connect(self.download_selected_file)
        return w

    def _build_pairs(self) -> QWidget:
        w = QWidget()
        self.pairs = QListWidget()
        self.pairs.setWordWrap(True)
        for pair in load_catalog():
            item = QListWidgetItem(f"{pair.title}\n{pair.main.repo} ({pair.main.quant}) + {pair.draft.repo} "
                                   f"({pair.draft.quant})\n{pair.notes}")
            item.setData(CHOICE_ROLE, pair)
            self.pairs.addItem(item)
        self.pair_button = QPushButton("Download pair")
        self.pair_button.clicked.connect(self.download_selected_pair)
        self.pairs.itemDoubleClicked.connect(lambda *_: self.download_selected_pair())
        lay = QVBoxLayout(w)
        lay.addWidget(QLabel("Main and draft models known to share a tokenizer; one click queues both."))
        lay.addWidget(self.pairs, 1)
        lay.addWidget(self.pair_button, 0, Qt.AlignmentFlag.AlignRight)
        return w

    def _build_drafts(self) -> QWidget:
        w = QWidget()
        self.draft_for = QLabel("Load a main model, then search here for smaller models with its tokenizer.")
        self.draft_for.setWordWrap(True)
        self.draft_query = QLineEdit()
        self.draft_query.setPlaceholderText("Also search for (optional), e.g. Qwen2.5-0.5B")
        self.draft_button = QPushButton("Search the hub")
        self.drafts_tree = QTreeWidget()
        self.drafts_tree.setHeaderLabels(["Repo", "File", "Size", "Verdict"])
        self.drafts_tree.header().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        for col, width in ((0, 280), (1, 230), (2, 80)):
            self.drafts_tree.setColumnWidth(col, width)
        self.drafts_tree.setRootIsDecorated(False)
        self.drafts_tree.setWordWrap(True)
        self.draft_download = QPushButton("Download draft")
        self.draft_download.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.draft_query, 1)
        row.addWidget(self.draft_button)
        lay = QVBoxLayout(w)
        lay.addWidget(self.draft_for)
        lay.addLayout(row)
        lay.addWidget(self.drafts_tree, 1)
        lay.addWidget(self.draft_download, 0, Qt.AlignmentFlag.AlignRight)
        self.draft_button.clicked.connect(self.findDraftsRequested.emit)
        self.draft_query.returnPressed.connect(self.findDraftsRequested.emit)
        self.drafts_tree.currentItemChanged.connect(self._draft_selected)
        self.draft_download.clicked.connect(self.download_selected_draft)
        return w

    def _build_queue(self) -> QWidget:
        w = QWidget()
        self.jobs = DownloadListModel()
        self.queue = QListView()
        self.queue.setModel(self.jobs)
        self.queue.setItemDelegate(DownloadDelegate(self.queue))
        self.queue.setUniformItemSizes(True)
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume / retry")
        self.cancel_button = QPushButton("Cancel")
        self.clear_button = QPushButton("Clear finished")
        self.import_mode = QComboBox()
        for mode in IMPORT_MODES:
            self.import_mode.addItem({"copy": "Import by copying", "move": "Import by moving",
                                      "link": "Import as a link"}[mode], mode)
        self.import_button = QPushButton("Import GGUF…")
        row = QHBoxLayout()
        for b in (self.pause_button, self.resume_button, self.cancel_button, self.clear_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(self.import_mode)
        row.addWidget(self.import_button)
        lay = QVBoxLayout(w)
        lay.addWidget(self.queue, 1)
        lay.addLayout(row)
        lay.addWidget(QLabel("Drop GGUF files anywhere on this window to import them."))
        self.pause_button.clicked.connect(lambda: self._on_selected_job(self.host.pause))
        self.resume_button.clicked.connect(lambda: self._on_selected_job(self.host.resume))
        self.cancel_button.clicked.connect(lambda: self._on_selected_job(self.host.cancel))
        self.clear_button.clicked.connect(self.clear_finished)
        self.import_button.clicked.connect(self.choose_import)
        return w

    def _build_token_row(self) -> QHBoxLayout:
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("Hugging Face token for gated or private repos (hf_…)")
        self.token.setText(saved_token())
        self.token_button = QPushButton("Save token")
        self.token_state = QLabel("")
        self._show_token_state()
        self.token_button.clicked.connect(self.save_token)
        row = QHBoxLayout()
        row.addWidget(self.token, 1)
        row.addWidget(self.token_button)
        row.addWidget(self.token_state)
        return row

    # ---- search -----------------------------------------------------------------------------------------------
    def run_search(self) -> None:
        self.status.setText("Searching…")
        self._search_id = self.tasks.search(self.query.text(), self.sort.currentData())

    def _searched(self, rid: int, repos: list[RepoSummary]) -> None:
        if rid != self._search_id:
            return
        self.results.clear()
        self.files_tree.clear()
        for r in repos:
            item = QListWidgetItem(f"{r.repo_id}    ↓ {r.downloads:,}   ♥ {r.likes:,}{'   (gated)' if r.gated else ''}")
            item.setData(CHOICE_ROLE, r.repo_id)
            self.results.addItem(item)
        self.status.setText(f"{len(repos)} repos with GGUF files" if repos else "No GGUF repos match.")

    def _repo_selected(self, item: QListWidgetItem | None, _: object = None) -> None:
        if item is None:
            return
        self.files_tree.clear()
        self.fit_label.setText("Reading the file list…")
        self._files_id = self.tasks.files(item.data(CHOICE_ROLE))

    def _listed(self, rid: int, listing: RepoFiles, choices: list[GgufChoice], best: GgufChoice | None,
                budget: str) -> None:
        if rid != self._files_id:
            return
        self._listing = listing
        self.files_tree.clear()
        for c in choices:
            note = "★ recommended" if c is best else ("vision projector" if c.is_projector else
                                                      "" if c.complete else "incomplete split")
            parts = f"  ({len(c.parts)} parts)" if len(c.parts) > 1 else ""
            item = QTreeWidgetItem([c.name + parts, c.quant or "?", format_bytes(c.size), note])
            item.setData(0, CHOICE_ROLE, c)
            if c is best:
                font = item.font(0)
                font.setBold(True)
                for col in range(4):
                    item.setFont(col, font)
            self.files_tree.addTopLevelItem(item)
            if c is best:
                self.files_tree.setCurrentItem(item)
        self.fit_label.setText(f"Recommended: the best quality that fits {budget}."
                               if best else f"No file here fits {budget}; smaller quantizations run partly on CPU.")

    def _file_selected(self, item: QTreeWidgetItem | None, _: object = None) -> None:
        choice: GgufChoice | None = item.data(0, CHOICE_ROLE) if item else None
        self.download_button.setEnabled(choice is not None)
        self.remote_drafts_button.setEnabled(choice is not None and not choice.is_projector)

    def find_drafts_for_selected_file(self) -> None:
        item = self.files_tree.currentItem()
        if item is None or self._listing is None:
            return
        choice: GgufChoice = item.data(0, CHOICE_ROLE)
        self._start_draft_search(f"{self._listing.repo_id} · {choice.name}")
        self._drafts_id = self.tasks.find_drafts_remote(self._listing.repo_id, self._listing.revision, choice,
                                                        self.draft_query.text().strip())

    def download_selected_file(self) -> None:
        item = self.files_tree.currentItem()
        if item is None or self._listing is None:
            return
        self.host.enqueue(self._listing.repo_id, self._listing.revision, item.data(0, CHOICE_ROLE))
        self.tabs.setCurrentIndex(3)

    # ---- pairs --------------------------------------------------------------------------------------------------
    def download_selected_pair(self) -> None:
        item = self.pairs.currentItem()
        if item is None:
            return
        pair: CatalogPair = item.data(CHOICE_ROLE)
        self.status.setText(f"Looking up {pair.title}…")
        self.host.enqueue_pair(pair)
        self.tabs.setCurrentIndex(3)

    # ---- drafts -------------------------------------------------------------------------------------------------
    def find_drafts_for(self, main_path: str, main_label: str) -> None:
        self.tabs.setCurrentIndex(2)
        if not main_path:
            self.draft_for.setText("Load a main model first: the search is for drafts that fit it.")
            return
        self._start_draft_search(main_label)
        self._drafts_id = self.tasks.find_drafts(main_path, self.draft_query.text().strip())

    def _start_draft_search(self, main_label: str) -> None:
        self.tabs.setCurrentIndex(2)
        self.draft_for.setText(f"Drafts for <b>{main_label}</b>: checked by tokenizer from each file's header "
                               f"(a few MB), before anything is downloaded.")
        self.drafts_tree.clear()
        self.status.setText("Searching the hub and reading candidate headers…")

    def _draft_found(self, rid: int, s: DraftSuggestion) -> None:
        if rid != self._drafts_id:
            return
        verdict = "✓ fits" if s.compatible else "✗ " + "; ".join(s.reasons)
        if s.compatible and s.advice:
            verdict += " — " + "; ".join(s.advice)
        item = QTreeWidgetItem([s.repo_id, s.choice.name if s.choice else "",
                                format_bytes(s.choice.size) if s.choice else "", verdict])
        item.setToolTip(3, verdict)
        item.setData(0, CHOICE_ROLE, s)
        # fits without reservations first, then fits with advice, then the rest; each in the order found
        rank = suggestion_rank(s)
        at = sum(1 for i in range(self.drafts_tree.topLevelItemCount())
                 if suggestion_rank(self.drafts_tree.topLevelItem(i).data(0, CHOICE_ROLE)) <= rank)
        self.drafts_tree.insertTopLevelItem(at, item)

    def _drafts_done(self, rid: int, note: str) -> None:
        if rid == self._drafts_id:
            n = sum(1 for i in range(self.drafts_tree.topLevelItemCount())
                    if self.drafts_tree.topLevelItem(i).data(0, CHOICE_ROLE).compatible)
            self.status.setText(note or f"{n} compatible draft{'s' if n != 1 else ''} found.")

    def _draft_selected(self, item: QTreeWidgetItem | None, _: object = None) -> None:
        s = item.data(0, CHOICE_ROLE) if item else None
        self.draft_download.setEnabled(bool(s and s.compatible and s.choice))

    def download_selected_draft(self) -> None:
        item = self.drafts_tree.currentItem()
        s: DraftSuggestion | None = item.data(0, CHOICE_ROLE) if item else None
        if s and s.choice:
            self.host.enqueue(s.repo_id, s.revision, s.choice)
            self.tabs.setCurrentIndex(3)

    # ---- queue --------------------------------------------------------------------------------------------------
    def _job_changed(self, job: DownloadJob) -> None:
        self.jobs.update_job(job)
        if job.state == State.FAILED:
            self.status.setText(f"{job.name}: {job.error}")

    def _on_selected_job(self, action: object) -> None:
        job = self.jobs.job_at(self.queue.currentIndex().row())
        if job is not None:
            action(job.id)  # type: ignore[operator]

    def clear_finished(self) -> None:
        for job in self.host.jobs():
            if job.state.finished:
                self.host.remove(job.id)
                self.jobs.remove_job(job.id)

    # ---- import -------------------------------------------------------------------------------------------------
    def choose_import(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Import GGUF models", str(Path.home()), "GGUF models (*.gguf)")
        if files:
            self.import_files(files)

    def import_files(self, files: list[str]) -> None:
        self.status.setText(f"Importing {len(files)} file{'s' if len(files) != 1 else ''}…")
        self.host.import_files(files, self.import_mode.currentData())

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
        save_token(self.token.text())
        self._show_token_state()

    def _show_token_state(self) -> None:
        if saved_token():
            self.token_state.setText("saved")
            self.token_state.setToolTip(f"Kept in {token_file()}, readable by you only; never logged.")
        elif resolve_token():
            self.token_state.setText("using huggingface-hub's token")
            self.token_state.setToolTip("From HF_TOKEN or `hf auth login`.")
        else:
            self.token_state.setText("no token")
            self.token_state.setToolTip("Public repos need none.")

    def show_error(self, message: str) -> None:
        self.status.setText(message)

    def _task_error(self, rid: int, message: str) -> None:
        if rid in (self._search_id, self._files_id, self._drafts_id):
            self.status.setText(message)
