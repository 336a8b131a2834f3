"""Plain against speculative decoding, in one process, runs interleaved so machine noise hits both alike.

Greedy (temperature 0): every speculative run is also checked token for token against the plain run of the same
round. Sampled (temperature > 0, the window's default is 0.7): each round runs plain and every draft length once
per seed (1..N), the same seed for all of them; outputs differ by design (speculative sampling keeps the main
model's distribution, not its random stream), so `identical` is reported only for greedy runs.
Speeds are the median over all runs; the speed-up is a ratio of medians measured in this one process, and
`paired_speedup` the median of each run's ratio to the plain run just before it (steadier where the machine's
speed drifts between rounds). A greedy run that differs from plain names its first differing position.
"""

from __future__ import annotations

import resource
import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from app.core.inference.engine import Engine, SpeculationConfig
from app.core.inference.sampling import SamplerParams
from app.core.inference.speculative import GenerationStats

from app.core.inference.bench_report import BenchReport, BenchRun, FirstDifference, TestedModels
from app.core.infra.requests import AUTO, DraftTokens


@dataclass
class _Series:
    tps: list[float]
    acceptance: list[float]
    ratios: list[float]  # each run over the plain run of its round and seed
    identical: bool = True
    settled_k: int = 0
    first_difference: FirstDifference | None = None


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux: the whole process, so an n_ctx x n_vocab logits buffer would show here
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class BenchCancelled(RuntimeError):
    pass


def run_once(engine: Engine, prompt: list[int], max_tokens: int, spec: SpeculationConfig,
             cancel: threading.Event | None = None,
             sampling: SamplerParams = SamplerParams()) -> tuple[list[int], GenerationStats]:
    stats = GenerationStats()
    tokens = [e.token for e in engine.generate(prompt, stats, max_tokens=max_tokens, sampling=sampling, spec=spec,
                                               cancel=cancel)]
    if stats.stop_reason == "error":
        raise RuntimeError(stats.error)
    if stats.stop_reason == "cancelled":
        raise BenchCancelled("the benchmark was cancelled")
    return tokens, stats


def first_difference(plain: list[int], other: list[int], round_no: int) -> FirstDifference:
    """Where a greedy run first left the plain one: the round, the position and both tokens (-1: ended)."""
    at = next((i for i, (a, b) in enumerate(zip(plain, other)) if a != b), min(len(plain), len(other)))
    return FirstDifference(round_no, at, plain[at] if at < len(plain) else -1, other[at] if at < len(other) else -1)


def tested_models(engine: Engine, base: SpeculationConfig) -> TestedModels:
    """The main model, and the draft model or the n-gram size."""
    main, draft = engine.main, engine.draft
    tested = TestedModels(main.info.display_name if main else None, main.path if main else None)
    if base.mode == "draft":
        return replace(tested, draft=draft.info.display_name if draft else None,
                       draft_path=draft.path if draft else None)
    return replace(tested, ngram_size=base.ngram_size)


def run_bench(engine: Engine, prompt: list[int], base: SpeculationConfig, draft_tokens: list[DraftTokens],
              max_tokens: int = 200, rounds: int = 3,
              progress: Callable[[str, float], None] = lambda line, fraction: None,
              cancel: threading.Event | None = None, sampling: SamplerParams = SamplerParams(),
              seeds: int = 1) -> BenchReport:
    """`base` gives the mode (draft or ngram) and its options; `draft_tokens` the k values (or "auto") to try;
    `sampling` the sampler (greedy by default) and, when it samples, `seeds` runs per configuration and round.

    progress(line, fraction done) after every run; `cancel` stops it (BenchCancelled)."""
    if base.mode == "off":
        raise ValueError("choose a draft model or n-gram speculation to compare with plain decoding")
    if seeds < 1 or rounds < 1:
        raise ValueError("rounds and seeds must be at least 1")
    greedy = sampling.greedy
    seed_list = [sampling.seed] if greedy else list(range(1, seeds + 1))
    specs = {k: base.with_length(k) for k in draft_tokens}
    off = SpeculationConfig()
    run_once(engine, prompt, 16, off, cancel, sampling)  # warm-up: first-call allocations are nobody's cost
    plain_tps: list[float] = []
    series = {k: _Series([], [], []) for k in draft_tokens}
    total, done = rounds * len(seed_list) * (1 + len(specs)), 0
    for r in range(rounds):
        for seed in seed_list:
            params = replace(sampling, seed=seed)
            at = f"round {r + 1}/{rounds}" + ("" if greedy else f", seed {seed}")
            plain_tokens, ps = run_once(engine, prompt, max_tokens, off, cancel, params)
            plain_tps.append(ps.tokens_per_second)
            done += 1
            progress(f"{at}: plain {ps.tokens_per_second:.1f} tok/s ({ps.generated_tokens} tokens)", done / total)
            order = list(specs.items())
            shift = (r * len(seed_list) + seed_list.index(seed)) % len(order)
            # each configuration takes its turn right after plain: a GPU's clocks and caches follow what ran last
            for k, spec in order[shift:] + order[:shift]:
                tokens, st = run_once(engine, prompt, max_tokens, spec, cancel, params)
                done += 1
                s = series[k]
                s.tps.append(st.tokens_per_second)
                s.acceptance.append(st.acceptance_rate)
                if ps.tokens_per_second:
                    s.ratios.append(st.tokens_per_second / ps.tokens_per_second)
                if greedy and tokens != plain_tokens and s.first_difference is None:
                    s.first_difference = first_difference(plain_tokens, tokens, r + 1)
                s.identical = s.identical and tokens == plain_tokens
                s.settled_k = st.draft_tokens_last
                same = f", identical: {tokens == plain_tokens}" if greedy else ""
                progress(f"{at}: k={k} {st.tokens_per_second:.1f} tok/s, accepted {st.accepted}/{st.drafted}"
                         f"{same}", done / total)
    plain = statistics.median(plain_tps)
    runs = []
    for k, s in series.items():
        tps = statistics.median(s.tps)
        runs.append(BenchRun(k, round(tps, 2), round(statistics.median(s.acceptance), 4),
                             round(tps / plain, 3) if plain else 0.0,
                             round(statistics.median(s.ratios), 3) if s.ratios else 0.0,
                             [round(x, 2) for x in s.tps], identical=s.identical if greedy else None,
                             first_difference=s.first_difference if greedy else None,
                             last_draft_tokens=s.settled_k if k == AUTO else None))
    winner = max(runs, key=lambda run: run.tokens_per_second)
    # the setting to apply: the fastest run, unless plain decoding is faster (then speculation off)
    best, speedup = (winner.draft_tokens, winner.speedup) if winner.speedup > 1.0 else (0, 1.0)
    return BenchReport(round(plain, 2), [round(x, 2) for x in plain_tps], runs, best, speedup, base.mode, max_tokens,
                       rounds, tested_models(engine, base), sampling.temperature, seed_list if not greedy else [],
                       len(prompt), round(peak_rss_mib(), 1))
