"""The Settings window (Ctrl+, and File > Settings…): what stays the same from chat to chat.

The sidebar keeps what a user changes per chat or per model (the model, sampling, speculation); here: the default
system prompt of new chats, what happens when a chat outgrows the context, how models load (context size, threads,
batch size: at the next load, with a Reload button), where models are looked for, the theme and the font size, and
the way to the local server. A change applies at once and is saved within a moment (the window's SettingsSaver).

It edits the one Settings object; what needs another part of the window (the theme, the font, the sidebar's context
field, the library's folders, a reload) it asks for by signal, so this screen imports no other screen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QListWidget, QPlainTextEdit, QPushButton, QScrollArea, QSpinBox,
                               QVBoxLayout, QWidget)

from app.core.inference.context_fit import OVERFLOW_POLICIES, POLICY_HELP, POLICY_LABELS, as_policy
from app.core.infra.settings import Settings
from app.ui.theme import THEMES
from app.ui.widgets.wheel_guard import guard_wheel

log = logging.getLogger("specchat.ui")

FONT_SIZES = (0, 9, 10, 11, 12, 13, 14, 16, 18, 20)  # 0: the system's


class SettingsWindow(QDialog):
    themeChosen = Signal(str)  # "system" | "light" | "dark"
    fontSizeChosen = Signal(int)  # points (0: the system's)
    contextChosen = Signal(int)  # the main model's context length (the sidebar's Context field shows the same)
    modelDirsChanged = Signal(list)  # the extra model folders ([str]), after one was added or removed
    overflowChosen = Signal(str)  # the overflow policy
    reloadRequested = Signal()  # load the main model again (a load option changed)
    serverRequested = Signal()  # open the Local server window

    def __init__(self, settings: Settings, settings_changed: Callable[[], None], models_dir: Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsWindow")
        self.setWindowTitle("Settings")
        self.settings = settings
        self.settings_changed = settings_changed
        self.loaded_with: tuple[int, int, int] | None = None  # (n_ctx, threads, batch) the loaded model has

        body = QWidget()
        column = QVBoxLayout(body)
        column.addWidget(self._chats_section())
        column.addWidget(self._loading_section())
        column.addWidget(self._models_section(models_dir))
        column.addWidget(self._appearance_section())
        column.addWidget(self._server_section())
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(buttons)
        self.wheel_guard = guard_wheel(body)  # scrolling the page never changes a field under the pointer
        self.resize(560, 640)

    # ---- sections ---------------------------------------------------------------------------------------------
    def _chats_section(self) -> QGroupBox:
        box, form = _section("Chats")
        self.system_prompt = QPlainTextEdit(self.settings.generation.default_system_prompt)
        self.system_prompt.setPlaceholderText("None: the model's own behaviour")
        self.system_prompt.setFixedHeight(70)
        self.system_prompt.setToolTip("The system prompt a new chat starts with (each chat keeps its own, edited "
                                      "above the conversation).")
        self.system_prompt.textChanged.connect(self._system_prompt_edited)
        form.addRow("Default system prompt", self.system_prompt)
        self.overflow = QComboBox()
        for policy in OVERFLOW_POLICIES:
            self.overflow.addItem(POLICY_LABELS[policy], policy)
        self.overflow.setCurrentIndex(self.overflow.findData(as_policy(self.settings.generation.overflow)))
        self.overflow_help = _note(POLICY_HELP[as_policy(self.settings.generation.overflow)])
        self.overflow.currentIndexChanged.connect(self._overflow_chosen)
        form.addRow("Context overflow", self.overflow)
        form.addRow("", self.overflow_help)
        return box

    def _loading_section(self) -> QGroupBox:
        box, form = _section("Model loading")
        runtime = self.settings.runtime
        self.n_ctx = _spin(256, 131072, runtime.n_ctx, step=256)
        self.n_ctx.setToolTip("Tokens the model can hold: the chat, its system prompt and the answer. A larger "
                              "context takes more memory (the KV cache).")
        self.n_threads = _spin(0, 256, runtime.n_threads, special="Auto (free physical cores)")
        self.n_threads.setToolTip("Auto: the physical cores, one fewer for each that another program keeps busy "
                                  "while a CPU model decodes (llama.cpp's threads wait for each other, so a shared "
                                  "core slows them all). A number: always that many.")
        self.n_batch = _spin(32, 8192, runtime.n_batch, step=32)
        self.n_batch.setToolTip("Prompt tokens evaluated per step: larger reads long prompts faster and takes "
                                "more memory.")
        for spin in (self.n_ctx, self.n_threads, self.n_batch):
            spin.valueChanged.connect(self._loading_edited)
        form.addRow("Context size", self.n_ctx)
        form.addRow("CPU threads", self.n_threads)
        form.addRow("Batch size", self.n_batch)
        self.reload_note = QLabel()
        self.reload_note.setWordWrap(True)
        self.reload_button = QPushButton("Reload model")
        self.reload_button.clicked.connect(self.reloadRequested)
        row = QHBoxLayout()
        row.addWidget(self.reload_note, 1)
        row.addWidget(self.reload_button)
        form.addRow(row)
        self._update_reload_note()
        return box

    def _models_section(self, models_dir: Path) -> QGroupBox:
        box, form = _section("Model folders")
        own = QLabel(str(models_dir))
        own.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        own.setToolTip("Downloads and imports go here.")
        form.addRow("SpecChat's folder", own)
        self.model_dirs = QListWidget()
        self.model_dirs.addItems(self.settings.library.extra_model_dirs)
        self.model_dirs.setFixedHeight(80)
        self.model_dirs.setToolTip("Folders of GGUF files you keep elsewhere (LM Studio's, a shared disk): "
                                   "listed beside SpecChat's own, never moved.")
        add = QPushButton("Add folder…")
        add.clicked.connect(self._add_model_dir)
        self.remove_dir_button = QPushButton("Remove")
        self.remove_dir_button.clicked.connect(self._remove_model_dir)
        self.remove_dir_button.setEnabled(False)
        self.model_dirs.currentRowChanged.connect(lambda row: self.remove_dir_button.setEnabled(row >= 0))
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(self.remove_dir_button)
        buttons.addStretch(1)
        form.addRow("Also look in", self.model_dirs)
        form.addRow("", buttons)
        return box

    def _appearance_section(self) -> QGroupBox:
        box, form = _section("Appearance")
        self.theme = QComboBox()
        for key, label in THEMES:
            self.theme.addItem(label, key)
        self.theme.setCurrentIndex(max(0, self.theme.findData(self.settings.ui.theme)))
        self.theme.currentIndexChanged.connect(lambda _i: self.themeChosen.emit(self.theme.currentData()))
        form.addRow("Theme", self.theme)
        self.font_size = QComboBox()
        for size in FONT_SIZES:
            self.font_size.addItem("System" if size == 0 else f"{size} pt", size)
        current = self.settings.ui.font_size
        if current not in FONT_SIZES:
            self.font_size.addItem(f"{current} pt", current)
        self.font_size.setCurrentIndex(self.font_size.findData(current))
        self.font_size.currentIndexChanged.connect(self._font_size_chosen)
        form.addRow("Font size", self.font_size)
        return box

    def _server_section(self) -> QGroupBox:
        box, form = _section("Local server")
        text = _note("An OpenAI-compatible server for other programs on the loaded model, with speculation on top "
                     "(its address, port and API key are in its own window).")
        open_server = QPushButton("Local server…")
        open_server.clicked.connect(self.serverRequested)
        form.addRow(text)
        form.addRow("", open_server)
        return box

    # ---- edits ----------------------------------------------------------------------------------------------
    def _system_prompt_edited(self) -> None:
        self.settings.generation.default_system_prompt = self.system_prompt.toPlainText().strip()
        self.settings_changed()

    def _overflow_chosen(self) -> None:
        policy = as_policy(str(self.overflow.currentData()))
        self.settings.generation.overflow = policy
        self.overflow_help.setText(POLICY_HELP[policy])
        self.settings_changed()
        self.overflowChosen.emit(policy)

    def _loading_edited(self) -> None:
        self.settings.runtime = replace(self.settings.runtime, n_ctx=self.n_ctx.value(),
                                        n_threads=self.n_threads.value(), n_batch=self.n_batch.value())
        self.settings_changed()
        self.contextChosen.emit(self.n_ctx.value())
        self._update_reload_note()

    def _font_size_chosen(self) -> None:
        self.settings.ui.font_size = int(self.font_size.currentData())
        self.settings_changed()
        self.fontSizeChosen.emit(self.settings.ui.font_size)

    def _add_model_dir(self, folder: str | None = None) -> None:
        chosen = folder or QFileDialog.getExistingDirectory(self, "A folder of GGUF models", str(Path.home()))
        if not chosen:
            return
        dirs = self.settings.library.extra_model_dirs
        if chosen in dirs:
            return
        dirs.append(chosen)
        self.model_dirs.addItem(chosen)
        self.settings_changed()
        self.modelDirsChanged.emit(list(dirs))

    def _remove_model_dir(self) -> None:
        row = self.model_dirs.currentRow()
        dirs = self.settings.library.extra_model_dirs
        if not 0 <= row < len(dirs):
            return
        del dirs[row]
        self.model_dirs.takeItem(row)
        self.settings_changed()
        self.modelDirsChanged.emit(list(dirs))

    # ---- what the window tells it ------------------------------------------------------------------------------
    def set_context(self, n_ctx: int) -> None:
        """The sidebar's Context field changed: the same value here (no signal back)."""
        if n_ctx != self.n_ctx.value():
            self.n_ctx.blockSignals(True)
            self.n_ctx.setValue(n_ctx)
            self.n_ctx.blockSignals(False)
            self._update_reload_note()

    def set_loaded(self, options: tuple[int, int, int] | None) -> None:
        """(n_ctx, threads, batch) of the loaded main model (None: none loaded): the note says what differs."""
        self.loaded_with = options
        self._update_reload_note()

    def _update_reload_note(self) -> None:
        loaded = self.loaded_with
        wanted = (self.n_ctx.value(), self.n_threads.value(), self.n_batch.value())
        if loaded is None:
            self.reload_note.setText("These apply when a model is loaded.")
            self.reload_button.hide()
            return
        names = ("context size", "threads", "batch size")
        changed = [name for name, a, b in zip(names, loaded, wanted) if a != b]
        if changed:
            self.reload_note.setText(f"The loaded model runs with another {', '.join(changed)}: the change applies "
                                     "at the next load.")
            self.reload_button.show()
        else:
            self.reload_note.setText("The loaded model runs with these.")
            self.reload_button.hide()


def _section(title: str) -> tuple[QGroupBox, QFormLayout]:
    box = QGroupBox(title)
    form = QFormLayout(box)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return box, form


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setProperty("class", "hint")
    return label


def _spin(lo: int, hi: int, value: int, step: int = 1, special: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(lo, hi)
    spin.setSingleStep(step)
    if special:
        spin.setSpecialValueText(special)
    spin.setValue(min(max(value, lo), hi))
    return spin
