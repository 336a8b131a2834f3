"""The main window. For now: the model library and its state; the chat view lands with the UI issue."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QMainWindow, QVBoxLayout, QWidget

from app import APP_NAME
from app.core.library import ModelLibrary, configured_model_dirs
from app.core.paths import app_paths


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(APP_NAME)
        self.resize(900, 600)
        body = QWidget()
        layout = QVBoxLayout(body)
        self.heading = QLabel(f"<h2>{APP_NAME}</h2>")
        self.status = QLabel("Scanning the model library…")
        self.status.setWordWrap(True)
        self.models = QListWidget()
        layout.addWidget(self.heading)
        layout.addWidget(self.status)
        layout.addWidget(self.models, 1)
        self.setCentralWidget(body)
        QTimer.singleShot(0, self.refresh_library)

    def refresh_library(self) -> None:
        paths = app_paths().ensure()
        entries = ModelLibrary(configured_model_dirs(), paths.database).scan()
        self.models.clear()
        for e in entries:
            if e.info is None:
                text = f"⚠ {e.path}\n    {e.error}"
            else:
                i = e.info
                text = f"{i.name} · {i.size_label} · {i.file_type} · {i.file_size / 1e6:.0f} MB"
                if not i.is_generative:
                    text += f"  ({i.role})"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, e.path)
            self.models.addItem(item)
        usable = sum(e.usable for e in entries)
        if usable:
            self.status.setText(f"{usable} model(s) in {paths.models}")
        else:
            self.status.setText(
                f"No models yet. Put GGUF files into {paths.models}, or run "
                "<code>python -m app models starter</code> to get a small starter model."
            )
