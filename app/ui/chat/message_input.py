"""The message being written: Enter sends, Shift+Enter is a new line. Files dropped or pasted here, and a long
paste, are handed on to be attached (the window makes them chips); Ctrl+Shift+V pastes a long text into the message
as it is."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QPlainTextEdit

from app.core.chats.file_reading import is_long_paste


class MessageInput(QPlainTextEdit):
    """Enter sends, Shift+Enter is a new line. Files dropped or pasted here, and a long paste, are attached (the
    window makes them chips); Ctrl+Shift+V pastes a long text into the message as it is."""

    filesDropped = Signal(list)  # local file paths
    longPasted = Signal(str)  # a paste too long to edit in the input (file_reading.is_long_paste)

    def __init__(self, send: Callable[[], None]) -> None:
        super().__init__()
        self._send = send
        self._paste_inline = False
        self.setPlaceholderText("Message (Enter sends, Shift+Enter for a new line; drop files here to attach them)")
        self.setFixedHeight(80)

    def keyPressEvent(self, e: QKeyEvent) -> None:
        if e.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not e.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self._send()
            return
        if e.key() == Qt.Key.Key_V and e.modifiers() == (Qt.KeyboardModifier.ControlModifier |
                                                         Qt.KeyboardModifier.ShiftModifier):
            self._paste_inline = True  # the user asked for the text itself, however long
            try:
                self.paste()
            finally:
                self._paste_inline = False
            return
        super().keyPressEvent(e)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802 (Qt's name)
        return source.hasUrls() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 (Qt's name): paste and drop both
        paths = [u.toLocalFile() for u in source.urls() if u.isLocalFile()] if source.hasUrls() else []
        if paths:
            self.filesDropped.emit(paths)
            return
        text = source.text() if source.hasText() else ""
        if text and not self._paste_inline and is_long_paste(text):
            self.longPasted.emit(text)
            return
        super().insertFromMimeData(source)
