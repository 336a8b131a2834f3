"""The speculative decoding loop (greedy), on LoadedModel's low-level operations.

One round: the draft proposes k tokens one at a time; the main model verifies `[last] + draft` in ONE decode
with logits on exactly those rows; the longest prefix where the main's greedy pick equals the draft is accepted,
then the main's own token at the first mismatch (or after all k: a bonus token) follows. Rejected rows are
removed from both KV caches, so both stay in sync with the emitted text. With no draft model the same loop
decodes one token per round: plain decoding is this loop with k = 0, never a second implementation.

Greedy output equals plain greedy decoding, except at float near-ties where the batched verify kernel and the
single-token kernel round differently (~1e-3, DESIGN.md).
"""

from __future__ import annotations

import codecs
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from app.core.llama_runtime import DecodeError, LoadedModel

log = logging.getLogger("specchat.engine")


@dataclass(frozen=True)
class TokenEvent:
    token: int
    text: str  # UTF-8-safe: a multi-byte character split over tokens arrives whole with its last token
    from_draft: bool  # an accepted draft token


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    prompt_eval_s: float = 0.0
    ttft_s: float = 0.0
    generated_tokens: int = 0
    elapsed_s: float = 0.0
    drafted: int = 0
    accepted: int = 0
    stop_reason: str = ""  # eos | length | context | cancelled | error
    error: str = ""

    @property
    def tokens_per_second(self) -> float:
        gen_time = self.elapsed_s - self.ttft_s
        return (self.generated_tokens - 1) / gen_time if self.generated_tokens > 1 and gen_time > 0 else 0.0

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.drafted if self.drafted else 0.0


@dataclass
class GreedyRequest:
    prompt_tokens: list[int]
    max_tokens: int = 256
    draft_tokens: int = 4  # k
    cancel: threading.Event = field(default_factory=threading.Event)


def generate_greedy(main: LoadedModel, draft: LoadedModel | None, req: GreedyRequest,
                    stats: GenerationStats) -> Iterator[TokenEvent]:
    """Yield token events; `stats` is filled in as it goes (stop_reason set when the generator ends)."""
    t0 = time.perf_counter()
    utf8 = codecs.getincrementaldecoder("utf-8")("replace")
    prompt = req.prompt_tokens
    stats.prompt_tokens = len(prompt)
    k = req.draft_tokens if draft is not None else 0

    def event(tok: int, from_draft: bool) -> TokenEvent:
        stats.generated_tokens += 1
        if stats.generated_tokens == 1:
            stats.ttft_s = time.perf_counter() - t0
        return TokenEvent(tok, utf8.decode(main.piece(tok)), from_draft)

    try:
        if not prompt:
            raise DecodeError("the prompt is empty")
        reused = main.reuse_prefix(prompt)
        main.decode(prompt[reused:], logits_from=len(prompt) - reused - 1)
        to_emit = [(main.argmax(-1), False)]  # this round's tokens; the last one is not yet in main's cache
        pending: list[int] = []  # tokens the draft cache still has to see before `last`
        if draft is not None:
            d_reused = draft.reuse_prefix(prompt)
            pending = prompt[d_reused:]
        stats.prompt_eval_s = time.perf_counter() - t0
        while True:
            for tok, from_draft in to_emit:
                if main.is_eog(tok):
                    stats.stop_reason = "eos"
                    return
                yield event(tok, from_draft)
                if stats.generated_tokens >= req.max_tokens:
                    stats.stop_reason = "length"
                    return
            if req.cancel.is_set():
                stats.stop_reason = "cancelled"
                return
            last = to_emit[-1][0]
            room = main.n_ctx - main.n_past - 1
            if room < 0:
                stats.stop_reason = "context"
                return
            n_draft = min(k, room, req.max_tokens - stats.generated_tokens)
            drafts: list[int] = []
            if n_draft > 0 and draft is not None and draft.n_past + len(pending) + n_draft <= draft.n_ctx:
                d_base = draft.n_past
                draft.decode(pending + [last], logits_from=len(pending))
                drafts.append(draft.argmax(-1))
                for _ in range(n_draft - 1):
                    draft.decode([drafts[-1]], logits_from=0)
                    drafts.append(draft.argmax(-1))
            base = main.n_past
            main.decode([last] + drafts, logits_from=0)
            accepted = 0
            for i, tok in enumerate(drafts):
                if main.argmax(i) != tok:
                    break
                accepted += 1
            nxt = main.argmax(accepted)
            main.truncate(base + 1 + accepted)
            if drafts:
                assert draft is not None
                stats.drafted += len(drafts)
                stats.accepted += accepted
                # the draft decoded pending + last + all drafts but the final one; keep what was accepted
                draft.truncate(d_base + len(pending) + 1 + min(accepted, len(drafts) - 1))
                pending = drafts[-1:] if accepted == len(drafts) else []
            elif draft is not None:
                pending = pending + [last]
            to_emit = [(t, True) for t in drafts[:accepted]] + [(nxt, False)]
    except DecodeError as e:
        stats.stop_reason = "context" if "context full" in str(e) else "error"
        stats.error = str(e)
    finally:
        stats.elapsed_s = time.perf_counter() - t0
