"""What the window's mixins (window_answers, window_models, window_server, window_chats) use of the window and of
each other, declared once: MainWindow makes each of these in its __init__, the mixins read them. A real base class (not a
comment), so the type checker sees that `self.view` in AnswerActions is the window's ChatView."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QTimer
from PySide6.QtWidgets import QLabel, QLineEdit, QListView, QMainWindow, QPushButton, QWidget

from app.core.chats.attachments import Attachment
from app.core.chats.chat_store import ChatStore, Message
from app.core.inference.answer_stats import AnswerStats
from app.core.inference.load_guard import LoadGuard
from app.core.infra.paths import AppPaths
from app.core.infra.settings import Settings
from app.session.answer_session import AnswerSession
from app.session.attachment_counter import AttachmentCounter
from app.session.context_meter import ContextMeter
from app.session.model_session import ModelSession
from app.ui.bench.bench_panel import BenchPanel
from app.ui.chat.attachment_chips import AttachmentChips
from app.ui.chat.chat_view import ChatView, ShownMessage
from app.ui.chat.message_input import MessageInput
from app.ui.sidebar.context_gauge import ContextGauge
from app.ui.sidebar.sidebar import Sidebar
from app.ui.welcome_panel import WelcomePanel
from app.ui.widgets.item_models import ChatListModel
from app.workers.engine_worker import EngineHost
from app.workers.library_worker import LibraryScanner
from app.workers.settings_saver import SettingsSaver


class WindowParts(QMainWindow):
    # made in MainWindow.__init__
    paths: AppPaths
    settings: Settings
    settings_saver: SettingsSaver
    store: ChatStore
    guard: LoadGuard
    host: EngineHost
    models: ModelSession
    answers: AnswerSession
    chat_id: int | None
    editing: int | None  # position of the question being edited: replaced only when sent
    _reload_after_crash: str  # the main model the engine held when it crashed (Retry loads it again)
    _retry_index: int | None  # the answer Retry regenerates once that model is back
    _unusable_seen: set[str]
    bench_panel: BenchPanel | None
    # made in MainWindow._build
    view: ChatView
    input: MessageInput
    input_count_timer: QTimer  # the typed message (and its files) is counted once typing pauses
    chips: AttachmentChips  # the files going with the message (window_attachments.py)
    attach_button: QPushButton
    file_counter: AttachmentCounter
    system_prompt: QLineEdit
    send_button: QPushButton
    stop_button: QPushButton
    edit_bar: QWidget
    edit_label: QLabel
    notice: QLabel
    welcome: WelcomePanel
    sidebar: Sidebar
    search: QLineEdit
    chat_models: ChatListModel
    chat_list: QListView
    context_meter: ContextMeter
    context_gauge: ContextGauge
    scanner: LibraryScanner
    watcher: QFileSystemWatcher
    model_dirs: list[Path]
    _counted_input: str  # the typed text the gauge's "+ N" counts (Send trusts the count only for that text)

    # defined by AnswerActions (window_answers.py)
    def cancel_edit(self, clear_input: bool = True) -> None:
        raise NotImplementedError

    # defined by AttachmentActions (window_attachments.py)
    def restore_files(self, attachments: list[Attachment]) -> None:
        raise NotImplementedError

    def too_big_sentence(self) -> str:
        raise NotImplementedError

    # defined by ChatActions (window_chats.py): the chat list and the chat shown
    def refresh_chats(self) -> None:
        raise NotImplementedError

    def open_chat(self, chat_id: int) -> None:
        raise NotImplementedError

    def _shown(self, m: Message) -> ShownMessage:
        raise NotImplementedError

    def _shown_chat(self, messages: list[Message]) -> list[ShownMessage]:
        raise NotImplementedError

    def measure_context(self) -> None:
        raise NotImplementedError

    # defined by MainWindow: View > Theme's choice (its menu bar keeps the check mark right)
    def set_theme(self, name: str) -> None:
        raise NotImplementedError

    # defined by ServerActions (window_server.py)
    def open_server_window(self) -> object:
        raise NotImplementedError

    @staticmethod
    def _can_continue(m: Message, stats: AnswerStats | None = None) -> bool:
        raise NotImplementedError

    def _save_system_prompt(self) -> None:
        raise NotImplementedError
