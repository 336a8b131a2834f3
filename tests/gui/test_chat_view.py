"""The chat view: streamed pieces arrive whole and in order, highlighting follows the draft flags, long lines
do not stall the event loop, and the finished answer is rendered as it will stay."""

from __future__ import annotations

import json

from PySide6.QtGui import QTextCursor

from app.cli import main as cli_main
from app.core.chat_store import spans_from_flags
from app.ui.bench_view import synthetic_pieces
from app.ui.chat_view import MAX_BLOCK_CHARS, ChatView, ShownMessage


def highlighted_chars(view: ChatView, start: int, text_len: int) -> list[bool]:
    doc = view.document()
    cursor = QTextCursor(doc)
    out = []
    for pos in range(start, start + text_len):
        cursor.setPosition(pos + 1)
        out.append(cursor.charFormat().background().color() == view._draft.background().color())
    return out


def test_streamed_pieces_show_in_order_with_their_highlighting(qtbot):
    view = ChatView()
    qtbot.addWidget(view)
    view.set_messages([ShownMessage("user", "Say hi")])
    pieces = [("Hel", False), ("lo", True), (" wor", True), ("ld\nand", False), (" more", True)]
    view.begin_answer()
    view.append_tokens(pieces)
    text = "".join(t for t, _ in pieces)
    with qtbot.waitSignal(view.streamed, timeout=2000, check_params_cb=lambda n: n >= len(text)):
        pass
    shown = view.toPlainText()
    assert shown.endswith("Hello world\nand more")
    start = len(shown) - len(text)
    expected = [False] * len(text)
    for a, b in spans_from_flags(pieces):
        for i in range(a, b):
            expected[i] = text[i] != "\n"
    got = highlighted_chars(view, start, len(text))
    assert [g for g, ch in zip(got, text) if ch != "\n"] == [e for e, ch in zip(expected, text) if ch != "\n"]


def test_a_long_unbroken_line_is_split_only_while_streaming(qtbot):
    view = ChatView()
    qtbot.addWidget(view)
    view.begin_answer()
    long_line = [("abcde", i % 3 == 2) for i in range(600)]  # 3 000 characters, no line break
    view.append_tokens(long_line)
    text = "".join(t for t, _ in long_line)
    with qtbot.waitSignal(view.streamed, timeout=5000, check_params_cb=lambda n: n >= len(text)):
        pass
    assert max(len(b) for b in view.toPlainText().split("\n")) <= MAX_BLOCK_CHARS
    view.end_answer(ShownMessage("assistant", text, spans_from_flags(long_line), footer="12 tok/s"))
    assert text in view.toPlainText().split("\n")  # the finished answer is one line again
    view.set_show_highlights(False)  # Markdown rendering of the same answer
    assert text in view.toPlainText()


def test_switching_away_drops_queued_pieces(qtbot):
    view = ChatView()
    qtbot.addWidget(view)
    view.begin_answer()
    view.append_tokens([("stale", False)] * 1000)
    view.set_messages([ShownMessage("user", "another chat")])
    view.append_tokens([("late", False)])  # a batch still in flight from the old request
    qtbot.wait(100)
    assert "stale" not in view.toPlainText() and "late" not in view.toPlainText() and view.pending() == 0


def test_synthetic_events_match_the_spec():
    pieces = synthetic_pieces(6000)
    assert all(1 <= len(t.rstrip("\n")) <= 6 for t, _ in pieces)
    assert [f for _, f in pieces[:6]] == [False, False, True, False, False, True]
    longest, run = 0, 0
    for t, _ in pieces:
        run = 0 if "\n" in t else run + 1
        longest = max(longest, run)
    assert longest >= 3000


def test_bench_view_command(capsys):
    assert cli_main(["bench-view", "--tokens", "4000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["complete"] and out["tokens"] == 4000 and out["tokens_per_second"] > 0 and out["max_stall_ms"] > 0
