"""How many tokens to draft next round: a fixed k, or `auto`, which picks k from measured acceptance and costs.

`auto` models one round as: draft k tokens (k x d seconds), verify k+1 rows in one decode plus the round's
bookkeeping (V(k+1) seconds: the whole round's wall time less the drafting, so GPU graph rebuilds for a new
batch shape and cache trimming are in it),
emit on average E(k) = (1 - a^(k+1)) / (1 - a) tokens, where a is the per-token acceptance. It picks the k with
the most tokens per second, k = 0 (plain decoding) included. d, V(rows) and a are measured as the answer runs
(exponential moving averages), so the same rule takes 2.5x where a cheap, accurate draft exists and stops
drafting where the draft costs as much as the main model (a small model on a GPU is launch-bound).
While plain decoding wins it probes with a short draft now and then, at growing intervals, in case the text
turns predictable, but only if drafting could pay at all: when even 100% acceptance would not beat plain
decoding (the draft costs as much as the main, as for a small model on a GPU), it never drafts again, and a
probe's cost (the draft catching up on the text it skipped) is never paid. One controller lives as long as
the main/draft pair, so later answers start informed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger("specchat.engine")

EMA = 0.3  # weight of the newest measurement
ACCEPT_DECAY = 0.9  # per round: acceptance follows the text, the last ~10 rounds matter most
FIRST_PROBE_GAP = 16  # plain rounds before the first probe once drafting stopped paying
MAX_PROBE_GAP = 512
MIN_TRIALS = 8  # judged drafts before the first decision: one lucky round proves nothing
PLAIN_WARMUP = 3  # plain rounds measured first; the first one (graph capture, cold caches) is discarded
REMEASURE_PLAIN = 32  # while drafting, one plain round this often keeps V(1) current
REEVALUATE = 4  # drafting rounds between re-evaluations of the best k
PROBE_MARGIN = 1.1  # probe only if drafting, even with every token accepted, would be this much faster


@dataclass
class DraftLength:
    k: int = 4  # fixed k, or the first k auto tries
    auto: bool = False
    k_max: int = 16
    verify_s: dict[int, float] = field(default_factory=dict)  # rows in one main decode -> seconds
    draft_s: float | None = None  # per drafted token
    hits: float = 0.0  # decayed accepted drafts
    trials: float = 0.0  # decayed drafts that were judged
    probe_gap: int = FIRST_PROBE_GAP
    plain_streak: int = 0
    plain_rounds: int = 0
    draft_streak: int = 0
    plain_mode: bool = False  # plain decoding won the last evaluation
    cached_best: int | None = None
    last_choice: int = -1

    # ---- measurements -----------------------------------------------------------------------------------------
    def record(self, drafted: int, accepted: int, draft_s: float, verify_s: float) -> None:
        """One round: `drafted` tokens were judged, `accepted` kept; its drafting time and the rest of its time."""
        rows = drafted + 1
        if rows == 1:
            self.plain_rounds += 1
            if self.plain_rounds == 1:
                return  # the first decode after the prompt pays one-time costs: not what a step costs
        old = self.verify_s.get(rows)
        self.verify_s[rows] = verify_s if old is None else old + EMA * (verify_s - old)
        if drafted:
            per = draft_s / drafted
            self.draft_s = per if self.draft_s is None else self.draft_s + EMA * (per - self.draft_s)
            # a chain stops at the first rejection: accepted successes in accepted + (1 if rejected) trials
            self.hits = self.hits * ACCEPT_DECAY + accepted
            self.trials = self.trials * ACCEPT_DECAY + accepted + (1 if accepted < drafted else 0)

    @property
    def acceptance(self) -> float:
        return self.hits / self.trials if self.trials else 0.0

    def drafting_could_pay(self) -> bool:
        """With every draft accepted, would some k beat plain decoding by PROBE_MARGIN? (Unknown: yes.)"""
        if self.draft_s is None or 1 not in self.verify_s:
            return True
        best = max(self.throughput(k, acceptance=1.0) for k in range(1, self.k_max + 1))
        return best > PROBE_MARGIN * self.throughput(0)

    def expects_drafting(self) -> bool:
        """Whether the next answer will draft at all (else a draft model need not even read the prompt)."""
        return not self.auto or not self.plain_mode or self.drafting_could_pay()

    # ---- the model ------------------------------------------------------------------------------------------
    def verify_cost(self, rows: int) -> float:
        """Measured, or interpolated linearly between measured row counts (extrapolated with a slope >= 0)."""
        known = sorted(self.verify_s)
        if rows in self.verify_s:
            return self.verify_s[rows]
        below = [r for r in known if r < rows]
        above = [r for r in known if r > rows]
        if below and above:
            lo, hi = below[-1], above[0]
            f = (rows - lo) / (hi - lo)
            return self.verify_s[lo] + f * (self.verify_s[hi] - self.verify_s[lo])
        if len(known) >= 2:
            a, b = known[0], known[-1]
            slope = max(0.0, (self.verify_s[b] - self.verify_s[a]) / (b - a))
        else:
            slope = 0.0
        edge = below[-1] if below else above[0]
        return self.verify_s[edge] + slope * (rows - edge)

    def expected_tokens(self, k: int, acceptance: float | None = None) -> float:
        if acceptance is not None and acceptance >= 1.0:
            return k + 1.0  # the ceiling: every draft accepted
        a = min(self.acceptance if acceptance is None else acceptance, 0.999)
        return (1 - a ** (k + 1)) / (1 - a)

    def throughput(self, k: int, acceptance: float | None = None) -> float:
        """Expected tokens per second at draft length k (with the measured acceptance, or the one given)."""
        if k == 0:
            return 1.0 / self.verify_cost(1)
        assert self.draft_s is not None
        return self.expected_tokens(k, acceptance) / (k * self.draft_s + self.verify_cost(k + 1))

    def best(self) -> int:
        return max(range(self.k_max + 1), key=self.throughput)

    # ---- the choice -----------------------------------------------------------------------------------------
    def next(self) -> int:
        if not self.auto:
            return self.k
        choice = self._choose()
        if choice != self.last_choice:
            log.debug("auto draft length: %d -> %d (acceptance %.2f, draft %.2f ms/token, V(1) %.2f ms)",
                      self.last_choice, choice, self.acceptance, (self.draft_s or 0) * 1e3,
                      self.verify_s.get(1, 0) * 1e3)
            self.last_choice = choice
        return choice

    def _choose(self) -> int:
        """Cheap on most rounds: the model is re-evaluated every REEVALUATE drafting rounds, and while plain
        decoding wins only when a probe is due (a full evaluation costs ~30 us, 3% of a GPU token)."""
        if self.plain_rounds < PLAIN_WARMUP:
            return 0  # first measure what a plain step costs
        if self.draft_s is None or self.trials < MIN_TRIALS:
            return max(1, self.k)  # then what drafting costs and how much of it is accepted
        if self.plain_mode:
            self.plain_streak += 1
            if self.plain_streak < self.probe_gap:
                return 0
            self.plain_streak = 0
            if not self.drafting_could_pay():
                self.probe_gap = min(MAX_PROBE_GAP, self.probe_gap * 2)
                return 0
            best = self.best()
            if best == 0:
                # probe: a short draft to re-measure acceptance; if plain still wins, wait twice as long
                self.probe_gap = min(MAX_PROBE_GAP, self.probe_gap * 2)
                return max(1, min(4, max(range(1, self.k_max + 1), key=self.throughput)))
            self.plain_mode, self.cached_best, self.draft_streak = False, best, 0
            return best
        self.draft_streak += 1
        if self.draft_streak % REMEASURE_PLAIN == 0:
            return 0  # a plain round now and then: the comparison needs a current V(1)
        if self.cached_best is None or self.draft_streak % REEVALUATE == 0:
            self.cached_best = self.best()
        if self.cached_best == 0:
            self.plain_mode, self.plain_streak, self.probe_gap = True, 0, FIRST_PROBE_GAP
            self.cached_best = None
        return self.cached_best or 0
