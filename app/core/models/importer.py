"""Bring GGUF files the user already has into the library: copy, move, or link (no second copy on disk).

The file is read first (header, all parts of a split model), so a broken file is refused with the reader's
reason before anything is written. Copies go to a hidden temporary name and are renamed into place, so a copy
cut short by a full disk or a crash never shows up in the library.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from app.core.models.model_info import read_model_info, split_parts
from app.core.infra.disk import free_space_error

log = logging.getLogger("specchat.library")

MODES = ("copy", "move", "link")
IMPORT_DIR = "imported"


class ImportError_(Exception):  # noqa: N801 - the builtin ImportError means something else
    pass


def _target(models_dir: Path, first: Path, n_shards: int) -> Path:
    base = models_dir / IMPORT_DIR
    if n_shards > 1:  # a split model keeps its parts together in a directory of its own
        parts = split_parts(first)
        base = base / (parts[0] if parts else first.stem)
    return base / first.name


def import_gguf(src: str | Path, models_dir: Path, mode: str = "copy") -> Path:
    """Import a GGUF file (part 1 for a split model); returns the path the library will list it under.
    Raises GGUFError for a file that is not a usable GGUF, ImportError_ for everything else."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    info = read_model_info(src)
    shards = [Path(p) for p in info.shards]
    root = models_dir.resolve()
    if all(p.resolve().is_relative_to(root) for p in shards):
        return Path(info.path)  # already in the library
    first_dest = _target(models_dir, shards[0], len(shards))
    dests = [first_dest.with_name(p.name) for p in shards]
    if all(d.exists() and d.stat().st_size == s.stat().st_size for d, s in zip(dests, shards)):
        return first_dest
    taken = [d for d in dests if d.exists() or d.is_symlink()]
    if taken:
        raise ImportError_(f"{taken[0]} already exists with other content; rename one of them first")
    first_dest.parent.mkdir(parents=True, exist_ok=True)
    if mode == "copy" or (mode == "move" and os.stat(shards[0]).st_dev != os.stat(first_dest.parent).st_dev):
        problem = free_space_error(first_dest.parent, info.file_size, 64 << 20)
        if problem:
            raise ImportError_(problem)
    for s, d in zip(shards, dests):
        if mode == "link":
            os.symlink(s.resolve(), d)
            continue
        tmp = d.with_name(f".{d.name}.importing")
        try:
            if mode == "move":
                shutil.move(s, tmp)
            else:
                shutil.copyfile(s, tmp)
            os.replace(tmp, d)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise ImportError_(f"cannot {mode} {s.name} into {d.parent}: {e.strerror or e}") from e
    log.info("imported %s (%s) -> %s", src, mode, first_dest)
    return first_dest
