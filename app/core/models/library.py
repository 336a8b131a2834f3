"""The model library: every GGUF under the model directories, with metadata cached in SQLite.

Cache key is (path, size, mtime): an unchanged file is never re-read, a replaced or re-downloaded one always is.
Broken files are cached too (with their error) so a bad file costs one read, not one per scan. Split GGUFs
(name-00001-of-00003.gguf ...) are one model, keyed by part 1, with size and mtime over all parts.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from app.core.models.compat import CompatResult, check_compatibility
from app.core.models.gguf_reader import GGUFError
from app.core.models.model_info import ModelInfo, read_model_info, split_parts
from app.core.models.usability import Unusable, main_model_problem
from app.core.infra.damaged_files import set_aside

log = logging.getLogger("specchat.library")

SCHEMA = """
CREATE TABLE IF NOT EXISTS gguf_cache (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    info TEXT,       -- ModelInfo as JSON, when readable
    error TEXT       -- why not, otherwise
)
"""
# bump when ModelInfo's fields or their meaning change: old rows are then re-read
CACHE_FORMAT = 5  # 2: ModelInfo.block_count; 3: ModelInfo.memory; 4: names made up by the converter;
# 5: ModelInfo.generic_name and recommended_sampling


@dataclass(frozen=True)
class LibraryEntry:
    path: str
    info: ModelInfo | None
    error: str | None = None

    @property
    def usable(self) -> bool:
        """Offered as a main or draft model: readable and a text-generation model with weights."""
        return self.problem is None

    @property
    def problem(self) -> Unusable | None:
        """Why the entry is not offered (broken, or not a chat model), in words; None when it is usable."""
        return main_model_problem(self.info, self.error)


@dataclass(frozen=True)
class DraftCandidate:
    entry: LibraryEntry
    result: CompatResult


def _open_db(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=10)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(SCHEMA)
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version != CACHE_FORMAT:
            con.execute("DELETE FROM gguf_cache")
            con.execute(f"PRAGMA user_version = {CACHE_FORMAT}")
            con.commit()
        con.execute("SELECT path, size, mtime_ns, info, error FROM gguf_cache LIMIT 1").fetchall()
    except BaseException:
        con.close()
        raise
    return con


def open_db(path: Path) -> sqlite3.Connection:
    """The cache; a damaged one (garbage, a newer layout, a folder in its place) is set aside and rebuilt: it
    holds nothing that a rescan cannot read again."""
    try:
        return _open_db(path)
    except (sqlite3.Error, OSError) as e:
        if getattr(e, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise  # another process holds it: busy, not damaged (setting it aside would lose nothing but is wrong)
        set_aside(path, f"the model library cache is damaged ({e})")
        for extra in ("-wal", "-shm"):
            Path(f"{path}{extra}").unlink(missing_ok=True)
        return _open_db(path)


def _walk_gguf(root: Path, roots: list[str]) -> Iterator[tuple[Path, os.stat_result]]:
    """GGUF files under root, following symlinks but never looping and never out of the configured model dirs
    (`roots`, real paths: a link to / or /proc/self would otherwise walk the whole filesystem); hidden dirs skipped.

    Only regular files count: a FIFO named like a model would block the first read for ever. A file linked in
    from elsewhere (`import --mode link`) stays a model: it is one file, not a walk."""
    seen_dirs: set[str] = set()
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            real = os.path.realpath(d)
            if real in seen_dirs:
                continue
            seen_dirs.add(real)
            if not any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
                log.warning("not following %s: it leads to %s, outside the model folders", d, real)
                continue
            entries = list(os.scandir(d))
        except OSError as e:
            log.warning("cannot list %s: %s", d, e)
            continue
        for item in entries:
            if item.name.startswith("."):
                continue
            try:
                if item.is_dir():
                    stack.append(Path(item.path))
                elif item.name.lower().endswith(".gguf"):
                    st = item.stat()  # follows a link: the target must be a regular file
                    if stat.S_ISREG(st.st_mode):
                        yield Path(item.path), st
                    else:
                        log.warning("skipping %s: not a regular file", item.path)
            except OSError as err:
                log.warning("cannot stat %s: %s", item.path, err)


def configured_model_dirs(models_dir: Path, extra_dirs: Iterable[str | Path] = ()) -> list[Path]:
    """The data dir's models/ plus the user's extra directories (settings.library.extra_model_dirs): handed in by
    the caller, which read the settings once, rather than read here (it once re-read settings.json per call, and
    a corrupt file could be set aside from a background thread)."""
    return [models_dir, *(Path(d) for d in extra_dirs)]


class ModelLibrary:
    def __init__(self, model_dirs: Iterable[Path], db_path: Path) -> None:
        self.model_dirs = [Path(d).expanduser().absolute() for d in model_dirs]
        self.db_path = db_path
        self.entries: list[LibraryEntry] = []
        self.last_scan_reads = 0  # how many models the last scan had to read from disk (the rest were cached)

    def _files(self) -> dict[Path, list[tuple[Path, os.stat_result]]]:
        """Model key (part 1 or the single file) -> its files with their stat results."""
        groups: dict[Path, list[tuple[Path, os.stat_result]]] = {}
        roots = [os.path.realpath(r) for r in self.model_dirs]
        for root in self.model_dirs:
            if not root.is_dir():
                log.info("model dir %s does not exist (yet)", root)
                continue
            for path, st in _walk_gguf(root, roots):
                parts = split_parts(path)
                key = path if parts is None else path.with_name(f"{parts[0]}-00001-of-{parts[2]:05d}.gguf")
                groups.setdefault(key, []).append((path, st))
        return groups

    def scan(self) -> list[LibraryEntry]:
        t0 = time.perf_counter()
        groups = self._files()
        con = open_db(self.db_path)
        try:
            cached = {row[0]: row[1:] for row in con.execute("SELECT path, size, mtime_ns, info, error FROM gguf_cache")}
            entries: list[LibraryEntry] = []
            fresh = 0
            for key, files in sorted(groups.items()):
                size = sum(st.st_size for _, st in files)
                mtime = max(st.st_mtime_ns for _, st in files)
                row = cached.get(str(key))
                if row is not None and row[0] == size and row[1] == mtime:
                    hit = _cached_entry(key, row)
                    if hit is not None:
                        entries.append(hit)
                        continue
                entry = self._read(key)
                fresh += 1
                con.execute(
                    "INSERT OR REPLACE INTO gguf_cache VALUES (?, ?, ?, ?, ?)",
                    (str(key), size, mtime, json.dumps(entry.info.to_json()) if entry.info else None, entry.error),
                )
                entries.append(entry)
            gone = [p for p in cached if Path(p) not in groups and self._under_roots(Path(p))]
            con.executemany("DELETE FROM gguf_cache WHERE path = ?", [(p,) for p in gone])
            con.commit()
        finally:
            con.close()
        self.entries = entries
        self.last_scan_reads = fresh
        log.info("scanned %d models (%d read, %d from cache) in %.1f ms", len(entries), fresh, len(entries) - fresh,
                 (time.perf_counter() - t0) * 1e3)
        return entries

    def _under_roots(self, p: Path) -> bool:
        return any(p.is_relative_to(r) for r in self.model_dirs)

    @staticmethod
    def _read(key: Path) -> LibraryEntry:
        """One file, judged on its own: whatever it holds, it becomes one entry (with its error), never a failed
        scan that empties the library."""
        try:
            if not key.exists():
                raise GGUFError(f"{key.name}: split model is incomplete, part 1 is missing")
            return LibraryEntry(str(key), read_model_info(key))
        except (GGUFError, OSError) as e:
            log.warning("cannot read %s: %s", key, e)
            return LibraryEntry(str(key), None, str(e))
        except Exception as e:  # noqa: BLE001 - a bug meeting one odd file must not cost the other models
            log.exception("reading %s failed", key)
            return LibraryEntry(str(key), None, f"{key.name}: cannot be read ({type(e).__name__}: {e})")

    def usable(self) -> list[LibraryEntry]:
        return [e for e in self.entries if e.usable]

    def unusable(self) -> list[LibraryEntry]:
        """Broken files and GGUFs that are not chat models: kept with their reason (entry.problem), so the
        window can list them greyed and offer to remove them instead of hiding them."""
        return [e for e in self.entries if not e.usable]

    def find(self, path: str | Path) -> LibraryEntry | None:
        p = str(Path(path).expanduser().absolute())
        return next((e for e in self.entries if e.path == p), None)

    def draft_candidates(self, main: ModelInfo) -> tuple[list[DraftCandidate], list[DraftCandidate]]:
        """(compatible drafts, other models with the reasons they don't fit), both smallest first.

        The main model itself is left out; embeddings, rerankers and projectors are never candidates.
        """
        fits: list[DraftCandidate] = []
        others: list[DraftCandidate] = []
        main_real = os.path.realpath(main.path)
        for e in self.usable():
            assert e.info is not None
            if os.path.realpath(e.path) == main_real:
                continue
            try:
                result = check_compatibility(main, e.info)
            except (GGUFError, OSError) as err:  # the file changed since the scan: one candidate less
                log.warning("cannot compare %s: %s", e.path, err)
                result = CompatResult(False, [f"cannot be read: {err}"])
            (fits if result.compatible else others).append(DraftCandidate(e, result))
        by_size = lambda c: (c.entry.info.parameter_count, c.entry.info.file_size)  # noqa: E731
        return sorted(fits, key=by_size), sorted(others, key=by_size)


def _cached_entry(key: Path, row: tuple) -> LibraryEntry | None:
    """The cached verdict, or None when the row does not decode (an older or damaged cache: read the file)."""
    try:
        info = ModelInfo.from_json(json.loads(row[2])) if row[2] else None
        return LibraryEntry(str(key), info, row[3])
    except (ValueError, TypeError, KeyError) as e:
        log.warning("cache row for %s is unusable (%s); reading the file again", key, e)
        return None


def entry_files(entry: LibraryEntry) -> list[Path]:
    """The files on disk that make up an entry: every part of a split model that is there (a broken split is
    what is left of one), else the one file. A link counts as itself: removing it leaves its target alone."""
    path = Path(entry.path)
    parts = split_parts(path)
    if parts is None:
        return [path] if path.exists() or path.is_symlink() else []
    stem, _, count = parts
    pattern = f"{glob.escape(stem)}-[0-9][0-9][0-9][0-9][0-9]-of-{count:05d}.gguf"
    return sorted(p for p in path.parent.glob(pattern) if p.is_file() or p.is_symlink())


def pick_default_drafter(fits: list[DraftCandidate]) -> DraftCandidate | None:
    """The draft to attach when the user never chose one: the smallest compatible model (fits come smallest
    first) that the size advice has nothing against: not the main's own file, not larger than useful."""
    return next((c for c in fits if not c.result.advice), None)
