"""The main window's files in the prompt: Attach… (a file dialog), files dropped on the window or the input, a long
paste made a chip, each file counted in the loaded model's tokens, and the sentence Send says for one that can't
fit.

A mixin of MainWindow (app/ui/main_window.py), over window_parts.py like the others. Reading a file is the core's
(app/core/chats/file_reading.py: its refusals are sentences), counting it the engine's (AttachmentCounter); the
chips (app/ui/chat/attachment_chips.py) hold what goes with the question until Send stores it with it."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog

from app.core.chats.attachments import Attachment
from app.core.chats.file_reading import FileRefused, paste_attachment, read_attachment
from app.core.models.formatting import tokens_phrase
from app.ui.window_parts import WindowParts

log = logging.getLogger("specchat.ui")


def local_paths(mime: QMimeData) -> tuple[list[str], int]:
    """The local files a drop or a paste carries, and how many of its URLs are not local files (a web link)."""
    urls = mime.urls() if mime.hasUrls() else []
    paths = [u.toLocalFile() for u in urls if u.isLocalFile() and u.toLocalFile()]
    return paths, len(urls) - len(paths)


class AttachmentActions(WindowParts):
    """Files attached to the question being written (mixed into MainWindow)."""

    def _connect_attachments(self) -> None:
        self._attach_dir = str(Path.home())  # the dialog opens where the last files came from
        self.attach_button.clicked.connect(self.choose_files)
        self.input.filesDropped.connect(self.attach_files)
        self.input.longPasted.connect(self.attach_paste)
        self.chips.changed.connect(self.input_count_timer.start)  # the gauge counts the question with its files
        self.file_counter.counted.connect(self._file_counted)
        self.models.mainChanged.connect(lambda *_: self.recount_files())
        self.setAcceptDrops(True)  # a file dropped anywhere on the window (the chat, the sidebar) is attached

    def choose_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Attach files", self._attach_dir,
            "All files (*);;Text and code (*.txt *.md *.py *.js *.ts *.json *.yaml *.yml *.toml *.csv *.log *.c "
            "*.h *.cpp *.rs *.go *.java *.sh *.html *.css *.sql *.xml)")
        if paths:
            self._attach_dir = str(Path(paths[0]).parent)
            self.attach_files(paths)

    def attach_files(self, paths: list[str]) -> None:
        """Read each file into a chip; the ones that can't be attached are said in the status bar, all of them."""
        refused: list[str] = []
        there = {f.source for f in self.chips.files() if f.source}
        for path in paths:
            if path in there:
                refused.append(f"{Path(path).name} is attached already.")
                continue
            try:
                attachment = read_attachment(Path(path))
            except FileRefused as e:
                refused.append(str(e))
                continue
            except Exception:  # never a crash on a file: the log has the rest
                log.exception("could not read %s", path)
                refused.append(f"{Path(path).name} could not be read (the log has the details).")
                continue
            if any(f.attachment.name == attachment.name and f.attachment.text == attachment.text
                   for f in self.chips.files()):  # the same file brought back by Edit, attached again
                refused.append(f"{attachment.name} is attached already.")
                continue
            there.add(path)
            self._add_file(attachment, path)
        if refused:
            self.statusBar().showMessage(" ".join(refused), 15000)
        if paths:
            self.input.setFocus()

    def attach_paste(self, text: str) -> None:
        """A long paste goes as a file of its own ("Pasted text 2"), the input keeps what was typed."""
        taken = {f.attachment.name for f in self.chips.files()}
        if self.chat_id is not None:
            taken |= {a.name for m in self.store.messages(self.chat_id) for a in m.attachments}
        attachment = paste_attachment(text, taken)
        self._add_file(attachment, "")
        self.statusBar().showMessage(f"The long paste is attached as “{attachment.name}” (Ctrl+Shift+V pastes it "
                                     "into the message instead).", 8000)

    def restore_files(self, attachments: list[Attachment]) -> None:
        """A question's files back on chips (Edit, or a question that could not fit), counted again: the model
        loaded now may not be the one they were counted with."""
        for a in attachments:
            self._add_file(a, "")

    def recount_files(self) -> None:
        main = self.models.main
        self.file_counter.reset()  # the empty question's count was the old model's
        self.chips.set_context(main.n_ctx if main else 0)
        for f in self.chips.files():
            self.chips.set_tokens(f.key, None if main else -1)  # "counting…" until the new model's count comes
            if main:
                self.file_counter.count(f.key, f.attachment)

    def _add_file(self, attachment: Attachment, source: str) -> None:
        main = self.models.main
        self.chips.set_context(main.n_ctx if main else 0)
        f = self.chips.add(attachment, source)
        if main:
            self.file_counter.count(f.key, attachment)
        else:
            self.chips.set_tokens(f.key, -1)

    def _file_counted(self, key: int, tokens: int) -> None:
        f = self.chips.set_tokens(key, tokens)
        if f is not None and f in self.chips.too_big():
            self.statusBar().showMessage(self.too_big_sentence(), 15000)

    def too_big_sentence(self) -> str:
        """Why Send won't send these files ("" when each fits the context by itself)."""
        big = self.chips.too_big()
        if not big:
            return ""
        n_ctx = f"the model's whole context ({self.chips.n_ctx:,} tokens)"
        if len(big) == 1:
            return (f"{big[0].attachment.name} alone is {tokens_phrase(big[0].tokens or 0)}, more than {n_ctx}: it "
                    "can't be sent. Remove it (× on its chip), attach a part of it, or reload the model with a "
                    "larger context (sidebar, Context).")
        return (f"{' and '.join(f.attachment.name for f in big)} each take more than {n_ctx}: they can't be sent. "
                "Remove them (× on their chips), attach parts of them, or reload the model with a larger context "
                "(sidebar, Context).")

    # ---- drops on the window -----------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt's name)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 (Qt's name)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt's name)
        paths, others = local_paths(event.mimeData())
        if paths or others:
            event.acceptProposedAction()
        self.attach_files(paths)
        if others and not paths:
            self.statusBar().showMessage("Only files on this computer can be attached (not links).", 8000)
