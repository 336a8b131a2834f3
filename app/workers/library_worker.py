"""Library scans and draft-candidate verdicts off the GUI thread (a cold scan reads every GGUF header)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.core.library import ModelLibrary, pick_default_drafter
from app.core.model_info import ModelInfo

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

    def find_drafts(self, main: ModelInfo) -> None:
        threading.Thread(target=self._drafts, args=(main,), name="draft-candidates", daemon=True).start()

    def _scan(self) -> None:
        with self._lock:
            entries = ModelLibrary(self.dirs, self.db_path).scan()
        self.scanned.emit(entries)  # queued to the GUI thread's receivers

    def _drafts(self, main: ModelInfo) -> None:
        with self._lock:
            lib = ModelLibrary(self.dirs, self.db_path)
            lib.scan()
            fits, others = lib.draft_candidates(main)
        self.candidates.emit(main.path, fits, others, pick_default_drafter(fits))
