"""`python -m app bench-view`: the real chat view, shown offscreen, fed synthetic token events through the same
signal path as the engine (a worker thread's batched `tokens` signal, relayed by a GUI-thread object).

Events (`--content plain`): pieces of 1-6 characters, every third an accepted draft token, a line break about
every 60 tokens, and one 3 000-token stretch with no break at all (a long code line). `--content markdown`: an
answer as a model writes one, cut into the same 1-6 character pieces: headings, long paragraphs with **bold**,
`code` and links, lists, a table, and several fenced code blocks (Python, JavaScript, shell) of 10-60 lines.
The producer sends them as fast as it can, in the engine worker's batches. Measured: tokens per second until
the last piece is on screen, and the longest gap between two ticks of a 1 ms heartbeat timer on the GUI thread
(an event-loop stall), the final layout and paint included.

`--open-chat N`: the time to show a stored chat of N messages (questions and Markdown answers with code and
highlighting), from set_messages to the laid-out, painted view at its bottom.
"""

from __future__ import annotations

import random
import time

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot
from PySide6.QtWidgets import QApplication

from app.ui.chat.chat_view import ChatView
from app.core.inference.engine_process.protocol import BATCH_S

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


_WORDS = ("the model drafts a few tokens ahead and the main model checks them in one batch so accepted "
          "tokens cost almost nothing while rejected ones cost one verification step each which is why "
          "acceptance matters more than raw draft speed for the final throughput").split()


def _paragraph(rng: random.Random, words: int) -> str:
    out = []
    for i in range(words):
        w = rng.choice(_WORDS)
        r = rng.random()
        if r < 0.03:
            w = f"**{w}**"
        elif r < 0.06:
            w = f"`{w}()`"
        elif r < 0.07:
            w = f"[{w}](https://example.org/{w})"
        out.append(w)
        if i % 17 == 16:
            out[-1] += "."
    return " ".join(out) + "."


def _code(rng: random.Random, lines: int) -> str:
    language = rng.choice(("python", "javascript", "bash"))
    body = []
    for i in range(lines):
        if language == "python":
            body.append(rng.choice((f"def step_{i}(x, k={i}):", f"    total += x[{i}] * 2  # accumulate",
                                    f'    return "{rng.choice(_WORDS)}", {i}', f"for item in items[{i}:]:")))
        elif language == "javascript":
            body.append(rng.choice((f"const v{i} = await fetch(`/api/{i}`);", f"if (x > {i}) {{ return x; }}",
                                    f"// {rng.choice(_WORDS)} {rng.choice(_WORDS)}", "}")))
        else:
            body.append(rng.choice((f"python -m app bench --tokens {i}", f'echo "{rng.choice(_WORDS)}" | wc -l',
                                    f"export N={i}")))
    return f"```{language}\n" + "\n".join(body) + "\n```"


def markdown_answer(n_tokens: int, seed: int = 0) -> str:
    """A Markdown answer of roughly n_tokens 1-6 character pieces (about 3.5 characters each)."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    section = 0
    while size < n_tokens * 3.5:
        section += 1
        kind = section % 6
        if kind == 1:
            parts.append(f"## Part {section}: {rng.choice(_WORDS)} {rng.choice(_WORDS)}")
        if kind in (1, 3, 5):
            parts.append(_paragraph(rng, rng.randint(120, 400)))  # long paragraphs
        if kind in (2, 4):
            parts.append(_code(rng, rng.randint(10, 60)))  # several fenced code blocks
        if kind == 3:
            parts.append("\n".join(f"- {_paragraph(rng, rng.randint(5, 20))}" for _ in range(rng.randint(3, 8))))
        if kind == 0:
            parts.append("| setting | value | note |\n|---|---:|---|\n" + "\n".join(
                f"| `{rng.choice(_WORDS)}` | {rng.randint(1, 999)} | {_paragraph(rng, 4)} |" for _ in range(6)))
        size = sum(len(p) + 2 for p in parts)
    return "\n\n".join(parts)


def markdown_pieces(n: int, seed: int = 0) -> list[tuple[str, bool]]:
    text = markdown_answer(n, seed)
    rng = random.Random(seed + 1)
    pieces: list[tuple[str, bool]] = []
    pos = 0
    while pos < len(text) and len(pieces) < n:
        step = rng.randint(1, 6)
        pieces.append((text[pos:pos + step], len(pieces) % 3 == 2))
        pos += step
    return pieces


CONTENTS = {"plain": synthetic_pieces, "markdown": markdown_pieces}


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


def bench_view(n_tokens: int, timeout_s: float = 600.0, content: str = "plain") -> dict[str, object]:
    app = QApplication.instance() or QApplication([])
    view = ChatView()
    view.resize(900, 700)
    view.show()
    pieces = CONTENTS[content](n_tokens)
    n_tokens = len(pieces)
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
    return {"tokens": n_tokens, "content": content, "tokens_per_second": round(n_tokens / elapsed, 1),
            "max_stall_ms": round(stall["max"] * 1e3, 1), "seconds": round(elapsed, 3),
            "complete": bool(done["at"])}


def bench_open_chat(n_messages: int) -> dict[str, float]:
    """Seconds from set_messages to a laid-out, painted view at the bottom of an n-message chat."""
    from app.core.chats.chat_store import spans_from_flags
    from app.ui.chat.chat_view import ShownMessage

    app = QApplication.instance() or QApplication([])
    view = ChatView()
    view.resize(900, 700)
    view.show()
    app.processEvents()
    messages = []
    for i in range(n_messages):
        if i % 2 == 0:
            messages.append(ShownMessage("user", f"Question {i}: how do I {' '.join(_WORDS[i % 9:i % 9 + 6])}?"))
        else:
            pieces = markdown_pieces(350, seed=i)
            text = "".join(t for t, _ in pieces)
            messages.append(ShownMessage("assistant", text, spans_from_flags(pieces),
                                         "31.2 tok/s · 350 tokens · 0.21 s to first token · stop"))
    chars = sum(len(m.content) for m in messages)
    start = time.perf_counter()
    view.set_messages(messages)
    layout = view.document().documentLayout()
    layout.documentSize()  # the whole layout, not only what is visible
    view.verticalScrollBar().setValue(view.verticalScrollBar().maximum())
    view.repaint()
    app.processEvents()
    elapsed = time.perf_counter() - start
    view.close()
    return {"messages": n_messages, "characters": chars, "open_seconds": round(elapsed, 3)}
