"""Predicted outputs on a code edit: plain vs n-gram vs prediction vs prediction + n-gram / + a draft model.

The task (issue 23): rename a variable in a 152-line module (benchmarks/data/code_edit_source.py, `chunk` ->
`block`, 7 uses), the module itself as the prediction, as an editor plugin sends it. Every configuration runs in
one process on one loaded model, interleaved round by round (this machine is noisy), through Engine.answer: the
code path the local server and the window run. Greedy by default; --temp 0.7 --seeds N for sampled answers.

    python -m benchmarks.predicted_outputs --model M [--draft D] [--rounds 3] [--temp 0] [--json]
        [--task edit|synthetic]

--task synthetic is for models that cannot do the edit (the GPU testbed's SmolLM2-135M loops instead of copying
the module): the prediction is the model's own plain answer to the same prompt with SYNTHETIC_EDITS lines
changed, so the answer follows the prediction except at those places, as an edit's answer follows the file. It
measures the mechanism (verify rows, run lengths, re-alignment, the draft beside it), not a model's editing.

Prints one line per configuration: median tok/s, the ratio to plain, the share of drafted tokens accepted, the
prediction's accepted/rejected tokens (OpenAI's usage fields) and, at T = 0, whether the answer equals plain's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import llama_cpp  # noqa: F401  before numpy (the CUDA build segfaulted at load with numpy first)

from app.core.inference.engine import Engine
from app.core.inference.speculative import GenerationStats
from app.core.infra.requests import GenerateRequest, LoadOptions, SamplerParams, SpeculationConfig

SOURCE = Path(__file__).parent / "data" / "code_edit_source.py"
# the code first, the instruction after it: with the instruction first, Qwen2.5-Coder-1.5B copied the module
# unchanged (0 of 7 renamed); this way it renames 6 of the 7
INSTRUCTION = ("Rename the variable `chunk` to `block` in the code above (all 7 places). Output the full updated "
               "file in a code block.")


def edit_request(source: str, max_tokens: int, sampling: SamplerParams) -> GenerateRequest:
    message = f"```python\n{source}```\n\n{INSTRUCTION}"
    return GenerateRequest(messages=({"role": "user", "content": message},), max_tokens=max_tokens,
                           sampling=sampling)


SYNTHETIC_EDITS = 7  # as many as the real task's renames


def synthetic_prediction(answer: str, edits: int = SYNTHETIC_EDITS) -> str:
    """The answer with `edits` evenly spaced non-empty lines changed (a comment appended to each)."""
    lines = answer.splitlines(keepends=True)
    filled = [i for i, line in enumerate(lines) if line.strip()]
    for i in filled[len(filled) // (edits + 1)::max(1, len(filled) // (edits + 1))][:edits]:
        lines[i] = lines[i].rstrip("\n") + "  # edited\n"
    return "".join(lines)


def configurations(has_draft: bool, k: str) -> list[tuple[str, SpeculationConfig, bool]]:
    auto = k == "auto"
    n = 4 if auto else int(k)
    ngram = SpeculationConfig(mode="ngram", ngram_size=3, draft_tokens=n, auto=auto)
    out = [("plain", SpeculationConfig(), False), ("n-gram", ngram, False), ("prediction", SpeculationConfig(), True),
           ("prediction + n-gram", ngram, True)]
    if has_draft:
        draft = SpeculationConfig(mode="draft", draft_tokens=n, auto=auto)
        out += [("draft", draft, False), ("prediction + draft", draft, True)]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.predicted_outputs", description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--draft", type=Path)
    ap.add_argument("--draft-tokens", default="auto", help="the draft model's and n-gram's length (default auto)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--temp", type=float, default=0.0)
    ap.add_argument("--seeds", type=int, default=1, help="with --temp > 0: seeds 1..N in each round")
    ap.add_argument("--max-tokens", type=int, default=2048)
    ap.add_argument("--ctx", type=int, default=8192)
    ap.add_argument("--n-gpu-layers", type=int, default=-1)
    ap.add_argument("--task", choices=("edit", "synthetic"), default="edit")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    source = SOURCE.read_text(encoding="utf-8")
    engine = Engine()
    engine.load_main(args.model, LoadOptions(n_ctx=args.ctx, n_gpu_layers=args.n_gpu_layers))
    if args.draft:
        engine.load_draft(args.draft, LoadOptions(n_ctx=args.ctx, n_gpu_layers=args.n_gpu_layers))
    base = edit_request(source, args.max_tokens, SamplerParams(temperature=args.temp))
    configs = configurations(args.draft is not None, args.draft_tokens)
    seeds = list(range(1, args.seeds + 1)) if args.temp > 0 else [-1]
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in configs}
    texts: dict[str, str] = {}
    # one warm-up answer: the first pays for the prompt's first evaluation and the weights' first touch
    list(engine.answer(replace(base, max_tokens=16), GenerationStats()))
    prediction = source
    if args.task == "synthetic":
        greedy = replace(base, sampling=SamplerParams())
        prediction = synthetic_prediction("".join(ev.text for ev in engine.answer(greedy, GenerationStats())))
    for r in range(args.rounds):
        for name, spec, predicted in configs:
            for seed in seeds:
                request = replace(base, speculation=spec, prediction=prediction if predicted else "",
                                  sampling=replace(base.sampling, seed=seed))
                stats = GenerationStats()
                text = "".join(ev.text for ev in engine.answer(request, stats))
                runs[name].append(stats.to_json() | {"stop_reason": stats.stop_reason})
                texts.setdefault(name, text)
                print(f"round {r + 1} {name:22s} {stats.tokens_per_second:6.1f} tok/s "
                      f"{stats.generated_tokens} tokens ({stats.stop_reason})", file=sys.stderr, flush=True)
    engine.close()

    plain_tps = statistics.median(x["tokens_per_second"] for x in runs["plain"])
    report = {"model": args.model.name, "draft": args.draft.name if args.draft else "", "temperature": args.temp,
              "task": args.task, "prediction_chars": len(prediction),
              "rounds": args.rounds, "seeds": len(seeds), "renamed": texts["plain"].count("block"), "left": texts["plain"].count("chunk"), "configs": []}
    for name, _, _ in configs:
        xs = runs[name]
        tps = statistics.median(x["tokens_per_second"] for x in xs)
        drafted, accepted = sum(x["drafted"] for x in xs), sum(x["accepted"] for x in xs)
        pd, pa = sum(x["prediction_drafted"] for x in xs), sum(x["prediction_accepted"] for x in xs)
        report["configs"].append({
            "name": name, "tokens_per_second": round(tps, 2), "speedup": round(tps / plain_tps, 3),
            "tokens": statistics.median(x["generated_tokens"] for x in xs),
            "accepted_share": round(accepted / drafted, 4) if drafted else 0.0,
            "accepted_prediction_tokens": pa // len(xs), "rejected_prediction_tokens": (pd - pa) // len(xs),
            "identical_to_plain": texts[name] == texts["plain"] if args.temp == 0 else None})
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for c in report["configs"]:
            same = "" if c["identical_to_plain"] is None else f", identical {c['identical_to_plain']}"
            print(f"{c['name']:22s} {c['tokens_per_second']:6.1f} tok/s {c['speedup']:.2f}x  accepted "
                  f"{c['accepted_share']:.0%}  prediction +{c['accepted_prediction_tokens']}/-"
                  f"{c['rejected_prediction_tokens']}  ({c['tokens']} tokens{same})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
