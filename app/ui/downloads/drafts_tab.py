"""The Downloads window's Find a draft tab: smaller models of the main model's tokenizer on the hub, each checked
from its header before anything is downloaded (app/core/hub/draft_finder.py), listed fits-first with its verdict.

A part of DownloadsWindow (downloads_window.py), which it is mixed into: the names declared below are the
window's."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, SignalInstance
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QTabWidget, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from app.core.hub.draft_finder import DraftSuggestion, suggestion_rank
from app.core.hub.gguf_files import GgufChoice
from app.core.models.formatting import format_bytes
from app.ui.downloads.hub_rows import CHOICE_ROLE, DRAFTS_TAB, IN_LIBRARY, QUEUE_TAB, fit_columns, status_label, tooltips
from app.ui.widgets.tree_rows import top_level_items
from app.workers.download_worker import DownloadHost, HubTasks


class DraftsTab(QDialog):
    # the window's (downloads_window.py)
    host: DownloadHost
    tasks: HubTasks
    tabs: QTabWidget
    findDraftsRequested: SignalInstance

    def installed(self, repo_id: str, choice: GgufChoice | None) -> bool:
        raise NotImplementedError

    def _send(self, kind: str, request: Callable[[], None]) -> None:
        raise NotImplementedError

    def _hub_answered(self, kind: str) -> None:
        raise NotImplementedError

    def _build_drafts(self) -> QWidget:
        w = QWidget()
        # said before any search, with or without a main model loaded (the window does not follow the sidebar)
        self.draft_for = QLabel("Search the hub for smaller models with the loaded main model's tokenizer (or "
                                "for a file's: Search the hub tab, Find drafts for this file).")
        self.draft_for.setWordWrap(True)
        self.draft_query = QLineEdit()
        self.draft_query.setPlaceholderText("Also search for (optional), e.g. Qwen2.5-0.5B")
        self.draft_button = QPushButton("Search the hub")
        self.drafts_tree = QTreeWidget()
        self.drafts_tree.setHeaderLabels(["Repo", "File", "Size", "Verdict"])
        fit_columns(self.drafts_tree, stretch=3, elide=Qt.TextElideMode.ElideRight)
        header = self.drafts_tree.header()
        for col, chars in ((0, 30), (1, 28)):  # names: a share of the width, elided, the rest for the verdict
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            self.drafts_tree.setColumnWidth(col, self.fontMetrics().averageCharWidth() * chars)
        self.draft_detail = QLabel("")  # the selected row's whole verdict: the column shows its start
        self.draft_detail.setWordWrap(True)
        self.drafts_status = status_label()
        self.draft_download = QPushButton("Download draft")
        self.draft_download.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.draft_query, 1)
        row.addWidget(self.draft_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.drafts_status, 1)
        bottom.addWidget(self.draft_download)
        lay = QVBoxLayout(w)
        lay.addWidget(self.draft_for)
        lay.addLayout(row)
        lay.addWidget(self.drafts_tree, 1)
        lay.addWidget(self.draft_detail)
        lay.addLayout(bottom)
        self.draft_button.clicked.connect(self.findDraftsRequested.emit)
        self.draft_query.returnPressed.connect(self.findDraftsRequested.emit)
        self.drafts_tree.currentItemChanged.connect(self._draft_selected)
        self.draft_download.clicked.connect(self.download_selected_draft)
        return w

    # ---- drafts -------------------------------------------------------------------------------------------------
    def find_drafts_for(self, main_path: str, main_label: str) -> None:
        self.tabs.setCurrentIndex(DRAFTS_TAB)
        if not main_path:
            self.draft_for.setText("Load a main model first: the search is for drafts that fit it.")
            self.drafts_status.setText("")
            return
        query = self.draft_query.text().strip()

        def request() -> None:
            self._start_draft_search(main_label)
            self.tasks.find_drafts(main_path, query)

        self._send("drafts", request)

    def _start_draft_search(self, main_label: str) -> None:
        self.tabs.setCurrentIndex(DRAFTS_TAB)
        self.draft_for.setText(f"Drafts for <b>{main_label}</b>: checked by tokenizer from each file's header "
                               f"(a few MB), before anything is downloaded.")
        self.drafts_tree.clear()
        self.draft_detail.setText("")
        self.drafts_status.setText("Searching the hub and reading candidate headers…")

    def _verdict(self, s: DraftSuggestion) -> str:
        verdict = "✓ fits" if s.compatible else "✗ " + "; ".join(s.reasons)
        if s.compatible and s.advice:
            verdict += " — " + "; ".join(s.advice)
        return f"{IN_LIBRARY} · {verdict}" if self.installed(s.repo_id, s.choice) else verdict

    def _draft_found(self, s: DraftSuggestion) -> None:
        item = QTreeWidgetItem([s.repo_id, s.choice.name if s.choice else "",
                                format_bytes(s.choice.size) if s.choice else "", self._verdict(s)])
        item.setData(0, CHOICE_ROLE, s)
        tooltips(item)
        # fits without reservations first, then fits with advice, then the rest; each in the order found
        rank = suggestion_rank(s)
        at = sum(1 for row in top_level_items(self.drafts_tree) if suggestion_rank(row.data(0, CHOICE_ROLE)) <= rank)
        self.drafts_tree.insertTopLevelItem(at, item)

    def _drafts_done(self, note: str) -> None:
        self._hub_answered("drafts")
        found = [item.data(0, CHOICE_ROLE) for item in top_level_items(self.drafts_tree)]
        n = sum(1 for s in found if s.compatible)
        have = sum(1 for s in found if s.compatible and self.installed(s.repo_id, s.choice))
        text = note or f"{n} compatible draft{'s' if n != 1 else ''} found"
        self.drafts_status.setText(text + (f", {have} of them in your library already." if have and not note
                                           else "." if not note else ""))

    def _draft_selected(self, item: QTreeWidgetItem | None, _: object = None) -> None:
        s: DraftSuggestion | None = item.data(0, CHOICE_ROLE) if item else None
        have = bool(s and self.installed(s.repo_id, s.choice))
        self.draft_download.setEnabled(bool(s and s.compatible and s.choice and not have))
        if s is None:
            self.draft_detail.setText("")
            return
        where = (f"{s.repo_id} · {s.choice.name} ({format_bytes(s.choice.size)})" if s.choice else s.repo_id)
        extra = " It is already in your library: choose it in the sidebar's draft list." if have else ""
        self.draft_detail.setText(f"{where}: {self._verdict(s).removeprefix(IN_LIBRARY + ' · ')}.{extra}")

    def download_selected_draft(self) -> None:
        item = self.drafts_tree.currentItem()
        s: DraftSuggestion | None = item.data(0, CHOICE_ROLE) if item else None
        if s and s.choice and not self.installed(s.repo_id, s.choice):
            self.host.enqueue(s.repo_id, s.revision, s.choice)
            self.tabs.setCurrentIndex(QUEUE_TAB)
