"""Logging for every subsystem: one `specchat.<subsystem>` logger each, configured here once.

The log file (a RotatingFileHandler in the data dir's logs/) is opened by the first call that names a folder,
before any command runs, so every line of a run is in it; the crash dialog names it (`log_file()`).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import platform
import sys
from pathlib import Path

from app import __version__

ROOT = "specchat"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_NAME = "specchat.log"
MAX_BYTES = 2_000_000  # ~10k lines per file; with 3 backups a bad day's log fits in 8 MB
BACKUPS = 3


def _file_handler(root: logging.Logger) -> logging.handlers.RotatingFileHandler | None:
    return next((h for h in root.handlers if isinstance(h, logging.handlers.RotatingFileHandler)), None)


def setup_logging(verbose: bool = False, log_dir: Path | None = None) -> Path | None:
    """stderr gets warnings (everything with -v or SPECCHAT_DEBUG=1); log_dir gets a rotating file at INFO.

    Safe to call again: the console handler is added once, and a call with a (different) log folder opens the
    file there (a first call without one, as on a read-only home, must not leave later runs without a file).
    Returns the log file in use, or None."""
    root = logging.getLogger(ROOT)
    if not getattr(root, "_specchat_configured", False):
        root.setLevel(logging.DEBUG)
        console = logging.StreamHandler()
        console.setLevel(logging.DEBUG if verbose or os.environ.get("SPECCHAT_DEBUG") else logging.WARNING)
        console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(console)
        root._specchat_configured = True  # type: ignore[attr-defined]
    current = _file_handler(root)
    if log_dir is None:
        return Path(current.baseFilename) if current else None
    path = (log_dir / LOG_NAME).absolute()
    if current is not None and Path(current.baseFilename) == path:
        return path
    log_dir.mkdir(parents=True, exist_ok=True)
    fh = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    fh.setLevel(logging.INFO)
    fh.setFormatter(logging.Formatter(FORMAT))
    if current is not None:  # another data dir (tests, a second profile): one file at a time
        root.removeHandler(current)
        current.close()
    root.addHandler(fh)
    logging.getLogger(f"{ROOT}.app").info("SpecChat %s (Python %s, %s) pid %d: %s", __version__,
                                           platform.python_version(), platform.platform(terse=True), os.getpid(),
                                           " ".join(sys.argv[1:]) or "window")
    return path


def log_file() -> Path | None:
    """The file this process logs to (named by the error dialogs), or None when it has none."""
    handler = _file_handler(logging.getLogger(ROOT))
    return Path(handler.baseFilename) if handler else None
