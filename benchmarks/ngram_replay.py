"""Why n-gram lookup speeds a code edit up as much as it does: drafters replayed on one greedy answer.

At T = 0 the answer does not depend on the drafter (every speculative run is checked identical to plain), so a
drafter's whole effect is its rounds: how many, and how wide each verify batch is. This command takes the main
model's plain answer to a task once, replays drafters on it token by token (what each would propose, how much of
it the answer would accept), and prices the rounds with verify costs measured on this machine (a decode of b
tokens, b = 1..k+1, at the answer's depth). It separates lookup quality (rounds, acceptance, tokens per round)
from per-round costs, which a tok/s figure mixes, and it is not fooled by a noisy machine.

    python -m benchmarks.ngram_replay --model M [--task edit|rename] [--k 8] [--json]

Drafters: ours (app/core/inference/drafting.NgramDrafter at its sizes), ours as it was before issue 25, and
llama.cpp's ngram-simple (common/
ngram-map.cpp common_ngram_simple_draft, replayed exactly: the latest earlier occurrence of the last size_n
tokens, its next size_m tokens, none when fewer than size_n follow).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import llama_cpp  # noqa: F401  before numpy

from app.core.inference.drafting import NgramDrafter
from app.core.inference.engine import Engine
from app.core.inference.speculative import GenerationStats
from app.core.infra.requests import LoadOptions, SamplerParams
from benchmarks.predicted_outputs import SOURCE, edit_request


@dataclass
class Replay:
    name: str
    rounds: int = 0
    drafted: int = 0
    accepted: int = 0
    seconds: float = 0.0  # the rounds priced at the measured verify costs
    batches: dict[int, int] | None = None


def llama_cpp_ngram_simple(tokens: list[int], sampled: int, size_n: int, size_m: int) -> list[int]:
    """common_ngram_simple_draft, line for line (tokens: the text before `sampled`)."""
    cur_len = len(tokens)
    if cur_len <= size_n + size_m + 1:
        return []
    pattern = tokens[cur_len - size_n + 1:] + [sampled]
    match_pos = 0
    for j in range(cur_len - size_n - 1, 0, -1):
        if tokens[j:j + len(pattern)] == pattern:
            match_pos = j
            break
    if match_pos == 0:
        return []
    copy_max = min(size_m, cur_len - (match_pos + size_n))
    if copy_max < size_n:
        return []
    return tokens[match_pos + size_n:match_pos + size_n + copy_max]


def replay(name: str, prompt: list[int], answer: list[int], propose, commit, k: int,  # noqa: ANN001
           cost: dict[int, float]) -> Replay:
    """Rounds as the engine runs them: the first token comes from the prompt; each round verifies
    [last] + drafts and emits the accepted drafts plus the main model's own next token."""
    r = Replay(name, batches={})
    text = list(prompt) + [answer[0]]
    i = 1  # answer tokens emitted
    while i < len(answer):
        last = text[-1]
        drafts = propose(text[:-1], last, min(k, len(answer) - i))
        accepted = 0
        for t in drafts:
            if i + accepted < len(answer) and answer[i + accepted] == t:
                accepted += 1
            else:
                break
        commit(last, drafts, accepted)
        emitted = answer[i:i + accepted + 1]
        text.extend(emitted)
        i += len(emitted)
        r.rounds += 1
        r.drafted += len(drafts)
        r.accepted += accepted
        b = 1 + len(drafts)
        r.batches[b] = r.batches.get(b, 0) + 1
        r.seconds += cost[b]
    return r


def ours(size: int, prompt: list[int]):  # noqa: ANN201
    d = NgramDrafter(size)
    d.begin(prompt)

    def propose(_text: list[int], last: int, n: int) -> list[int]:
        return d.propose(last, n, [], None, None, 0.0)[0]

    return propose, d.commit


def native(size_n: int, size_m: int = 48):  # noqa: ANN201
    """llama.cpp's defaults: size_n 12, size_m 48 (common.h); the draft is cut to the round's n afterwards."""
    def propose(text: list[int], last: int, n: int) -> list[int]:
        return llama_cpp_ngram_simple(text, last, size_n, size_m)[:n]

    return propose, lambda *_: None


def before(size: int):  # noqa: ANN201
    """The n-gram drafter as it was before issue 25: the latest occurrence of the last `size` tokens, else of the
    last size - 1, ... down to 1 token (kept here to compare against)."""
    index: list[dict[tuple[int, ...], int]] = [{} for _ in range(size + 1)]
    seen = [0]

    def propose(text: list[int], last: int, n: int) -> list[int]:
        toks = text + [last]
        for end in range(max(seen[0], 1), len(toks)):  # n-grams with a token after them
            for m in range(1, min(size, end) + 1):
                index[m][tuple(toks[end - m:end])] = end
        seen[0] = max(seen[0], len(toks))
        for m in range(min(size, len(toks) - 1), 0, -1):
            end = index[m].get(tuple(toks[-m:]))
            if end is not None:
                return toks[end:end + n]
        return []

    return propose, lambda *_: None


def verify_costs(engine: Engine, prompt: list[int], answer: list[int], k: int, repeats: int = 5) -> dict[int, float]:
    """Median seconds of a decode of b tokens (b = 1..k+1) at the depth of the answer's middle."""
    main = engine.main
    assert main is not None
    depth = prompt + answer[:len(answer) // 2]
    main.truncate(0)
    main.decode(depth, logits_from=len(depth) - 1)
    costs: dict[int, float] = {}
    for b in range(1, k + 2):
        times = []
        for _ in range(repeats):
            main.truncate(len(depth))
            t0 = time.perf_counter()
            main.decode(answer[len(answer) // 2:len(answer) // 2 + b], logits_from=0)
            for row in range(b):  # what the loop reads: one argmax per row
                main.argmax(row)
            times.append(time.perf_counter() - t0)
        costs[b] = statistics.median(times)
    main.truncate(0)
    return costs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ngram_replay", description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=2048)
    ap.add_argument("--ctx", type=int, default=8192)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    engine = Engine()
    engine.load_main(args.model, LoadOptions(n_ctx=args.ctx))
    request = edit_request(SOURCE.read_text(encoding="utf-8"), args.max_tokens, SamplerParams(temperature=0.0))
    prompt, _ = engine.chat_prompt(list(request.messages))
    stats = GenerationStats()
    answer = [ev.token for ev in engine.answer(request, stats)]
    plain_s = stats.elapsed_s - stats.ttft_s
    cost = verify_costs(engine, prompt, answer, args.k)
    engine.close()

    drafters = [("before: n<=3, latest", *before(3)), ("ours n=3 (longest match)", *ours(3, prompt)),
                ("ours n=2", *ours(2, prompt)), ("ours n=4", *ours(4, prompt)),
                ("llama.cpp ngram-simple n=12", *native(12)), ("llama.cpp-style n=4", *native(4))]
    plain_round = cost[1]
    results = []
    for name, propose, commit in drafters:
        r = replay(name, prompt, answer, propose, commit, args.k, cost)
        results.append({"name": name, "rounds": r.rounds, "drafted": r.drafted, "accepted": r.accepted,
                        "acceptance": round(r.accepted / r.drafted, 3) if r.drafted else 0.0,
                        "tokens_per_round": round(len(answer) / r.rounds, 2),
                        "estimated_speedup": round(len(answer) * plain_round / r.seconds, 2),
                        "batches": dict(sorted(r.batches.items()))})
    report = {"model": args.model.name, "tokens": len(answer), "k": args.k,
              "plain_tok_s": round((len(answer) - 1) / plain_s, 1),
              "verify_cost_ratio": {b: round(c / cost[1], 2) for b, c in cost.items()}, "drafters": results}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['model']}: {len(answer)} tokens, plain {report['plain_tok_s']} tok/s; verify cost of b "
              f"tokens / 1: " + " ".join(f"{b}:{v}" for b, v in report["verify_cost_ratio"].items()))
        for x in results:
            print(f"{x['name']:30s} rounds {x['rounds']:5d}  drafted {x['drafted']:5d}  accepted {x['accepted']:5d} "
                  f"({x['acceptance']:.0%})  {x['tokens_per_round']:.2f} tok/round  ~{x['estimated_speedup']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
