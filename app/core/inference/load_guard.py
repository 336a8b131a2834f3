"""Which models have loaded here, and which load was under way when the app last died.

Two facts, kept in one small JSON file in the data dir and written at once (not at a clean close: a crash is
exactly when they matter):
- `loaded`: files (real path, with size and mtime) that loaded successfully. Only these are ever loaded without
  the user asking: the last main model at start, a default draft. A replaced file is untried again.
- `loading`: a marker written before each load and cleared after it. Found at start, it means the app died while
  loading that file: it is reported ("X crashed while loading; it was not reloaded"), forgotten as loaded, and
  not reloaded.
Untried files need no probe of their own: every load and decode runs in the engine process (engine_process), so a
crash there is reported and recorded (the crashed model is not loaded again by itself) at the cost of one answer.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from app.core.infra.damaged_files import set_aside

log = logging.getLogger("specchat.loads")

STATE_FILE = "load-state.json"


def _identity(path: str) -> tuple[str, list[int]] | None:
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except (OSError, ValueError):
        return None
    return real, [st.st_size, st.st_mtime_ns]


class LoadGuard:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._loaded: dict[str, list[int]] = {}
        self._loading: dict[str, Any] | None = None
        self._read()
        # what the last run left: a load that never finished
        self.crashed: dict[str, Any] | None = self._loading
        if self.crashed is not None:
            real = str(self.crashed.get("path", ""))
            self._loaded.pop(os.path.realpath(real) if real else "", None)
            log.error("%s crashed the app while loading last time; it will not be reloaded by itself", real)
            self._loading = None
            self._write()

    def _read(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            loaded = data["loaded"]
            loading = data.get("loading")
            if not isinstance(loaded, dict) or not (loading is None or isinstance(loading, dict)):
                raise ValueError("unexpected layout")
            self._loaded = {str(k): list(v) for k, v in loaded.items() if isinstance(v, list) and len(v) == 2}
            self._loading = loading
        except FileNotFoundError:
            return
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError, OSError) as e:
            try:
                set_aside(self.path, f"the record of loaded models was unreadable ({type(e).__name__})")
            except OSError:
                log.exception("cannot set %s aside", self.path)

    def _write(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"version": 1, "loaded": self._loaded, "loading": self._loading}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as e:  # a full disk costs the record, never the load
            log.error("cannot write %s: %s", self.path, e)
            tmp.unlink(missing_ok=True)

    # ---- questions ------------------------------------------------------------------------------------------
    def has_loaded(self, path: str) -> bool:
        """True if this very file (same real path, size and mtime) loaded successfully here before."""
        ident = _identity(path)
        with self._lock:
            return ident is not None and self._loaded.get(ident[0]) == ident[1]

    def crash_message(self) -> str:
        """The sentence for the user about the last run's crash ("" if there was none)."""
        if self.crashed is None:
            return ""
        return f"{Path(str(self.crashed.get('path', '?'))).name} crashed while loading; it was not reloaded."

    # ---- around a load --------------------------------------------------------------------------------------
    def begin(self, path: str, role: str) -> None:
        with self._lock:
            self._loading = {"path": str(path), "role": role}
            self._write()

    def succeeded(self, path: str) -> None:
        ident = _identity(path)
        with self._lock:
            if ident is not None:
                self._loaded[ident[0]] = ident[1]
            self._loading = None
            self._write()

    def failed(self, path: str) -> None:
        """A load that ended with an error (not a crash): clear the marker; the file is not known good."""
        ident = _identity(path)
        with self._lock:
            if ident is not None:
                self._loaded.pop(ident[0], None)
            self._loading = None
            self._write()
