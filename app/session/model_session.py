"""The session's models: the library as scanned, the main model, its draft, and what the next answer runs with.

One object owns this state (it once lived in a dozen flags on the window): the window lays out widgets, forwards
the user's intents here (load, switch, unload, choose a draft, change the mode, retry with fewer GPU layers) and
shows what the signals say. Everything runs on the GUI thread; the loads themselves run on the engine thread
(EngineHost), the scans and draft checks on the library's TaskRunner. The decisions (which main model opens at
start, which draft goes with a main model) are pure functions in app/core/models/session_policy.py.

Switching main models is one action: `load_main` while another is loaded; the engine unloads the old pair first
(peak memory is one model, not two), and a failed load reports what the engine still holds.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Protocol

from PySide6.QtCore import QObject, Signal

from app.core.inference.answer_stats import AnswerStats
from app.core.inference.engine_process.protocol import ModelSummary
from app.core.inference.load_guard import LoadGuard
from app.core.infra.requests import LoadOptions, SpeculationConfig
from app.core.infra.settings import Settings
from app.core.models.library import DraftCandidate, LibraryEntry
from app.core.models.presets import model_defaults
from app.core.models.session_policy import draft_for_main, startup_main_model
from app.core.inference.speculation_status import RECENT_ANSWERS, acceptance_advice, speculation_label
from app.workers.engine_worker import EngineHost
from app.workers.library_worker import LibraryScanner

log = logging.getLogger("specchat.session")


class SpeculationControls(Protocol):
    """What the session reads of the user's current choices (the sidebar implements it)."""

    def speculation(self) -> SpeculationConfig: ...

    def default_drafter_on(self) -> bool: ...

    def load_options(self, base: LoadOptions, without_rpc: str = "") -> LoadOptions: ...

    def draft_load_options(self, base: LoadOptions) -> LoadOptions: ...


class ModelSession(QObject):
    libraryChanged = Signal(list, bool)  # every LibraryEntry scanned (unusable ones too), first scan of the run
    scanFailed = Signal(str)
    loading = Signal(object, str)  # the main model's load: fraction 0..1 (None when it ended), its file
    mainChanged = Signal(object, str)  # the main model's summary (None: none loaded), an error to show ("" none)
    draftsOffered = Signal(list, list, str, str)  # fits, others, the chosen draft's path, a note
    speculationChanged = Signal(str)  # what the next answer runs, in words (speculation_status words)
    adviceChanged = Signal(list)  # lines for the advice box
    # the main model about to load has settings of its own (a ModelPreset; its file's recommended sampling the first
    # time): the sidebar takes them before the load reads its options (a direct connection, same thread)
    presetApplied = Signal(object, str)  # the preset, where it comes from ("saved" | "file")
    retryOffered = Signal(str, str, int)  # role, message, a GPU layer count to offer (out of GPU memory)
    settingsChanged = Signal()  # a choice kept in the settings changed (draft, last model, GPU layers): save soon

    def __init__(self, host: EngineHost, scanner: LibraryScanner, settings: Settings, guard: LoadGuard,
                 controls: SpeculationControls, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.host, self.scanner, self.settings, self.guard, self.controls = host, scanner, settings, guard, controls
        self.library: list[LibraryEntry] = []
        self.main: ModelSummary | None = None  # the loaded main model, as the engine said it
        # the advice box's sources; advice() says which apply to the mode and drafter chosen now
        self._fits: list[DraftCandidate] = []  # the compatible drafts, each with its size advice
        self._acceptance: tuple[str, str] = ("", "")  # (what drafted, advice) after answers that drafted
        self._draft_failure = ""  # why the chosen draft did not load
        self._choice_advice = ""  # why the default draft was (not) attached
        self.main_options: LoadOptions | None = None  # how it was loaded (the Settings window says what differs)
        self._asked_options: LoadOptions | None = None  # the options of the load under way
        self.draft_name = ""
        self.draft_path = ""
        self.recent_acceptance: list[float] = []  # of the last answers with this main model
        self._first_scan = True
        self._load_next_model = False  # the user fetched a model from the welcome panel: load it when it appears
        self._loading_main = ""  # the main model asked of the engine last (a GPU retry loads it again)
        self._pending_draft = ""  # a draft to load once the mode is "draft" and no draft is loaded
        self._loading_draft = ""  # the draft asked of the engine last
        self._draft_in_flight = False  # that load has not answered yet
        self._draft_progress = -1  # percent of that load, -1 before its first report
        self._asked_draft = ""  # the draft the user chose in this session
        scanner.scanned.connect(self._scanned)
        scanner.failed.connect(self.scanFailed)
        scanner.candidates.connect(self._candidates)
        host.loadProgress.connect(self._progress)
        host.modelLoaded.connect(self._loaded)
        host.loadFailed.connect(self._load_failed)
        host.modelUnloaded.connect(self._unloaded)

    # ---- what runs ------------------------------------------------------------------------------------------
    def running_label(self) -> str:
        """What an answer started now runs with (the draft by name, n-gram, or plain), for its status/footer."""
        spec = self.controls.speculation()
        return speculation_label(spec.mode, self.draft_name, spec.ngram_size)

    def effective_speculation(self, spec: SpeculationConfig) -> SpeculationConfig:
        """The mode asks for a draft that is not loaded (none fits, or it is still loading): plain decoding."""
        return replace(spec, mode="off") if spec.mode == "draft" and not self.draft_name else spec

    # ---- intents --------------------------------------------------------------------------------------------
    def scan(self) -> None:
        self.scanner.scan()

    def load_next_model(self) -> None:
        """The next model that appears in an empty library is loaded (the welcome panel is fetching one)."""
        self._load_next_model = True

    def load_main(self, path: str, without_rpc: str = "") -> None:
        """Load (or switch to) `path`; `without_rpc`: a server to leave out of the split (it went away)."""
        self._loading_main = path
        self.loading.emit(0.0, path)
        self.mainChanged.emit(None, "")
        preset = self.settings.presets.get(path)
        if preset is not None:
            self.presetApplied.emit(preset, "saved")
        else:
            info = next((e.info for e in self.library if e.path == path), None)
            if info is not None and info.recommended_sampling:
                self.presetApplied.emit(model_defaults(info), "file")
        options = self.controls.load_options(self.settings.runtime, without_rpc)
        self._asked_options = options
        self.host.requestLoad.emit("main", path, options)

    def unload_main(self) -> None:
        self.host.requestUnload.emit("main")

    def choose_draft(self, path: str) -> None:
        """The user's draft for the loaded main model ("" for none): remembered, and loaded in draft mode."""
        if not self.main:
            return
        self.settings.drafts.draft_for_main[self.main.path] = path
        self.settingsChanged.emit()
        self.draft_name = self.draft_path = ""
        self._draft_failure = ""
        self._asked_draft = path  # their own choice: loaded even if it never loaded here before
        if path:
            self._pending_draft = path
            self._maybe_load_draft()
        else:
            self.host.requestUnload.emit("draft")
        self._say_speculation()

    def mode_changed(self) -> None:
        self._maybe_load_draft()
        self._say_speculation()

    def retry(self, role: str, layers: int) -> None:
        """Yes to "try again with fewer GPU layers": the main model's setting changes here; the draft's is the
        sidebar's row (the window sets it before calling), and the draft loads again with it."""
        if role == "main":
            self.settings.runtime = replace(self.settings.runtime, n_gpu_layers=layers)
            self.settingsChanged.emit()
            self.load_main(self._loading_main)
        else:
            self._pending_draft = self._loading_draft
            self._maybe_load_draft()

    def answer_finished(self, stats: AnswerStats) -> None:
        """Acceptance advice after an answer that drafted (one bad answer, or a low mean over the last few)."""
        if stats.drafted:
            self.recent_acceptance = (self.recent_acceptance + [stats.acceptance_rate])[-RECENT_ANSWERS:]
            advice = acceptance_advice(stats, self.recent_acceptance)
            self._acceptance = (self.running_label(), advice)
            self._say_advice()

    # ---- the library ----------------------------------------------------------------------------------------
    def _scanned(self, entries: list[LibraryEntry]) -> None:
        self.library = entries
        usable = [e for e in entries if e.usable]
        first, self._first_scan = self._first_scan, False
        self.libraryChanged.emit(entries, first)
        if first:
            ui = self.settings.ui
            choice = startup_main_model(usable, ui.last_main_model, ui.reload_last_model, self.guard.has_loaded)
            if choice.reason:
                log.warning("%s", choice.reason)
            if choice.path:
                self.load_main(choice.path)
                return
        if usable and not self.main and self._load_next_model:
            self._load_next_model = False
            self.load_main(usable[0].path)
            return
        if self.main:
            self.refresh_drafts()

    def refresh_drafts(self) -> None:
        self._say_speculation()
        if self.main:
            self.scanner.find_drafts(self.main.path)

    def _candidates(self, main_path: str, fits: list[DraftCandidate], others: list[DraftCandidate],
                    default: DraftCandidate | None) -> None:
        if not self.main or main_path != self.main.path:
            return  # an answer for a main model that is no longer loaded
        choice = draft_for_main(self.settings.drafts.draft_for_main.get(main_path), default, fits,
                                self.controls.default_drafter_on(), self.guard.has_loaded, self.draft_path,
                                self._asked_draft)
        self.draftsOffered.emit(fits, others, choice.current, choice.note)
        self._fits, self._choice_advice = fits, choice.advice
        self._pending_draft = choice.current if choice.load else ""
        self._say_advice()
        self._maybe_load_draft()

    def _maybe_load_draft(self) -> None:
        want = self._pending_draft
        if want and self.main and self.controls.speculation().mode == "draft" and not self.draft_name:
            self._pending_draft = ""
            self._loading_draft = want
            self._draft_in_flight = True
            self._draft_progress = -1
            self.host.requestLoad.emit("draft", want, self.controls.draft_load_options(self.settings.runtime))
            self._say_speculation()

    # ---- the engine's answers -------------------------------------------------------------------------------
    def _progress(self, role: str, fraction: float) -> None:
        if role == "main":
            self.loading.emit(fraction, self._loading_main)
        elif self._draft_in_flight and int(fraction * 100) // 10 != self._draft_progress // 10:
            self._draft_progress = int(fraction * 100)  # said in steps of 10%: the label is text, not a bar
            self._say_speculation()

    def _loaded(self, role: str, summary: ModelSummary) -> None:
        if role == "main":
            self.loading.emit(None, "")
            self.main = summary
            self.main_options = self._asked_options
            self.draft_name = self.draft_path = ""
            self.recent_acceptance = []
            self.settings.ui.last_main_model = summary.path
            self.settingsChanged.emit()
            self.mainChanged.emit(summary, "")
        else:
            self._draft_in_flight = False
            self.draft_name, self.draft_path = summary.name, summary.path
            self._draft_failure = ""
        self.refresh_drafts()

    def _load_failed(self, role: str, message: str, retry_layers: int, kept: ModelSummary | None) -> None:
        """`kept`: what the engine still holds for the role (loads unload first, so often nothing): the window
        shows exactly that, never "No model loaded" while a model is still in memory, or the reverse."""
        if role == "main":
            self.loading.emit(None, "")
            self.main = kept
            self.mainChanged.emit(self.main, message)
            if not kept:
                self.draft_name = self.draft_path = ""
                self.draftsOffered.emit([], [], "", "")
        else:
            self._draft_in_flight = False
            self.draft_name, self.draft_path = (kept.name, kept.path) if kept else ("", "")
            self._draft_failure = message
        self._say_speculation()
        if retry_layers >= 0:
            self.retryOffered.emit(role, message, retry_layers)

    def _unloaded(self, role: str) -> None:
        if role == "main":
            self.main = None
            self.mainChanged.emit(None, "")
            self.draftsOffered.emit([], [], "", "")
        self.draft_name = self.draft_path = ""
        self._say_speculation()

    def _say_speculation(self) -> None:
        """The sidebar's "Runs" line: what the next answer will really run with the current mode and models."""
        spec = self.controls.speculation()
        label = self.running_label()
        if not self.main:
            label = "nothing yet: no model loaded"
        elif spec.mode == "draft" and not self.draft_name and self._draft_in_flight:
            done = f" {self._draft_progress}%" if self._draft_progress >= 0 else ""
            label += f" (loading {os.path.basename(self._loading_draft)}…{done})"
        self.speculationChanged.emit(label)
        self._say_advice()

    def advice(self) -> list[str]:
        """The advice box for the mode and drafter chosen now: a draft's size advice and load failure only in
        draft mode, for the draft chosen; acceptance advice only while the drafter it was about still drafts (an
        n-gram's advice goes when a draft model takes over, and the reverse)."""
        if not self.main:
            return []
        mode = self.controls.speculation().mode
        lines: list[str] = []
        if mode == "draft":
            if self._draft_failure:
                lines.append(self._draft_failure)
            chosen = (self.draft_path or (self._loading_draft if self._draft_in_flight else "")
                      or self.settings.drafts.draft_for_main.get(self.main.path, ""))
            for c in self._fits:
                if c.entry.path == chosen:
                    lines += c.result.advice
            if self._choice_advice and not lines:
                lines.append(self._choice_advice)
        label, text = self._acceptance
        if mode != "off" and text and label == self.running_label():
            lines.append(text)
        return lines

    def _say_advice(self) -> None:
        self.adviceChanged.emit(self.advice())
