"""The conversation on real tiny models and a real chat store: an edit deletes nothing until it is sent, an answer
stopped before its first token leaves nothing behind, New chat reuses an empty chat, the last chat comes back at
start, and the speculation status says what really runs."""

from __future__ import annotations

import pytest

from app.core.inference.answer_stats import AnswerStats
from app.core.chats.chat_store import ChatStore
from app.core.inference.engine import Engine
from app.core.inference.llama_runtime import LoadOptions
from app.core.inference.speculative import GenerationStats
from app.core.infra.paths import app_paths
from app.core.infra.requests import GenerateRequest, SamplerParams
from app.ui.main_window import MainWindow
from tests.gui.test_main_window import library, load_main, open_window  # noqa: F401  (library: a fixture)


def ask(qtbot, w: MainWindow, text: str) -> AnswerStats:
    w.input.setPlainText(text)
    with qtbot.waitSignal(w.host.finished, timeout=30_000) as done:
        w.send()
    return done.args[1]


def plain_window(qtbot, max_tokens: int = 12, model: str = "Tiny Main") -> MainWindow:
    """Plain decoding at T = 0 with `model` loaded."""
    w = open_window(qtbot)
    w.sidebar.mode.setCurrentIndex(w.sidebar.mode.findData("off"))
    w.sidebar.temperature.setValue(0.0)
    w.sidebar.max_tokens.setValue(max_tokens)
    load_main(qtbot, w, model)
    return w


def test_edit_deletes_nothing_until_the_edited_question_is_sent(qtbot, library):
    w = plain_window(qtbot)
    ask(qtbot, w, "First question")
    before = [(m.role, m.content) for m in w.store.messages(w.chat_id)]
    assert [r for r, _ in before] == ["user", "assistant"]

    w.edit_last()  # the question goes back into the input; the chat, stored and shown, stays as it was
    assert [(m.role, m.content) for m in w.store.messages(w.chat_id)] == before
    assert len(w.view.messages()) == 2
    assert w.input.toPlainText() == "First question" and w.edit_bar.isVisible()
    w.cancel_edit_button.click()  # cancelled: both kept, nothing pending
    assert [(m.role, m.content) for m in w.store.messages(w.chat_id)] == before
    assert not w.edit_bar.isVisible() and w.input.toPlainText() == "" and w.editing is None

    w.view.editRequested.emit(0)  # the question's Edit link; Esc leaves the edit too
    assert w.input.toPlainText() == "First question"
    w.stop_or_cancel_edit()
    assert w.editing is None and [(m.role, m.content) for m in w.store.messages(w.chat_id)] == before

    w.edit_last()
    w.input.setPlainText("Edited question")
    with qtbot.waitSignal(w.host.finished, timeout=30_000):
        w.send()  # now, and only now, the old question and its answer are replaced
    msgs = w.store.messages(w.chat_id)
    assert [(m.role, m.content) for m in msgs][0] == ("user", "Edited question") and len(msgs) == 2
    assert "First question" not in w.view.toPlainText() and not w.edit_bar.isVisible()


def test_an_answer_stopped_before_its_first_token_is_not_kept(qtbot, library):
    w = plain_window(qtbot, max_tokens=64)
    # a long question: its prompt evaluation (in the engine process) is still running when the Stop arrives there
    w.input.setPlainText("Stop at once. " + "Please wait here. " * 350)
    with qtbot.waitSignal(w.host.finished, timeout=30_000) as done:
        w.send()
        w.stop()  # before the engine produced anything
    assert done.args[1].generated_tokens == 0 and done.args[1].stop_reason == "cancelled"
    msgs = w.store.messages(w.chat_id)
    assert [m.role for m in msgs] == ["user"]  # no empty answer with a zeroed footer
    shown = w.view.toPlainText()
    assert "Assistant" not in shown and "0.0 tok/s" not in shown and "0 tokens" not in shown
    assert "Stopped before any text" in w.statusBar().currentMessage()
    # the question is still there to answer: Ctrl+R answers it, with real figures
    with qtbot.waitSignal(w.host.finished, timeout=30_000):
        w.regenerate()
    msgs = w.store.messages(w.chat_id)
    assert [m.role for m in msgs] == ["user", "assistant"] and msgs[1].content and msgs[1].stats["generated_tokens"]


def test_new_chat_reuses_an_empty_chat(qtbot, library):
    w = plain_window(qtbot)
    new = w.menuBar().new_chat_action
    new.trigger()
    new.trigger()
    new.trigger()
    assert len(w.store.chats()) == 1 and w.chat_id == w.store.chats()[0].id
    ask(qtbot, w, "Something")
    first = w.chat_id
    new.trigger()  # the current chat has messages: a new one
    assert len(w.store.chats()) == 2 and w.chat_id != first
    empty = w.chat_id
    w.open_chat(first)
    new.trigger()  # the empty chat that exists is opened again, not a third
    assert len(w.store.chats()) == 2 and w.chat_id == empty


def test_the_last_chat_is_reopened_at_start(qtbot):
    store = ChatStore(app_paths().ensure().chats)
    older = store.create_chat("Older")
    store.add_message(older.id, "user", "the older question")
    newer = store.create_chat("Newer")
    store.add_message(newer.id, "user", "the newer question")
    store.close()
    w = open_window(qtbot)
    w.open_chat(older.id)  # not the newest: the one the user was reading
    w.close()
    again = open_window(qtbot)
    assert again.chat_id == older.id and "the older question" in again.view.toPlainText()
    assert again.chat_list.currentIndex().data() == "Older"
    again.delete_chat(older.id)  # a deleted chat is not looked for at the next start
    again.close()
    third = open_window(qtbot)
    assert third.chat_id is None


def test_draft_mode_without_a_draft_says_it_decodes_plainly(qtbot, library):
    w = open_window(qtbot)
    w.sidebar.mode.setCurrentIndex(w.sidebar.mode.findData("draft"))
    w.sidebar.max_tokens.setValue(40)
    load_main(qtbot, w, "Tiny Main")
    qtbot.waitUntil(lambda: "Choose it to load it" in w.sidebar.draft_note.text(), timeout=30_000)
    assert not w.models.draft_name and w.sidebar.spec_state.text() == "plain decoding: no draft loaded"
    seen: list[str] = []
    w.host.liveStats.connect(lambda *_: seen.append(w.live.text()))  # after the window's own slot
    stats = ask(qtbot, w, "Tell me a story")
    assert seen and all("plain decoding: no draft loaded" in s and "acceptance" not in s for s in seen)
    assert stats.drafted == 0 and "accepted" not in w.view.messages()[-1].footer


def test_the_ngram_footer_names_the_ngram(qtbot, library):
    w = open_window(qtbot)
    w.sidebar.mode.setCurrentIndex(w.sidebar.mode.findData("ngram"))
    w.sidebar.ngram_size.setValue(3)
    w.sidebar.temperature.setValue(0.0)
    w.sidebar.auto_k.setChecked(False)
    w.sidebar.draft_tokens.setValue(4)
    w.sidebar.max_tokens.setValue(48)
    load_main(qtbot, w, "Tiny Main")
    assert w.sidebar.spec_state.text() == "n-gram (n=3)"
    stats = ask(qtbot, w, "red green blue red green blue red green blue red green blue")
    assert stats.drafted > 0  # greedy on this prompt: the lookup finds matches
    footer = w.view.messages()[-1].footer
    assert "n-gram (n=3) · accepted" in footer and "draft:" not in footer
    assert w.store.messages(w.chat_id)[-1].stats["speculation"] == "n-gram (n=3)"


def test_a_useless_draft_is_flagged_after_its_first_answer(qtbot, library):
    w = open_window(qtbot)
    w.sidebar.mode.setCurrentIndex(w.sidebar.mode.findData("draft"))
    w.sidebar.temperature.setValue(0.0)
    w.sidebar.auto_k.setChecked(False)
    w.sidebar.draft_tokens.setValue(2)  # 2 drafted per token: enough drafted tokens soon, and quick
    w.sidebar.max_tokens.setValue(20)
    load_main(qtbot, w, "Tiny Main")
    qtbot.waitUntil(lambda: "Choose it to load it" in w.sidebar.draft_note.text(), timeout=30_000)
    with qtbot.waitSignal(w.host.modelLoaded, timeout=30_000):
        w.choose_draft(str(library / "small-draft.gguf"))  # other random weights: it nearly never agrees
    assert w.sidebar.spec_state.text() == f"draft: {w.models.draft_name}"
    stats = ask(qtbot, w, "Tell me a story")
    assert stats.drafted >= 32 and stats.accepted / stats.drafted < 0.10
    advice = w.sidebar.advice.text()
    assert f"Only {stats.accepted} of {stats.drafted} drafted tokens" in advice and "Off" in advice


def test_continue_resumes_an_answer_cut_short_from_its_text(qtbot, library):
    w = plain_window(qtbot, max_tokens=8)
    first = ask(qtbot, w, "Tell me a story")
    assert first.stop_reason == "length"
    cut = w.store.messages(w.chat_id)[1]
    assert w.view.messages()[1].can_continue and "msg-cont:1" in w.view.toHtml()

    with qtbot.waitSignal(w.host.finished, timeout=30_000) as done:
        w.view.continueRequested.emit(1)  # the answer's Continue link
    assert done.args[1].generated_tokens > 0
    msgs = w.store.messages(w.chat_id)
    assert len(msgs) == 2 and msgs[1].id == cut.id  # the same answer, grown in place
    assert msgs[1].content.startswith(cut.content) and len(msgs[1].content) > len(cut.content)
    assert msgs[1].stats["continued"] and "more tokens (continued)" in w.view.messages()[1].footer
    assert w.view.toPlainText().count("Assistant") == 1

    # what was added is what the engine writes after the saved text (greedy: the same tokens)
    engine = Engine()
    engine.load_main(library / "main.gguf", LoadOptions(n_ctx=2048))
    request = GenerateRequest(messages=({"role": "user", "content": "Tell me a story"},), max_tokens=8,
                              sampling=SamplerParams(temperature=0.0), answer_prefix=cut.content)
    more = "".join(e.text for e in engine.answer(request, GenerationStats()))
    engine.close()
    assert msgs[1].content == cut.content + more

    # continued, then stopped before anything new: the answer stays exactly as it was
    grown = w.store.messages(w.chat_id)[1]
    with qtbot.waitSignal(w.host.finished, timeout=30_000):
        w.continue_at(1)
        w.stop()
    kept = w.store.messages(w.chat_id)[1]
    assert (kept.content, kept.state, kept.stats, kept.highlights) == \
        (grown.content, grown.state, grown.stats, grown.highlights)
    assert "stopped before any text" not in w.view.toPlainText()


def test_footers_of_answers_saved_by_earlier_versions():
    """Answers already in a chat store: an empty one stopped before its first token reads as such, without
    figures; one saved with only a draft name still names it; one with an empty name gets no "draft: "."""
    from app.core.inference.speculation_status import footer_text as footer

    def footer_text(saved: dict) -> str:  # as the window reads a saved answer
        return footer(AnswerStats.from_json(saved))

    zero = {"generated_tokens": 0, "tokens_per_second": 0.0, "ttft_s": 0.0, "stop_reason": "cancelled",
            "drafted": 0, "accepted": 0, "acceptance_rate": 0.0}
    assert footer_text(zero) == "stopped before any text"
    old = {"generated_tokens": 9, "tokens_per_second": 5.0, "ttft_s": 0.1, "stop_reason": "eos", "drafted": 8,
           "accepted": 6, "acceptance_rate": 0.75}
    assert "draft: Tiny · accepted 6/8 (75%)" in footer_text({**old, "draft_name": "Tiny"})
    assert "draft:" not in footer_text({**old, "draft_name": ""}) and "accepted 6/8" in footer_text(old)


def test_the_context_gauge_follows_the_open_chat(qtbot, library):
    w = plain_window(qtbot)
    assert not w.context_gauge.isVisible() or w.context_gauge.format().startswith("context")
    # the count after the answer (the stream's own figure shows while it runs; the meter's replaces it at the end)
    with qtbot.waitSignal(w.context_meter.changed, timeout=30_000, check_params_cb=lambda used, n: used > 0):
        ask(qtbot, w, "A first question about the weather")
    qtbot.waitUntil(lambda: w.context_gauge.isVisible() and w.context_gauge.value() > 0, timeout=30_000)
    n_ctx = w.models.main.n_ctx
    used = w.context_gauge.value()
    assert w.context_gauge.format() == f"context {used:,} / {n_ctx:,}" and w.context_gauge.maximum() == n_ctx
    first_chat = w.chat_id
    w.store.create_chat()
    w.new_chat()  # an empty chat takes (nearly) nothing
    qtbot.waitUntil(lambda: w.context_gauge.value() < used, timeout=30_000)
    w.open_chat(first_chat)
    qtbot.waitUntil(lambda: w.context_gauge.value() == used, timeout=30_000)
    with qtbot.waitSignal(w.host.modelUnloaded, timeout=30_000):
        w.models.unload_main()
    qtbot.waitUntil(lambda: not w.context_gauge.isVisible(), timeout=5_000)


def test_editing_an_early_question_keeps_the_old_chat_as_a_version_and_asks_nothing(qtbot, library, monkeypatch):
    """Edit used to delete the question and the 3 messages after it (after a dialog): now the old question and
    what followed it stay a version ("‹ 1/2 ›" on the question), switched back in one click, across a restart."""
    from PySide6.QtWidgets import QMessageBox

    w = plain_window(qtbot)
    ask(qtbot, w, "First question")
    ask(qtbot, w, "Second question")
    before = [(m.role, m.content) for m in w.store.messages(w.chat_id)]
    w.view.editRequested.emit(0)
    assert "new version" in w.edit_label.text()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: pytest.fail("nothing is deleted: no question"))
    w.input.setPlainText("First question, edited")
    with qtbot.waitSignal(w.host.finished, timeout=30_000):
        w.send()
    msgs = w.store.messages(w.chat_id)
    assert [m.content for m in msgs][0] == "First question, edited" and len(msgs) == 2
    assert w.view.messages()[0].versions == (2, 2) and "‹ 2/2 ›" in w.view.toPlainText()
    w.view.versionRequested.emit(0, -1)  # "‹": the chat as it was, both turns and their figures
    assert [(m.role, m.content) for m in w.store.messages(w.chat_id)] == before
    assert w.view.messages()[0].versions == (1, 2) and "Second question" in w.view.toPlainText()
    chat_id = w.chat_id
    w.close()
    again = open_window(qtbot)
    again.open_chat(chat_id)
    assert again.view.messages()[0].versions == (1, 2) and len(again.view.messages()) == 4


def test_a_long_first_question_titles_the_chat_cut_at_a_word(qtbot, library):
    w = plain_window(qtbot)
    ask(qtbot, w, "Write a Python function that checks whether a number is prime.")
    # was "…whether a number is prim": the title is the export's heading, so it is cut at a word, with "…"
    assert w.store.chat(w.chat_id).title == "Write a Python function that checks whether a number is…"


def test_a_chat_that_outgrows_the_context_says_so_and_loses_nothing(qtbot, library):
    """A question longer than the whole context (sent before the input was counted): it is not kept in the chat,
    where every later turn would overflow too; it comes back to the input, and the status says why and what to do;
    a new chat answers at once."""
    w = open_window(qtbot)
    w.sidebar.mode.setCurrentIndex(w.sidebar.mode.findData("off"))
    w.sidebar.max_tokens.setValue(16)
    qtbot.waitUntil(lambda: w.sidebar.main_models.rowCount() > 0, timeout=10_000)
    w.sidebar.main_combo.setCurrentIndex(next(i for i in range(w.sidebar.main_models.rowCount())
                                              if w.sidebar.main_models.index(i).data().startswith("Tiny Main")))
    w.sidebar.n_ctx.setValue(256)  # the smallest context
    with qtbot.waitSignal(w.host.modelLoaded, timeout=30_000):
        w.sidebar.load_button.click()
    question = "Please read this carefully. " * 80
    stats = ask(qtbot, w, question)
    assert stats.stop_reason == "context" and "more than the model's context of 256" in stats.error
    assert w.store.messages(w.chat_id) == [] and w.input.toPlainText() == question.strip()
    note = w.statusBar().currentMessage()
    assert note.startswith("Not sent: the chat is") and "larger context (sidebar, Context)" in note
    w.input.clear()
    w.new_chat()
    assert ask(qtbot, w, "Hi").stop_reason in ("length", "eos")


def test_regenerate_keeps_each_answer_as_a_version_with_its_own_figures(qtbot, library, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    w = plain_window(qtbot, max_tokens=8)
    ask(qtbot, w, "First question")
    ask(qtbot, w, "Second question")
    first_answer = w.store.messages(w.chat_id)[1]
    w.sidebar.max_tokens.setValue(5)  # another setting: the versions' figures differ
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: pytest.fail("nothing is deleted: no question"))
    with qtbot.waitSignal(w.host.finished, timeout=30_000):
        w.regenerate_at(1)  # the first answer, in the middle of the chat: later turns stay with the old version
    msgs = w.store.messages(w.chat_id)
    assert len(msgs) == 2 and msgs[1].stats["generated_tokens"] == 5
    assert w.view.messages()[1].versions == (2, 2)
    w.switch_version(1, -1)
    msgs = w.store.messages(w.chat_id)
    assert [m.content for m in msgs[:2]] == ["First question", first_answer.content] and len(msgs) == 4
    assert msgs[1].stats["generated_tokens"] == 8 and "8 tokens" in w.view.messages()[1].footer
    w.switch_version(1, +1)
    assert w.store.messages(w.chat_id)[1].stats["generated_tokens"] == 5

    # a regenerate stopped before its first token is no version: the answer shown before comes back
    w.sidebar.max_tokens.setValue(64)
    w.input.clear()
    with qtbot.waitSignal(w.answers.ended, timeout=30_000):
        w.regenerate()
        w.stop()
    assert w.view.messages()[1].versions == (2, 2) and w.store.messages(w.chat_id)[1].stats["generated_tokens"] == 5
    # an export writes the version shown
    from app.core.chats.export import export_chat

    out = export_chat(w.store.chat(w.chat_id), w.store.messages(w.chat_id), w.paths.data / "x.md", "markdown")
    assert "Second question" not in out.read_text()
