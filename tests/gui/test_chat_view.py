"""The chat view: live Markdown while streaming with highlights on the right rendered characters, code blocks
whose copy link copies exactly their code, following the stream and pausing, and highlighting kept across a
restart of the store."""

from __future__ import annotations

import json

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QApplication

from app.cli import main as cli_main
from app.core.chats.chat_store import ChatStore, spans_from_flags
from app.cli.view_bench import markdown_pieces, synthetic_pieces
from app.ui.chat.chat_view import ChatView, ShownMessage

ANSWER = ("Some **bold word** here and `inline code` there.\n\n"
          "```python\ndef add(a, b):\n    return a + b\n```\n\n"
          "| key | value |\n|---|---|\n| x | 42 |\n\nThe end.")
CODE = "def add(a, b):\n    return a + b"


def source_span(text: str, word: str, after: str = "") -> tuple[int, int]:
    start = text.index(word, text.index(after) if after else 0)
    return start, start + len(word)


def rendered_highlight(view: ChatView, word: str, after: str = "") -> list[bool]:
    """For each character of the first rendered `word` (after the rendered text `after`): highlighted?"""
    doc = view.document()
    start = doc.find(after).selectionEnd() if after else 0
    found = doc.find(word, start)
    assert not found.isNull(), f"{word!r} is not in the rendered text"
    out = []
    probe = QTextCursor(doc)
    for pos in range(found.selectionStart(), found.selectionEnd()):
        probe.setPosition(pos + 1)  # the format of the character before the position
        out.append(probe.charFormat().background().color() == view._theme.highlight)
    return out


def stream(qtbot, view: ChatView, pieces: list[tuple[str, bool]]) -> None:
    view.begin_answer()
    view.append_tokens(pieces)
    total = sum(len(t) for t, _ in pieces)
    with qtbot.waitSignal(view.streamed, timeout=10_000, check_params_cb=lambda n: n >= total):
        pass


def pieces_with(text: str, highlighted: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    """`text` cut into pieces of 3 characters and at every span edge; a piece is a draft token inside a span."""
    cuts = sorted({0, len(text), *range(0, len(text), 3), *(p for span in highlighted for p in span)})
    return [(text[a:b], any(s <= a and b <= e for s, e in highlighted)) for a, b in zip(cuts, cuts[1:])]


def test_highlights_land_on_the_rendered_characters_live_and_stored(qtbot):
    spans = [source_span(ANSWER, "word"), source_span(ANSWER, "line", "`"),
             source_span(ANSWER, "a + b", "return")]
    view = ChatView()
    qtbot.addWidget(view)
    view.set_messages([ShownMessage("user", "Show me")])
    pieces = pieces_with(ANSWER, spans)
    assert spans_from_flags(pieces) == spans
    stream(qtbot, view, pieces)

    def check() -> None:
        text = view.toPlainText()
        assert "```" not in text and "**" not in text and "`inline" not in text  # Markdown, live
        assert rendered_highlight(view, "bold word") == [False] * 5 + [True] * 4  # inside **bold**
        assert rendered_highlight(view, "inline code") == [False, False, True, True, True, True] + [False] * 5  # in `code`
        assert rendered_highlight(view, "return a + b") == [False] * 7 + [True] * 5  # in the fenced block
        assert rendered_highlight(view, "def add") == [False] * 7

    check()  # while the answer is still open
    streamed_text = view.toPlainText()
    view.end_answer(ShownMessage("assistant", ANSWER, spans, footer="12 tok/s"))
    check()
    assert view.toPlainText().startswith(streamed_text)  # no reflow at the end: only the footer was added
    view.set_messages([ShownMessage("user", "Show me"), ShownMessage("assistant", ANSWER, spans, "12 tok/s")])
    check()  # rendered from the stored message, as when a chat is opened
    view.set_show_highlights(False)
    assert rendered_highlight(view, "bold word") == [False] * 9


def test_the_stored_highlighting_survives_a_restart(qtbot, tmp_path):
    spans = [source_span(ANSWER, "bold"), source_span(ANSWER, "42")]
    store = ChatStore(tmp_path / "chats.sqlite3")
    chat = store.create_chat()
    store.add_message(chat.id, "user", "Show me")
    answer = store.start_answer(chat.id)
    store.save_answer(answer.id, ANSWER, spans, {"tokens_per_second": 9.0}, state="done")
    store.close()

    again = ChatStore(tmp_path / "chats.sqlite3")  # a new process would open it just so
    view = ChatView()
    qtbot.addWidget(view)
    view.set_messages([ShownMessage(m.role, m.content, m.highlights, state=m.state, position=m.position)
                       for m in again.messages(chat.id)])
    again.close()
    assert rendered_highlight(view, "bold") == [True] * 4
    assert rendered_highlight(view, "42") == [True, True]
    assert rendered_highlight(view, "value") == [False] * 5


def anchor_point(view: ChatView, href_prefix: str) -> QPoint:
    """The viewport point of the first link whose href starts with `href_prefix`, scrolled into view."""
    block = view.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            if frag.charFormat().anchorHref().startswith(href_prefix):
                cursor = QTextCursor(view.document())
                cursor.setPosition(frag.position() + 1)
                view.setTextCursor(cursor)
                view.ensureCursorVisible()
                return view.cursorRect(cursor).center() - QPoint(3, 0)
            it += 1
        block = block.next()
    raise AssertionError(f"no link {href_prefix}")


def test_a_code_blocks_copy_link_copies_exactly_its_code(qtbot):
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(700, 500)
    view.show()
    other = "```bash\necho other\n```"
    view.set_messages([ShownMessage("user", "Q"), ShownMessage("assistant", ANSWER + "\n\n" + other)])
    QApplication.clipboard().setText("")
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=anchor_point(view, "copy-code:"))
    assert QApplication.clipboard().text() == CODE

    # a block still streaming: its link copies what it holds so far
    stream(qtbot, view, pieces_with("Next:\n\n```js\nlet a = 1;\nlet b = 2;\n", []))
    links = []
    block = view.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            href = it.fragment().charFormat().anchorHref()
            if href.startswith("copy-code:"):
                links.append(href)
            it += 1
        block = block.next()
    assert len(links) == 3
    view._anchor_clicked(type(view.source())(links[-1]))
    assert QApplication.clipboard().text() == "let a = 1;\nlet b = 2;"


def test_follows_the_stream_pauses_when_scrolled_up_and_jumps_back(qtbot):
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(600, 300)
    view.show()
    long_chat = []
    for i in range(10):
        long_chat += [ShownMessage("user", f"question {i}"), ShownMessage("assistant", f"answer {i}\n\n" * 4)]
    view.set_messages(long_chat)
    bar = view.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == bar.maximum()
    view.begin_answer()  # the heading arrives after the view scrolled: following must not stop
    for i in range(5):
        view.append_tokens([(f"line {i} of the new answer\n\n", i % 2 == 0)])
        qtbot.waitUntil(lambda: view.pending() == 0)
        qtbot.wait(40)
        assert view.following() and bar.value() == bar.maximum()
        assert not view.jump_button.isVisible()
    shown = view.cursorForPosition(view.viewport().rect().bottomLeft() - QPoint(-40, 30)).block().text()
    assert "of the new answer" in shown or shown == ""  # the newest text is what the user sees

    bar.setValue(bar.maximum() // 2)  # the user scrolls up to read: following pauses
    assert not view.following()
    qtbot.waitUntil(view.jump_button.isVisible)
    paused_at = bar.value()
    view.append_tokens([("more text\n\n", False)] * 20)
    qtbot.waitUntil(lambda: view.pending() == 0)
    qtbot.wait(40)
    assert bar.value() == paused_at and bar.maximum() > paused_at

    qtbot.mouseClick(view.jump_button, Qt.MouseButton.LeftButton)
    assert view.following() and bar.value() == bar.maximum() and not view.jump_button.isVisible()
    view.append_tokens([("and the end\n\n", False)] * 20)
    qtbot.waitUntil(lambda: view.pending() == 0)
    qtbot.wait(40)
    assert bar.value() == bar.maximum()


def test_a_long_unbroken_line_streams_and_ends_as_one_line(qtbot):
    view = ChatView()
    qtbot.addWidget(view)
    long_line = [("abcde", i % 3 == 2) for i in range(2000)]  # 10 000 characters, no line break
    stream(qtbot, view, long_line)
    text = "".join(t for t, _ in long_line)
    view.end_answer(ShownMessage("assistant", text, spans_from_flags(long_line), footer="12 tok/s"))
    assert text in view.toPlainText().split("\n")


def test_switching_away_drops_queued_pieces(qtbot):
    view = ChatView()
    qtbot.addWidget(view)
    view.begin_answer()
    view.append_tokens([("stale", False)] * 1000)
    view.set_messages([ShownMessage("user", "another chat")])
    view.append_tokens([("late", False)])  # a batch still in flight from the old request
    qtbot.wait(100)
    assert "stale" not in view.toPlainText() and "late" not in view.toPlainText() and view.pending() == 0


def test_finished_messages_are_not_rendered_again(qtbot):
    """Sending a message appends it; the conversation above stays the same document fragments."""
    view = ChatView()
    qtbot.addWidget(view)
    first = [ShownMessage("user", "Q1", position=0), ShownMessage("assistant", ANSWER, position=1)]
    view.set_messages(first)
    before = view.document().findBlockByNumber(3)
    view.set_messages(first + [ShownMessage("user", "Q2", position=2)])
    assert view.document().findBlockByNumber(3) == before and "Q2" in view.toPlainText()
    view.set_messages(first[:1])  # regenerate: cut back to the question
    assert "The end." not in view.toPlainText() and "Q1" in view.toPlainText()


def test_synthetic_events_match_the_spec():
    pieces = synthetic_pieces(6000)
    assert all(1 <= len(t.rstrip("\n")) <= 6 for t, _ in pieces)
    assert [f for _, f in pieces[:6]] == [False, False, True, False, False, True]
    longest, run = 0, 0
    for t, _ in pieces:
        run = 0 if "\n" in t else run + 1
        longest = max(longest, run)
    assert longest >= 3000
    md = "".join(t for t, _ in markdown_pieces(20000))
    assert md.count("```") >= 8 and "| setting |" in md and "**" in md and "\n- " in md


def test_bench_view_command(capsys):
    assert cli_main(["bench-view", "--tokens", "4000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["complete"] and out["tokens"] == 4000 and out["tokens_per_second"] > 0 and out["max_stall_ms"] > 0
    assert cli_main(["bench-view", "--tokens", "3000", "--content", "markdown", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["complete"] and out["content"] == "markdown" and out["tokens"] == 3000
    assert cli_main(["bench-view", "--open-chat", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["messages"] == 20 and out["open_seconds"] > 0


def test_a_chat_opened_before_the_first_show_opens_at_its_end(qtbot):
    """The window opens the last chat before it is shown; QTextEdit's first show scrolls its text cursor into
    view. That is no scroll of the user's: the view stays at the latest message, following, without "Jump to
    latest" over the last answer's links (seen at 900×600), and resizes keep it there."""
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(430, 430)
    long_chat = []
    for i in range(3):
        long_chat += [ShownMessage("user", f"question {i} " * 8), ShownMessage("assistant", ANSWER)]
    view.set_messages(long_chat)
    view.show()
    qtbot.waitExposed(view)
    bar = view.verticalScrollBar()
    assert bar.maximum() > 0
    for width, height in ((430, 430), (700, 260), (380, 500)):
        view.resize(width, height)
        qtbot.wait(30)
        assert view.following(), f"at {width}×{height}"
        assert bar.value() == bar.maximum() and not view.jump_button.isVisible(), f"at {width}×{height}"


def test_the_reading_column_keeps_its_margins_after_another_chat_is_shown(qtbot):
    """QTextDocument.clear() resets the root frame: a chat opened after another filled the whole width (and the
    input, lined up with the column, no longer lined up with the messages)."""
    from app.ui.chat.chat_theme import MAX_READING_WIDTH
    from app.ui.chat.chat_view import ChatView, ShownMessage

    view = ChatView()
    qtbot.addWidget(view)
    view.resize(1200, 300)
    view.show()
    margins: list[int] = []
    view.columnMarginChanged.connect(margins.append)
    view.set_messages([ShownMessage("user", "hello " * 60)])
    view.set_messages([])  # another chat: the document is cleared
    view.set_messages([ShownMessage("user", "again " * 60)])
    expected = (view.viewport().width() - MAX_READING_WIDTH) // 2
    assert view.document().rootFrame().frameFormat().leftMargin() == expected > 16
    assert margins and margins[-1] == expected
