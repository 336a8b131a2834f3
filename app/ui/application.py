"""QApplication set-up: identity, logging, an excepthook that logs and shows instead of dying, the main window."""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from app import APP_ID, APP_NAME, __version__
from app.core.infra.logging_setup import log_file, setup_logging
from app.core.infra.paths import app_paths
from app.core.infra.resources import resource_path
from app.workers.tasks import install_thread_excepthook

log = logging.getLogger("specchat.ui")


def _excepthook(etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    text = "".join(traceback.format_exception(etype, value, tb))
    log.error("unhandled exception:\n%s", text)
    show_unexpected_error(f"{type(value).__name__}: {value}")


def show_unexpected_error(message: str) -> None:
    """The one error dialog for what nobody caught (the GUI thread's excepthook and every other thread's)."""
    if QApplication.instance() is not None:
        QMessageBox.critical(None, f"{APP_NAME}: unexpected error", crash_message(message))


def crash_message(message: str) -> str:
    """What the error dialog says: the error, and the file that holds its traceback (or why there is none)."""
    where = log_file()
    details = (f"The details (traceback) are in the log:\n{where}" if where is not None else
               "No log file could be written (see the terminal's output for the details).")
    return f"{message}\n\n{details}"


_QT_LEVELS = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
              QtMsgType.QtFatalMsg: logging.CRITICAL}


def _qt_message(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
    """Qt's own warnings (a missing font, a platform notice) into the log with ours, not only on a terminal."""
    logging.getLogger("specchat.qt").log(_QT_LEVELS.get(kind, logging.WARNING), "%s", message)


def create_application(argv: list[str]) -> QApplication:
    app = QApplication.instance() or QApplication(argv)
    assert isinstance(app, QApplication), "a QCoreApplication already runs: the window needs a QApplication"
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_NAME)
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(QIcon(str(resource_path("resources/specchat.svg"))))
    return app


def qt_self_check() -> str:
    """Create the application and a main window without showing it: proves the Qt libraries and a platform
    plugin load (what a bundle most often lacks). Returns a short description for the self-test line."""
    from PySide6 import __version__ as pyside_version

    app = create_application([sys.argv[0]])
    from app.ui.main_window import MainWindow

    window = MainWindow()
    window.release()  # not close(): that would save this never-shown window's geometry over the user's
    return f"Qt {pyside_version} on the {app.platformName()} platform plugin"


def run_app(argv: list[str]) -> int:
    paths = app_paths().ensure()
    setup_logging(log_dir=paths.logs)
    sys.excepthook = _excepthook
    qInstallMessageHandler(_qt_message)
    app = create_application(argv)
    install_thread_excepthook(show_unexpected_error)  # exceptions in threads: logged and shown, not only stderr
    from app.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    return app.exec()
