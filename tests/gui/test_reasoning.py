"""A thinking model's answer in the window, on a real tiny thinking model (tests/fixtures/thinking_model.py):
the reasoning streams into its own block, folds to "Thought for N s" when it ends, opens on a click, is kept in
the store and shown the same after a restart, is not sent back in the next turn, and is exported folded; the
footer gives thinking and answer tokens apart; a block cut off by the length limit stays open and says so."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import QUrl

from app.core.chats.export import chat_markdown
from app.core.infra.paths import app_paths
from app.session.answer_session import answer_history, chat_messages
from app.ui.main_window import MainWindow
from tests.fixtures.thinking_model import ThinkingModel, thinking_models
from tests.gui.test_conversation import plain_window
from tests.gui.test_main_window import open_window


@pytest.fixture(scope="module")
def thinkers(tmp_path_factory, smol_tokenizer) -> dict[str, ThinkingModel]:
    return thinking_models(tmp_path_factory.mktemp("thinkers"), smol_tokenizer)


def thinking_window(qtbot, model: ThinkingModel, max_tokens: int = 24) -> MainWindow:
    shutil.copy(model.path, app_paths().ensure().models / model.path.name)
    return plain_window(qtbot, max_tokens, "Tiny Thinker")


def ask(qtbot, w: MainWindow, text: str):
    w.input.setPlainText(text)
    with qtbot.waitSignal(w.host.finished, timeout=30_000) as done:
        w.send()
    qtbot.waitUntil(lambda: not w.view.streaming(), timeout=10_000)
    return done.args[1]


def shown_text(w: MainWindow) -> str:
    return w.view.document().toPlainText()


@pytest.mark.parametrize("kind", ["opens", "prompt"])
def test_a_thought_folds_opens_survives_a_restart_and_is_not_sent_again(qtbot, thinkers, kind):
    model = thinkers[kind]
    w = thinking_window(qtbot, model)
    assert w.models.main is not None and w.models.main.reasoning is not None
    stats = ask(qtbot, w, model.question)
    answer = w.store.messages(w.chat_id)[-1]
    assert answer.reasoning is not None and answer.reasoning.seconds is not None
    assert ("<think>" in answer.content) == (kind == "opens") and "</think>" in answer.content  # stored as written
    thought, after = answer.content.split("</think>")
    thought = thought.replace("<think>", "").strip()
    assert thought and after.strip()
    assert stats.reasoning_tokens == 6 and stats.generated_tokens == 24  # THINK_AT tokens and the close marker
    assert "(6 thinking, 18 answer)" in w.view.messages()[-1].footer

    text = shown_text(w)
    assert "▸ Thought for" in text and after.strip() in text and thought not in text  # folded
    assert "<think>" not in text and "</think>" not in text
    w.view.anchorClicked.emit(QUrl("msg-think:1"))
    assert thought in shown_text(w) and "▾ Thought for" in shown_text(w)
    w.view.anchorClicked.emit(QUrl("msg-think:1"))
    assert thought not in shown_text(w)

    # the next turn sends the answer, not its thinking (the function the answer session sends with)
    sent = chat_messages(answer_history(w.store, w.chat_id), "")
    assert sent[1] == {"role": "assistant", "content": after.strip()}
    ask(qtbot, w, "And at night?")  # the tiny model thinks only on its fixture question: this answer has no block
    second = w.store.messages(w.chat_id)[-1]
    assert second.reasoning is not None and "</think>" not in second.content

    md = chat_markdown(w.store.chat(w.chat_id), w.store.messages(w.chat_id))
    assert "<details><summary>Thought for" in md and f"> {thought}" in md and after.strip() in md
    assert "</think>" not in md

    chat_id = w.chat_id
    w.close()
    again = open_window(qtbot)  # a restart: the chat comes back, its thoughts folded, nothing loaded yet
    qtbot.waitUntil(lambda: again.chat_id == chat_id, timeout=10_000)
    text = shown_text(again)
    assert text.count("▸ Thought for") == 1 and thought not in text and after.strip() in text


def test_a_block_cut_off_by_the_length_limit_stays_open_and_says_so(qtbot, thinkers):
    model = thinkers["opens"]
    w = thinking_window(qtbot, model, max_tokens=3)  # fewer tokens than the block holds
    stats = ask(qtbot, w, model.question)
    assert stats.reasoning_tokens == 3
    answer = w.store.messages(w.chat_id)[-1]
    assert answer.reasoning is not None and answer.reasoning.seconds is None
    text = shown_text(w)
    assert "▾ Thinking (cut off before it ended)" in text
    thought = answer.content.replace("<think>", "").strip()
    assert thought in text  # the reasoning is all there is: shown
    # what it wrote is the answer for later turns (not an empty message), and for Copy
    assert chat_messages(answer_history(w.store, w.chat_id), "")[1]["content"] == thought
    from app.ui.chat.chat_view import copied_text
    assert copied_text(w.view.messages()[-1]) == thought


def model_pieces(model: ThinkingModel) -> tuple[list[tuple[str, bool]], object]:
    """The model's answer to its question as the engine streams it: (text, accepted draft) per token."""
    from app.core.inference.engine import Engine
    from app.core.inference.llama_runtime import LoadOptions
    from app.core.inference.speculative import GenerationStats
    from app.core.infra.requests import GenerateRequest, SamplerParams

    engine = Engine()
    try:
        engine.load_main(model.path, LoadOptions(n_ctx=512, n_gpu_layers=0))
        request = GenerateRequest(messages=({"role": "user", "content": model.question},), max_tokens=24,
                                  sampling=SamplerParams(temperature=0.0))
        pieces = [(e.text, False) for e in engine.answer(request, GenerationStats())]
        return pieces, engine.reasoning_format()
    finally:
        engine.close()


@pytest.mark.parametrize("chunking", ["tokens", "characters"])
def test_the_reasoning_streams_into_its_block_and_folds_when_it_closes(qtbot, thinkers, chunking):
    """Fed to the view tick by tick: by token as the engine sends them, and one character at a time (every
    marker split across pieces)."""
    from app.ui.chat.chat_view import ChatView

    pieces, fmt = model_pieces(thinkers["opens"])
    if chunking == "characters":
        pieces = [(c, False) for text, _ in pieces for c in text]
    content = "".join(t for t, _ in pieces)
    thought = content.split("</think>")[0].replace("<think>", "").strip()
    view = ChatView()
    qtbot.addWidget(view)
    view.begin_answer(fmt)
    seen = []
    for piece in pieces:
        view.append_tokens([piece])
        view._flush()
        seen.append(view.document().toPlainText())
    assert not any("<" in s.split("Assistant", 1)[1] for s in seen)  # never a marker, nor a piece of one
    assert any("Thinking…" in s and thought[:10] in s for s in seen)  # open while it thinks
    assert "Thought for" in seen[-1] and thought not in seen[-1]  # folded once it closed
    assert content.split("</think>")[1].strip() in seen[-1]


def test_accepted_draft_tokens_are_highlighted_inside_the_block_too(qtbot):
    from PySide6.QtGui import QTextCursor

    from app.core.models.reasoning import Reasoning, ReasoningFormat
    from app.ui.chat.chat_view import ChatView, ShownMessage

    content = "<think>drafted words here</think>The answer."
    start = content.index("drafted")
    fmt = ReasoningFormat("<think>", "</think>")
    view = ChatView()
    qtbot.addWidget(view)
    view.set_messages([ShownMessage("assistant", content, [(start, start + 7)], position=0,
                                    reasoning=Reasoning(fmt, 3.0))])
    view.anchorClicked.emit(QUrl("msg-think:0"))  # open it
    doc = view.document()
    at = doc.toPlainText().index("drafted")
    cursor = QTextCursor(doc)
    cursor.setPosition(at + 2)
    assert cursor.charFormat().background().color() == view._theme.highlight
    cursor.setPosition(doc.toPlainText().index("words") + 2)
    assert cursor.charFormat().background().color() != view._theme.highlight
    assert "▾ Thought for 3 s" in doc.toPlainText()


def test_an_empty_block_gets_no_header_and_odd_names_stay_text(qtbot):
    from app.core.models.reasoning import Reasoning, ReasoningFormat
    from app.ui.chat.chat_view import ChatView, ShownMessage

    view = ChatView()
    qtbot.addWidget(view)
    fmt = ReasoningFormat("<think>", "</think>")
    view.set_messages([ShownMessage("assistant", "<think>\n\n</think>\n\nJust the answer.", position=0,
                                    reasoning=Reasoning(fmt, 0.2))])
    text = view.document().toPlainText()
    assert "Just the answer." in text and "Thought" not in text and "<think>" not in text
