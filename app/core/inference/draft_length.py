"""How many tokens to draft next round: a fixed k, or `auto`, a bandit over draft lengths.

`auto` treats each draft length in ARMS (0 is plain decoding) as an arm whose payoff is tokens per second, and
follows five rules:

1. Measure the costs. An arm's value is the tokens a round of it emits (its drafted tokens, kept at the acceptance
   pooled over all arms) over what its rounds measured to cost (drafting, verifying, bookkeeping), as sums that
   fade with the rounds since (COST_DECAY per round of the pair's clock), so recent rounds count most and an arm
   measured long ago counts little once measured again.
   Only steady rounds count: the first round ever of an arm pays for first use (on a GPU, CUDA graph capture and
   buffer allocation: 3.6x the real cost on an H100), and a round of another arm than the one before (plain after
   drafting, k = 16 after k = 8...) pays for the switch (a new batch shape: 30-44 ms where an H200 plain step
   takes 9.4 ms). Noise only ever adds
   time: a round costlier than OUTLIER x the arm's mean counts as OUTLIER x, and one under half of it means the
   arm's history was taken under a load that has gone, so it is dropped.
2. Play the best: the arm with the highest value (another arm by MARGIN at least: switching between near-ties
   costs more than it gains). A stale value that is too high corrects itself (the arm is played and measured);
   one that is too low needs a look (rule 3).
3. Look at the neighbours, backing off. The neighbours of a drafting length are half and twice it, and plain; the
   neighbour of plain is the best drafting length measured (the user's k before any). Throughput over k rises and
   then falls, so the best is found by climbing (twice looked at before half: when it wins, half is not needed),
   and lengths two steps away are never paid for. A neighbour never
   measured is looked at at once; a measured one when its gap has passed (FIRST_GAP rounds, doubling to MAX_GAP
   each time a look finds it no better, back to FIRST_GAP when it wins), stretched so that looks cost at most
   BUDGET of the time spent meanwhile. A look plays the arm for LOOK steady rounds.
4. Drafting that cannot pay stops for the answer. When looking at drafting from plain would cost more than the
   budget however rarely it was done (on a CPU the draft re-reads every skipped token: catch-up), it is retried
   at the start of later answers instead (answers 2, 4, 8 ... after it stopped, the gap doubling up to
   MAX_ANSWER_GAP), when the draft reads the prompt with the main model and has nothing to catch up.
5. Drift: when the current arm's last DRIFT_RUN rounds each cost DRIFT x more (or less) than its average,
   the machine's speed has changed (another process took a core, or left): every other arm's value is out of date,
   so every neighbour's gap ends now.

The measurements (rule 1) belong to the main/draft pair and sampling regime (MeasuredArms, shared by every
controller of the pair, so each answer and each k setting starts from what earlier ones measured); the policy
(rules 2-5) to the controller.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger("specchat.engine")

ACCEPT_DECAY = 0.95  # per drafting round: acceptance follows the text, the last ~20 rounds matter most
ARMS = (0, 1, 2, 4, 8, 16)  # the same batch shapes a fixed k uses (other row counts round differently on a GPU)
COST_DECAY = 0.97  # per round: a measurement ~23 rounds old counts half
DRIFT = 1.3  # DRIFT_RUN rounds in a row this much dearer or cheaper than the arm's mean: the machine's speed
DRIFT_RUN = 6  # changed (6: a GPU draft's bimodal cost, one round in three at 0.6x, never looks like it)
OUTLIER = 3.0  # a round counts at most this many times the arm's mean cost
MARGIN = 1.03  # another arm is taken when it is this much better (near-ties are not worth the switches)
LOOK = 2  # steady rounds of a look
FIRST_GAP = 16  # rounds before a measured neighbour is looked at again...
MAX_GAP = 512  # ...doubling up to this while looks find it no better
BUDGET = 0.01  # looks cost at most this share of the time spent between them (speed changes are rule 5's)
MAX_ANSWER_GAP = 64  # answers between retries of drafting that cannot pay within an answer
RECENT = 0.7  # the switch cost and the catch-up cost: faded means over the last few of them
NEVER = 1 << 30


@dataclass
class Arm:
    """Faded sums of one draft length's steady rounds: their seconds and how many tokens they drafted."""

    drafted: float = 0.0
    seconds: float = 0.0
    rounds: float = 0.0
    clock: int = 0  # the round the sums were last faded to
    used: bool = False  # its first round (first use) has been played
    samples: int = 0  # rounds counted, ever

    def fade(self, now: int) -> None:
        if now != self.clock:
            f = COST_DECAY ** (now - self.clock)
            self.drafted, self.seconds, self.rounds, self.clock = self.drafted * f, self.seconds * f, self.rounds * f, now

    def forget(self, drafted: float, seconds: float) -> None:
        """One round stands for the history (taken at another speed)."""
        self.drafted, self.seconds, self.rounds = drafted, seconds, 1.0

    @property
    def measured(self) -> bool:
        return self.rounds > 0

    @property
    def round_s(self) -> float:
        return self.seconds / self.rounds if self.rounds else 0.0

    @property
    def round_drafted(self) -> float:
        return self.drafted / self.rounds if self.rounds else 0.0


class MeasuredArms:
    """What one main/draft pair (and sampling regime) measured: each arm's round cost and drafted tokens, the
    acceptance (the text's and the pair's, not a draft length's: one for all arms), the cost of switching between
    plain and drafting rounds, and the draft's catch-up."""

    def __init__(self) -> None:
        self.arms = {k: Arm() for k in ARMS}
        self.clock = 0  # rounds played with this pair
        self.hits = 0.0  # faded accepted draft tokens...
        self.trials = 0.0  # ...and judged ones (a chain stops at its first rejection)
        self.switch_s = 0.0  # faded excess of a round after another arm's over its arm's mean
        self._catchup_tokens = 0.0  # faded sums: a batch's cost per token falls with its size, so no per-round mean
        self._catchup_s = 0.0

    def add(self, k: int, drafted: int, seconds: float, steady: bool) -> bool:
        """One round of arm k; whether it counted (not the arm's first use, and steady)."""
        arm = self.arms[k]
        if not arm.used or not steady:
            if arm.used and arm.rounds >= 1:
                self.switch_s = RECENT * self.switch_s + (1 - RECENT) * max(0.0, seconds - arm.round_s)
            arm.used = True
            return False
        arm.fade(self.clock)
        if arm.rounds >= 1:  # a mean worth judging by (not one faded to nothing since it was taken)
            mean = arm.round_s
            if seconds < 0.5 * mean:  # the history was taken under a load that has gone
                arm.drafted = arm.seconds = arm.rounds = 0.0
            seconds = min(seconds, OUTLIER * mean)
        arm.drafted += drafted
        arm.seconds += seconds
        arm.rounds += 1
        arm.samples += 1
        return True

    def judge(self, drafted: int, accepted: int) -> None:
        self.hits = self.hits * ACCEPT_DECAY + accepted
        self.trials = self.trials * ACCEPT_DECAY + accepted + (1 if accepted < drafted else 0)

    @property
    def acceptance(self) -> float:
        return self.hits / self.trials if self.trials else 0.0

    def add_catchup(self, tokens: int, seconds: float) -> None:
        """The draft decoded `tokens` skipped tokens in one batch."""
        self._catchup_tokens = self._catchup_tokens * RECENT + tokens
        self._catchup_s = self._catchup_s * RECENT + seconds

    @property
    def catchup_per_token(self) -> float:
        return self._catchup_s / self._catchup_tokens if self._catchup_tokens else 0.0

    def round_tokens(self, k: int) -> float:
        """Tokens a round of arm k emits: its drafted tokens m, each kept with the acceptance a while the chain
        holds, plus the main model's own: (1 - a^(m+1)) / (1 - a). From the acceptance rather than the arm's
        count of tokens: at T > 0 a round emits anywhere from 1 to k+1, and two rounds of a look would say little.
        Pooled over the arms: each arm's own count (drawn to the pooled rate) lost 5-10% in the simulated first
        answers (tests/unit/test_engine_parts.py) to the noise of the few drafts a look judges."""
        m = self.arms[k].round_drafted
        a = min(self.acceptance, 0.999)
        return (1 - a ** (m + 1)) / (1 - a)

    def value(self, k: int) -> float:
        """Tokens per second (a stale value stays what it was until the arm is played again)."""
        s = self.arms[k].round_s
        return self.round_tokens(k) / s if s else 0.0


@dataclass
class DraftLength:
    """A fixed k, or (auto) the bandit described at the top of this module."""

    k: int = 4  # fixed k, or the first drafting length auto looks at
    auto: bool = False
    k_max: int = 16
    costs: MeasuredArms = field(default_factory=MeasuredArms)
    current: int = 0  # the arm played when no look is under way
    looking: int | None = None  # the arm of the look under way
    look_left: int = 0  # its steady rounds still to come
    look_rounds: int = 0  # its rounds so far, steady or not (a look ends after 4 x LOOK whatever they were)
    gaps: dict[int, int] = field(default_factory=dict)  # per arm: the back-off gap of its looks
    due: set[int] = field(default_factory=set)  # arms to look at now, whatever their gaps (rule 5)
    answer_gap: int = 1  # rule 4: answers between retries, doubled before each one...
    answers_left: int = 1  # ...and those still to come (one: the answer after a failed probe never probes)
    answer_look: bool = False  # a rule-4 retry opens this answer
    prev_rows: int = 0  # rows the last round verified (0: none yet)
    prev_arm: int = 0  # the arm of the last round
    drift_side: int = 0  # rule 5: the current run of rounds beyond DRIFT (1 dearer, -1 cheaper)...
    drift_run: int = 0  # ...its length...
    drift_s: float = 0.0  # ...and its seconds
    _playing: int = 0  # the arm next() returned

    # ---- measurements -----------------------------------------------------------------------------------------
    def record(self, drafted: int, accepted: int, draft_s: float, verify_s: float,
               catchup_tokens: int = 0, catchup_s: float = 0.0) -> None:
        """One round of the arm next() chose: `drafted` tokens were judged, `accepted` kept; its drafting time, the
        rest of its time (verification and bookkeeping), and the draft's catch-up on `catchup_tokens` skipped
        tokens (priced apart: it is what leaving plain decoding costs, not what a round costs)."""
        rows, prev = drafted + 1, self.prev_rows
        arm, prev_arm = self._playing, self.prev_arm
        self.prev_rows, self.prev_arm = rows, arm
        self.costs.clock += 1
        if catchup_tokens:
            self.costs.add_catchup(catchup_tokens, catchup_s)
        if drafted:
            self.costs.judge(drafted, accepted)
        # a round after another arm's is not steady either: a draft model's verify batch changes its row count
        # with the arm, and on a GPU a new batch shape re-captures the CUDA graph (H100, first answers: k = 8 read
        # 129-184 tok/s while auto flipped between 8 and 16, 260-280 once it held k = 8)
        steady = bool(prev) and (rows == 1) == (prev == 1) and arm == prev_arm
        if self.looking == arm:
            self.look_rounds += 1
        if not self.costs.add(arm, drafted, draft_s + verify_s, steady):
            return
        if self.looking == arm:
            self.look_left -= 1
        elif arm == self.current:
            self._watch_drift(draft_s + verify_s)

    def _watch_drift(self, seconds: float) -> None:
        """Rule 5: DRIFT_RUN rounds in a row, all costlier (or all cheaper) than DRIFT x the arm's mean."""
        arm = self.costs.arms[self.current]
        ratio = seconds / arm.round_s if arm.round_s else 1.0
        side = 1 if ratio > DRIFT else -1 if ratio < 1 / DRIFT else 0
        if not side or side != self.drift_side:
            self._reset_drift(side)
        self.drift_run, self.drift_s = self.drift_run + 1, self.drift_s + seconds
        if not side or self.drift_run < DRIFT_RUN:
            return
        recent = self.drift_s / self.drift_run
        log.debug("auto draft length: k=%d rounds now take %.2f ms, %.2f ms before: the machine's speed changed",
                  self.current, recent * 1e3, arm.round_s * 1e3)
        arm.forget(arm.round_drafted, recent)  # its history was taken at the other speed
        self._reset_drift()
        self.due = set(ARMS) - {self.current}  # every other arm's value is out of date: look at the neighbours now

    def _reset_drift(self, side: int = 0) -> None:
        self.drift_side, self.drift_run, self.drift_s = side, 0, 0.0

    @property
    def acceptance(self) -> float:
        return self.costs.acceptance

    # ---- the policy -------------------------------------------------------------------------------------------
    def _drafting_arms(self) -> list[int]:
        return [k for k in ARMS if 0 < k <= self.k_max] or [1]

    def _start_arm(self) -> int:
        fitting = [k for k in self._drafting_arms() if k <= max(1, self.k)]
        return fitting[-1] if fitting else self._drafting_arms()[0]

    def best_drafting(self) -> int:
        measured = [k for k in self._drafting_arms() if self.costs.arms[k].measured]
        return max(measured, key=self.costs.value) if measured else self._start_arm()

    def neighbours(self, k: int) -> list[int]:
        if k == 0:
            return [self.best_drafting()]
        arms = self._drafting_arms()
        i = arms.index(k)
        # twice before half: when twice wins, the climb goes on from there and half is never paid for
        return [0] + arms[i + 1:i + 2] + arms[max(0, i - 1):i]

    def new_answer(self) -> None:
        """An answer begins: rule 4 decides whether it opens with a retry of drafting."""
        self.prev_rows = 0  # the first round follows the prompt: not steady
        self.answer_look = False
        if self.auto and self.current == 0 and self._gap(self.best_drafting()) == NEVER:
            if self.answers_left <= 0:
                self.answer_gap = min(MAX_ANSWER_GAP, self.answer_gap * 2)
                self.answer_look, self.answers_left = True, self.answer_gap - 1
            else:
                self.answers_left -= 1

    def expects_drafting(self) -> bool:
        """Whether this answer drafts (else a draft model need not read the prompt before the first token: while
        plain decoding wins, it catches up when a look comes). A drafting length never measured is certain to
        be looked at (rule 3): the draft reads the prompt with the main model then, not as a stall mid-answer."""
        return (not self.auto or self.current != 0 or self.answer_look
                or not self.costs.arms[self.best_drafting()].measured)

    def next(self) -> int:
        if not self.auto:
            return self.k
        choice = self._choose()
        if choice != self._playing and log.isEnabledFor(logging.DEBUG):
            log.debug("auto draft length: %d -> %d (%s; acceptance %.2f; %s)", self._playing, choice,
                      "look" if self.looking is not None else "best", self.acceptance,
                      ", ".join(f"k={k} {self.costs.value(k):.1f} tok/s" for k, a in self.costs.arms.items() if a.measured))
        self._playing = choice
        return choice

    def _choose(self) -> int:
        if self.looking is not None:
            if self.look_left > 0 and self.look_rounds < 4 * LOOK:
                return self.looking
            self._end_look()
        if self.costs.arms[self.current].samples < LOOK:  # the first rounds of all: measure where we are
            return self.current
        if self.answer_look:
            self.answer_look = False
            return self._start_look(self.best_drafting())
        values = {k: self.costs.value(k) for k, a in self.costs.arms.items() if a.measured and k <= self.k_max}
        best = max(values, key=values.__getitem__)
        if best != self.current and values[best] > MARGIN * values.get(self.current, 0.0):
            self._take(best)
        now = self.costs.clock
        for k in self.neighbours(self.current):
            arm = self.costs.arms[k]
            # the back-off gap first: _gap() (the budget's stretch) is never shorter, and it is all the token
            # loop pays on most rounds
            waited = now - arm.clock
            if k in self.due or not arm.measured or (waited >= self.gaps.get(k, FIRST_GAP)
                                                      and waited >= self._gap(k)):
                self.due.discard(k)
                return self._start_look(k)
        return self.current

    def _take(self, k: int) -> None:
        """k becomes the current arm: the drift rule watches its rounds from scratch."""
        self.current = k
        self._reset_drift()

    def _start_look(self, k: int) -> int:
        self.looking, self.look_left, self.look_rounds = k, LOOK, 0
        return k

    def _end_look(self) -> None:
        k, self.looking = self.looking, None
        assert k is not None
        if self.costs.value(k) > MARGIN * self.costs.value(self.current):
            self.gaps[k] = FIRST_GAP
            self.gaps[self.current] = FIRST_GAP
            self._take(k)
            self.answer_gap, self.answers_left = 1, 1
        else:
            self.gaps[k] = min(MAX_GAP, 2 * self.gaps.get(k, FIRST_GAP // 2))  # back off

    def _gap(self, k: int) -> int:
        """Rounds between looks at k from the current arm: the back-off gap, stretched to keep looks within
        BUDGET of the time between them, NEVER where no gap is long enough.

        A look costs F: its rounds' time beyond what the current arm takes for the same tokens and two switches
        (a new batch shape each way); from plain to drafting also the draft's catch-up, c per
        skipped round. G rounds of the current arm take G x s: F + c G <= BUDGET x G x s gives
        G >= F / (BUDGET x s - c)."""
        costs = self.costs
        cur, arm = costs.arms[self.current], costs.arms[k]
        s, rate = cur.round_s, costs.value(self.current)
        if not s or not arm.measured or not rate:
            return self.gaps.get(k, FIRST_GAP)
        c = costs.catchup_per_token if self.current == 0 else 0.0
        room = BUDGET * s - c
        if room <= 0:
            return NEVER
        # and two switches, there and back (switch_s: what a round after another arm's cost beyond its mean)
        loss = LOOK * max(0.0, arm.round_s - costs.round_tokens(k) / rate) + 2 * costs.switch_s
        return max(self.gaps.get(k, FIRST_GAP), min(MAX_GAP, int(loss / room) + 1))
