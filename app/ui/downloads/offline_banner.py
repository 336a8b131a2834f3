"""The Downloads window's offline state: the hub could not be reached. One sentence that says so and where, what
usually causes it (a proxy, a blocked or mirrored hub) with the settings that fix it, and a Retry button.

It replaces the raw `ConnectError` line a search used to end with after 23 s: the user sees what happened and what
to do, the exception's class and text go to the log."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

HINT = ("Check the network connection. Behind a proxy, start SpecChat with HTTPS_PROXY set (for example "
        "HTTPS_PROXY=http://proxy.example:3128). Where the hub is blocked, a mirror works: set HF_ENDPOINT to its "
        "address (for example HF_ENDPOINT=https://mirror.example). Recommended pairs and imports need no search.")


class OfflineBanner(QFrame):
    retryRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.endpoint = ""
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # the endpoint comes from the environment: no markup
        font = self.message.font()
        font.setBold(True)
        self.message.setFont(font)
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # to copy the names
        self.retry_button = QPushButton("Retry")
        self.retry_button.setToolTip("Look for the hub again and repeat what could not be done")
        self.retry_button.clicked.connect(self._retry)
        text = QVBoxLayout()
        text.addWidget(self.message)
        text.addWidget(self.hint)
        lay = QHBoxLayout(self)
        lay.addLayout(text, 1)
        lay.addWidget(self.retry_button, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    @property
    def offline(self) -> bool:
        return not self.isHidden()

    def show_offline(self, endpoint: str, sentence: str) -> None:
        self.endpoint = endpoint
        self.message.setText(sentence)  # no full stop: it would read as part of the address
        self.retry_button.setEnabled(True)
        self.retry_button.setText("Retry")
        self.show()

    def clear(self) -> None:
        self.hide()

    def _retry(self) -> None:
        self.retry_button.setEnabled(False)  # one retry at a time; the answer re-enables it or hides the banner
        self.retry_button.setText("Checking…")
        self.retryRequested.emit()
