"""A chat longer than the context, in the window on a real tiny model: the typed message is counted against the
gauge, "stop" keeps a question that cannot fit out of the chat (and the user's text in the input), the rolling
window leaves old turns out and the chat marks where, and a long prompt shows its progress where the answer goes."""

from __future__ import annotations

from app.ui.main_window import MainWindow
from tests.gui.test_conversation import ask
from tests.gui.test_main_window import library, open_window  # noqa: F401  (library: a fixture)

LONG = 30_000
TOO_LONG = "Please read all of this carefully. " * 60  # ~420 tokens: more than a 256-token context


def small_context_window(qtbot, n_ctx: int = 256) -> MainWindow:
    w = open_window(qtbot)
    w.sidebar.mode.setCurrentIndex(w.sidebar.mode.findData("off"))
    w.sidebar.temperature.setValue(0.0)
    w.sidebar.max_tokens.setValue(8)
    qtbot.waitUntil(lambda: w.sidebar.main_models.rowCount() > 0, timeout=10_000)
    row = next(i for i in range(w.sidebar.main_models.rowCount())
               if w.sidebar.main_models.index(i).data().startswith("Tiny Main"))
    w.sidebar.main_combo.setCurrentIndex(row)
    w.sidebar.n_ctx.setValue(n_ctx)
    with qtbot.waitSignal(w.host.modelLoaded, timeout=LONG):
        w.sidebar.load_button.click()
    return w


def test_a_message_that_cannot_fit_is_counted_while_typed_and_never_sent(qtbot, library):
    w = small_context_window(qtbot)
    ask(qtbot, w, "Hello")
    before = [(m.role, m.content) for m in w.store.messages(w.chat_id)]
    qtbot.waitUntil(lambda: w.context_gauge.isVisible() and "/ 256" in w.context_gauge.format(), timeout=LONG)

    w.input.setPlainText("Short one")  # counted once typing pauses: "+ N" on the gauge
    qtbot.waitUntil(lambda: " + " in w.context_gauge.format(), timeout=LONG)
    assert "The message being typed adds" in w.context_gauge.toolTip()

    w.input.setPlainText(TOO_LONG)
    qtbot.waitUntil(lambda: w.context_gauge.format() == "message won't fit", timeout=LONG)
    assert "Send will not send it" in w.context_gauge.toolTip()
    w.send()
    assert "Not sent: this message does not fit" in w.statusBar().currentMessage()
    assert [(m.role, m.content) for m in w.store.messages(w.chat_id)] == before  # nothing added
    assert w.input.toPlainText() == TOO_LONG and not w.answers.busy  # nothing lost


def test_a_question_sent_before_it_was_counted_comes_back_to_the_input(qtbot, library):
    w = small_context_window(qtbot)
    ask(qtbot, w, "Hello")
    before = [(m.role, m.content) for m in w.store.messages(w.chat_id)]
    w.input_count_timer.stop()
    w.input.setPlainText(TOO_LONG)
    w.input_count_timer.stop()  # sent at once, before any count: the engine's own check refuses it
    with qtbot.waitSignal(w.answers.ended, timeout=LONG) as ended:
        w.send()
    kept, note = ended.args
    assert kept is None and note.startswith("Not sent: the chat is") and "Context overflow" in note
    assert [(m.role, m.content) for m in w.store.messages(w.chat_id)] == before  # the question went again
    assert w.input.toPlainText() == TOO_LONG.strip()
    assert "Please read all" not in w.view.toPlainText()


def test_the_rolling_window_leaves_old_turns_out_and_the_chat_marks_where(qtbot, library):
    w = small_context_window(qtbot)
    w.settings.generation.overflow = "rolling_window"
    w.context_gauge.set_policy("rolling_window")
    for i in range(6):
        stats = ask(qtbot, w, f"Question {i}: " + "tell me more about this. " * 8)
        assert stats.stop_reason != "context", i
    msgs = w.store.messages(w.chat_id)
    last = msgs[-1]
    first, end = last.stats["left_out"]
    assert first == 0 and end > 0 and msgs[end].role == "user"  # from the first question on, up to a question
    assert len(msgs) == 12 and all(m.content for m in msgs)  # nothing was deleted from the chat
    shown = w.view.toPlainText()
    assert "left out of the model's context for the latest answer" in shown
    assert "earlier messages left out" in w.view.messages()[-1].footer
    # the marker sits after the last message left out
    note_at = next(i for i, s in enumerate(w.view.messages()) if s.note_above)
    assert w.view.messages()[note_at].position == end
    # it comes back with the chat
    w.new_chat()
    w.open_chat(last.chat_id)
    assert "left out of the model's context" in w.view.toPlainText()


def test_a_long_prompt_shows_its_progress_where_the_answer_goes(qtbot, library):
    w = small_context_window(qtbot, n_ctx=2048)
    w.sidebar.max_tokens.setValue(4)
    seen: list[str] = []
    w.answers.promptProgress.connect(lambda done, total: seen.append(w.view.toPlainText()))
    ask(qtbot, w, "Summarise: " + "the quick brown fox jumps over the lazy dog. " * 120)  # > 1 000 tokens
    assert seen and "Processing prompt…" in seen[0] and "%" in seen[0]
    assert "Processing prompt" not in w.view.toPlainText()  # gone with the answer
