"""Where draft tokens come from: a small draft model, or n-gram lookup in the text so far (prompt lookup).

A drafter proposes up to n tokens after `last` and is told afterwards how many the main model accepted, so its
own state follows the emitted text. Both kinds speak the same two calls, so the engine has one loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from app.core.inference.llama_runtime import LoadedModel
from app.core.inference.sampling import (Distribution, SamplerParams, distribution, penalty_window, point_mass,
                               top_probability)


class Drafter(Protocol):
    draft_s: float  # time the last propose() spent drafting (catch-up of skipped tokens excluded)
    catchup_s: float  # time the last propose() spent catching up on tokens it had not seen
    catchup_tokens: int  # how many those were

    def begin(self, prompt: list[int], eager: bool = True, cancel: threading.Event | None = None) -> None:
        """A new answer to `prompt`; with eager, do any prompt work now (it counts as prompt evaluation)."""
        ...

    def greedy_picks(self, greedy: bool) -> None:
        """An answer begins whose drafts are picked by argmax alone (greedy, no p_min) or not."""
        ...

    def propose(self, last: int, n: int, history: Sequence[int], sampling: SamplerParams | None,
                rng: np.random.Generator | None, p_min: float) -> tuple[list[int], list[Distribution] | None]:
        """Up to n tokens to follow `last`; with sampling, also the distribution q each was drawn from."""
        ...

    def commit(self, last: int, proposed: list[int], accepted: int) -> None:
        """After verification: `last` and proposed[:accepted] are now part of the text."""
        ...


class ModelDrafter:
    """A draft model whose KV cache mirrors the emitted text.

    Tokens the draft has not seen yet wait in `pending` and are decoded in one batch when drafting resumes
    (after the prompt, or after rounds that did not draft): plain rounds never pay for the draft.
    """

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.pending: list[int] = []
        self.draft_s = self.catchup_s = 0.0
        self.catchup_tokens = 0
        self._decoded: int | None = None  # drafts the last propose() left in the cache; None: it decoded nothing
        self._after_last = 0  # cache length once `last` was decoded

    def begin(self, prompt: list[int], eager: bool = True, cancel: threading.Event | None = None) -> None:
        self.pending = prompt[self.model.reuse_prefix(prompt):]
        self._decoded = None
        if eager and self.model.n_past + len(self.pending) <= self.model.n_ctx:
            # the draft reads the prompt with the main model, before the first token, not inside the token loop
            self.model.decode(self.pending, logits_from=len(self.pending), cancel=cancel)
            self.pending = []

    def greedy_picks(self, greedy: bool) -> None:
        self.model.greedy_picks(greedy)  # on a GPU the draft's argmax runs there: a draft step reads back one id

    def propose(self, last: int, n: int, history: Sequence[int], sampling: SamplerParams | None,
                rng: np.random.Generator | None, p_min: float) -> tuple[list[int], list[Distribution] | None]:
        m = self.model
        self._decoded = None
        self.draft_s = self.catchup_s = 0.0
        self.catchup_tokens = 0
        if m.n_past + len(self.pending) + 1 + n > m.n_ctx:
            return [], None
        t0 = time.perf_counter()
        if len(self.pending) > 1:  # catch up in one batch, timed apart from the drafting cost
            self.catchup_tokens = len(self.pending) - 1
            m.decode(self.pending[:-1], logits_from=len(self.pending))
            self.pending = self.pending[-1:]
            self.catchup_s = time.perf_counter() - t0
            t0 = time.perf_counter()
        if self.pending and m.offloaded_layers:
            # on a GPU a two-row batch costs the single-token steps that follow a CUDA graph capture: after a
            # fully accepted round the H200 drafted at 3.0 ms a token instead of 1.2 ms. Two single-token
            # decodes keep the graph; on a CPU the batch is cheaper than two steps, so it stays there.
            m.decode(self.pending, logits_from=1)
            self.pending = []
        m.decode(self.pending + [last], logits_from=len(self.pending))
        self.pending = []
        self._after_last = m.n_past
        drafts: list[int] = []
        qs: list[Distribution] | None = None if sampling is None else []
        while True:
            if sampling is None:
                if p_min > 0.0 and top_probability(m.logits_np(-1)) < p_min:
                    break
                drafts.append(m.argmax(-1))
            else:
                assert qs is not None and rng is not None
                q = distribution(m.logits_np(-1), sampling, penalty_window(history, drafts, sampling))
                if q.top_prob < p_min:
                    break
                qs.append(q)
                drafts.append(q.sample(rng))
            if len(drafts) == n:
                break
            m.decode([drafts[-1]], logits_from=0)
        self._decoded = m.n_past - self._after_last  # drafts now in the cache (all but a final one)
        self.draft_s = time.perf_counter() - t0
        return drafts, qs

    def commit(self, last: int, proposed: list[int], accepted: int) -> None:
        if self._decoded is None:  # it did not draft this round: the draft reads the new text later, in a batch
            self.pending.append(last)
            self.pending.extend(proposed[:accepted])  # tokens a predicted output proposed and the main kept
            return
        self.model.truncate(self._after_last + min(accepted, self._decoded))
        self.pending = proposed[self._decoded:accepted]
        self._decoded = None


MAX_MATCH = 16  # a repeat this long is as sure as a longer one: its continuation is proposed
CANDIDATES = 16  # the latest occurrences of the size-gram compared for the longest match


class NgramDrafter:
    """Prompt lookup: the latest earlier place where the text's last tokens occurred too, longest match first;
    what followed it there is proposed.

    A match must be at least `size` tokens. Among the latest CANDIDATES occurrences of the last `size` tokens,
    the one whose match extends furthest back (up to MAX_MATCH) wins, the latest on a tie. A 3-token match
    alone is often the wrong place in code (`self.`, `    return` occur everywhere): replayed on a 1,553-token
    code edit (benchmarks/ngram_replay.py), taking the latest 3-gram, else 2-gram, else 1-gram, drafted 1,740
    tokens for 1,333 accepted (77%) in 219 rounds; the longest match drafts 1,390 for 1,355 (98%) in 197. An
    index from each size-gram to its end positions grows as text arrives: a lookup costs O(CANDIDATES x
    MAX_MATCH) comparisons, indexing one dict update per token.
    """

    def __init__(self, size: int = 3) -> None:
        if size < 1:
            raise ValueError("the n-gram size must be at least 1")
        self.size = size
        self.draft_s = self.catchup_s = 0.0
        self.catchup_tokens = 0  # lookup needs no catch-up
        self.tokens: list[int] = []
        self._ends: dict[tuple[int, ...], list[int]] = {}  # size-gram -> the positions right after each occurrence
        self._indexed = 0  # size-grams ending before this position are in the index
        self.match = 0  # the last lookup's match length (0: none)

    def begin(self, prompt: list[int], eager: bool = True, cancel: threading.Event | None = None) -> None:
        self.tokens = list(prompt)
        self._ends = {}
        self._indexed = 0

    def greedy_picks(self, greedy: bool) -> None:
        pass  # lookup has no logits to read

    def _extend_index(self, upto: int) -> None:
        toks, n = self.tokens, self.size
        for end in range(max(self._indexed, n), upto + 1):
            self._ends.setdefault(tuple(toks[end - n:end]), []).append(end)
        self._indexed = max(self._indexed, upto + 1)

    def _longest(self) -> int | None:
        """The end of the earlier occurrence that matches the text's tail furthest back, or None."""
        toks, n = self.tokens, self.size
        if len(toks) <= n:
            return None
        ends = self._ends.get(tuple(toks[-n:]))
        if not ends:
            return None
        tail = len(toks)
        best_end, best = None, 0
        for end in reversed(ends[-CANDIDATES:]):
            m = n
            while m < MAX_MATCH and end - m - 1 >= 0 and toks[end - m - 1] == toks[tail - m - 1]:
                m += 1
            if m > best:
                best_end, best = end, m
                if m == MAX_MATCH:
                    break
        self.match = best
        return best_end

    def propose(self, last: int, n: int, history: Sequence[int], sampling: SamplerParams | None,
                rng: np.random.Generator | None, p_min: float) -> tuple[list[int], list[Distribution] | None]:
        t0 = time.perf_counter()
        toks = self.tokens
        toks.append(last)  # taken back below: commit() owns the text
        # index every size-gram that has at least one token after it, i.e. ending before the last position
        self._extend_index(len(toks) - 1)
        self.match = 0
        end = self._longest()
        # a bare minimum match is a weak one (new text repeats 3-token phrases by chance): it proposes 2 tokens,
        # and each token the match reaches further back doubles what it may propose, up to n
        drafts = toks[end:end + min(n, 2 << (self.match - self.size))] if end is not None else []
        toks.pop()
        self.draft_s = time.perf_counter() - t0
        return drafts, (None if sampling is None else [point_mass(t) for t in drafts])

    def commit(self, last: int, proposed: list[int], accepted: int) -> None:
        self.tokens.append(last)
        self.tokens.extend(proposed[:accepted])
