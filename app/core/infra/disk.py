"""Disk facts and writes, as sentences the user can act on: free space (shared by downloads and the importer, which
must not import the hub's transfer code to copy a local file), atomic text writes and their errors (exports)."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path


def free_space_error(directory: Path, needed: int, reserve: int) -> str | None:
    """A sentence when the disk under `directory` cannot take `needed` more bytes and keep `reserve` free."""
    free = shutil.disk_usage(directory).free
    if free - needed >= reserve:
        return None
    return (f"not enough disk space: it needs {needed / 2**30:.2f} GiB more and {directory} has "
            f"{free / 2**30:.2f} GiB free (SpecChat keeps {reserve / 2**30:.2f} GiB spare)")


def write_text_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so that it is either the old file or the whole new one, never half of either: a temp
    file beside it, flushed to disk, then one rename. Raises OSError; os_error_text() says it in words."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def os_error_text(e: OSError, path: Path) -> str:
    """An OSError as a sentence that says what to do: a full disk, a folder that cannot be written, a missing one."""
    folder = path.parent
    if e.errno == errno.ENOSPC or e.errno == errno.EDQUOT:
        return f"the disk is full: {folder} has no room for {path.name}. Free some space or choose another folder."
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"{folder} cannot be written (permission denied). Choose another folder."
    if e.errno == errno.EROFS:
        return f"{folder} is on a read-only disk. Choose another folder."
    if e.errno == errno.ENOENT:
        return f"the folder {folder} does not exist (any more). Choose another folder."
    if e.errno == errno.EFBIG:
        return f"{path.name} is too large for {folder} (a file size limit or quota). Choose another folder."
    if e.errno == errno.EISDIR:
        return f"{path} is a folder. Choose another file name."
    return f"{path} could not be written: {e.strerror or e}"
