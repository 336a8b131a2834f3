"""The main window's local server: the Server menu's actions, the status-bar line, the Local server window.

A mixin of MainWindow (app/ui/main_window.py). The server itself is LocalServerHost (app/workers/local_server.py)
on the window's engine process; here it meets the menu, the status bar and the sidebar's settings.
"""

from __future__ import annotations

import logging

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel

from app.core.server.openai_api import model_ids
from app.ui import shortcuts
from app.ui.server.server_window import ServerWindow
from app.workers.local_server import LocalServerHost
from app.ui.window_parts import WindowParts

log = logging.getLogger("specchat.ui")


class ServerActions(WindowParts):
    """Mixed into MainWindow: `self.server_host` serves what `self.models` has loaded."""

    def _build_server(self) -> None:
        self.server_host = LocalServerHost(self.host, self)
        self.server_window: ServerWindow | None = None
        self.server_label = QLabel("")
        self.server_label.setObjectName("serverStatusLine")
        self.server_label.hide()
        self.server_label.linkActivated.connect(lambda _: self.open_server_window())
        self.statusBar().addPermanentWidget(self.server_label)
        for name, text, key, slot, checkable in (
                ("local_server", "Local server…", shortcuts.LOCAL_SERVER, self.open_server_window, False),
                ("toggle_server", "Serve the loaded model", None, self.set_serving, True)):
            act = QAction(text, self)
            act.setObjectName(name)
            if key is not None:
                act.setShortcut(shortcuts.key_sequence(key))
            act.setCheckable(checkable)
            act.triggered.connect(slot)
            self.addAction(act)
        self.serve_action = next(a for a in self.actions() if a.objectName() == "toggle_server")
        h = self.server_host
        h.runningChanged.connect(self._server_running_changed)
        h.activeChanged.connect(self._server_active_changed)
        h.failed.connect(lambda message: self.statusBar().showMessage(f"Local server: {message}", 15000))
        for signal in (self.sidebar.settingsEdited, self.sidebar.speculationEdited, self.models.speculationChanged):
            signal.connect(self._push_server_defaults)
        self._push_server_defaults()
        if self.settings.server.enabled:  # it was on at the last close: on again (503 until a model loads)
            h.start(self.settings.server)

    def _push_server_defaults(self, *_: object) -> None:
        self.server_host.set_defaults(self.sidebar.sampling(), self.sidebar.speculation())

    def served_model_id(self) -> str:
        main = self.models.main
        return model_ids(main)[0] if main else ""

    def open_server_window(self) -> ServerWindow:
        if self.server_window is None:
            self.server_window = ServerWindow(self.server_host, self.settings.server, self.settings_saver.changed,
                                              self.served_model_id, self)
        self.server_window.show()
        self.server_window.raise_()
        return self.server_window

    def set_serving(self, on: bool) -> None:
        self.settings.server.enabled = on
        self.settings_saver.changed()
        if on:
            self.server_host.start(self.settings.server)
        else:
            self.server_host.stop()

    def _server_running_changed(self, running: bool, url: str, warning: str) -> None:
        self.serve_action.setChecked(running)
        self._server_line(running, url, 0)
        if warning:
            self.statusBar().showMessage(warning, 20000)

    def _server_active_changed(self, n: int) -> None:
        self._server_line(self.server_host.running, self.server_host.url, n)

    def _server_line(self, running: bool, url: str, active: int) -> None:
        """The status bar says the server is on, and while it answers, that a chat answer waits its turn."""
        self.server_label.setVisible(running)
        if not running:
            return
        busy = (f" · answering {active} request{'s' if active > 1 else ''}: a chat answer waits its turn"
                if active else "")
        self.server_label.setText(f"<a href='server'>Server</a> {url}{busy}")
        self.server_label.setToolTip("The local OpenAI-compatible server (Server > Local server…)")
