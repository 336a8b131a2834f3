"""A question's attached file, shown when its name is clicked in the chat: its text as it was sent, read-only,
with Copy (the file on disk may have changed or gone since; this is what the model read)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from app.core.chats.attachments import Attachment
from app.ui.chat.turns import attachment_facts
from app.ui.widgets.screen_fit import fit_to_screen


class FilePreview(QDialog):
    def __init__(self, attachment: Attachment, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(attachment.name)
        layout = QVBoxLayout(self)
        title = QLabel(f"{attachment.name} · {attachment_facts(attachment)} (as sent with the question)")
        title.setTextFormat(Qt.TextFormat.PlainText)  # a file name is text, never markup
        layout.addWidget(title)
        self.text = QPlainTextEdit(attachment.text)
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)  # code keeps its lines
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        layout.addWidget(self.text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QApplication.clipboard().setText(attachment.text))
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        fit_to_screen(self, 760, 560)


def show_file(attachment: Attachment, parent: QWidget) -> FilePreview:
    """Open the file's window (not modal: the chat can still be read and scrolled beside it)."""
    preview = FilePreview(attachment, parent)
    preview.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # each click opens its own; closed ones go
    preview.show()
    preview.raise_()
    return preview
