"""The chat window on real tiny models, offscreen: library, sidebar, default drafter, streaming with highlighting
that matches the engine, stop, persistence across a restart, and every item model through qtmodeltester."""

from __future__ import annotations

import os
import shutil

import pytest
from PySide6.QtCore import Qt

from app.core.chats.chat_store import ChatStore, spans_from_flags
from app.core.inference.engine import Engine, SpeculationConfig
from app.core.models.library import LibraryEntry
from app.core.inference.llama_runtime import LoadOptions
from app.core.models.model_info import read_model_info
from app.core.infra.paths import app_paths
from app.core.infra.settings import load_settings
from app.core.inference.speculative import GenerationStats
from app.ui.widgets.item_models import ChatListModel, ModelListModel
from app.ui.main_window import MainWindow
from tests.fixtures.model_factory import write_tiny_model

LONG = 60_000


@pytest.fixture
def library(fixtures, smol_tokenizer):
    """base (main), a small compatible draft, and two near misses that must not be offered."""
    models = app_paths().ensure().models
    shutil.copy(fixtures["base"], models / "main.gguf")
    shutil.copy(fixtures["base"], models / "same-weights.gguf")  # compatible, but not smaller: advice, no default
    write_tiny_model(models / "small-draft.gguf", smol_tokenizer, name="Small Draft", n_embd=8, n_head=2,
                     n_ff=16, n_layer=1, seed=3)
    shutil.copy(fixtures["pad200"], models / "pad200.gguf")
    shutil.copy(fixtures["tok5"], models / "tok5.gguf")
    return models


def open_window(qtbot) -> MainWindow:
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    return w


def load_main(qtbot, w: MainWindow, name: str) -> None:
    qtbot.waitUntil(lambda: w.sidebar.main_models.rowCount() > 0, timeout=10_000)
    row = next(i for i in range(w.sidebar.main_models.rowCount())
               if w.sidebar.main_models.index(i).data().startswith(name))
    w.sidebar.main_combo.setCurrentIndex(row)
    w.sidebar.n_ctx.setValue(2048)
    with qtbot.waitSignal(w.host.modelLoaded, timeout=30_000):
        w.sidebar.load_button.click()


def window_with_a_chosen_draft(qtbot, library) -> MainWindow:
    """The main model loaded in draft mode, and the user's choice of draft (same weights) loaded with it."""
    w = open_window(qtbot)
    w.sidebar.mode.setCurrentIndex(w.sidebar.mode.findData("draft"))
    load_main(qtbot, w, "Tiny Main")
    qtbot.waitUntil(lambda: "Choose it to load it" in w.sidebar.draft_note.text(), timeout=30_000)
    with qtbot.waitSignal(w.host.modelLoaded, timeout=30_000):
        w.choose_draft(str(library / "same-weights.gguf"))
    return w


def test_empty_state_is_a_welcome_panel(qtbot):
    w = open_window(qtbot)
    qtbot.waitUntil(lambda: w.welcome.isVisible(), timeout=10_000)
    assert not w.view.isVisible() and w.sidebar.main_models.rowCount() == 0
    assert "starter model" in w.welcome.starter_button.text()


def test_draft_dropdown_holds_exactly_the_compatible_drafts(qtbot, library):
    w = open_window(qtbot)
    qtbot.waitUntil(lambda: w.sidebar.main_models.rowCount() == 5, timeout=10_000)
    w.sidebar.mode.setCurrentIndex(w.sidebar.mode.findData("draft"))
    load_main(qtbot, w, "Tiny Main")
    assert "CPU only" in w.sidebar.model_state.text()
    # the default drafter never loaded here: offered, not attached by itself (it might crash llama.cpp)
    qtbot.waitUntil(lambda: "Choose it to load it" in w.sidebar.draft_note.text(), timeout=30_000)
    assert not w.models.draft_name
    w.guard.succeeded(str(library / "small-draft.gguf"))  # as if an earlier session had loaded it
    w.models.refresh_drafts()
    qtbot.waitUntil(lambda: w.models.draft_name.startswith("Small Draft"), timeout=30_000)  # the default drafter attached
    drafts = [w.sidebar.draft_models.index(i).data() for i in range(w.sidebar.draft_models.rowCount())]
    assert len(drafts) == 2 and drafts[0].startswith("Small Draft") and drafts[1].startswith("Tiny Main")
    assert w.sidebar.draft_combo.currentIndex() == 0
    assert "Attached automatically" in w.sidebar.draft_note.text()
    # choosing the larger one is allowed, with advice, and remembered for this main model
    with qtbot.waitSignal(w.host.modelLoaded, timeout=30_000):
        w.choose_draft(str(library / "same-weights.gguf"))
    assert "not smaller than the main model" in w.sidebar.advice.text()
    assert w.settings.drafts.draft_for_main[str(library / "main.gguf")] == str(library / "same-weights.gguf")

    # a model dropped into the library shows up in the dropdown without a restart
    shutil.copy(library / "small-draft.gguf", library / "another-draft.gguf")
    qtbot.waitUntil(lambda: w.sidebar.draft_models.rowCount() == 3, timeout=10_000)
    w.close()
    assert load_settings().drafts.draft_for_main[str(library / "main.gguf")].endswith("same-weights.gguf")
    assert w.sidebar.others_toggle.text() == "2 other models don't fit"
    w.sidebar.others_toggle.click()
    others = w.sidebar.others_list.text()
    assert "Pad 200" in others and "vocabulary sizes differ by 200" in others and "Token 5 changed" in others


def test_a_sent_message_streams_with_the_engines_draft_flags_and_survives_a_restart(qtbot, library):
    w = open_window(qtbot)
    w.sidebar.mode.setCurrentIndex(w.sidebar.mode.findData("draft"))
    w.sidebar.temperature.setValue(0.0)
    w.sidebar.auto_k.setChecked(False)
    w.sidebar.draft_tokens.setValue(3)
    w.sidebar.max_tokens.setValue(30)
    load_main(qtbot, w, "Tiny Main")
    qtbot.waitUntil(lambda: "Choose it to load it" in w.sidebar.draft_note.text(), timeout=30_000)
    with qtbot.waitSignal(w.host.modelLoaded, timeout=30_000):
        w.choose_draft(str(library / "same-weights.gguf"))  # same weights: most drafts accepted
    w.input.setPlainText("Tell me a story")
    with qtbot.waitSignal(w.host.finished, timeout=30_000):
        qtbot.keyClick(w.input, Qt.Key.Key_Return)
    store_msgs = w.store.messages(w.chat_id)
    assert [m.role for m in store_msgs] == ["user", "assistant"]
    answer = store_msgs[1]
    assert answer.state == "done" and answer.stats["generated_tokens"] == 30

    # the same request on an engine of our own: the highlighted spans are the engine's from_draft flags
    engine = Engine()
    engine.load_main(library / "main.gguf", LoadOptions(n_ctx=2048))
    engine.load_draft(library / "same-weights.gguf", LoadOptions(n_ctx=2048))
    tokens, _ = engine.chat_prompt([{"role": "user", "content": "Tell me a story"}])
    events = list(engine.generate(tokens, GenerationStats(), max_tokens=30,
                                  spec=SpeculationConfig(mode="draft", draft_tokens=3)))
    engine.close()
    assert answer.content == "".join(e.text for e in events)
    assert answer.highlights == spans_from_flags([(e.text, e.from_draft) for e in events])
    assert answer.highlights  # drafts were accepted, and shown as such
    assert "accepted" in w.view.toPlainText()  # the footer
    chat_id = w.chat_id
    w.close()

    again = open_window(qtbot)
    again.open_chat(chat_id)
    assert again.chat_models.rowCount() == 1 and again.chat_models.index(0).data() == "Tell me a story"
    assert answer.content.strip() in again.view.toPlainText()
    assert again.store.messages(chat_id)[1].highlights == answer.highlights


def streaming_without_end(qtbot) -> MainWindow:
    """A window whose answer runs until stopped: plain decoding, the largest length limit, a few tokens shown."""
    w = open_window(qtbot)
    w.sidebar.mode.setCurrentIndex(w.sidebar.mode.findData("off"))
    w.sidebar.max_tokens.setValue(32768)
    load_main(qtbot, w, "Tiny Main")
    w.input.setPlainText("Go on forever")
    w.send()
    qtbot.waitUntil(lambda: len(w.answers.pieces) > 5, timeout=10_000)
    return w


def test_stop_and_a_window_closed_mid_answer(qtbot, library):
    w = streaming_without_end(qtbot)
    with qtbot.waitSignal(w.host.finished, timeout=10_000) as done:
        w.stop_button.click()
    assert done.args[1].stop_reason == "cancelled" and w.send_button.isEnabled()

    # regenerate while streaming: the old answer is cut off, and none of its late tokens reach the new one
    w.input.setPlainText("Run long")
    w.send()
    qtbot.waitUntil(lambda: len(w.answers.pieces) > 5, timeout=10_000)
    old_request = w.answers.request_id
    w.regenerate()
    new_request = w.answers.request_id
    assert new_request != old_request and w.answers.pieces == []
    qtbot.waitUntil(lambda: len(w.answers.pieces) > 5, timeout=10_000)
    with qtbot.waitSignal(w.host.finished, timeout=10_000, check_params_cb=lambda rid, _: rid == new_request):
        w.stop()
    msgs = w.store.messages(w.chat_id)
    assert [m.role for m in msgs[-2:]] == ["user", "assistant"] and msgs[-2].content == "Run long"
    assert msgs[-1].state == "done"

    w.input.setPlainText("And again")
    w.send()
    qtbot.waitUntil(lambda: len(w.answers.pieces) > 5, timeout=10_000)
    chat_id = w.chat_id
    w.close()  # mid-answer: what was shown is kept, marked interrupted
    last = ChatStore(app_paths().chats).messages(chat_id)[-1]
    assert last.role == "assistant" and last.state == "interrupted" and last.content
    # no figures were measured for it: none are saved or shown (it once got "0.0 tok/s · 0 tokens · 0.00 s")
    assert last.stats == {}
    again = open_window(qtbot)
    again.open_chat(chat_id)
    assert again.view.messages()[-1].footer == "" and "0.0 tok/s · 0 tokens · 0.00 s" not in again.view.toPlainText()


def test_item_models(qtmodeltester, fixtures):
    chats = ChatListModel()
    store = ChatStore(app_paths().ensure().chats)
    for title in ("a", "b", "c"):
        store.create_chat(title)
    chats.set_chats(store.chats())
    qtmodeltester.check(chats)
    models = ModelListModel()
    models.set_entries([(LibraryEntry(str(fixtures["base"]), read_model_info(fixtures["base"])), ["advice"])])
    qtmodeltester.check(models)


def test_application_identity(qapp):
    from app import APP_ID
    from app.ui.application import create_application

    app = create_application([])
    assert app.desktopFileName() == APP_ID and not app.windowIcon().isNull()


def bench_window(qtbot, mode: str, prompt: str) -> tuple[MainWindow, object]:
    """The main model loaded in `mode`, `prompt` typed, the benchmark panel opened on it."""
    w = open_window(qtbot)
    w.sidebar.mode.setCurrentIndex(w.sidebar.mode.findData(mode))
    load_main(qtbot, w, "Tiny Main")
    w.input.setPlainText(prompt)
    w.open_bench()
    return w, w.bench_panel


def test_benchmark_panel_sweeps_and_applies_the_best(qtbot, library):
    w, panel = bench_window(qtbot, "ngram", "red green blue red green blue red green blue")
    panel.draft_tokens.setText("2,auto")
    panel.max_tokens.setValue(24)
    panel.rounds.setValue(1)
    with qtbot.waitSignal(w.host.benchFinished, timeout=60_000) as done:
        panel.run_button.click()
    report = done.args[1]
    assert report is not None and [r.draft_tokens for r in report.runs] == [2, "auto"]
    assert panel.table.rowCount() == 3 and panel.progress.value() == 100 and panel.plot.report == report
    assert all(r.identical for r in report.runs)
    panel.apply_button.click()
    best = report.best_draft_tokens
    if best == 0:
        assert w.sidebar.mode.currentData() == "off"
    elif best == "auto":
        assert w.sidebar.auto_k.isChecked()
    else:
        assert w.sidebar.draft_tokens.value() == best


def test_the_app_remembers_the_last_model_and_its_draft(qtbot, library):
    w = window_with_a_chosen_draft(qtbot, library)
    w.sidebar.temperature.setValue(0.3)
    w.close()
    again = open_window(qtbot)  # the next start: the same main model, its chosen draft, the same settings
    qtbot.waitUntil(lambda: again.models.main is not None and bool(again.models.draft_path), timeout=30_000)
    assert again.models.main.path == str(library / "main.gguf")
    assert again.models.draft_path == str(library / "same-weights.gguf")
    assert again.sidebar.temperature.value() == 0.3


def test_a_failed_switch_shows_what_the_engine_holds(qtbot, library, tmp_path):
    """Loads unload first: a file whose header does not read leaves the old model loaded, and the window says
    so (it once said "No model loaded" while the engine still held the old pair)."""
    w = open_window(qtbot)
    load_main(qtbot, w, "Tiny Main")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 50)
    with qtbot.waitSignal(w.host.loadFailed, timeout=30_000):
        w.load_main(str(bad))
    assert "main" in w.host.loaded and w.models.main is not None
    assert w.models.main.path == str(library / "main.gguf") and w.sidebar.main_loaded
    assert "bad.gguf" in w.sidebar.model_state.text()


def test_yes_to_a_draft_gpu_retry_reloads_the_draft_with_that_many_layers(qtbot, library, monkeypatch):
    """The out-of-memory offer for a draft once set a setting nobody read (and the sidebar overwrote it at
    close): now the draft loads again with the offered layer count, and that count is what is saved."""
    from PySide6.QtWidgets import QMessageBox

    w = window_with_a_chosen_draft(qtbot, library)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)  # the user: Yes
    with qtbot.waitSignal(w.host.modelUnloaded, timeout=30_000):
        w.host.unload("draft")
    w.models.draft_name = w.models.draft_path = ""
    with qtbot.waitSignal(w.host.modelLoaded, timeout=30_000) as loaded:
        w.host.loadFailed.emit("draft", "out of GPU memory", 0, None)  # as the engine thread reports it
    assert loaded.args[0] == "draft" and loaded.args[1].path == str(library / "same-weights.gguf")
    assert w.sidebar.draft_gpu_layers.value() == 0
    w.close()
    assert load_settings().drafts.gpu_layers == 0


def test_an_unattached_compatible_draft_is_not_called_none(qtbot, fixtures):
    """The only compatible draft has advice against it (same size as the main, as a Q4_1 of an F32 main is):
    it is in the dropdown, not attached, and the dropdown and its note say it is there to choose, instead of
    "No compatible draft" over a list that holds one."""
    models = app_paths().ensure().models
    shutil.copy(fixtures["base"], models / "main.gguf")
    shutil.copy(fixtures["base"], models / "same-weights.gguf")
    w = open_window(qtbot)
    w.sidebar.mode.setCurrentIndex(w.sidebar.mode.findData("draft"))
    load_main(qtbot, w, "Tiny Main")
    qtbot.waitUntil(lambda: w.sidebar.draft_models.rowCount() == 1, timeout=30_000)
    assert w.sidebar.draft_combo.currentIndex() == -1 and not w.models.draft_name
    assert w.sidebar.draft_combo.placeholderText() == "None: choose a draft"
    assert w.sidebar.draft_combo.shown_text() == "None: choose a draft"  # what the closed box paints
    offered = os.path.basename(w.sidebar.draft_models.entry_at(0).path)
    assert f"Compatible draft in the library: {offered}. Not attached" in w.sidebar.draft_note.text()


def test_the_benchmark_panel_names_a_draft_that_loads_while_it_is_open(qtbot, library):
    """Opened right after the start, before the remembered draft loaded, "Will test" said "Draft: none loaded"
    while the run then tested the draft."""
    w, panel = bench_window(qtbot, "draft", "Count to five")
    assert "<b>Draft:</b> none loaded" in panel.tested.text()
    with qtbot.waitSignal(w.host.modelLoaded, timeout=30_000):
        w.choose_draft(str(library / "small-draft.gguf"))
    qtbot.waitUntil(lambda: w.models.draft_name.startswith("Small Draft"), timeout=30_000)
    assert f"<b>Draft:</b> {w.models.draft_name}" in panel.tested.text()
    assert "Count to five" in panel.tested.text()  # the prompt it was opened on stays
    panel.close()


def test_a_native_crash_mid_answer_leaves_the_window_with_the_message_and_retry_brings_it_back(
        qtbot, library, monkeypatch):
    """A test-only abort in the engine process while it streams: the window stays, the answer is saved with the
    crash's sentence (signal, model, log), the model is shown unloaded, the settings and the chat are intact,
    and Retry on the answer loads the model again and answers."""
    monkeypatch.setenv("SPECCHAT_TEST_HOOKS", "1")  # the engine process inherits it: its Crash hook is on
    w = streaming_without_end(qtbot)
    chat_id = w.chat_id
    with qtbot.waitSignal(w.host.engineCrashed, timeout=20_000):
        w.host.crash_for_test("abort")
    qtbot.waitUntil(lambda: not w.answers.busy, timeout=10_000)
    assert w.isVisible() and w.chat_id == chat_id and w.models.main is None
    answer = w.store.messages(chat_id)[-1]
    assert answer.role == "assistant" and answer.state == "error" and answer.content  # what streamed is kept
    assert "the engine crashed (SIGABRT) while answering with Tiny Main" in answer.stats["error"]
    assert "engine.log" in answer.stats["error"]
    assert "crashed (SIGABRT)" in w.statusBar().currentMessage()
    assert "Retry" in w.view.toPlainText()
    assert w.sidebar.max_tokens.value() == 32768
    qtbot.waitUntil(lambda: not w.settings_saver.pending, timeout=5_000)
    on_disk = load_settings()  # written on change: the crash cost none of the session's choices
    assert on_disk.generation.max_tokens == 32768 and on_disk.ui.last_chat_id == chat_id
    # Retry: the model comes back (the user asked), then a new answer to the same question
    index = len(w.view.messages()) - 1
    with qtbot.waitSignal(w.host.modelLoaded, timeout=30_000):
        w.regenerate_at(index)
    qtbot.waitUntil(lambda: w.answers.busy, timeout=10_000)
    qtbot.waitUntil(lambda: len(w.answers.pieces) > 3, timeout=20_000)
    w.stop()
    qtbot.waitUntil(lambda: not w.answers.busy, timeout=10_000)
    msgs = w.store.messages(chat_id)
    assert [m.role for m in msgs] == ["user", "assistant"] and msgs[-1].state == "done"
