"""Settings written when they change, not only on a clean quit: a kill, a crash or a power cut loses at most the
last DELAY_MS of edits (the draft choice, the model switch, the theme, the chat that was open).

Edits arrive in bursts (a spin box held down, a window dragged), so a change only (re)starts a short timer and
one write follows the burst; `flush` writes at once (the window closing). The write itself is
settings.save_settings: a temp file, fsync, rename, so a kill mid-write keeps the previous file whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from app.core.infra.settings import Settings, save_settings

log = logging.getLogger("specchat.settings")

DELAY_MS = 400  # long enough to fold a burst of edits into one write, short enough that a kill loses little


class SettingsSaver(QObject):
    failed = Signal(str)  # why the settings could not be written (the window's status bar says it)

    def __init__(self, settings: Settings, collect: Callable[[Settings], None], path: Path | None = None,
                 delay_ms: int = DELAY_MS, parent: QObject | None = None) -> None:
        """`collect` copies what widgets hold (the sidebar's fields, the window geometry) into `settings` before
        each write; everything else writes into `settings` directly and calls `changed`."""
        super().__init__(parent)
        self.settings, self._collect, self.path = settings, collect, path
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self.flush)
        self._last_error = ""

    @property
    def pending(self) -> bool:
        return self._timer.isActive()

    def changed(self) -> None:
        self._timer.start()  # restarts a running timer: one write after the burst

    def drop_pending(self) -> None:
        """Forget a write not yet made (a window that was never shown must not save its geometry)."""
        self._timer.stop()

    def flush(self) -> bool:
        """Write now (a pending write is folded in). False when the file could not be written."""
        self._timer.stop()
        try:
            self._collect(self.settings)
            save_settings(self.settings, self.path)
        except OSError as e:
            message = f"Settings not saved: {e.strerror or e} ({e.filename or self.path or 'settings file'})"
            if message != self._last_error:  # a full disk is said once, not on every edit
                log.error("%s", message)
                self.failed.emit(message)
            self._last_error = message
            return False
        self._last_error = ""
        return True
