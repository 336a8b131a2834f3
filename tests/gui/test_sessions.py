"""The session controllers without a window: ModelSession and AnswerSession on a real engine thread, a real
library scan of real tiny GGUFs and a real SQLite chat store. What a window would show is what their signals say.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace

import pytest

from app.core.chats.chat_store import ChatStore
from app.core.inference.load_guard import STATE_FILE, LoadGuard
from app.core.infra.paths import app_paths
from app.core.infra.requests import GenerateRequest, LoadOptions, SpeculationConfig
from app.core.infra.settings import Settings
from app.session.answer_session import AnswerSession
from app.workers.engine_worker import EngineHost
from app.workers.library_worker import LibraryScanner
from app.session.model_session import ModelSession
from tests.fixtures.model_factory import write_tiny_model

LONG = 60_000


@dataclass
class Controls:
    """The user's choices, as the sidebar would report them."""
    spec: SpeculationConfig = field(default_factory=lambda: SpeculationConfig(mode="draft", draft_tokens=4))
    drafter: bool = True

    def speculation(self) -> SpeculationConfig:
        return self.spec

    def default_drafter_on(self) -> bool:
        return self.drafter

    def load_options(self, base: LoadOptions, without_rpc: str = "") -> LoadOptions:
        return replace(base, n_ctx=1024)

    def draft_load_options(self, base: LoadOptions) -> LoadOptions:
        return replace(base, n_ctx=1024)


def load_main(qtbot, models: ModelSession, paths) -> None:
    with qtbot.waitSignal(models.mainChanged, timeout=LONG, check_params_cb=lambda s, e: bool(s)):
        models.load_main(str(paths.models / "main.gguf"))


def plain_chat(qtbot, parts, question: str):
    """The main model loaded, speculation off, and a chat holding one question."""
    models, _, store, _, controls, paths = parts
    controls.spec = SpeculationConfig(mode="off")
    load_main(qtbot, models, paths)
    chat = store.create_chat()
    store.add_message(chat.id, "user", question)
    return chat


@pytest.fixture
def parts(qtbot, fixtures, smol_tokenizer):
    paths = app_paths().ensure()
    shutil.copy(fixtures["base"], paths.models / "main.gguf")
    write_tiny_model(paths.models / "small-draft.gguf", smol_tokenizer, name="Small Draft", n_embd=8, n_head=2,
                     n_ff=16, n_layer=1, seed=3)
    guard = LoadGuard(paths.data / STATE_FILE)
    host = EngineHost(None, guard)
    scanner = LibraryScanner([paths.models], paths.database)
    store = ChatStore(paths.chats)
    controls = Controls()
    models = ModelSession(host, scanner, Settings(), guard, controls)
    answers = AnswerSession(host, store)
    yield models, answers, store, guard, controls, paths
    answers.abandon()
    host.stop()
    store.close()


def test_a_first_run_loads_the_models_and_says_what_runs(qtbot, parts):
    models, _, _, guard, controls, paths = parts
    said: list[str] = []
    models.speculationChanged.connect(said.append)
    with qtbot.waitSignal(models.mainChanged, timeout=LONG, check_params_cb=lambda s, e: bool(s)):
        models.scan()  # no last model, two usable files: nothing loads by itself ...
        qtbot.waitUntil(lambda: bool(models.library), timeout=LONG)
        assert models.main is None
        models.load_main(str(paths.models / "main.gguf"))  # ... until the user asks
    assert models.main.name.startswith("Tiny Main") and models.settings.ui.last_main_model.endswith("main.gguf")
    # the small draft never loaded here: offered, not attached; choosing it loads it
    with qtbot.waitSignal(models.draftsOffered, timeout=LONG) as offered:
        pass
    assert offered.args[2] == "" and "Choose it to load it" in offered.args[3]
    assert said[-1] == "plain decoding: no draft loaded"
    models.choose_draft(str(paths.models / "small-draft.gguf"))
    qtbot.waitUntil(lambda: models.draft_name.startswith("Small Draft"), timeout=LONG)
    qtbot.waitUntil(lambda: said[-1] == f"draft: {models.draft_name}", timeout=LONG)
    assert guard.has_loaded(str(paths.models / "small-draft.gguf"))
    # while it loaded, the "Runs" line said so, with the load's progress
    loading = [s for s in said if "(loading small-draft.gguf…" in s]
    assert loading and loading[0].startswith("plain decoding: no draft loaded")
    assert any(s.endswith("%)") for s in loading), loading
    # the mode off: what runs says so, the loaded draft stays for when it comes back
    controls.spec = replace(controls.spec, mode="off")
    models.mode_changed()
    assert said[-1] == "plain decoding (speculation off)" and models.draft_name.startswith("Small Draft")


def test_a_failed_switch_keeps_and_reports_the_loaded_model(qtbot, parts, tmp_path):
    models, _, _, _, _, paths = parts
    load_main(qtbot, models, paths)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 50)
    with qtbot.waitSignal(models.mainChanged, timeout=LONG, check_params_cb=lambda s, e: bool(e)) as changed:
        models.load_main(str(bad))
    summary, error = changed.args
    assert summary.path.endswith("main.gguf") and models.main == summary and "bad.gguf" in error


def test_an_answer_streams_into_the_store_and_a_stop_before_text_keeps_nothing(qtbot, parts):
    models, answers, store, _, _, paths = parts
    chat = plain_chat(qtbot, parts, "Count to ten.")
    streamed: list = []
    answers.streaming.connect(streamed.extend)
    used: list[int] = []
    answers.contextUsed.connect(used.append)
    request = GenerateRequest(messages=(), max_tokens=24)
    with qtbot.waitSignal(answers.ended, timeout=LONG) as ended:
        answers.start(chat.id, request, "Be brief.", models.running_label(), models.draft_name)
        assert answers.busy
    kept, note = ended.args
    assert not answers.busy and note == ""
    saved = store.messages(chat.id)[-1]
    assert saved.id == kept.id and saved.state == "done" and saved.content == "".join(t for t, _ in streamed)
    assert saved.stats["generated_tokens"] == 24 and saved.stats["speculation"] == ""  # plain: no draft named
    # the context gauge follows the stream: its prompt, then every token written
    assert used == sorted(used) and used[-1] == saved.stats["prompt_tokens"] + 24

    # Stop before the first token: the empty answer row goes, the chat is as it was
    store.add_message(chat.id, "user", "Again.")
    before = len(store.messages(chat.id))
    with qtbot.waitSignal(answers.ended, timeout=LONG) as ended:
        answers.start(chat.id, request, "", models.running_label(), "")
        answers.stop()
        # a batch the engine wrote while the cancel was on its way (a fast model does): never shown, not kept
        answers.host.tokens.emit(answers.request_id, [(" late", False)])
    assert ended.args[0] is None and "no answer was kept" in ended.args[1]
    assert len(store.messages(chat.id)) == before


def test_a_late_batch_of_an_abandoned_answer_lands_nowhere(qtbot, parts):
    models, answers, store, _, _, paths = parts
    chat = plain_chat(qtbot, parts, "Tell a long story.")
    answers.start(chat.id, GenerateRequest(messages=(), max_tokens=400), "", models.running_label(), "")
    qtbot.waitUntil(lambda: len(answers.pieces) > 3, timeout=LONG)
    old_id = answers.request_id
    answers.abandon()  # the chat was switched away from
    first = store.messages(chat.id)[-1]
    assert first.state == "interrupted" and first.stats == {} and first.content
    answers.host.tokens.emit(old_id, [("stale", False)])  # a batch the engine had queued already
    assert store.messages(chat.id)[-1].content == first.content and not answers.busy


def test_the_context_meter_counts_the_chat_with_the_models_template(qtbot, parts):
    from app.core.inference.engine import Engine
    from app.session.context_meter import ContextMeter

    models, answers, store, _, _, paths = parts
    meter = ContextMeter(answers.host, store)
    with qtbot.waitSignal(meter.changed, timeout=LONG) as changed:
        meter.measure(None, "", 0)  # no model: nothing to count against
    assert changed.args == [-1, 0]
    load_main(qtbot, models, paths)
    chat = store.create_chat()
    store.add_message(chat.id, "user", "What is the capital of France? " * 20)
    with qtbot.waitSignal(meter.changed, timeout=LONG) as changed:
        meter.measure(chat.id, "Be brief.", models.main.n_ctx)
    used, n_ctx = changed.args
    # the same count a plain engine gives for the same chat through the same template
    engine = Engine()
    engine.load_main(paths.models / "main.gguf", LoadOptions(n_ctx=1024))
    try:
        expected = len(engine.prompt(GenerateRequest(messages=(
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the capital of France? " * 20})))[0])
    finally:
        engine.close()
    assert (used, n_ctx) == (expected, 1024) and used > 100
    # an older question's answer that comes late is dropped: only the newest count is said
    seen: list = []
    meter.changed.connect(lambda *a: seen.append(a))
    meter.measure(chat.id, "", 1024)
    meter.measure(chat.id, "A much longer system prompt than before, to change the count.", 1024)
    qtbot.waitUntil(lambda: bool(seen), timeout=LONG)
    qtbot.wait(200)
    assert len(seen) == 1 and seen[0][0] > expected


def test_the_gauge_warns_before_the_context_is_full():
    from app.ui.sidebar.context_gauge import gauge_text

    assert gauge_text(1234, 4096)[0] == "context 1,234 / 4,096"
    label, tip = gauge_text(3800, 4096)
    assert label == "context 93% full" and "larger context" in tip
