"""Where a greedy draft-model answer's time goes, per emitted token: the main model's decodes and picks, the
draft's decodes and picks, and the token loop's own Python (everything else). Run with the picks read from the
logits on the host and made on the device (llama.cpp's backend greedy sampler, SPECCHAT_DEVICE_GREEDY), one
answer each after a warm-up, in alternating order.

On a GPU a decode is mostly queued work: its results are waited for by the pick that follows, so "decode" and
"pick" are read together (a step's cost), while "other" is the loop's own share.

    python -m benchmarks.token_costs --model M --draft D [--k 8] [--max-tokens 200] [--rounds 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import llama_cpp  # noqa: F401  before numpy

from app.core.inference.engine import Engine
from app.core.inference.speculative import GenerationStats
from app.core.infra.requests import LoadOptions, SamplerParams, SpeculationConfig
from benchmarks.call_timer import CallTimer

PARTS = ("main decode", "main picks", "draft decode", "draft picks")


def one_answer(engine: Engine, tokens: list[int], k: int, max_tokens: int, picks: str) -> dict[str, float]:
    os.environ["SPECCHAT_DEVICE_GREEDY"] = "on" if picks == "device" else "off"
    main, draft = engine.main, engine.draft
    assert main is not None and draft is not None
    timer = CallTimer()
    for model, who in ((main, "main"), (draft, "draft")):
        timer.wrap(model, "decode", f"{who} decode")
        timer.wrap(model, "argmax", f"{who} picks")
    stats = GenerationStats()
    t0 = time.perf_counter()
    spec = SpeculationConfig(mode="draft", draft_tokens=k) if k else SpeculationConfig(mode="off")
    first = True
    for _ in engine.generate(tokens, stats, max_tokens=max_tokens, sampling=SamplerParams(temperature=0.0),
                             spec=spec):
        if first:  # the first token comes before any round: what was timed so far is the prompt's evaluation
            timer.reset()
            first = False
    wall = time.perf_counter() - t0 - stats.prompt_eval_s
    timer.unwrap()
    n = max(stats.generated_tokens, 1)
    row = {"picks": picks, "k": k, "tokens": stats.generated_tokens, "tok_s": n / wall,
           "accepted": stats.accepted, "drafted": stats.drafted, "on_device": main.device_greedy,
           "main decodes": timer.calls["main decode"], "draft decodes": timer.calls["draft decode"]}
    for part in PARTS:
        row[f"{part} ms/token"] = timer.seconds[part] / n * 1e3
    row["other ms/token"] = wall / n * 1e3 - sum(row[f"{p} ms/token"] for p in PARTS)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.token_costs", description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--draft", type=Path, required=True)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--prompt-file", type=Path, default=Path("benchmarks/prompts/code.txt"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    engine = Engine()
    engine.load_main(args.model, LoadOptions(n_ctx=2048, n_gpu_layers=-1))
    engine.load_draft(args.draft, LoadOptions(n_ctx=2048, n_gpu_layers=-1))
    tokens, _ = engine.chat_prompt([{"role": "user", "content": args.prompt_file.read_text(encoding="utf-8")}])
    one_answer(engine, tokens, args.k, args.max_tokens, "host")  # warm-up: first use of every batch shape
    one_answer(engine, tokens, args.k, args.max_tokens, "device")
    rows: list[dict[str, float]] = []
    for r in range(args.rounds):
        for k in (0, args.k):
            for picks in (("host", "device") if r % 2 == 0 else ("device", "host")):
                rows.append(one_answer(engine, tokens, k, args.max_tokens, picks))
    engine.close()
    summary = []
    for k in (0, args.k):
        for picks in ("host", "device"):
            mine = [x for x in rows if x["picks"] == picks and x["k"] == k]
            med = {key: statistics.median(float(x[key]) for x in mine) for key in mine[0] if key.endswith(("ms/token", "tok_s"))}
            summary.append({"k": k, "picks": picks, "on_device": mine[0]["on_device"],
                            "accepted": mine[-1]["accepted"], "drafted": mine[-1]["drafted"], **med})
    if args.json:
        json.dump({"rows": rows, "summary": summary}, sys.stdout, indent=1)
        return 0
    head = ["k", "picks", "tok/s"] + [f"{p} ms" for p in PARTS] + ["other ms"]
    print(" | ".join(head))
    for s in summary:
        print(" | ".join([str(s["k"]), f"{s['picks']}{'' if s['on_device'] == (s['picks'] == 'device') else ' (refused)'}",
                          f"{s['tok_s']:.1f}"] + [f"{s[f'{p} ms/token']:.3f}" for p in PARTS]
                         + [f"{s['other ms/token']:.3f}"]))
    print("(ms per emitted token, median of", args.rounds, "answers each; decode and picks read together on a GPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
