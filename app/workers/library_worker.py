"""Library scans and draft-candidate verdicts off the GUI thread (a cold scan reads every GGUF header).

Both run through the one TaskRunner: the newest scan's result is the one shown (an older scan that ends last is
dropped), and a scan that fails (a locked or unreadable database, a folder that vanished) says so in `failed`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import cast

from PySide6.QtCore import QObject, Signal

from app.core.models.gguf_reader import GGUFError
from app.core.models.library import DraftCandidate, LibraryEntry, ModelLibrary, pick_default_drafter
from app.core.models.model_info import read_model_info
from app.workers.tasks import TaskRunner

log = logging.getLogger("specchat.worker")


class LibraryScanner(QObject):
    scanned = Signal(list)  # [LibraryEntry], every file found (unreadable ones with their error)
    candidates = Signal(str, list, list, object)  # main path, fits, others, default drafter (DraftCandidate|None)
    failed = Signal(str)  # a scan or a draft check that could not run, said for the user

    def __init__(self, dirs: list[Path], db_path: Path) -> None:
        super().__init__()
        self.dirs = dirs
        self.db_path = db_path
        self._lock = threading.Lock()  # one scan at a time; the SQLite cache is shared
        self.tasks = TaskRunner(expected=(OSError, sqlite3.Error, GGUFError), parent=self)
        self.tasks.result.connect(self._result)
        self.tasks.errored.connect(self._errored)

    def scan(self) -> int:
        return self.tasks.run("scan", self._scan)

    def find_drafts(self, main_path: str) -> int:
        return self.tasks.run("drafts", lambda: self._drafts(main_path))

    def _scan(self) -> list[LibraryEntry]:
        with self._lock:
            return ModelLibrary(self.dirs, self.db_path).scan()

    def _drafts(self, main_path: str) -> tuple[str, list[DraftCandidate], list[DraftCandidate]]:
        with self._lock:
            lib = ModelLibrary(self.dirs, self.db_path)
            lib.scan()  # warm: the SQLite cache answers, no header is read again
            entry = lib.find(main_path)
            # a main model loaded from outside the library is read once, here
            main = entry.info if entry is not None and entry.info is not None else read_model_info(main_path)
            fits, others = lib.draft_candidates(main)
        return main_path, fits, others

    def _result(self, _id: int, kind: str, value: object) -> None:
        if kind == "scan":
            self.scanned.emit(value)
        else:
            main_path, fits, others = cast("tuple[str, list[DraftCandidate], list[DraftCandidate]]", value)
            self.candidates.emit(main_path, fits, others, pick_default_drafter(fits))

    def _errored(self, _id: int, kind: str, message: str) -> None:
        what = "the model library could not be scanned" if kind == "scan" else "drafts could not be checked"
        log.warning("%s: %s", what, message)
        self.failed.emit(f"{what}: {message}")
