"""What the engine process costs: the same answers decoded in this process and through the engine process the
window uses (app/core/inference/engine_process), interleaved, and how fast a Stop lands through it.

    python -m benchmarks.engine_hop --model M.gguf [--tokens 128] [--rounds 4] [--mode off|ngram]

Timed at the consumer (what the window sees), from sending the request to the last token arriving:
- decode tok/s: tokens after the first, over the time from the first token's arrival to the last's;
- total s: request to the last token (prompt evaluation included, the same work on both sides).
Cancel: a Stop sent mid-answer and mid-prompt (a ~3 000-token prompt), timed until the engine's Finished arrives.
Rounds alternate in-process / engine process, with a pause between them (llama.cpp's OpenMP threads spin for a
moment after each computation: two engines back to back would share the 2 cores). Prints one JSON report.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from app.core.inference.engine import Engine
from app.core.inference.engine_process import protocol as p
from app.core.inference.engine_process.client import EngineClient
from app.core.inference.speculative import GenerationStats
from app.core.infra.requests import GenerateRequest, LoadOptions, SamplerParams, SpeculationConfig

PAUSE_S = 1.0
QUESTION = (Path(__file__).parent / "prompts" / "code.txt").read_text(encoding="utf-8")
LONG_PROMPT = "The history of printing in Europe, from the first presses to the newspapers. " * 200


class Remote:
    """An engine process driven as EngineHost drives it, with arrival times of its events."""

    def __init__(self, model: Path, n_ctx: int) -> None:
        self.events: list[tuple[float, p.Event]] = []
        self.cond = threading.Condition()
        self.client = EngineClient(self._on_event, None)
        self.client.start()
        self.wait(lambda e: isinstance(e, p.Ready))
        self.client.send(p.Load("main", str(model), LoadOptions(n_ctx=n_ctx)))
        self.wait(lambda e: isinstance(e, (p.Loaded, p.LoadFailed, p.Died)))
        self.next_id = 0

    def _on_event(self, ev: p.Event) -> None:
        with self.cond:
            self.events.append((time.perf_counter(), ev))
            self.cond.notify_all()

    def wait(self, match, timeout: float = 600) -> tuple[float, p.Event]:  # type: ignore[no-untyped-def]
        with self.cond:
            self.cond.wait_for(lambda: any(match(e) for _, e in self.events), timeout)
            found = next((x for x in self.events if match(x[1])), None)
            if found is None:
                raise SystemExit("the engine process did not answer in time")
            if isinstance(found[1], (p.Died, p.LoadFailed)):
                raise SystemExit(f"engine process: {found[1]}")
            self.events.remove(found)
            return found

    def answer(self, request: GenerateRequest) -> tuple[float, float, int, float]:
        """(t_sent, t_first, tokens, t_last) of one answer."""
        self.next_id += 1
        rid = self.next_id
        with self.cond:
            self.events.clear()
        t_sent = time.perf_counter()
        self.client.send(p.Generate(rid, request))
        t_done, done = self.wait(lambda e: isinstance(e, p.Finished) and e.request_id == rid)
        batches = [(t, e) for t, e in self.events if isinstance(e, p.Tokens) and e.request_id == rid]
        tokens = sum(len(e.pieces) for _, e in batches)
        return t_sent, batches[0][0], tokens, batches[-1][0]

    def cancel_after(self, request: GenerateRequest, after_s: float) -> float:
        """ms from sending Cancel to the engine's Finished arriving."""
        self.next_id += 1
        rid = self.next_id
        self.client.send(p.Generate(rid, request))
        time.sleep(after_s)
        t_cancel = time.perf_counter()
        self.client.send(p.Cancel(rid))
        t_done, done = self.wait(lambda e: isinstance(e, p.Finished) and e.request_id == rid)
        assert isinstance(done, p.Finished) and done.stats.stop_reason == "cancelled", done
        with self.cond:
            self.events.clear()
        return (t_done - t_cancel) * 1000

    def close(self) -> None:
        self.client.close()


def local_answer(engine: Engine, request: GenerateRequest) -> tuple[float, float, int, float]:
    t_sent = time.perf_counter()
    t_first = t_last = 0.0
    n = 0
    for _ in engine.answer(request, GenerationStats()):
        t_last = time.perf_counter()
        t_first = t_first or t_last
        n += 1
    return t_sent, t_first, n, t_last


def figures(runs: list[tuple[float, float, int, float]]) -> dict[str, float]:
    decode = [(n - 1) / (last - first) for _, first, n, last in runs if n > 1 and last > first]
    return {"decode_tok_s": round(statistics.median(decode), 2),
            "total_s": round(statistics.median(last - sent for sent, _, _, last in runs), 3),
            "tokens": runs[0][2]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--mode", choices=("off", "ngram"), default="off")
    ap.add_argument("--ctx", type=int, default=4096)
    args = ap.parse_args()
    request = GenerateRequest(messages=({"role": "user", "content": QUESTION},), max_tokens=args.tokens,
                              sampling=SamplerParams(temperature=0.0), speculation=SpeculationConfig(mode=args.mode))
    engine = Engine()
    engine.load_main(args.model, LoadOptions(n_ctx=args.ctx))
    remote = Remote(args.model, args.ctx)
    local_answer(engine, request)  # warm both: first-use costs are not the hop
    time.sleep(PAUSE_S)
    remote.answer(request)
    ours: list[tuple[float, float, int, float]] = []
    theirs: list[tuple[float, float, int, float]] = []
    for _ in range(args.rounds):
        time.sleep(PAUSE_S)
        ours.append(local_answer(engine, request))
        time.sleep(PAUSE_S)
        theirs.append(remote.answer(request))
    engine.close()
    time.sleep(PAUSE_S)
    long_request = GenerateRequest(raw=LONG_PROMPT, max_tokens=32768, sampling=SamplerParams(temperature=0.0))
    mid_answer = [remote.cancel_after(replace(request, max_tokens=32768), 1.0)
                  for _ in range(3)]
    mid_prompt = [remote.cancel_after(long_request, 0.3) for _ in range(3)]
    remote.close()
    a, b = figures(ours), figures(theirs)
    report = {"model": args.model.name, "mode": args.mode, "rounds": args.rounds, "in_process": a,
              "engine_process": b, "decode_ratio": round(b["decode_tok_s"] / a["decode_tok_s"], 4),
              "total_ratio": round(b["total_s"] / a["total_s"], 4),
              "cancel_ms_mid_answer": [round(x, 1) for x in mid_answer],
              "cancel_ms_mid_prompt": [round(x, 1) for x in mid_prompt]}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
