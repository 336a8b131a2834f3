"""How many tokens to draft next round: a fixed k, or `auto`, which picks k from measured acceptance and costs.

`auto` models one round as: draft k tokens (k x d seconds), verify k+1 rows in one decode plus the round's
bookkeeping (V(k+1) seconds), emit on average E(k) = (1 - a^(k+1)) / (1 - a) tokens, where a is the per-token
acceptance. It picks the k with the most tokens per second, k = 0 (plain decoding) included.

The costs d and V(rows) live in a CostTable that belongs to the main/draft pair, so every answer (and every k
setting) of the pair starts from what earlier ones measured. A GPU makes the first use of each batch shape
expensive (CUDA graph capture, compute-buffer allocation, cold caches: measured on an H100 at 3.6x the draft's
real per-token cost), and one slow round can be anything; so the first timing of every shape is discarded and
each cost is the median of its recent samples, never one sample. The draft's catch-up on text it skipped is
timed apart (it is what switching from plain to drafting costs, not what a round costs).

While plain decoding wins, auto keeps probing with a short draft, so a wrong early decision is corrected within
the answer:
- when drafting could pay (with every draft accepted some k beats plain), probes come at growing gaps
  (16, 32, ... 512 plain rounds), stretched to keep them under COULD_PAY_BUDGET: the text may turn predictable;
- when it could not pay even then (a draft as costly as the main, as for a small model on a GPU), a probe only
  re-checks the costs, so it is made only when its estimated cost, the draft's catch-up included, stays under
  PROBE_BUDGET of the plain decoding time since the last one. A probe twice as fast as every figure it was
  judged by replaces them (noise only adds time), so one probe corrects a decision made on inflated costs.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field

log = logging.getLogger("specchat.engine")

FASTER = 0.5  # a sample under half of every kept one replaces them
WINDOW = 9  # recent samples per cost: the median of 9 shrugs off a few slow rounds and follows a growing context
ACCEPT_DECAY = 0.9  # per round: acceptance follows the text, the last ~10 rounds matter most
FIRST_PROBE_GAP = 16  # plain rounds before the first probe once drafting stopped paying
MAX_PROBE_GAP = 512
MIN_TRIALS = 8  # judged drafts before the first decision: one lucky round proves nothing...
MIN_ROUNDS = 6  # ...or this many drafting rounds, whatever they were judged
EXPLORE_FLOOR = 0.85  # an untimed length is explored if the model rates it at least this share of the best
STALE = 512  # rounds after which a timed draft length is timed again (one round: <= 1% of rounds)
MIN_SAMPLES = 2  # kept timings of a shape before the model trusts it (the first use is never kept)
REMEASURE_PLAIN = 128  # while drafting, two plain rounds this often keep V(1) current (the first is a switch)
REEVALUATE = 4  # drafting rounds between re-evaluations of the best k
PROBE_MARGIN = 1.1  # drafting "could pay" if, with every token accepted, it would be this much faster
PROBE_BUDGET = 0.015  # where drafting could not pay: re-check costs for at most 1.5% of the plain time
COULD_PAY_BUDGET = 0.05  # where it could: look for predictable text for at most 5%
PROBE_K = 4  # the longest probe draft
PROBE_ROUNDS = 2  # a probe's drafting rounds (the first pays for the switch and is not timed)
NEVER = 1 << 30  # a probe gap that is never reached
# the draft lengths auto chooses from: few batch shapes to measure (and on a GPU to capture), each measured rather
# than interpolated, and the same shapes a fixed k uses (other row counts pick other GPU kernels, whose rounding
# differs at near-ties); near the best k the throughput curve is flat, so the gaps cost little
ANCHORS = (1, 2, 4, 8, 16, 32)
CATCHUP_DECAY = 0.7  # catch-up batches: the recent ones matter


class CostTable:
    """Per-shape timings of one main/draft pair (and one sampling regime), shared by its controllers.

    The first sample of each key is discarded: first use pays one-time costs. The estimate is the median of
    the last WINDOW samples, kept up to date on every add so that reading it is a dict lookup (the token loop
    reads it on a GPU, where a token takes ~1 ms).
    """

    def __init__(self) -> None:
        self._samples: dict[Hashable, deque[float]] = {}
        self._median: dict[Hashable, float] = {}
        self._seen: set[Hashable] = set()
        self._last: dict[Hashable, int] = {}  # the round each cost was last timed in
        self.rounds = 0  # the pair's round clock (ticked by its controllers)
        self._catchup_tokens = 0.0  # decayed sums: a batch's cost per token falls with its size, so no median
        self._catchup_s = 0.0

    def add_catchup(self, tokens: int, seconds: float) -> None:
        """The draft decoded `tokens` skipped tokens in one batch."""
        self._catchup_tokens = self._catchup_tokens * CATCHUP_DECAY + tokens
        self._catchup_s = self._catchup_s * CATCHUP_DECAY + seconds

    @property
    def catchup_per_token(self) -> float:
        return self._catchup_s / self._catchup_tokens if self._catchup_tokens else 0.0

    def age(self, key: Hashable) -> int:
        """Rounds since `key` was last timed (large when never)."""
        return self.rounds - self._last.get(key, -(1 << 30))

    def add(self, key: Hashable, seconds: float) -> None:
        self._last[key] = self.rounds
        if key not in self._seen:
            self._seen.add(key)
            return
        window = self._samples.get(key)
        if window is None:
            window = self._samples[key] = deque(maxlen=WINDOW)
        elif seconds < FASTER * min(window):
            # noise only ever adds time: a round twice as fast as every kept one means those were taken under a
            # load that has gone (first-use costs, another process on the GPU), so they go. Against the minimum,
            # not the median: some costs are bimodal (on a GPU a draft step after a fully accepted round pays
            # for a two-row batch), and their fast mode must not wipe the slow one.
            window.clear()
        window.append(seconds)
        ordered = sorted(window)
        n = len(ordered)
        self._median[key] = ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])

    def get(self, key: Hashable) -> float | None:
        return self._median.get(key)

    def count(self, key: Hashable) -> int:
        window = self._samples.get(key)
        return len(window) if window else 0

    def verify_rows(self) -> list[int]:
        return sorted(k[1] for k in self._median if isinstance(k, tuple) and k[0] == "verify")


@dataclass
class DraftLength:
    """A fixed k, or (auto) the controller described at the top of this module.

    Timings are kept only from steady rounds: a round whose kind (plain, or verifying a draft) differs from the
    round before pays for the switch (on a GPU llama.cpp captures its single-token CUDA graph again after a
    multi-row batch: seen at 30-44 ms where a step costs 9.4 ms), and so does a draft that sat idle."""

    k: int = 4  # fixed k, or the first k auto tries
    auto: bool = False
    k_max: int = 16
    costs: CostTable = field(default_factory=CostTable)
    hits: float = 0.0  # decayed accepted drafts
    trials: float = 0.0  # decayed drafts that were judged
    probe_gap: int = FIRST_PROBE_GAP
    plain_streak: int = 0
    draft_streak: int = 0
    plain_mode: bool = False  # plain decoding won the last evaluation
    cached_best: int | None = None
    explore: int | None = None  # an anchor draft length being measured
    could_pay: bool = True  # in plain mode: whether drafting could pay with every token accepted
    probed: bool = False  # a probe has just been made
    probe_left: int = 0  # rounds of the current probe still to come
    last_choice: int = -1
    prev_rows: int = 0  # rows the last round verified (0: none yet)
    ready: bool = False  # the first measurements are in (from then on every round is the model's choice)
    draft_rounds: int = 0  # rounds that drafted

    # ---- measurements -----------------------------------------------------------------------------------------
    def record(self, drafted: int, accepted: int, draft_s: float, verify_s: float,
               catchup_tokens: int = 0, catchup_s: float = 0.0) -> None:
        """One round: `drafted` tokens were judged, `accepted` kept; its drafting time, the rest of its time
        (verification and bookkeeping), and the draft's catch-up on `catchup_tokens` skipped tokens."""
        rows, prev = drafted + 1, self.prev_rows
        self.prev_rows = rows
        self.costs.rounds += 1
        if (rows == 1) == (prev == 1):  # a steady round: the same kind as the one before
            self.costs.add(("verify", rows), verify_s)
        if drafted:
            self.draft_rounds += 1
            if prev > 1 and not catchup_tokens:  # the draft drafted last round too, and read nothing new
                self.costs.add("draft", draft_s / drafted)
            # a chain stops at the first rejection: accepted successes in accepted + (1 if rejected) trials
            self.hits = self.hits * ACCEPT_DECAY + accepted
            self.trials = self.trials * ACCEPT_DECAY + accepted + (1 if accepted < drafted else 0)
        if catchup_tokens:
            self.costs.add_catchup(catchup_tokens, catchup_s)

    @property
    def acceptance(self) -> float:
        return self.hits / self.trials if self.trials else 0.0

    @property
    def draft_s(self) -> float | None:
        """Seconds per drafted token (median of recent rounds), None until measured."""
        return self.costs.get("draft")

    def _known(self) -> bool:
        return self.costs.get("draft") is not None and self.costs.get(("verify", 1)) is not None

    def drafting_could_pay(self) -> bool:
        """With every draft accepted, would some k beat plain decoding by PROBE_MARGIN? (Unknown: yes.)"""
        if not self._known():
            return True
        best = max(self.throughput(k, acceptance=1.0) for k in self._candidates())
        return best > PROBE_MARGIN * self.throughput(0)

    def expects_drafting(self) -> bool:
        """Whether the next answer will draft at all (else a draft model need not even read the prompt)."""
        return not self.auto or not self.plain_mode or self.drafting_could_pay()

    # ---- the model ------------------------------------------------------------------------------------------
    def verify_cost(self, rows: int) -> float:
        """Measured, or interpolated linearly between measured row counts (extrapolated with a slope >= 0)."""
        got = self.costs.get(("verify", rows))
        if got is not None:
            return got
        known = self.costs.verify_rows()
        below = [r for r in known if r < rows]
        above = [r for r in known if r > rows]
        v = self.costs.get
        if below and above:
            lo, hi = below[-1], above[0]
            f = (rows - lo) / (hi - lo)
            return v(("verify", lo)) + f * (v(("verify", hi)) - v(("verify", lo)))  # type: ignore[operator]
        if len(known) >= 2:
            a, b = known[0], known[-1]
            slope = max(0.0, (v(("verify", b)) - v(("verify", a))) / (b - a))  # type: ignore[operator]
        else:
            slope = 0.0
        edge = below[-1] if below else above[0]
        return v(("verify", edge)) + slope * (rows - edge)  # type: ignore[operator]

    def expected_tokens(self, k: int, acceptance: float | None = None) -> float:
        if acceptance is not None and acceptance >= 1.0:
            return k + 1.0  # the ceiling: every draft accepted
        a = min(self.acceptance if acceptance is None else acceptance, 0.999)
        return (1 - a ** (k + 1)) / (1 - a)

    def throughput(self, k: int, acceptance: float | None = None) -> float:
        """Expected tokens per second at draft length k (with the measured acceptance, or the one given)."""
        if k == 0:
            return 1.0 / self.verify_cost(1)
        d = self.draft_s
        assert d is not None
        return self.expected_tokens(k, acceptance) / (k * d + self.verify_cost(k + 1))

    def _candidates(self) -> list[int]:
        return [k for k in ANCHORS if k <= self.k_max] or [self.k_max]

    def best(self) -> int:
        return max([0, *self._candidates()], key=self.throughput)

    def probe_cost(self, skipped: int) -> float:
        """What a probe costs beyond plain decoding of the tokens it yields, the draft's catch-up included."""
        k = self._probe_k()
        catchup = self.costs.catchup_per_token * skipped
        return max(0.0, k * (self.draft_s or 0.0) + self.verify_cost(k + 1) + catchup
                   - self.expected_tokens(k) * self.verify_cost(1))

    def _probe_k(self) -> int:
        return min(PROBE_K, max(self._candidates(), key=self.throughput))

    def _needs_timing(self, k: int) -> bool:
        """Too few timings of k's verify shape to trust, or none for STALE rounds (a figure that is never
        re-taken cannot be corrected: one taken under load would keep auto from that length for good)."""
        key = ("verify", k + 1)
        return self.costs.count(key) < MIN_SAMPLES or self.costs.age(key) > STALE

    def _unmeasured_anchor(self, best: int) -> int | None:
        """A draft length whose verify shape needs timing: any anchor timed STALE rounds ago (one round re-checks
        it: a figure taken under load also skews the interpolation between anchors), or one never timed, from
        half to twice `best`, that the model (its cost interpolated) rates a contender; timing a length that
        cannot win is pure loss (a weak draft at 40% acceptance lost 8% to exploring k = 8 on a CPU)."""
        candidates = self._candidates()
        for k in candidates:
            if self.costs.count(("verify", k + 1)) >= MIN_SAMPLES and self._needs_timing(k):
                return k
        floor = EXPLORE_FLOOR * self.throughput(best)
        for k in candidates:
            if best <= 2 * k <= 4 * best and self._needs_timing(k) and self.throughput(k) >= floor:
                return k
        return None

    # ---- the choice -----------------------------------------------------------------------------------------
    def next(self) -> int:
        if not self.auto:
            return self.k
        choice = self._choose()
        if choice != self.last_choice:
            log.debug("auto draft length: %d -> %d (acceptance %.2f, draft %.2f ms/token, V(1) %.2f ms)",
                      self.last_choice, choice, self.acceptance, (self.draft_s or 0) * 1e3,
                      (self.costs.get(("verify", 1)) or 0) * 1e3)
            self.last_choice = choice
        return choice

    def _choose(self) -> int:
        """Cheap on most rounds: the model is re-evaluated every REEVALUATE drafting rounds, and while plain
        decoding wins only when a probe is due (a full evaluation costs ~30 us, 3% of a GPU token)."""
        if not self.ready:
            if self.costs.count(("verify", 1)) < MIN_SAMPLES:
                return 0  # first measure what a plain step costs
            first = max(1, self.k)
            # enough judged drafts, or enough rounds: at ~0% acceptance judged drafts come one per round (a
            # draft that was nearly never right spent 17 rounds here, a fifth of its first answer)
            enough = self.trials >= MIN_TRIALS or self.draft_rounds >= MIN_ROUNDS
            if self.draft_s is None or not enough or self.costs.count(("verify", first + 1)) < MIN_SAMPLES:
                return first  # then what drafting costs and how much of it is accepted
            self.ready = True
        if self.plain_mode:
            return self._choose_plain()
        self.draft_streak += 1
        if self.draft_streak % REMEASURE_PLAIN in (0, 1) and self.draft_streak > 1:
            return 0  # plain rounds now and then: the comparison needs a current V(1)
        if self.explore is not None:
            if self._needs_timing(self.explore):
                return self.explore
            self.explore, self.cached_best = None, None
        if self.cached_best is None or self.draft_streak % REEVALUATE == 0:
            self.cached_best = self.best()
            if self.cached_best:
                # measure the shapes the choice leans on: V(k+1) between anchors is interpolated, beyond them
                # extrapolated, and an extrapolation that guesses too high would keep auto from longer drafts
                self.explore = self._unmeasured_anchor(self.cached_best)
                if self.explore is not None:
                    return self.explore
        if self.cached_best == 0:
            self._enter_plain()
        return self.cached_best or 0

    def _enter_plain(self) -> None:
        self.plain_mode, self.plain_streak, self.cached_best, self.probed = True, 0, None, False
        self.could_pay = self.drafting_could_pay()
        self.probe_gap = self._gap(FIRST_PROBE_GAP)

    def _gap(self, geometric: int) -> int:
        """The next probe gap: where drafting could pay, the geometric one, stretched where even that would
        cost over COULD_PAY_BUDGET (a CPU draft that must re-read every skipped token; a draft that is nearly
        never right lost 10% to probes every 16-64 rounds); else the budget's gap."""
        if self.could_pay:
            return min(MAX_PROBE_GAP, max(geometric, self._budget_gap(COULD_PAY_BUDGET)))
        return self._budget_gap(PROBE_BUDGET)

    def _budget_gap(self, budget: float) -> int:
        """Plain rounds after which a probe costs at most `budget` of their time.

        A probe's extra cost is a fixed part F plus the draft's catch-up, c per skipped token; G plain rounds
        take G x V(1): F + c G <= budget x G x V(1) gives G >= F / (budget x V(1) - c). When the catch-up alone
        costs more than the budget (a CPU draft re-reading the text), no gap is long enough: never. At most
        MAX_PROBE_GAP otherwise, so that costs estimated too high (the very error probes are for) cannot put
        the next look out of reach."""
        v1 = self.verify_cost(1)
        c = self.costs.catchup_per_token
        room = budget * v1 - c
        if room <= 0:
            return NEVER
        return max(FIRST_PROBE_GAP, min(MAX_PROBE_GAP, int(self.probe_cost(0) / room) + 1))

    def _choose_plain(self) -> int:
        """Per round only a counter; the cost model is consulted when a probe is due or has just been made.

        A probe is PROBE_ROUNDS drafting rounds: the first one pays for the switch and is not timed."""
        if self.probe_left:
            self.probe_left -= 1
            return self._probe_k()
        if self.probed:  # the probe's timings and acceptance are in: does drafting win now?
            self.probed = False
            best = self.best()
            if best:
                self.plain_mode, self.cached_best, self.draft_streak = False, best, 0
                return best
            self._enter_plain_again()
        self.plain_streak += 1
        if self.plain_streak < self.probe_gap:
            return 0
        self.plain_streak = 0
        self.probed, self.probe_left = True, PROBE_ROUNDS - 1
        return self._probe_k()

    def _enter_plain_again(self) -> None:
        """Plain still wins after a probe: wait longer before the next (twice as long, or the budget's gap)."""
        self.could_pay = self.drafting_could_pay()
        self.probe_gap = self._gap(min(MAX_PROBE_GAP, max(FIRST_PROBE_GAP, self.probe_gap) * 2))
