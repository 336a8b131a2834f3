"""The main window's Settings window: File > Settings… (Ctrl+,), and what its changes do to the rest of the window.

A mixin of MainWindow (app/ui/main_window.py), over window_parts.py like the others. The Settings window edits the
settings itself; here its signals reach the parts they change: the theme (through the menu bar, so View > Theme
stays checked right), the font, the sidebar's Context field, the library's folders, the gauge's overflow policy,
a reload of the main model, the Local server window.
"""

from __future__ import annotations

import logging

from PySide6.QtGui import QAction, QFont
from PySide6.QtWidgets import QApplication

from app.core.inference.context_fit import as_policy
from app.core.models.library import configured_model_dirs
from app.ui import shortcuts
from app.ui.settings.settings_window import SettingsWindow
from app.ui.window_parts import WindowParts

log = logging.getLogger("specchat.ui")


class SettingsActions(WindowParts):
    settings_window: SettingsWindow | None

    def _build_settings_action(self) -> None:
        self.settings_window = None
        act = QAction("&Settings…", self)
        act.setObjectName("settings")
        act.setShortcut(shortcuts.key_sequence(shortcuts.SETTINGS))
        act.triggered.connect(lambda _=False: self.open_settings())
        self.addAction(act)
        self.models.mainChanged.connect(lambda *_: self._settings_loaded_changed())
        self.sidebar.n_ctx.valueChanged.connect(self._sidebar_context_changed)
        self.apply_font_size(self.settings.ui.font_size)

    def open_settings(self) -> SettingsWindow:
        if self.settings_window is None:
            w = SettingsWindow(self.settings, self.settings_saver.changed, self.paths.models, self)
            w.themeChosen.connect(self.set_theme)
            w.fontSizeChosen.connect(self.apply_font_size)
            w.contextChosen.connect(self.sidebar.n_ctx.setValue)
            w.modelDirsChanged.connect(self.set_model_dirs)
            w.overflowChosen.connect(self._overflow_chosen)
            w.reloadRequested.connect(self._reload_main)
            w.serverRequested.connect(self.open_server_window)
            self.settings_window = w
            self._settings_loaded_changed()
        self.settings_window.set_context(self.sidebar.n_ctx.value())
        self.settings_window.show()
        self.settings_window.raise_()
        self.settings_window.activateWindow()
        return self.settings_window

    def apply_font_size(self, points: int) -> None:
        """The window's text at `points` (0: the system's), the conversation re-rendered in it."""
        app = QApplication.instance()
        if not isinstance(app, QApplication):
            return
        if not hasattr(self, "_system_font"):
            self._system_font = QFont(app.font())
        font = QFont(self._system_font)
        if points > 0:
            font.setPointSize(points)
        if font == app.font():
            return
        app.setFont(font)
        self.view.setFont(font)
        self.view.refresh_theme()  # the chat's formats carry the font they were made with

    def set_model_dirs(self, extra: list[str]) -> None:
        """The library's folders: SpecChat's own and `extra`; watched, and scanned again now."""
        dirs = configured_model_dirs(self.paths.models, extra)
        self.model_dirs = dirs
        self.scanner.dirs = dirs
        watched = set(self.watcher.directories())
        wanted = {str(d) for d in dirs if d.is_dir()}
        if watched - wanted:
            self.watcher.removePaths(sorted(watched - wanted))
        if wanted - watched:
            self.watcher.addPaths(sorted(wanted - watched))
        self.scanner.scan()

    def _overflow_chosen(self, policy: str) -> None:
        self.context_gauge.set_policy(as_policy(policy))

    def _reload_main(self) -> None:
        if self.models.main is not None:
            self.models.load_main(self.models.main.path)

    def _sidebar_context_changed(self, n_ctx: int) -> None:
        if self.settings_window is not None:
            self.settings_window.set_context(n_ctx)

    def _settings_loaded_changed(self) -> None:
        if self.settings_window is None:
            return
        options = self.models.main_options if self.models.main is not None else None
        self.settings_window.set_loaded((options.n_ctx, options.n_threads, options.n_batch) if options else None)

