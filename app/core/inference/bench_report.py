"""What a benchmark sweep measured (app/core/inference/bench.py runs it), as typed records: sent from the engine
process to the window's panel and plot, and printed by `bench --json` through to_json (the shape the GPU scripts
read). No llama.cpp here: the window's process reads these without loading the engine."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from app.core.infra.requests import DraftTokens


@dataclass(frozen=True)
class FirstDifference:
    """Where a greedy run first left the plain one."""
    round: int
    position: int
    plain_token: int  # -1: the plain run had ended there
    token: int  # -1: this run had ended there


@dataclass(frozen=True)
class BenchRun:
    """One draft length's figures: medians over every round (and seed)."""
    draft_tokens: DraftTokens
    tokens_per_second: float
    acceptance_rate: float
    speedup: float  # ratio of medians, against plain in the same process
    paired_speedup: float  # median of each run's ratio to the plain run just before it
    tokens_per_second_all: list[float]
    identical: bool | None = None  # greedy only: every round's output equal to plain's
    first_difference: FirstDifference | None = None  # greedy only, where a round differed first
    last_draft_tokens: int | None = None  # `auto` only: where its draft length stood at the end (0: plain)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("identical", "first_difference", "last_draft_tokens"):
            if out[key] is None:
                del out[key]
        return out


@dataclass(frozen=True)
class TestedModels:
    """What a report measured, named: a report read later (or the panel after the user switched models) must not
    have to guess."""
    main: str | None
    main_path: str | None
    draft: str | None = None  # draft mode
    draft_path: str | None = None
    ngram_size: int | None = None  # n-gram mode


@dataclass(frozen=True)
class BenchReport:
    plain_tokens_per_second: float  # median
    plain_tokens_per_second_all: list[float]
    runs: list[BenchRun]
    best_draft_tokens: DraftTokens  # the setting to apply: 0 when plain decoding was fastest (speculation off)
    best_speedup: float
    mode: str  # draft | ngram
    max_tokens: int
    rounds: int
    models: TestedModels
    temperature: float
    seeds: list[int]  # sampled runs' seeds ([] when greedy)
    prompt_tokens: int
    peak_rss_mib: float

    def to_json(self) -> dict[str, Any]:
        """The report as `bench --json` prints it (and the GPU scripts read it)."""
        m = self.models
        models: dict[str, Any] = {"main": m.main, "main_path": m.main_path}
        models.update({"draft": m.draft, "draft_path": m.draft_path} if self.mode == "draft"
                      else {"ngram_size": m.ngram_size})
        return {"plain": {"tokens_per_second": self.plain_tokens_per_second,
                          "tokens_per_second_all": self.plain_tokens_per_second_all},
                "runs": [r.to_json() for r in self.runs],
                "best": {"draft_tokens": self.best_draft_tokens, "speedup": self.best_speedup},
                "mode": self.mode, "max_tokens": self.max_tokens, "rounds": self.rounds, "models": models,
                "temperature": self.temperature, "seeds": self.seeds, "prompt_tokens": self.prompt_tokens,
                "peak_rss_mib": self.peak_rss_mib}
