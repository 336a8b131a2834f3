"""The window's menu bar: File (new chat, export, import, open the models and logs folders, settings, quit), Chat (regenerate, edit
last question, stop, search chats), View (sidebar, chat list, theme), Server (serve the loaded model, the Local
server window), Help (about). It works through what the
main window hands it (the store, the current chat, New chat, the window's named actions), so the window only
adds it: `self.setMenuBar(AppMenuBar(...))`.

The window owns one QAction per shortcut (app/ui/shortcuts.py) and the menus show those same actions: a second
action on a key would be an ambiguous shortcut that Qt fires for neither.
"""

from __future__ import annotations

import functools
import logging
import platform
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QStandardPaths, QUrl
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMenuBar, QMessageBox

from app import APP_NAME, __version__
from app.core.chats.chat_store import ChatStore
from app.core.chats.export import ExportError, export_chat, suggested_file_name
from app.core.infra.logging_setup import log_file
from app.core.infra.paths import app_paths
from app.core.infra.settings import Settings
from app.ui.theme import THEMES, apply_theme

log = logging.getLogger("specchat.ui")

EXPORTS = {"markdown": ("Markdown", ".md", "Markdown (*.md)"), "json": ("JSON", ".json", "JSON (*.json)")}


class AppMenuBar(QMenuBar):
    def __init__(self, window: QMainWindow, store: ChatStore, current_chat: Callable[[], int | None],
                 new_chat: Callable[[], None], settings: Settings, settings_changed: Callable[[], None],
                 import_models: Callable[[], None] | None = None) -> None:
        super().__init__(window)
        self.window_ = window
        self.store = store
        self.current_chat = current_chat
        self.settings = settings
        self.settings_changed = settings_changed  # the window's SettingsSaver: written within a moment
        self.export_dir: Path | None = None  # where the last export went: the next one starts there

        file_menu = self.addMenu("&File")
        own = self._window_action("new_chat")  # the window's own (it owns Ctrl+N): never a second one
        if own is not None:
            file_menu.addAction(own)
            self.new_chat_action = own
        else:
            self.new_chat_action = self._action(file_menu, "&New chat", new_chat, QKeySequence.StandardKey.New)
        file_menu.addSeparator()
        self.export_actions = {kind: self._action(file_menu, f"Export chat as {label}…",
                                                  functools.partial(self.export_current, kind))
                               for kind, (label, _, _) in EXPORTS.items()}
        file_menu.aboutToShow.connect(self._update_export_actions)
        file_menu.addSeparator()
        if import_models is not None:  # the Downloads tab's import, where a new user looks for it first
            self.import_action = self._action(file_menu, "&Import GGUF files…", import_models)
        self._action(file_menu, "Open &models folder", lambda: self.open_folder(app_paths().models))
        self._action(file_menu, "Open &logs folder", lambda: self.open_folder(app_paths().logs))
        file_menu.addSeparator()
        settings_action = self._window_action("settings")  # the window's own (it owns Ctrl+,)
        if settings_action is not None:
            file_menu.addAction(settings_action)
            file_menu.addSeparator()
        self._action(file_menu, "&Quit", window.close, QKeySequence.StandardKey.Quit)
        self.file_menu = file_menu

        chat_menu = self.addMenu("&Chat")  # the window's chat shortcuts, where they can be found
        self.chat_actions = [a for a in map(self._window_action, ("regenerate", "edit_last", "stop")) if a]
        chat_menu.addActions(self.chat_actions)
        search = self._window_action("search_chats")
        if search is not None:
            chat_menu.addSeparator()
            chat_menu.addAction(search)
            self.chat_actions.append(search)
        self.chat_menu = chat_menu

        view_menu = self.addMenu("&View")
        self.pane_actions = [a for a in map(self._window_action, ("toggle_sidebar", "toggle_chat_list")) if a]
        view_menu.addActions(self.pane_actions)
        if self.pane_actions:
            view_menu.addSeparator()
        theme_menu = view_menu.addMenu("&Theme")
        self.theme_group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for key, label in THEMES:
            act = theme_menu.addAction(label)
            act.setCheckable(True)
            act.triggered.connect(lambda _=False, k=key: self.set_theme(k))
            self.theme_group.addAction(act)
            self.theme_actions[key] = act
        self.view_menu = view_menu

        server_actions = [a for a in map(self._window_action, ("toggle_server", "local_server")) if a]
        if server_actions:  # the local OpenAI-compatible server (the window's own actions)
            self.server_menu = self.addMenu("&Server")
            self.server_menu.addActions(server_actions)

        help_menu = self.addMenu("&Help")
        self._action(help_menu, f"&About {APP_NAME}", self.show_about)
        self.help_menu = help_menu

        applied = apply_theme(settings.ui.theme)
        self.theme_actions[applied].setChecked(True)

    def _window_action(self, name: str) -> QAction | None:
        return next((a for a in self.window_.actions() if a.objectName() == name), None)

    def _action(self, menu: QMenu, text: str, slot: Callable[[], object],
                shortcut: QKeySequence | QKeySequence.StandardKey | None = None) -> QAction:
        act = menu.addAction(text)
        act.triggered.connect(lambda _=False: slot())
        if shortcut is not None:
            act.setShortcut(shortcut)
        return act

    # ---- File -----------------------------------------------------------------------------------------------
    def _update_export_actions(self) -> None:
        has_chat = self.current_chat() is not None
        for act in self.export_actions.values():
            act.setEnabled(has_chat)

    def export_current(self, kind: str, path: Path | None = None) -> Path | None:
        """Ask where (unless `path` is given), write, say where it went or why it did not."""
        chat_id = self.current_chat()
        if chat_id is None:
            QMessageBox.information(self.window_, "Export chat", "Open a chat first.")
            return None
        chat = self.store.chat(chat_id)
        label, suffix, file_filter = EXPORTS[kind]
        if path is None:
            start = self.export_dir or Path(QStandardPaths.writableLocation(
                QStandardPaths.StandardLocation.DocumentsLocation) or Path.home())
            chosen, _ = QFileDialog.getSaveFileName(self.window_, f"Export chat as {label}",
                                                    str(start / suggested_file_name(chat, suffix)), file_filter)
            if not chosen:
                return None
            path = Path(chosen)
            if not path.suffix:
                path = path.with_suffix(suffix)
        try:
            written = export_chat(chat, self.store.messages(chat_id), path, kind)
        except ExportError as e:
            log.warning("%s", e)
            QMessageBox.warning(self.window_, "Export chat", str(e))
            return None
        self.export_dir = written.parent
        log.info("exported chat %d as %s to %s", chat_id, kind, written)
        self.window_.statusBar().showMessage(f"Exported “{chat.title}” to {written}", 8000)
        return written

    def open_folder(self, folder: Path) -> bool:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            QMessageBox.warning(self.window_, "Open folder", f"{folder} cannot be created: {e.strerror or e}")
            return False
        opened = QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
        if not opened:  # no file manager registered (a minimal desktop): at least say where it is
            QMessageBox.information(self.window_, "Open folder", f"No file manager could open it. The folder is:\n"
                                                                 f"{folder}")
        return opened

    # ---- View -----------------------------------------------------------------------------------------------
    def set_theme(self, name: str) -> None:
        applied = apply_theme(name)
        self.theme_actions[applied].setChecked(True)
        self.settings.ui.theme = applied
        self.settings_changed()  # the choice must survive a crash, not only a clean close

    # ---- Help -----------------------------------------------------------------------------------------------
    def about_text(self) -> str:
        # the engine process's own facts (its llama.cpp build and the CPU buffers it chose), once it said them
        host = getattr(self.window(), "host", None)
        facts = dict(getattr(host, "facts", {}) or {})
        if not facts:
            from app.core.inference.llama_backend import build_facts

            facts = build_facts()
        paths = app_paths()
        where = log_file()
        rows = [
            ("Version", f"{APP_NAME} {__version__}"),
            ("llama.cpp", f"llama-cpp-python {facts['llama_cpp_python']}"),
            ("Backend", facts["backend"] + ("" if facts["gpu_offload"] == "yes" else " (no GPU offload in this "
                                                                                   "build)")),
            ("Python / Qt", f"Python {platform.python_version()} · PySide6 {pyside_version} · {sys.platform}"),
            ("Models", str(paths.models)),
            ("Data", str(paths.data)),
            ("Settings", str(paths.settings_file)),
            ("Log", str(where) if where else f"{paths.logs} (no log file in this run)"),
            ("Engine log", str(paths.logs / "engine.log")),
            ("CPU", getattr(host, "cpu", "") or "(the engine is starting)"),
        ]
        table = "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{_esc(v)}</td></tr>" for k, v in rows)
        return (f"<h3>{APP_NAME} {__version__}</h3><p>Chat with local GGUF models, with speculative decoding made "
                f"visible.</p><table>{table}</table><p><small>{_esc(facts['system_info'])}</small></p>")

    def show_about(self) -> None:
        box = QMessageBox(QMessageBox.Icon.NoIcon, f"About {APP_NAME}", self.about_text(),
                          QMessageBox.StandardButton.Close, self.window_)
        box.setObjectName("aboutSpecChat")
        box.exec()


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
