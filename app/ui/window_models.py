"""The main window's models: the library's scans, loading the main model, choosing and loading drafts.

A mixin of MainWindow (app/ui/main_window.py): it uses the window's sidebar, settings and engine host."""

from __future__ import annotations

import logging
import os
from dataclasses import replace

from PySide6.QtWidgets import QMessageBox

from app.core.infra.damaged_files import take_notices
from app.core.models.library import DraftCandidate, LibraryEntry
from app.ui.speculation_status import speculation_label

log = logging.getLogger("specchat.ui")


class ModelActions:
    """The main model and draft lifecycle as the window drives it (mixed into MainWindow)."""

    # ---- models ---------------------------------------------------------------------------------------------
    def _library_scanned(self, entries: list[LibraryEntry]) -> None:
        self.library = entries
        usable = [e for e in entries if e.usable]
        self.sidebar.set_library(usable, self.settings.ui.last_main_model)
        self.sidebar.main_models.set_unusable(entries)  # broken and non-chat files: listed greyed, with the reason
        self.welcome.setVisible(not usable)
        self.view.setVisible(bool(usable))
        if self._first_scan:  # the app remembers: the last main model comes back, its draft with it
            self._first_scan = False
            self._show_startup_notices()
            last = self.settings.ui.last_main_model
            if last and self.settings.ui.reload_last_model and self.sidebar.main_models.row_of(last) >= 0:
                if self.guard.has_loaded(last):  # never a file that did not load here, or crashed doing so
                    self.load_main(self.sidebar.selected_main())
                    return
                log.warning("not reloading %s: it has not loaded successfully here", last)
            elif not last and len(usable) == 1:  # a first run (`make run` installed the starter): ready to chat
                self.load_main(usable[0].path)
                return
        if usable and not self.main_summary and self._autoload_first:
            self._autoload_first = False  # the model the user just fetched from the welcome panel
            self.load_main(usable[0].path)
        if self.main_summary:
            self._refresh_drafts()

    def _show_startup_notices(self) -> None:
        lines = take_notices()
        if self.guard.crash_message():
            lines.insert(0, self.guard.crash_message())
        if lines:
            self.notice.setText("\n".join(lines))
            self.notice.show()

    def load_main(self, path: str, without_rpc: str = "") -> None:
        self.sidebar.set_loading(0.0)
        self.sidebar.set_main_state(None)
        self.host.requestLoad.emit("main", path, self.sidebar.load_options(self.settings.runtime, without_rpc))

    def _model_loaded(self, role: str, summary: dict) -> None:
        if role == "main":
            self.sidebar.set_loading(None)
            self.main_summary = summary
            self.draft_name = self.draft_path = ""
            self.recent_acceptance = []
            self.sidebar.set_main_state(summary)
            self.settings.ui.last_main_model = summary["path"]
            self._refresh_drafts()
        else:
            self._draft_in_flight = False
            self.draft_name, self.draft_path = summary["name"], summary["path"]
            self._refresh_drafts()

    def _load_failed(self, role: str, message: str, retry_layers: int, kept: dict) -> None:
        """`kept`: what the engine still holds for the role (loads unload first, so often nothing): the window
        shows exactly that, never "No model loaded" while a model is still in memory, or the reverse."""
        self.sidebar.set_loading(None)
        if role == "main":
            self.main_summary = kept or None
            self.sidebar.set_main_state(kept or None, message)
            if not kept:
                self.draft_name = self.draft_path = ""
                self.sidebar.set_draft_candidates([], [], "")
        else:
            self._draft_in_flight = False
            self.draft_name, self.draft_path = kept.get("name", ""), kept.get("path", "")
            self.sidebar.set_advice([message])
        self._show_speculation()
        if retry_layers >= 0:
            answer = QMessageBox.question(self, "Not enough GPU memory",
                                          f"{message}\n\nTry again with {retry_layers} GPU layers?")
            if answer == QMessageBox.StandardButton.Yes:
                if role == "main":
                    self.settings.runtime = replace(self.settings.runtime, n_gpu_layers=retry_layers)
                    self.load_main(self.sidebar.selected_main())
                else:  # the sidebar's row is the draft's setting: it changes there, and the draft loads again
                    self.sidebar.set_draft_gpu_layers(retry_layers)
                    self._pending_draft = self._loading_draft
                    self._maybe_load_default_draft()

    def _model_unloaded(self, role: str) -> None:
        if role == "main":
            self.main_summary = None
            self.draft_name = self.draft_path = ""
            self.sidebar.set_main_state(None)
            self.sidebar.set_draft_candidates([], [], "")
        else:
            self.draft_name = self.draft_path = ""
        self._show_speculation()

    def _show_speculation(self) -> None:
        """The sidebar's "Runs" line: what the next answer will really run with the current mode and models."""
        spec = self.sidebar.speculation()
        label = speculation_label(spec.mode, self.draft_name, spec.ngram_size)
        if not self.main_summary:
            label = "nothing yet: no model loaded"
        elif spec.mode == "draft" and not self.draft_name and self._draft_in_flight:
            label += f" (loading {os.path.basename(self._loading_draft)}…)"
        self.sidebar.set_speculation_state(label)

    def _refresh_drafts(self) -> None:
        self._show_speculation()
        if self.main_summary:
            self.scanner.find_drafts(self.main_summary["path"])

    def _draft_candidates(self, main_path: str, fits: list[DraftCandidate], others: list[DraftCandidate],
                          default: DraftCandidate | None) -> None:
        if not self.main_summary or main_path != self.main_summary["path"]:
            return  # an answer for a main model that is no longer loaded
        chosen = self.settings.drafts.draft_for_main.get(main_path)
        note = ""
        if chosen is None and self.sidebar.default_drafter_on() and default is not None:
            if self.guard.has_loaded(default.entry.path):
                chosen = default.entry.path
                note = "Attached automatically: the smallest compatible draft that fits the size advice."
            else:  # a file that never loaded here is loaded only when the user asks (it may crash llama.cpp)
                note = (f"Compatible draft in the library: {os.path.basename(default.entry.path)}. Choose it to "
                        "load it (drafts that never loaded here are not attached automatically).")
        elif chosen is None and not fits:
            note = "No compatible draft in the library."
        current = chosen or ""
        if current and self.sidebar.draft_models.row_of(current) < 0 and not any(
                os.path.realpath(c.entry.path) == os.path.realpath(current) for c in fits):
            current, note = "", "The chosen draft is no longer in the library."
        self.sidebar.set_draft_candidates(fits, others, current, note)
        self._pending_draft = current if current != self.draft_path else ""
        if self._pending_draft and self._pending_draft != self._asked_draft and \
                not self.guard.has_loaded(self._pending_draft):
            self._pending_draft = ""  # remembered from an earlier session but never loaded (or crashed): wait
            self.sidebar.set_advice([f"{os.path.basename(current)} was not loaded automatically: it has not "
                                     "loaded successfully here. Choose it again to try."])
        self._maybe_load_default_draft()

    def _maybe_load_default_draft(self) -> None:
        want = self._pending_draft
        if want and self.main_summary and self.sidebar.mode_key() == "draft" and not self.draft_name:
            self._pending_draft = ""
            self._loading_draft = want
            self.host.requestLoad.emit("draft", want, self.sidebar.draft_load_options(self.settings.runtime))
            self._draft_in_flight = True
            self._show_speculation()

    def choose_draft(self, path: str) -> None:
        if not self.main_summary:
            return
        self.settings.drafts.draft_for_main[self.main_summary["path"]] = path
        self.sidebar.select_draft(path)  # the choice and its advice show at once, not after a rescan
        self.draft_name = self.draft_path = ""
        self._asked_draft = path  # the user's own choice: loaded even if it never loaded here before
        if path:
            self._pending_draft = path
            self._maybe_load_default_draft()
        else:
            self.host.requestUnload.emit("draft")
        self._show_speculation()
