"""The one token loop: plain decoding, draft-model speculation and n-gram speculation, greedy or sampled.

One round: the drafter proposes up to k tokens; the main model verifies `[last] + draft` in ONE decode with
logits on exactly those rows; accepted draft tokens are emitted, then the main model's own token at the first
rejection (or after all k: a bonus token). Rejected rows are removed from the main model's KV cache and the
drafter is told what was accepted, so every cache follows the emitted text. Without a drafter, or in a round
where the draft length is 0, the same loop decodes one token: plain decoding is this loop with k = 0, never a
second implementation. A predicted output (prediction.py) proposes first wherever the answer follows it; the
drafter fills the rounds where it does not, and is told of the prediction's accepted tokens like of its own.

- temperature 0: a draft token is accepted when it equals the main model's greedy pick (numpy argmax over the
  logits row, LoadedModel.argmax), so the output equals plain greedy decoding, except at float near-ties where the
  batched verify kernel and the single-token kernel round differently (~1e-3, DESIGN.md).
- temperature > 0: speculative sampling (Leviathan et al. 2023; Chen et al. 2023). p and q are the main and draft
  distributions after the same transforms (app/core/inference/sampling.py); x ~ q is accepted with probability
  min(1, p(x)/q(x)), a rejection samples from norm(max(0, p - q)), and a full acceptance samples a bonus token
  from p. The emitted tokens then follow p exactly, which tests/unit/test_speculative_sampling.py checks.
"""

from __future__ import annotations

import codecs
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from app.core.inference.answer_stats import FIGURES, AnswerStats
from app.core.inference.draft_length import DraftLength
from app.core.inference.drafting import Drafter
from app.core.inference.llama_runtime import ContextFull, DecodeCancelled, DecodeError, LoadedModel
from app.core.inference.prediction import PredictionDrafter
from app.core.inference.sampling import (Distribution, SamplerParams, distribution, make_rng, penalty_window,
                                         point_mass, residual)
from app.core.inference.stop_strings import StopStringFilter

log = logging.getLogger("specchat.engine")


@dataclass(frozen=True)
class TokenEvent:
    token: int
    text: str  # UTF-8-safe: a multi-byte character split over tokens arrives whole with its last token
    from_draft: bool  # an accepted draft token


# the record's figures as `generate --json` has printed them since before the record existed (no elapsed_s)
_JSON_FIGURES = tuple(name for name in FIGURES if name != "elapsed_s")


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    prompt_eval_s: float = 0.0
    ttft_s: float = 0.0
    generated_tokens: int = 0
    elapsed_s: float = 0.0
    drafted: int = 0
    accepted: int = 0
    draft_tokens_last: int = 0  # the draft length of the last round (what `auto` settled on)
    # of `drafted` and `accepted`: the tokens a predicted output proposed (OpenAI's accepted/rejected
    # prediction tokens: rejected = prediction_drafted - prediction_accepted, computed and thrown away)
    prediction_drafted: int = 0
    prediction_accepted: int = 0
    reasoning_tokens: int = 0  # of generated_tokens: the reasoning block's (the engine counts them: engine.py)
    reasoning_s: float = 0.0
    started_at: float = 0.0  # time.perf_counter() at the start, for live rates while it runs
    stop_reason: str = ""  # eos | stop | length | context | cancelled | error
    error: str = ""
    error_code: str = ""  # with stop_reason "error" for a request refused before any token (OpenAI's `code`)
    dropped: tuple[int, int] = (0, 0)  # [start, end) of the request's messages the overflow policy left out

    @property
    def tokens_per_second(self) -> float:
        """Generation speed after the first token (prompt evaluation excluded), as llama.cpp reports it."""
        return self._rate(self.elapsed_s)

    def tokens_per_second_now(self) -> float:
        """The same while it still runs."""
        return self._rate(time.perf_counter() - self.started_at) if self.started_at else 0.0

    def _rate(self, elapsed: float) -> float:
        gen_time = elapsed - self.ttft_s
        return (self.generated_tokens - 1) / gen_time if self.generated_tokens > 1 and gen_time > 0 else 0.0

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.drafted if self.drafted else 0.0

    def to_json(self) -> dict[str, float | int | str]:
        """The figures as `generate --json` and the benchmarks print them (the record's, rounded the same)."""
        record = self.answer_stats().to_json()
        return {key: record[key] for key in _JSON_FIGURES}

    def answer_stats(self, rpc_lost: str = "") -> AnswerStats:
        """The record of the ended generation, as the engine sends it (the figures rounded for reading)."""
        return AnswerStats(stop_reason=self.stop_reason, error=self.error, error_code=self.error_code,
                           dropped=self.dropped,
                           prompt_tokens=self.prompt_tokens, prompt_eval_s=round(self.prompt_eval_s, 4),
                           ttft_s=round(self.ttft_s, 4), generated_tokens=self.generated_tokens,
                           tokens_per_second=round(self.tokens_per_second, 2), drafted=self.drafted,
                           accepted=self.accepted, acceptance_rate=round(self.acceptance_rate, 4),
                           prediction_drafted=self.prediction_drafted, prediction_accepted=self.prediction_accepted,
                           elapsed_s=round(self.elapsed_s, 4), reasoning_tokens=self.reasoning_tokens,
                           reasoning_s=round(self.reasoning_s, 3), rpc_lost=rpc_lost)


@dataclass
class GenerationRequest:
    prompt_tokens: list[int]
    max_tokens: int = 256
    sampling: SamplerParams = field(default_factory=SamplerParams)
    min_draft: int = 0  # a shorter draft is not worth a verify row: drop it
    p_min: float = 0.0  # stop drafting when the draft's top probability falls below this
    stop: tuple[str, ...] = ()
    cancel: threading.Event = field(default_factory=threading.Event)
    prompt_progress: Callable[[int, int], None] | None = None  # (evaluated, total) after each prompt chunk
    prediction: PredictionDrafter | None = None  # a predicted output: proposed first wherever the answer follows it


def context_full_message(prompt_tokens: int, n_ctx: int) -> str:
    """Why an answer stopped at the context's end, and what the user can do, in the answer's own footer."""
    fix = "start a new chat, or reload the model with a larger context (sidebar, Context)"
    if prompt_tokens >= n_ctx:
        return (f"the chat is {prompt_tokens:,} tokens with its template, more than the model's context of "
                f"{n_ctx:,}: nothing could be written; {fix}")
    return f"the context is full ({n_ctx:,} tokens, {prompt_tokens:,} of them the chat): {fix}"


def generate(main: LoadedModel, drafter: Drafter | None, length: DraftLength | None, req: GenerationRequest,
             stats: GenerationStats) -> Iterator[TokenEvent]:
    """Yield token events; `stats` fills in as it goes (stop_reason is set when the generator ends).

    Closing the generator early (the consumer went away) leaves both caches consistent with what was emitted.
    """
    t0 = stats.started_at = time.perf_counter()
    params = req.sampling
    greedy = params.greedy
    rng = None if greedy else make_rng(params.seed)
    utf8 = codecs.getincrementaldecoder("utf-8")("replace")
    stop_filter = StopStringFilter(req.stop)
    prompt = req.prompt_tokens
    stats.prompt_tokens = len(prompt)
    seq = list(prompt)  # the whole text as tokens: the repetition penalty's window and nothing else
    length = length or DraftLength()  # only consulted when there is a drafter
    predictor = req.prediction

    def row_distribution(row: int, extra: list[int]) -> Distribution:
        return distribution(main.logits_np(row), params, penalty_window(seq, extra, params))

    def sample_row(row: int, extra: list[int]) -> int:
        assert rng is not None
        return row_distribution(row, extra).sample(rng)

    def rounds() -> Iterator[TokenEvent]:
        if not prompt:
            raise DecodeError("the prompt is empty")
        main.greedy_picks(greedy)  # on a GPU the argmax runs in the decode graph (no logits read back)
        if drafter is not None:
            drafter.greedy_picks(greedy and req.p_min == 0.0)  # p_min reads the draft's probabilities
        reused = main.reuse_prefix(prompt)
        main.decode(prompt[reused:], logits_from=len(prompt) - reused - 1, cancel=req.cancel,
                    progress=req.prompt_progress)
        first = main.argmax(-1) if greedy else sample_row(-1, [])
        to_emit: list[tuple[int, bool]] = [(first, False)]  # this round's tokens; the last is not yet in main
        if drafter is not None:
            length.new_answer()
            drafter.begin(prompt, eager=length.expects_drafting(), cancel=req.cancel)
        stats.prompt_eval_s = time.perf_counter() - t0
        while True:
            for tok, from_draft in to_emit:
                if main.is_eog(tok):
                    stats.stop_reason = "eos"
                    return
                stats.generated_tokens += 1
                if stats.generated_tokens == 1:
                    stats.ttft_s = time.perf_counter() - t0
                seq.append(tok)
                yield from stop_filter.push(TokenEvent(tok, utf8.decode(main.piece(tok)), from_draft))
                if stop_filter.stopped:
                    stats.stop_reason = "stop"
                    return
                if stats.generated_tokens >= req.max_tokens:
                    stats.stop_reason = "length"
                    return
            if req.cancel.is_set():
                stats.stop_reason = "cancelled"
                return
            last = to_emit[-1][0]
            room = main.n_ctx - main.n_past - 1
            if room < 0:
                stats.stop_reason, stats.error = "context", context_full_message(len(prompt), main.n_ctx)
                return
            t_round = time.perf_counter()
            proposed: list[int] = []
            drafts: list[int] = []
            qs = None
            n = 0
            predicted = False
            if predictor is not None:  # the prediction first: its tokens cost nothing to propose
                drafts = predictor.propose(seq, min(room, req.max_tokens - stats.generated_tokens))
                if drafts:
                    predicted, proposed = True, drafts
                    qs = None if greedy else [point_mass(t) for t in drafts]
            if drafter is not None and not predicted:
                n = min(length.next(), room, req.max_tokens - stats.generated_tokens)
                if n > 0:
                    proposed, qs = drafter.propose(last, n, seq, None if greedy else params, rng, req.p_min)
                    if len(proposed) >= max(1, req.min_draft):
                        drafts = proposed
            base = main.n_past
            main.decode([last] + drafts, logits_from=0)
            accepted = 0
            if greedy:
                for i, tok in enumerate(drafts):
                    if main.argmax(i) != tok:
                        break
                    accepted += 1
                nxt = main.argmax(accepted)
            else:
                assert rng is not None
                nxt = -1
                for i, tok in enumerate(drafts):
                    assert qs is not None
                    p = row_distribution(i, drafts[:i])
                    q = qs[i]
                    if rng.random() * q.prob(tok) < p.prob(tok):  # accept with probability min(1, p/q)
                        accepted += 1
                        continue
                    nxt = residual(p, q).sample(rng)
                    break
                if nxt < 0:  # every draft accepted (or none): the bonus token comes from p
                    nxt = sample_row(len(drafts), drafts)
            main.truncate(base + 1 + accepted)
            if predicted:
                assert predictor is not None
                predictor.feedback(len(drafts), accepted)
                stats.prediction_drafted += len(drafts)
                stats.prediction_accepted += accepted
            if drafter is not None:
                drafter.commit(last, proposed, accepted)  # a prediction's tokens too: its cache follows the text
                if length.auto and not predicted:  # only `auto` learns from timings; a fixed k does no bookkeeping
                    asked = n > 0  # the drafter's timings are this round's only if it was asked
                    draft_s = drafter.draft_s if asked else 0.0
                    catchup_s = drafter.catchup_s if asked else 0.0
                    # everything but drafting and catching up is the verify side: decode, picks, trimming
                    length.record(len(drafts), accepted, draft_s,
                                  time.perf_counter() - t_round - draft_s - catchup_s,
                                  drafter.catchup_tokens if asked else 0, catchup_s)
            if drafter is not None or predicted:
                stats.drafted += len(drafts)
                stats.accepted += accepted
                stats.draft_tokens_last = len(drafts)
            to_emit = [(t, True) for t in drafts[:accepted]]
            to_emit.append((nxt, False))

    try:
        yield from rounds()
    except DecodeCancelled:
        stats.stop_reason = "cancelled"
    except ContextFull:
        stats.stop_reason, stats.error = "context", context_full_message(len(prompt), main.n_ctx)
    except DecodeError as e:
        stats.stop_reason, stats.error = "error", str(e)
    except GeneratorExit:  # the consumer closed us: nothing more may be yielded
        stats.stop_reason = stats.stop_reason or "cancelled"
        stats.elapsed_s = time.perf_counter() - t0
        raise
    stats.elapsed_s = time.perf_counter() - t0
    if stats.stop_reason != "stop":
        yield from stop_filter.flush()  # text held back for a stop string that never came
