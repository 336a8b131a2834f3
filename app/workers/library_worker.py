"""Library scans and draft-candidate verdicts off the GUI thread (a cold scan reads every GGUF header)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.core.models.gguf_reader import GGUFError
from app.core.models.library import ModelLibrary, pick_default_drafter
from app.core.models.model_info import read_model_info

log = logging.getLogger("specchat.worker")


class LibraryScanner(QObject):
    scanned = Signal(list)  # [LibraryEntry], every file found (unreadable ones with their error)
    candidates = Signal(str, list, list, object)  # main path, fits, others, default drafter (DraftCandidate|None)

    def __init__(self, dirs: list[Path], db_path: Path) -> None:
        super().__init__()
        self.dirs = dirs
        self.db_path = db_path
        self._lock = threading.Lock()  # one scan at a time; the SQLite cache is shared

    def scan(self) -> None:
        threading.Thread(target=self._scan, name="library-scan", daemon=True).start()

    def find_drafts(self, main_path: str) -> None:
        threading.Thread(target=self._drafts, args=(main_path,), name="draft-candidates", daemon=True).start()

    def _scan(self) -> None:
        try:
            with self._lock:
                entries = ModelLibrary(self.dirs, self.db_path).scan()
        except Exception:  # noqa: BLE001 - files are judged one by one; this is a bug, logged, not a dead thread
            log.exception("library scan failed")
            return
        self.scanned.emit(entries)  # queued to the GUI thread's receivers

    def _drafts(self, main_path: str) -> None:
        with self._lock:
            lib = ModelLibrary(self.dirs, self.db_path)
            lib.scan()  # warm: the SQLite cache answers, no header is read again
            entry = lib.find(main_path)
            try:  # a main model loaded from outside the library is read once, here
                main = entry.info if entry is not None and entry.info is not None else read_model_info(main_path)
            except (GGUFError, OSError) as e:
                log.warning("cannot read %s: %s", main_path, e)
                return
            fits, others = lib.draft_candidates(main)
        self.candidates.emit(main_path, fits, others, pick_default_drafter(fits))
