"""Files in the prompt, in the window on a real tiny model and a real chat store: an attached file's chip says its
tokens and the gauge counts it with the message; Send stores it with the question and the model reads it; it is
still there after a restart; a binary file, or one larger than the context, is refused with a sentence; a long
paste becomes a chip; Edit, and a question that could not fit, bring the files back."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from app.core.chats.attachments import Attachment
from app.core.chats.file_reading import PASTE_CHARS
from app.core.infra.requests import GenerateRequest
from app.ui.chat.file_preview import FilePreview
from app.ui.main_window import MainWindow
from tests.gui.test_context_overflow import TOO_LONG, small_context_window
from tests.gui.test_conversation import plain_window
from tests.gui.test_main_window import library, load_main, open_window  # noqa: F401  (library: a fixture)

LONG = 30_000
CODE = "def transfer(amount, source, target):\n    source.balance -= amount\n    target.balance += amount\n"


def counted(qtbot, w: MainWindow) -> list[int]:
    """Every chip's tokens, once the engine has counted them all."""
    qtbot.waitUntil(lambda: all(f.tokens is not None for f in w.chips.files()), timeout=LONG)
    return [f.tokens or 0 for f in w.chips.files()]


def recording(w: MainWindow) -> list[GenerateRequest]:
    """The requests the window sends the engine (each still goes to it)."""
    sent: list[GenerateRequest] = []
    generate = w.host.generate

    def record(request: GenerateRequest) -> int:
        sent.append(request)
        return generate(request)
    w.host.generate = record  # type: ignore[method-assign]
    return sent


def test_a_file_is_counted_sent_stored_and_shown_again_after_a_restart(qtbot, library, tmp_path):
    path = tmp_path / "transfer.py"
    path.write_text(CODE.replace("\n", "\r\n"))  # a Windows checkout: the model reads "\n" line ends
    w = plain_window(qtbot)
    w.attach_files([str(path)])
    assert [f.attachment.name for f in w.chips.files()] == ["transfer.py"] and w.chips.isVisible()
    [tokens] = counted(qtbot, w)
    assert 20 < tokens < 200
    chip = w.chips.chip(w.chips.files()[0].key)
    assert chip.label.text() == f"transfer.py · {tokens:,} tokens"
    assert str(path) in chip.toolTip() and "3 lines" in chip.toolTip()
    # the gauge counts the file with the message before anything is sent: "+ N", N at least the file's own tokens
    w.input.setPlainText("What does this do?")
    qtbot.waitUntil(lambda: " + " in w.context_gauge.format(), timeout=LONG)
    typed = int(w.context_gauge.format().split(" + ")[1].split(" /")[0].replace(",", ""))
    assert typed > tokens

    sent = recording(w)
    with qtbot.waitSignal(w.host.finished, timeout=LONG) as done:
        w.send()
    assert not w.chips.files() and not w.chips.isVisible() and w.input.toPlainText() == ""
    [question] = [m for m in w.store.messages(w.chat_id) if m.role == "user"]
    assert question.content == "What does this do?"
    assert question.attachments == [Attachment("transfer.py", CODE, tokens)]
    prompt = sent[0].messages[-1]["content"]
    assert prompt == f"File: transfer.py\n```python\n{CODE}```\n\nWhat does this do?"
    assert done.args[1].prompt_tokens >= typed  # the engine read the file: as many tokens as the gauge said
    assert "Attached:" in w.view.toPlainText() and "transfer.py" in w.view.toPlainText()
    assert w.store.chat(w.chat_id).title == "What does this do?"
    chat_id = w.chat_id
    w.close()

    again = open_window(qtbot)  # the same SPECCHAT_HOME: the chat, with its file, comes back
    assert again.chat_id == chat_id
    shown = again.view.toPlainText()
    assert f"transfer.py · {tokens:,} tokens" in shown.replace("\u00a0", " ")
    again.view._anchor_clicked(QUrl("msg-file:0:0"))  # the file's name in the chat: its text, as it was sent
    [preview] = again.view.findChildren(FilePreview)
    assert preview.text.toPlainText() == CODE and preview.windowTitle() == "transfer.py"
    preview.close()


def test_a_binary_file_and_a_file_larger_than_the_context_are_refused_in_words(qtbot, library, tmp_path):
    w = small_context_window(qtbot)  # a 256-token context
    image = tmp_path / "screenshot.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    w.attach_files([str(image), str(tmp_path / "src")])
    assert not w.chips.files()
    assert w.statusBar().currentMessage() == ("screenshot.png looks binary (a PNG image); only text and code files "
                                             "can be attached. src can't be attached: it does not exist (any more).")

    big = tmp_path / "notes.md"
    big.write_text("Every word of these notes matters to the answer. " * 60)  # ~600 tokens
    w.attach_files([str(big)])
    [tokens] = counted(qtbot, w)
    assert tokens > 256
    chip = w.chips.chip(w.chips.files()[0].key)
    assert chip.label.text() == f"notes.md · {tokens:,} tokens: too large for the context (256)"
    assert "More than the model's whole context" in chip.toolTip()
    assert w.statusBar().currentMessage().startswith(f"notes.md alone is {tokens:,} tokens, more than the model's "
                                                     "whole context (256 tokens): it can't be sent.")
    w.input.setPlainText("Summarise these notes")
    w.send()
    assert w.statusBar().currentMessage().startswith("Not sent: notes.md alone is")
    assert w.store.messages(w.chat_id) == [] and not w.answers.busy  # nothing sent, nothing stored
    assert w.input.toPlainText() == "Summarise these notes" and len(w.chips.files()) == 1  # nothing lost
    w.chips.chip(w.chips.files()[0].key).close_button.click()  # × takes it off
    assert not w.chips.files() and not w.chips.isVisible()


def test_a_long_paste_becomes_a_chip_and_files_alone_can_be_sent(qtbot, library, tmp_path):
    w = plain_window(qtbot)
    long_text = "A log line that goes on and on.\n" * 80
    QApplication.clipboard().setText(long_text)
    w.input.setFocus()
    w.input.paste()
    assert w.input.toPlainText() == "" and [f.attachment.name for f in w.chips.files()] == ["Pasted text 1"]
    assert "attached as “Pasted text 1”" in w.statusBar().currentMessage()
    qtbot.keyClick(w.input, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert w.input.toPlainText() == long_text and len(w.chips.files()) == 1  # Ctrl+Shift+V: the text itself
    w.input.clear()
    QApplication.clipboard().setText("short error: KeyError 'x'")
    w.input.paste()
    assert w.input.toPlainText() == "short error: KeyError 'x'"  # a short paste stays text
    assert len(long_text) > PASTE_CHARS
    w.input.clear()

    # a file dropped on the window (not only the input) is attached too
    notes = tmp_path / "notes.txt"
    notes.write_text("Buy milk.\nCall Ann.\n")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(notes))])
    w.dropEvent(QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                           Qt.KeyboardModifier.NoModifier))
    w.input.insertFromMimeData(mime)  # dropped on the input: the same file is not attached twice
    assert [f.attachment.name for f in w.chips.files()] == ["Pasted text 1", "notes.txt"]
    assert "notes.txt is attached already." in w.statusBar().currentMessage()
    counted(qtbot, w)

    with qtbot.waitSignal(w.host.finished, timeout=LONG):
        w.send()  # no text: the files are the question
    [question] = [m for m in w.store.messages(w.chat_id) if m.role == "user"]
    assert question.content == "" and [a.name for a in question.attachments] == ["Pasted text 1", "notes.txt"]
    assert question.attachments[0].text == long_text and all(a.tokens > 0 for a in question.attachments)
    assert w.store.chat(w.chat_id).title == "Pasted text 1"
    w.input.setPlainText("x" * (PASTE_CHARS + 1))
    w.input.selectAll()
    w.input.clear()
    QApplication.clipboard().setText("y" * (PASTE_CHARS + 1))
    w.input.paste()  # the chat has a "Pasted text 1" already: the next paste is told apart from it
    assert [f.attachment.name for f in w.chips.files()] == ["Pasted text 2"]


def test_edit_and_a_returned_question_bring_their_files_back(qtbot, library, tmp_path):
    path = tmp_path / "transfer.py"
    path.write_text(CODE)
    w = plain_window(qtbot)
    w.attach_files([str(path)])
    counted(qtbot, w)
    w.input.setPlainText("Explain")
    with qtbot.waitSignal(w.host.finished, timeout=LONG):
        w.send()
    w.edit_last()  # the question and its file go back into the input and its chips
    assert w.input.toPlainText() == "Explain" and [f.attachment.text for f in w.chips.files()] == [CODE]
    assert counted(qtbot, w)[0] > 0  # counted again with the model loaded now
    w.cancel_edit_button.click()
    assert not w.chips.files() and w.input.toPlainText() == ""
    w.view.editRequested.emit(0)
    assert [f.attachment.name for f in w.chips.files()] == ["transfer.py"]
    w.attach_files([str(path)])  # the file on disk is the one the question had: not attached twice
    assert len(w.chips.files()) == 1 and "transfer.py is attached already." in w.statusBar().currentMessage()
    w.chips.chip(w.chips.files()[0].key).close_button.click()  # the edited question goes without its file
    w.input.setPlainText("Explain without the file")
    with qtbot.waitSignal(w.host.finished, timeout=LONG):
        w.send()
    msgs = w.store.messages(w.chat_id)
    assert (msgs[0].content, msgs[0].attachments) == ("Explain without the file", [])


def test_a_question_that_could_not_fit_comes_back_with_its_files(qtbot, library, tmp_path):
    w = small_context_window(qtbot)
    path = tmp_path / "transfer.py"
    path.write_text(CODE)
    w.attach_files([str(path)])
    counted(qtbot, w)  # the file alone fits; with the long message it does not
    w.input_count_timer.stop()
    w.input.setPlainText(TOO_LONG)
    w.input_count_timer.stop()  # sent before the gauge counted it: the engine refuses it, it comes back
    with qtbot.waitSignal(w.answers.ended, timeout=LONG):
        w.send()
    assert w.store.messages(w.chat_id) == []
    assert w.input.toPlainText() == TOO_LONG.strip()
    assert [f.attachment.text for f in w.chips.files()] == [CODE]


def test_a_file_attached_with_no_model_loaded_shows_its_size_then_its_tokens(qtbot, library, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("hello there\n" * 10)
    w = open_window(qtbot)
    w.attach_files([str(path)])
    chip = w.chips.chip(w.chips.files()[0].key)
    assert chip.label.text() == "a.txt · 120 B" and "counted once a model is loaded" in chip.toolTip()
    w.send()  # nothing is sent without a model; the file stays
    assert "Load a model first" in w.statusBar().currentMessage() and len(w.chips.files()) == 1
    load_main(qtbot, w, "Tiny Main")
    assert counted(qtbot, w)[0] > 0 and "tokens" in chip.label.text()



def test_a_file_name_with_markup_is_shown_as_text(qtbot):
    from app.ui.chat.attachment_chips import AttachmentChips

    chips = AttachmentChips()
    qtbot.addWidget(chips)
    f = chips.add(Attachment("<font color=red>red</font>.txt", "hello"))
    chip = chips.chip(f.key)
    assert chip.label.textFormat() == Qt.TextFormat.PlainText and chip.label.text().startswith("<font color=red>")
    assert "&lt;font color=red&gt;" in chip.toolTip() and "&lt;font" in chip.close_button.toolTip()


def test_many_files_wrap_to_at_most_three_lines_and_scroll(qtbot):
    from app.ui.chat.attachment_chips import MAX_LINES, AttachmentChips

    chips = AttachmentChips()
    qtbot.addWidget(chips)
    chips.resize(500, 40)
    chips.show()
    first = chips.add(Attachment("a.py", "x"))
    one_line = chips.height()
    assert one_line > 0
    for i in range(60):
        chips.add(Attachment(f"file_{i}.py", "x"))
    line = chips.chip(first.key).sizeHint().height()
    assert one_line < chips.height() <= MAX_LINES * line + 2 * 6  # wrapped, capped: the rest scrolls
    qtbot.waitUntil(lambda: chips.widget().height() > chips.height(), timeout=2000)
    assert chips.verticalScrollBar().maximum() > 0
    for f in chips.files()[1:]:
        chips.remove(f.key)
    assert chips.height() == chips.chip(first.key).sizeHint().height()  # one line again
