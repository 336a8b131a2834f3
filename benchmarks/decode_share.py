"""Where an n-gram answer's time goes: inside llama_decode, or in our Python around it.

Runs the code edit of benchmarks/predicted_outputs.py once with n-gram lookup at a fixed k and times every
llama_decode of the answer. What is left of the answer's time is the token loop's own (lookup, acceptance,
bookkeeping, detokenizing).

    python -m benchmarks.decode_share --model M [--k 16] [--flash-attn auto|on|off]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import llama_cpp  # noqa: F401  before numpy

from app.core.inference.engine import Engine
from app.core.inference.speculative import GenerationStats
from app.core.infra.requests import LoadOptions, SamplerParams, SpeculationConfig
from benchmarks.call_timer import CallTimer
from benchmarks.predicted_outputs import SOURCE, edit_request


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.decode_share", description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--flash-attn", choices=("auto", "on", "off"), default="auto")
    args = ap.parse_args(argv)
    engine = Engine()
    engine.load_main(args.model, LoadOptions(n_ctx=8192, flash_attn=args.flash_attn))
    request = replace(edit_request(SOURCE.read_text(encoding="utf-8"), 2048, SamplerParams(temperature=0.0)),
                      speculation=SpeculationConfig(mode="ngram", ngram_size=3, draft_tokens=args.k))
    list(engine.answer(replace(request, max_tokens=16), GenerationStats()))  # the prompt, evaluated once
    main_model = engine.main
    assert main_model is not None
    timer = CallTimer()
    timer.wrap(main_model, "decode", "decode")
    stats = GenerationStats()
    t0 = time.perf_counter()
    for _ in engine.answer(request, stats):
        pass
    wall = time.perf_counter() - t0
    engine.close()
    calls, inside = timer.calls["decode"], timer.seconds["decode"]
    rounds = max(calls, 1)
    print(f"{stats.generated_tokens} tokens in {wall:.2f} s ({stats.tokens_per_second:.1f} tok/s), accepted "
          f"{stats.accepted}/{stats.drafted}; {calls} decodes of {timer.rows['decode'] / rounds:.1f} rows: "
          f"{inside:.2f} s inside llama_decode ({inside / rounds * 1e3:.0f} ms each), "
          f"{(wall - inside) / rounds * 1e3:.2f} ms per round outside it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
