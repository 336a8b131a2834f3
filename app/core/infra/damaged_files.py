"""The app's own files found damaged at start: set aside (never deleted), replaced by defaults, reported once.

Settings, the chat database, the download queue and the library cache each call `set_aside` when they cannot
read their file. The file (or whatever sits at its path: a folder, a pipe) is renamed to `<name>.bad-<time>`
beside it, so nothing is lost and a developer can look at it, and the owner starts from defaults. The window
shows the collected notices once (`take_notices`); the log has them too.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger("specchat.files")

_lock = threading.Lock()
_notices: list[str] = []


def set_aside(path: Path, reason: str) -> Path | None:
    """Move `path` to `<name>.bad-<time>` and record a notice; returns the new path (None if nothing was there).

    Raises OSError only when the damaged file can be neither moved nor read around (a read-only folder)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    bad = path.with_name(f"{path.name}.bad-{stamp}")
    n = 1
    while bad.exists() or bad.is_symlink():
        n += 1
        bad = path.with_name(f"{path.name}.bad-{stamp}-{n}")
    try:
        os.rename(path, bad)
    except FileNotFoundError:
        return None
    message = f"{reason}: it was set aside as {bad.name} and SpecChat started from defaults for it"
    log.error("%s (%s)", message, bad)
    with _lock:
        _notices.append(message)
    return bad


def take_notices() -> list[str]:
    """The notices recorded so far, each returned once."""
    with _lock:
        out = list(_notices)
        _notices.clear()
    return out
