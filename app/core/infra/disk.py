"""Free disk space, as a sentence the user can act on. Shared by downloads and the importer (which must not
import the hub's transfer code to copy a local file)."""

from __future__ import annotations

import shutil
from pathlib import Path


def free_space_error(directory: Path, needed: int, reserve: int) -> str | None:
    """A sentence when the disk under `directory` cannot take `needed` more bytes and keep `reserve` free."""
    free = shutil.disk_usage(directory).free
    if free - needed >= reserve:
        return None
    return (f"not enough disk space: it needs {needed / 2**30:.2f} GiB more and {directory} has "
            f"{free / 2**30:.2f} GiB free (SpecChat keeps {reserve / 2**30:.2f} GiB spare)")
