"""The sidebar: the main model, generation settings, and the Speculative Decoding section.

It only shows and edits state (its fields typed in and out: sidebar_settings.py); the main window decides what
loading or generating means. The model's button acts on the dropdown's selection: "Load" it, "Unload" it when it is
the loaded one, or "Switch to" it in one click (the engine unloads the old model first); choosing in the dropdown
never loads by itself, and the line under it estimates the memory the selection needs
(app/ui/sidebar/memory_hint.py). The draft dropdown holds exactly the library's compatible drafts for the loaded
main model (the one compatibility rule, in app/core/models/compat.py), and the disclosure below it names every
other model with the rule it fails.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QProgressBar, QPushButton, QToolButton, QVBoxLayout, QWidget)

from app.core.inference.engine_process.protocol import ModelSummary
from app.core.models.formatting import others_dont_fit
from app.core.models.labels import info_title
from app.core.models.library import DraftCandidate, LibraryEntry
from app.core.infra.requests import LoadOptions, SamplerParams
from app.core.infra.settings import Settings
from app.ui.widgets.eliding_button import ElidingButton
from app.ui.widgets.eliding_combo import ElidingComboBox
from app.ui.widgets.item_models import ModelListModel, ModelRoles, model_label
from app.ui.widgets.wheel_guard import guard_wheel
from app.ui.sidebar.memory_hint import MemoryHint
from app.ui.sidebar.rpc_servers import RpcServersBox
from app.ui.sidebar.sidebar_settings import SidebarSettings
from app.ui.sidebar.sidebar_fields import dspin as _dspin, sampling_rows as _sampling_rows, spin as _spin

# the mode, its name in the dropdown (short: the sidebar is 280 px at 900x600, and "N-gram (prompt lookup)" was
# cut to "N-gram (prompt looku"), and what it means, in the item's tooltip
MODES = [("off", "Off", "Plain decoding: the main model writes every token itself."),
         ("draft", "Draft model", "A small model with the same vocabulary proposes tokens; the main model checks "
                                  "several at once and keeps those it would have written."),
         ("ngram", "N-gram lookup", "Prompt lookup: the tokens that followed the last few tokens earlier in the "
                                    "chat are proposed, no second model needed. It pays when the answer repeats "
                                    "the chat (code edits, quotes, summaries).")]


class Sidebar(SidebarSettings, QWidget):
    loadMainRequested = Signal(str)
    unloadMainRequested = Signal()
    draftChosen = Signal(str)  # path, or "" for none
    speculationEdited = Signal()  # the mode or the n-gram size changed: what the next answer runs may differ
    visualizeToggled = Signal(bool)
    downloadsRequested = Signal()
    findDraftRequested = Signal()
    stateChanged = Signal()  # what is loaded, loading or running changed (the empty chat's hint follows)
    settingsEdited = Signal()  # a field collect_settings reads was edited (the window saves soon after)
    presetResetRequested = Signal()  # "Reset to the model's defaults"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.main_loaded = False
        self.loaded_path = ""  # the main model the engine holds ("" for none)
        self.loaded_name = ""
        self.loading_path = ""  # the main model being loaded now ("" for none)
        self._settings: Settings | None = None  # the window's settings: their runtime section, read when needed
        layout = QVBoxLayout(self)

        # ---- main model -----------------------------------------------------------------------------------------
        box = QGroupBox("Model")
        form = QVBoxLayout(box)
        self.main_models = ModelListModel()
        self.main_combo = ElidingComboBox()
        self.main_combo.setModel(self.main_models)
        self.main_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.main_combo.currentIndexChanged.connect(self._selection_changed)
        form.addWidget(self.main_combo)
        self.memory_hint = MemoryHint()  # the selection's needs against what is free, before it is loaded
        form.addWidget(self.memory_hint)
        self.load_button = ElidingButton("Load")  # Load / Unload / Switch to <model>: see _update_load_button
        self.load_button.clicked.connect(self._load_clicked)
        form.addWidget(self.load_button)
        self.load_progress = QProgressBar()
        self.load_progress.setRange(0, 100)
        self.load_progress.hide()
        form.addWidget(self.load_progress)
        self.model_state = QLabel("No model loaded")
        self.model_state.setTextFormat(Qt.TextFormat.RichText)  # set_main_state escapes what it puts in
        self.model_state.setWordWrap(True)
        form.addWidget(self.model_state)
        self.downloads_button = QPushButton("Models && downloads…")
        self.downloads_button.setToolTip("Search the Hugging Face hub, download recommended pairs, import GGUF files")
        self.downloads_button.clicked.connect(self.downloadsRequested)
        form.addWidget(self.downloads_button)
        self.rpc_servers = RpcServersBox()  # the main model's layers on other machines too
        form.addWidget(self.rpc_servers)
        layout.addWidget(box)

        # ---- generation -----------------------------------------------------------------------------------------
        gen = QGroupBox("Generation")
        g = QFormLayout(gen)
        self._sampling = SamplerParams()  # fields without a row keep what the settings said
        self.sampling_fields: dict[str, QWidget] = {}
        for name, label, w in _sampling_rows():
            self.sampling_fields[name] = w
            setattr(self, name, w)  # sidebar.temperature etc.: for tests driving the widgets as a user would
            g.addRow(label, w)
        self.max_tokens = _spin(1, 32768)
        self.n_ctx = _spin(256, 131072, 256)
        g.addRow("Max tokens", self.max_tokens)
        g.addRow("Context", self.n_ctx)
        self.n_ctx.valueChanged.connect(self._update_memory_hint)  # the KV cache grows with it
        # per-model settings: whether these are the loaded model's own (saved), and the way back to its defaults
        self.preset_state = QLabel("")
        self.preset_state.setObjectName("presetState")
        self.preset_state.setWordWrap(True)
        self.preset_state.setProperty("class", "hint")
        self.preset_reset = QPushButton("Reset to the model's defaults")
        self.preset_reset.setToolTip("Sampling, max tokens, context and speculation as the model's file recommends "
                                     "(general.sampling.*), else SpecChat's defaults; forgets this model's saved "
                                     "settings")
        self.preset_reset.clicked.connect(self.presetResetRequested)
        g.addRow(self.preset_state)
        g.addRow(self.preset_reset)
        self.set_preset_state("")
        layout.addWidget(gen)

        # ---- speculative decoding -------------------------------------------------------------------------------
        spec = QGroupBox("Speculative Decoding")
        s = QFormLayout(spec)
        self.mode = QComboBox()
        for i, (key, text, meaning) in enumerate(MODES):
            self.mode.addItem(text, key)
            # as rich text, which Qt wraps (a plain-text tooltip is one line as wide as the screen)
            self.mode.setItemData(i, f"<p>{_esc(meaning)}</p>", Qt.ItemDataRole.ToolTipRole)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.mode.currentIndexChanged.connect(self.speculationEdited)
        s.addRow("Mode", self.mode)
        self.spec_state = QLabel("")  # what really runs: "draft: X", "n-gram (n=3)", "plain decoding: no draft…"
        self.spec_state.setTextFormat(Qt.TextFormat.PlainText)  # it names a model: text, never markup
        self.spec_state.setWordWrap(True)
        s.addRow("Runs", self.spec_state)
        self.draft_models = ModelListModel()
        self.draft_combo = ElidingComboBox()
        self.draft_combo.setModel(self.draft_models)
        self.draft_combo.setPlaceholderText("No compatible draft")
        self.draft_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        for combo in (self.main_combo, self.draft_combo):  # long names elide: the sidebar fits 280 px
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        for rows in (g, s):  # in a narrow sidebar a label goes above its field rather than pushing it out
            rows.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.draft_combo.activated.connect(self._draft_activated)
        s.addRow("Draft model", self.draft_combo)
        self.draft_note = QLabel("")
        self.draft_note.setTextFormat(Qt.TextFormat.PlainText)  # it names files: "<b>.gguf" is a name, not markup
        self.draft_note.setWordWrap(True)
        s.addRow(self.draft_note)
        self.advice = QLabel("")  # right under the draft: too large, low acceptance, a failed draft load
        self.advice.setTextFormat(Qt.TextFormat.RichText)  # set_advice escapes each line
        self.advice.setWordWrap(True)
        self.advice.setStyleSheet("color: #b26b00")
        s.addRow(self.advice)
        self.others_toggle = QToolButton()
        self.others_toggle.setCheckable(True)
        self.others_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.others_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.others_toggle.toggled.connect(self._toggle_others)
        self.others_toggle.hide()
        s.addRow(self.others_toggle)
        self.others_list = QLabel("")
        self.others_list.setWordWrap(True)
        self.others_list.setTextFormat(Qt.TextFormat.RichText)
        self.others_list.hide()
        s.addRow(self.others_list)
        self.find_draft_button = QPushButton("Find a draft on the hub…")
        self.find_draft_button.setToolTip("Smaller models with this model's tokenizer, checked from their headers "
                                          "before anything is downloaded")
        self.find_draft_button.clicked.connect(self.findDraftRequested)
        s.addRow(self.find_draft_button)
        self.draft_tokens = _spin(1, 32)
        self.auto_k = QCheckBox("auto")
        self.auto_k.setToolTip("Adapt the draft length to measured acceptance and speed; drafting stops where "
                               "it cannot pay")
        self.auto_k.toggled.connect(lambda on: self.draft_tokens.setEnabled(not on))
        row = QHBoxLayout()
        row.addWidget(self.draft_tokens, 1)
        row.addWidget(self.auto_k)
        s.addRow("Draft tokens", row)
        self.min_draft = _spin(0, 32)
        self.min_draft.setToolTip("Drafts shorter than this are dropped: a verify row costs more than they save")
        s.addRow("Min draft", self.min_draft)
        self.p_min = _dspin(0.0, 1.0, 0.05)
        s.addRow("p-min", self.p_min)
        self.ngram_size = _spin(1, 8)
        self.ngram_size.valueChanged.connect(self.speculationEdited)
        self.ngram_size.setToolTip("N-gram lookup: the shortest repeat of the last tokens whose continuation is "
                                   "proposed (the longest earlier repeat, up to 16 tokens, wins)")
        s.addRow("N-gram size", self.ngram_size)
        self.draft_gpu_layers = _spin(-1, 999)
        self.draft_gpu_layers.setSpecialValueText("all")
        s.addRow("Draft GPU layers", self.draft_gpu_layers)
        self.visualize = QCheckBox("Highlight accepted tokens")  # short labels: the sidebar fits 250 px
        self.visualize.setToolTip("Tint each draft token the main model accepted, in the answers")
        self.visualize.toggled.connect(self.visualizeToggled)
        s.addRow(self.visualize)
        self.legend = QLabel("")  # what the tint means for what runs now (the window words it: set_legend)
        self.legend.setObjectName("tintLegend")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.legend.setProperty("class", "hint")
        s.addRow(self.legend)
        self.default_drafter = QCheckBox("Auto-attach the best draft")
        self.default_drafter.setToolTip("When a main model loads and you never chose a draft for it, the smallest "
                                        "compatible draft that fits the size advice is attached")
        s.addRow(self.default_drafter)
        layout.addWidget(spec)
        layout.addStretch(1)
        self._mode_changed()
        self._watch_edits()
        self.wheel_guard = guard_wheel(self)  # scrolling the sidebar never changes a value on its way

    def _watch_edits(self) -> None:
        """settingsEdited on any edit of a field collect_settings reads: the same list, so a new field is saved
        on change as soon as it is collected."""
        spins = [*self.sampling_fields.values(), self.max_tokens, self.n_ctx, self.draft_tokens, self.min_draft,
                 self.p_min, self.ngram_size, self.draft_gpu_layers]
        for w in spins:
            w.valueChanged.connect(self.settingsEdited)  # type: ignore[attr-defined]
        for box in (self.auto_k, self.visualize, self.default_drafter):
            box.toggled.connect(self.settingsEdited)
        self.mode.currentIndexChanged.connect(self.settingsEdited)
        self.rpc_servers.changed.connect(self.settingsEdited)

    # ---- models ---------------------------------------------------------------------------------------------
    def set_library(self, entries: list[LibraryEntry], selected: str = "") -> None:
        """Every file scanned: the usable ones to choose from, the others after them, greyed with their reason."""
        usable = [e for e in entries if e.usable]
        self.main_models.set_entries([(e, []) for e in usable])
        self.main_models.set_unusable(entries)
        row = self.main_models.row_of(selected)
        self.main_combo.setCurrentIndex(row if row >= 0 else (0 if usable else -1))
        self._selection_changed()  # the same row after a rescan: its entry (and so its estimate) may be new

    def mark_rpc_lost(self, endpoint: str) -> None:
        self.rpc_servers.mark(endpoint, "lost")

    def selected_main(self) -> str:
        return self.main_combo.currentData(ModelRoles.Path) or ""

    def selected_entry(self) -> LibraryEntry | None:
        entry = self.main_models.entry_at(self.main_combo.currentIndex())
        return entry if entry is not None and entry.usable else None

    def set_loading(self, fraction: float | None, path: str = "") -> None:
        """`fraction` of the main model's load done (None: not loading); `path`: the file (default: the
        selection, which is what the button loads)."""
        if fraction is None:
            self.load_progress.hide()
            self.loading_path = ""
        else:
            if path or not self.loading_path:
                self.loading_path = path or self.selected_main()
            self.load_progress.show()
            self.load_progress.setValue(int(fraction * 100))
        self._update_load_button()
        self.stateChanged.emit()

    def set_main_state(self, summary: ModelSummary | None, error: str = "") -> None:
        self.main_loaded = summary is not None
        self.loaded_path = summary.path if summary else ""
        self.main_models.set_loaded(self.loaded_path)
        self.loaded_name = summary.name if summary else ""
        self._update_load_button()
        self._update_memory_hint()
        self.stateChanged.emit()
        # names come from GGUF metadata and errors quote paths: both are text, never markup
        if error:
            self.model_state.setText(f"<span style='color:#c0392b'>{_esc(error)}</span>")
        elif summary:
            gpu = (f"GPU ({summary.backend}): {summary.offloaded_layers}/{summary.n_layers} layers"
                   if summary.offloaded_layers else "CPU only")
            if any(name.startswith("RPC") for name, _ in summary.devices):
                gpu = "layers: " + " · ".join(f"{name} {n}" for name, n in summary.devices)
            self.model_state.setText(f"<b>{_esc(summary.name)}</b><br>{_esc(gpu)} · context {summary.n_ctx}"
                                     f"<br><small>chat format: {_esc(summary.chat_format)}</small>")
        else:
            self.model_state.setText("No model loaded")

    def set_draft_candidates(self, fits: list[DraftCandidate], others: list[DraftCandidate],
                             current: str, note: str = "") -> None:
        """Fill the dropdown with exactly the compatible drafts and the disclosure with the rest."""
        self.draft_models.set_entries([(c.entry, c.result.advice) for c in fits])
        # the placeholder is what an empty selection reads: "No compatible draft" only when that is true
        self.draft_combo.setPlaceholderText("None: choose a draft" if fits else "No compatible draft")
        self.select_draft(current)
        self.draft_note.setText(note)
        n = len(others)
        self.others_toggle.setVisible(n > 0)
        self.others_toggle.setText(others_dont_fit(n))
        items = "".join(f"<li><b>{_esc(model_label(c.entry))}</b>: {_esc('; '.join(c.result.reasons))}</li>"
                        for c in others)
        self.others_list.setText(f"<ul style='margin-left:-20px'>{items}</ul>" if items else "")
        self.others_list.setVisible(bool(n) and self.others_toggle.isChecked())

    def select_draft(self, path: str) -> None:
        """Show `path` as the draft (none if it is not a compatible one); its advice is the session's to say
        (ModelSession.advice: it knows the mode and what drafted)."""
        self.draft_combo.setCurrentIndex(self.draft_models.row_of(path))

    def set_speculation_state(self, text: str) -> None:
        self.spec_state.setText(text)
        self.stateChanged.emit()

    def set_legend(self, html_text: str) -> None:
        self.legend.setText(f"<small>{html_text}</small>")

    def set_advice(self, lines: list[str]) -> None:
        """Each line as a sentence (the rules word their reasons as clauses: "the draft (3.2M) is large…")."""
        self.advice.setText("<br>".join(_esc(_sentence(a)) for a in lines))
        self.advice.setVisible(bool(lines))

    # ---- internals ------------------------------------------------------------------------------------------
    def selection_is_loaded(self) -> bool:
        path = self.selected_main()
        return bool(self.loaded_path) and bool(path) and _same_file(path, self.loaded_path)

    def _load_clicked(self) -> None:
        if self.loading_path:
            return  # one load at a time: the button is disabled meanwhile, this is for a click already queued
        if self.main_loaded and (self.selection_is_loaded() or not self.selected_main()):
            self.unloadMainRequested.emit()
        elif self.selected_main():  # nothing loaded, or another model: the engine unloads the old one first
            self.loadMainRequested.emit(self.selected_main())

    def _selection_changed(self) -> None:
        self._update_load_button()
        self._update_memory_hint()

    def _update_load_button(self) -> None:
        """The button says what one click does with the dropdown's selection."""
        b = self.load_button
        entry = self.selected_entry()
        title = info_title(entry.info) if entry is not None and entry.info is not None else ""
        if self.loading_path:
            b.set_full_text(f"Loading {os.path.basename(self.loading_path)}…")
            b.setToolTip("")
            b.setEnabled(False)
            return
        if self.main_loaded and (self.selection_is_loaded() or not entry):
            b.set_full_text("Unload")
            b.setToolTip(f"Free the memory {self.loaded_name or 'the model'} holds")
        elif self.main_loaded:
            b.set_full_text(f"Switch to {title}")
            b.setToolTip(f"Unload {self.loaded_name} and load {title} in its place")
        else:
            b.set_full_text("Load")
            b.setToolTip(f"Load {title}" if title else "")
        b.setEnabled(self.main_loaded or entry is not None)

    def _update_memory_hint(self) -> None:
        """The selection's estimate; none for the loaded model (its line below says what it holds)."""
        entry = self.selected_entry()
        if entry is None or self.selection_is_loaded():
            self.memory_hint.show_for(None, LoadOptions())
            return
        base = self._settings.runtime if self._settings is not None else LoadOptions()
        usable = [self.main_models.entry_at(i) for i in range(self.main_models.usable_count())]
        releasing = next((e for e in usable if e is not None and _same_file(e.path, self.loaded_path)), None) \
            if self.loaded_path else None
        self.memory_hint.show_for(entry, self.load_options(base), releasing)

    def _draft_activated(self, row: int) -> None:
        self.draftChosen.emit(self.draft_models.index(row).data(ModelRoles.Path) or "")

    def _mode_changed(self) -> None:
        mode = self.mode.currentData()
        self.mode.setToolTip(str(self.mode.currentData(Qt.ItemDataRole.ToolTipRole) or ""))
        for w in (self.draft_combo, self.draft_gpu_layers, self.p_min):
            w.setEnabled(mode == "draft")
        self.ngram_size.setEnabled(mode == "ngram")
        self.draft_tokens.setEnabled(mode != "off" and not self.auto_k.isChecked())
        self.auto_k.setEnabled(mode != "off")

    def _toggle_others(self, on: bool) -> None:
        self.others_toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.others_list.setVisible(on)


def _same_file(a: str, b: str) -> bool:
    return a == b or os.path.realpath(a) == os.path.realpath(b)  # a symlinked model is its target


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "!", "?", ")")) else ".")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
