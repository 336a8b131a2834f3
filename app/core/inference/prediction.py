"""Predicted outputs: the text an answer will mostly repeat (the file being edited), proposed as draft tokens.

OpenAI's `prediction: {"type": "content", "content": ...}`. The prediction is tokenized once; while the answer
follows it, its next tokens are proposed, and the main model verifies them in the one token loop
(speculative.py) like any draft: the output stays exactly the model's. Where the answer departs from the
prediction (the renamed variable, the added line), the drafter re-aligns like prompt lookup restricted to the
prediction: the answer's last few tokens are looked up in it, preferring the first match at or after the place it
last followed, so an edit near the top does not send it back to an earlier copy of a common line.

The run length adapts as llama.cpp's lookup decoding does: it doubles after a run accepted whole and halves after
one mostly rejected, within [MIN_RUN, MAX_RUN]. Nothing kept at the shortest run means the answer has left the
prediction (it explains instead of editing, or loops on a line of its own): the drafter lets go, and re-aligns
only after a cool-down that doubles each time that happens without a whole run accepted in between, so an
answer that never follows the prediction pays for a few short wrong guesses, not for one in every round.
Re-aligning needs a match of MIN_MATCH tokens: a single newline or `self` occurs everywhere in code.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

MATCH_MAX = 4  # the longest answer suffix looked up when re-aligning (the longest match is the most specific)
MIN_MATCH = 2  # the shortest match that re-aligns
FIRST_RUN = 8  # at the answer's start: predictions are mostly what the answer begins with
MIN_RUN = 2
MAX_RUN = 32
FIRST_COOLDOWN = 4  # answer tokens to wait after letting go, doubled at each loss in a row
MAX_COOLDOWN = 256


class PredictionDrafter:
    """Where the answer (the tokens after `prompt_len` in the loop's history) is in the prediction's tokens."""

    def __init__(self, tokens: Sequence[int], prompt_len: int) -> None:
        self.tokens = list(tokens)
        self.prompt_len = prompt_len
        self.pos: int | None = 0  # index of the prediction token expected next; None: the answer is off it
        self.run = FIRST_RUN
        self._seen = 0  # answer tokens already followed
        self._losses = 0  # times it let go since the last run accepted whole
        self._cooldown = 0  # answer tokens still to come before it may re-align
        self._last_pos = 0  # where it last followed: re-aligning looks there first
        self._answer: list[int] = []
        # n-gram -> sorted end positions (the index just after each occurrence) in the prediction
        self._index: list[dict[tuple[int, ...], list[int]]] = [{} for _ in range(MATCH_MAX + 1)]
        toks = self.tokens
        for end in range(1, len(toks) + 1):
            for n in range(1, min(MATCH_MAX, end) + 1):
                self._index[n].setdefault(tuple(toks[end - n:end]), []).append(end)

    def propose(self, history: Sequence[int], cap: int) -> list[int]:
        """The prediction's tokens expected after `history` (the prompt and the answer so far), at most
        min(run, cap); empty where the answer is not following it."""
        for tok in history[self.prompt_len + self._seen:]:
            self._follow(tok)
        if self.pos is None or cap <= 0:
            return []
        return self.tokens[self.pos:self.pos + min(self.run, cap)]

    def feedback(self, proposed: int, accepted: int) -> None:
        """How many of the last proposal the main model kept: the next run is longer or shorter, and a run of
        MIN_RUN with nothing kept lets go of the prediction for a while."""
        if not proposed:
            return
        if accepted == proposed:
            self.run = min(MAX_RUN, self.run * 2)
            self._losses = 0
        elif accepted == 0 and self.run <= MIN_RUN:  # wrong at the shortest run: the answer went its own way
            self.pos = None
            self._losses += 1
            self._cooldown = min(MAX_COOLDOWN, FIRST_COOLDOWN << min(self._losses - 1, 16))
        elif accepted < proposed // 2 or accepted == 0:
            self.run = max(MIN_RUN, self.run // 2)

    def _follow(self, tok: int) -> None:
        self._seen += 1
        self._answer.append(tok)
        if self.pos is not None and self.pos < len(self.tokens) and self.tokens[self.pos] == tok:
            self.pos += 1
            self._last_pos = self.pos
            return
        if self._cooldown > 0:
            self._cooldown -= 1
            self.pos = None
            return
        self.pos = self._realign(self.pos if self.pos is not None else self._last_pos)
        if self.pos is not None:
            self._last_pos = self.pos

    def _realign(self, hint: int | None) -> int | None:
        """The position after the longest suffix of the answer found in the prediction: the first such place
        at or after `hint` (where it was following), else the first anywhere. None: no suffix occurs."""
        answer = self._answer
        for n in range(min(MATCH_MAX, len(answer)), MIN_MATCH - 1, -1):
            ends = self._index[n].get(tuple(answer[-n:]))
            if not ends:
                continue
            i = bisect.bisect_left(ends, hint or 0)
            end = ends[i] if i < len(ends) else ends[0]
            if end < len(self.tokens):  # a match at the very end has nothing left to propose
                return end
        return None
