"""The main window's models: what the ModelSession says, shown in the sidebar, the welcome panel and dialogs.

A mixin of MainWindow (app/ui/main_window.py). The state and the decisions are the session's
(app/session/model_session.py, with its rules in app/core/models/session_policy.py); here they meet widgets."""

from __future__ import annotations

import logging
import os

from PySide6.QtWidgets import QMessageBox

from app.core.infra.damaged_files import take_notices
from app.core.infra.settings import ModelPreset
from app.core.models.library import LibraryEntry
from app.core.models.model_info import ModelInfo
from app.core.models.presets import describe_recommended, model_defaults
from app.ui.window_parts import WindowParts

log = logging.getLogger("specchat.ui")


class ModelActions(WindowParts):
    """The sidebar's model and draft sections, driven by the window's ModelSession (mixed into MainWindow)."""

    def _connect_models(self) -> None:
        m, sb = self.models, self.sidebar
        m.libraryChanged.connect(self._library_changed)
        m.scanFailed.connect(lambda message: self.statusBar().showMessage(message, 15000))
        m.loading.connect(sb.set_loading)
        m.mainChanged.connect(sb.set_main_state)
        m.draftsOffered.connect(sb.set_draft_candidates)
        m.speculationChanged.connect(sb.set_speculation_state)
        m.speculationChanged.connect(lambda _: sb.draft_models.set_loaded(m.draft_path))  # the draft loaded now
        m.adviceChanged.connect(sb.set_advice)
        m.retryOffered.connect(self._offer_retry)
        sb.loadMainRequested.connect(m.load_main)
        sb.unloadMainRequested.connect(m.unload_main)
        sb.draftChosen.connect(self.choose_draft)
        sb.speculationEdited.connect(m.mode_changed)
        # per-model settings: put back when a model loads, saved as they are edited while it is loaded
        self._applying_preset = False
        m.presetApplied.connect(self._apply_preset)
        sb.settingsEdited.connect(self._save_preset)
        sb.presetResetRequested.connect(self.reset_preset)
        m.mainChanged.connect(lambda *_: self._say_preset())

    def _library_changed(self, entries: list[LibraryEntry], first: bool) -> None:
        usable = [e for e in entries if e.usable]
        self.sidebar.set_library(entries, self.settings.ui.last_main_model)
        self.welcome.setVisible(not usable)
        self.view.setVisible(bool(usable))
        if first:
            self._show_startup_notices()
        else:
            self._say_new_unusable(entries)
        self._unusable_seen = {e.path for e in entries if not e.usable}

    def _say_new_unusable(self, entries: list[LibraryEntry]) -> None:
        """A file that arrived (a copy, a download elsewhere) and cannot be used is said when it arrives, not only
        found later greyed in the dropdown."""
        new = [e for e in entries if not e.usable and e.path not in self._unusable_seen and e.problem is not None]
        if new:
            first, problem = new[0], new[0].problem
            assert problem is not None  # kept above
            more = f" (and {len(new) - 1} more)" if len(new) > 1 else ""
            self.statusBar().showMessage(f"{os.path.basename(first.path)} can't be used: {problem.short}{more}. "
                                         "It is listed greyed in the model list, with the reason and Remove file….",
                                         15000)

    def _show_startup_notices(self) -> None:
        lines = take_notices()
        if self.guard.crash_message():
            lines.insert(0, self.guard.crash_message())
        if lines:
            self.notice.setText("\n".join(lines))
            self.notice.show()

    # ---- per-model settings (ModelPreset in settings.presets) -------------------------------------------------
    def _apply_preset(self, preset: ModelPreset, _source: str = "") -> None:
        self._applying_preset = True  # the fields' own edits are not the user's: nothing is saved meanwhile
        try:
            self.sidebar.apply_preset(preset)
        finally:
            self._applying_preset = False

    def _save_preset(self) -> None:
        main = self.models.main
        if main is None or self._applying_preset:
            return
        self.settings.presets[main.path] = self.sidebar.preset(self.settings.presets.get(main.path, ModelPreset()))
        self._say_preset()

    def reset_preset(self) -> None:
        """The loaded model back to its defaults (its file's recommended sampling, else SpecChat's)."""
        main = self.models.main
        if main is None:
            return
        self.settings.presets.pop(main.path, None)
        self._apply_preset(model_defaults(self._main_info()))
        self.settings_saver.changed()
        self._say_preset()
        if self.sidebar.n_ctx.value() != main.n_ctx:
            self.statusBar().showMessage("The model's default context applies at the next load (Settings, Reload "
                                         "model).", 8000)

    def _main_info(self) -> ModelInfo | None:
        main = self.models.main
        return next((e.info for e in self.models.library if main is not None and e.path == main.path), None)

    def _say_preset(self) -> None:
        main = self.models.main
        if main is None:
            self.sidebar.set_preset_state("")
            return
        recommended = describe_recommended(self._main_info())
        if main.path in self.settings.presets:
            text = f"Saved for {main.name}: these come back when it loads."
        elif recommended:
            text = f"{main.name}'s defaults, from its file: {recommended}."
        else:
            text = f"SpecChat's defaults for {main.name}; a change is saved for this model."
        self.sidebar.set_preset_state(text)

    def load_main(self, path: str) -> None:
        self.models.load_main(path)

    def choose_draft(self, path: str) -> None:
        if self.models.main:
            self.sidebar.select_draft(path)  # the choice and its advice show at once, not after a rescan
        self.models.choose_draft(path)

    def _offer_retry(self, role: str, message: str, layers: int) -> None:
        answer = QMessageBox.question(self, "Not enough GPU memory", f"{message}\n\nTry again with {layers} GPU layers?")
        if answer == QMessageBox.StandardButton.Yes:
            if role == "draft":  # the sidebar's row is the draft's setting: it changes there, then the draft loads
                self.sidebar.set_draft_gpu_layers(layers)
            self.models.retry(role, layers)
