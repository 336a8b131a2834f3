"""`python -m app bench-view`: the real chat view, shown offscreen, fed synthetic token events through the same
signal path as the engine (a worker thread's batched `tokens` signal, relayed by a GUI-thread object).

Events: pieces of 1-6 characters, every third an accepted draft token, a line break about every 60 tokens, and
one 3 000-token stretch with no break at all (a long code line). The producer sends them as fast as it can, in
the engine worker's batches. Measured: tokens per second until the last piece is on screen, and the longest
gap between two ticks of a 1 ms heartbeat timer on the GUI thread (an event-loop stall).
"""

from __future__ import annotations

import random
import time

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot
from PySide6.QtWidgets import QApplication

from app.ui.chat_view import ChatView
from app.workers.engine_worker import BATCH_S

LONG_LINE_TOKENS = 3000


def synthetic_pieces(n: int, seed: int = 0) -> list[tuple[str, bool]]:
    rng = random.Random(seed)
    long_start = n // 3
    pieces = []
    for i in range(n):
        text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz_(){}=+ ") for _ in range(rng.randint(1, 6)))
        in_long_line = long_start <= i < long_start + LONG_LINE_TOKENS
        if not in_long_line and i % 60 == 59:
            text += "\n"
        pieces.append((text, i % 3 == 2))
    return pieces


class _Producer(QObject):
    tokens = Signal(int, list)

    def __init__(self, pieces: list[tuple[str, bool]]) -> None:
        super().__init__()
        self.pieces = pieces

    @Slot()
    def run(self) -> None:
        batch: list[tuple[str, bool]] = []
        last = time.perf_counter()
        for p in self.pieces:  # the engine worker's batching, with no model in the way
            batch.append(p)
            now = time.perf_counter()
            if now - last >= BATCH_S / 16:  # a far faster engine than any real one
                self.tokens.emit(1, batch)
                batch, last = [], now
        if batch:
            self.tokens.emit(1, batch)


class _Relay(QObject):
    tokens = Signal(int, list)  # lives on the GUI thread, like EngineHost


def bench_view(n_tokens: int, timeout_s: float = 600.0) -> dict[str, float]:
    app = QApplication.instance() or QApplication([])
    view = ChatView()
    view.resize(900, 700)
    view.show()
    pieces = synthetic_pieces(n_tokens)
    total_chars = sum(len(t) for t, _ in pieces)

    relay = _Relay()
    relay.tokens.connect(lambda rid, batch: view.append_tokens(batch))
    producer = _Producer(pieces)
    thread = QThread()
    producer.moveToThread(thread)
    producer.tokens.connect(relay.tokens)  # queued into the GUI thread, as the engine's tokens are
    thread.started.connect(producer.run)

    stall = {"max": 0.0, "last": time.perf_counter()}

    def beat() -> None:
        now = time.perf_counter()
        stall["max"] = max(stall["max"], now - stall["last"])
        stall["last"] = now

    heartbeat = QTimer()
    heartbeat.setInterval(1)
    heartbeat.timeout.connect(beat)
    view.begin_answer()
    app.processEvents()
    done = {"at": 0.0}
    view.streamed.connect(lambda n: done.__setitem__("at", time.perf_counter()) if n >= total_chars else None)
    start = time.perf_counter()
    stall["last"] = start
    heartbeat.start()
    thread.start()
    settle_until = float("inf")
    while time.perf_counter() < settle_until and time.perf_counter() - start < timeout_s:
        app.processEvents()
        time.sleep(0.0005)  # an idle event loop, as app.exec() would be, without a busy spin
        if done["at"] and settle_until == float("inf"):
            view.repaint()  # the final layout and paint of what was streamed count as stalls too
            settle_until = time.perf_counter() + 0.3
    heartbeat.stop()
    thread.quit()
    thread.wait()
    elapsed = (done["at"] or time.perf_counter()) - start
    view.cancel_stream()
    view.close()
    return {"tokens": n_tokens, "tokens_per_second": round(n_tokens / elapsed, 1),
            "max_stall_ms": round(stall["max"] * 1e3, 1), "seconds": round(elapsed, 3),
            "complete": bool(done["at"])}
