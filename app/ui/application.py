"""QApplication set-up: identity, logging, an excepthook that logs and shows instead of dying, the main window."""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from app import APP_ID, APP_NAME, __version__
from app.core.logging_setup import setup_logging
from app.core.paths import app_paths

log = logging.getLogger("specchat.ui")
RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def _excepthook(etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    text = "".join(traceback.format_exception(etype, value, tb))
    log.error("unhandled exception:\n%s", text)
    if QApplication.instance() is not None:
        QMessageBox.critical(None, f"{APP_NAME}: unexpected error", f"{value}\n\nDetails are in the log.")


def create_application(argv: list[str]) -> QApplication:
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_NAME)
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(QIcon(str(RESOURCES / "specchat.svg")))
    return app  # type: ignore[return-value]


def run_app(argv: list[str]) -> int:
    paths = app_paths().ensure()
    setup_logging(log_dir=paths.logs)
    sys.excepthook = _excepthook
    app = create_application(argv)
    from app.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    return app.exec()
