"""The engine thread: loads and generations off the GUI thread, batched tokens, stop, stale requests."""

from __future__ import annotations

import pytest

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
    assert info["name"] and info["backend"] == "CPU" and progress and progress[-1] == pytest.approx(1.0)
    load(qtbot, host, "draft", fixtures["base"])
    received: list[tuple[str, bool]] = []
    host.tokens.connect(lambda rid, batch: received.extend(batch))
    request = GenerateRequest(raw="The quick brown fox", max_tokens=40,
                              speculation=SpeculationConfig(mode="draft", draft_tokens=3))
    with qtbot.waitSignal(host.finished, timeout=30_000) as done:
        rid = host.generate(request)
    assert done.args[0] == rid and done.args[1]["stop_reason"] == "length"
    assert done.args[1]["generated_tokens"] == len(received) == 40

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
    assert done.args[1]["stop_reason"] == "cancelled"


def test_errors_come_back_as_a_finished_error_and_the_thread_lives_on(qtbot, host, fixtures, tmp_path):
    with qtbot.waitSignal(host.finished, timeout=10_000) as done:
        host.generate(GenerateRequest(raw="x"))
    assert done.args[1]["stop_reason"] == "error" and "no model" in done.args[1]["error"]
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 50)
    with qtbot.waitSignal(host.loadFailed, timeout=10_000) as failed:
        host.requestLoad.emit("main", str(bad), CTX)
    assert failed.args[0] == "main" and "bad.gguf" in failed.args[1]
    load(qtbot, host, "main", fixtures["base"])


def test_closing_cancels_loads_still_queued(qtbot, host, fixtures):
    """A load that starts after the window asked the engine to stop (it was queued behind other work) does not
    run: the shutdown's cancel was once wiped by each load's start, so closing waited for a full load and
    `thread.wait` could time out with the thread alive. The models are freed once the thread has ended."""
    from PySide6.QtCore import Qt

    load(qtbot, host, "main", fixtures["base"])
    loaded: list[str] = []
    failed: list[str] = []
    host.worker.modelLoaded.connect(lambda role, _: loaded.append(role), Qt.ConnectionType.DirectConnection)
    host.worker.loadFailed.connect(lambda _r, msg, _l, _kept: failed.append(msg), Qt.ConnectionType.DirectConnection)
    host.stop()
    assert host.thread.isFinished() and host.worker.engine.main is None
    host.worker.load("main", str(fixtures["base"]), CTX)  # the queued load, dispatched after the stop
    assert loaded == [] and failed and "closing" in failed[0] and host.worker.engine.main is None
