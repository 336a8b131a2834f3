"""The closest calls of a plain greedy answer: the smallest gaps between the two best logits, position by position.

    python -m benchmarks.near_ties --model MAIN.gguf --prompt-file benchmarks/prompts/code.txt [--at 57,120]

On a GPU, llama.cpp picks its matrix kernels by batch size, and kernels that add up in another order round
differently. Where the two best tokens of a row are within that rounding, verifying k drafted rows can pick the
other one than decoding one row at a time did, and a greedy speculative answer then continues differently. This
prints the positions where that can happen, so a `bench` run's `first_difference` can be checked against them
(a tie shows a gap of a few hundredths of a logit; a bug in the loop would show anywhere).
"""

from __future__ import annotations

import argparse
import json

import llama_cpp  # noqa: F401  (before numpy: numpy first once crashed a CUDA load)
import numpy as np

from app.core.inference.engine import Engine
from app.core.inference.llama_runtime import LoadOptions


def gaps(engine: Engine, prompt: list[int], max_tokens: int) -> tuple[list[int], list[float]]:
    """The plain greedy answer and, for each of its tokens, best minus second-best logit."""
    main = engine.main
    assert main is not None
    main.decode(prompt, logits_from=len(prompt) - 1)
    tokens: list[int] = []
    margins: list[float] = []
    for _ in range(max_tokens):
        row = main.logits_np(-1)
        second, best = np.partition(row, -2)[-2:]
        tok = int(row.argmax())
        tokens.append(tok)
        margins.append(float(best - second))
        if main.is_eog(tok):
            break
        main.decode([tok], logits_from=0)
    return tokens, margins


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt-file", required=True)
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--gpu-layers", type=int, default=-1)
    ap.add_argument("--at", default="", help="comma-separated positions to report (e.g. bench's first_difference)")
    ap.add_argument("--smallest", type=int, default=8, help="how many of the closest calls to list")
    args = ap.parse_args()
    engine = Engine()
    engine.load_main(args.model, LoadOptions(n_ctx=2048, n_gpu_layers=args.gpu_layers))
    with open(args.prompt_file, encoding="utf-8") as f:
        prompt, _ = engine.chat_prompt([{"role": "user", "content": f.read()}])
    tokens, margins = gaps(engine, prompt, args.max_tokens)
    closest = sorted(range(len(margins)), key=margins.__getitem__)[: args.smallest]
    at = [int(x) for x in args.at.split(",") if x.strip()]
    print(json.dumps({
        "tokens": len(tokens),
        "closest": [{"position": i, "gap": round(margins[i], 4)} for i in closest],
        "at": [{"position": i, "gap": round(margins[i], 4)} for i in at if 0 <= i < len(margins)],
        "median_gap": round(float(np.median(margins)), 3) if margins else None,
    }))
    engine.close()


if __name__ == "__main__":
    main()
