"""The engine process seen from the window: loads and generations, batched tokens, stop, closing, crashes."""

from __future__ import annotations

import pytest

from app.core.inference.answer_stats import AnswerStats
from app.core.inference.engine import Engine, SpeculationConfig
from app.core.inference.llama_runtime import LoadOptions
from app.core.inference.speculative import GenerationStats
from app.core.infra.requests import GenerateRequest
from app.workers.engine_worker import EngineHost

CTX = LoadOptions(n_ctx=256)


@pytest.fixture
def host(qtbot):
    h = EngineHost()
    yield h
    h.stop()


def load(qtbot, host, role, path, options=CTX):
    with qtbot.waitSignal(host.modelLoaded, timeout=30_000) as loaded:
        host.requestLoad.emit(role, str(path), options)
    return loaded.args[1]


def test_streamed_batches_equal_the_engines_own_events(qtbot, host, fixtures):
    """The main model drafts for itself here, so drafts are accepted and the flags are worth comparing."""
    progress: list[float] = []
    host.loadProgress.connect(lambda role, f: progress.append(f))
    info = load(qtbot, host, "main", fixtures["base"])
    assert info.name and info.backend == "CPU" and progress and progress[-1] == pytest.approx(1.0)
    load(qtbot, host, "draft", fixtures["base"])
    received: list[tuple[str, bool]] = []
    host.tokens.connect(lambda rid, batch: received.extend(batch))
    request = GenerateRequest(raw="The quick brown fox", max_tokens=40,
                              speculation=SpeculationConfig(mode="draft", draft_tokens=3))
    with qtbot.waitSignal(host.finished, timeout=30_000) as done:
        rid = host.generate(request)
    assert done.args[0] == rid and done.args[1].stop_reason == "length"
    assert done.args[1].generated_tokens == len(received) == 40

    # the same request straight on the engine, in this thread: same text, same draft flags
    engine = Engine()
    engine.load_main(fixtures["base"], LoadOptions(n_ctx=256))
    engine.load_draft(fixtures["base"], LoadOptions(n_ctx=256))
    events = list(engine.generate(engine.raw_prompt("The quick brown fox"), GenerationStats(), max_tokens=40,
                                  spec=SpeculationConfig(mode="draft", draft_tokens=3)))
    engine.close()
    assert received == [(e.text, e.from_draft) for e in events]
    assert any(flag for _, flag in received)


def test_stop_ends_a_running_generation(qtbot, host, fixtures):
    load(qtbot, host, "main", fixtures["base"], LoadOptions(n_ctx=4096))
    first_batch = []
    host.tokens.connect(lambda rid, batch: first_batch.append(rid))
    with qtbot.waitSignal(host.finished, timeout=30_000) as done:
        rid = host.generate(GenerateRequest(raw="Once", max_tokens=100_000))
        qtbot.waitUntil(lambda: bool(first_batch), timeout=10_000)
        host.cancel(rid)
    assert done.args[1].stop_reason == "cancelled"


def test_errors_come_back_as_a_finished_error_and_the_thread_lives_on(qtbot, host, fixtures, tmp_path):
    with qtbot.waitSignal(host.finished, timeout=10_000) as done:
        host.generate(GenerateRequest(raw="x"))
    assert done.args[1].stop_reason == "error" and "no model" in done.args[1].error
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 50)
    with qtbot.waitSignal(host.loadFailed, timeout=10_000) as failed:
        host.requestLoad.emit("main", str(bad), CTX)
    assert failed.args[0] == "main" and "bad.gguf" in failed.args[1]
    load(qtbot, host, "main", fixtures["base"])


def test_closing_ends_the_engine_process_even_with_loads_queued(qtbot, host, fixtures):
    """Closing while loads are queued behind other work: the engine is asked to stop (what runs is cancelled),
    and its process is gone when stop() returns."""
    load(qtbot, host, "main", fixtures["base"])
    proc = host.client._proc
    for _ in range(3):
        host.requestLoad.emit("main", str(fixtures["base"]), CTX)
    host.stop(timeout_s=20)
    assert proc is not None and proc.poll() is not None


@pytest.fixture
def crashable(qtbot):
    h = EngineHost(env={"SPECCHAT_TEST_HOOKS": "1"})
    yield h
    h.stop()


@pytest.mark.parametrize("how, signal_name", [("abort", "SIGABRT"), ("segv", "SIGSEGV")])
def test_a_native_crash_mid_answer_costs_the_answer_not_the_app(qtbot, crashable, fixtures, how, signal_name):
    """The engine dies by a signal while it streams: the answer fails with the crash's sentence (signal, what it
    was doing, the log), the model is reported unloaded, and a fresh engine answers the next request."""
    host = crashable
    info = load(qtbot, host, "main", fixtures["base"], LoadOptions(n_ctx=4096))
    old_pid = host.client.pid
    first_batch: list = []
    host.tokens.connect(lambda rid, batch: first_batch.append(batch))
    unloaded: list[str] = []
    host.modelUnloaded.connect(unloaded.append)
    ended: list[AnswerStats] = []
    host.finished.connect(lambda _rid, st: ended.append(st))
    with qtbot.waitSignal(host.engineCrashed, timeout=30_000):
        host.generate(GenerateRequest(raw="Once", max_tokens=100_000))
        qtbot.waitUntil(lambda: bool(first_batch), timeout=10_000)
        host.crash_for_test(how)
    assert len(ended) == 1
    stats = ended[0]
    assert stats.stop_reason == "error" and stats.crashed
    assert f"the engine crashed ({signal_name}) while answering with {info.name}; log: " in stats.error
    log = host.client.log_path
    assert log is not None and stats.error.endswith(str(log)) and "Fatal Python error" in log.read_text()
    assert unloaded == ["main"] and "main" not in host.loaded
    assert host.client.pid != old_pid
    load(qtbot, host, "main", fixtures["base"])  # the new engine, nothing loaded until asked
    with qtbot.waitSignal(host.finished, timeout=30_000) as done:
        host.generate(GenerateRequest(raw="Once", max_tokens=8))
    assert done.args[1].stop_reason == "length" and done.args[1].generated_tokens == 8


def test_the_crash_hook_is_off_unless_tests_turn_it_on(qtbot, host, fixtures):
    load(qtbot, host, "main", fixtures["base"])
    pid = host.client.pid
    host.crash_for_test("segv")
    with qtbot.waitSignal(host.finished, timeout=30_000) as done:
        host.generate(GenerateRequest(raw="Once", max_tokens=4))
    assert done.args[1].generated_tokens == 4 and host.client.pid == pid


def test_a_crash_while_loading_costs_a_message_and_the_engine_comes_back(qtbot, crashable, tmp_path, fixtures):
    """llama.cpp aborts inside loads on metadata our checks do not know (model_checks repeats the asserts we
    know): the engine process is the probe. The load fails with the crash's sentence, the file is not known good,
    and the next load runs on a fresh engine."""
    from app.core.inference.load_guard import LoadGuard

    host = crashable
    host.guard = LoadGuard(tmp_path / "load-state.json")
    with qtbot.waitSignal(host.loadFailed, timeout=30_000) as failed:
        host.requestLoad.emit("main", str(fixtures["base"]), CTX)
        host.crash_for_test("abort")  # taken at once by the engine's reader, while the load is queued or runs
    assert failed.args[0] == "main" and "the engine crashed (SIGABRT) while loading base.gguf" in failed.args[1]
    assert not host.guard.has_loaded(str(fixtures["base"]))
    load(qtbot, host, "main", fixtures["base"])
    assert host.guard.has_loaded(str(fixtures["base"]))
