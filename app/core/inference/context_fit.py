"""What to send when a chat no longer fits the model's context: the overflow policy (LM Studio's three).

- "stop" (the default): the chat goes as it is; the window refuses a question that cannot fit before sending it,
  and an answer that reaches the context's end stops there with a sentence saying what to do.
- "truncate_middle": the system prompt and the first exchange (the question that set the chat's subject and its
  answer) stay; the oldest turns after them are left out until the chat fits with room for an answer.
- "rolling_window": the system prompt stays; the oldest turns are left out until it fits.

Turns are left out from a user message on, so what follows the kept head starts with a question: chat templates
that insist on user/assistant alternation (Gemma's, Mistral's) still render. Nothing is deleted from the chat: the
answer records which messages were left out of its prompt and the chat view marks the place.

`count` is the engine's own count of a message list (its chat template and tokenizer); it is called O(log n) times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from app.core.infra.requests import OVERFLOW_POLICIES, OverflowPolicy, as_policy

__all__ = ["OVERFLOW_POLICIES", "OverflowPolicy", "as_policy", "POLICY_LABELS", "POLICY_HELP", "Fitted", "answer_room",
           "fit_messages"]

POLICY_LABELS: Final[dict[OverflowPolicy, str]] = {
    "stop": "Stop at the limit",
    "truncate_middle": "Truncate the middle",
    "rolling_window": "Rolling window",
}
POLICY_HELP: Final[dict[OverflowPolicy, str]] = {
    "stop": "A question that does not fit is not sent; an answer stops when the context is full.",
    "truncate_middle": "Keeps the system prompt and the first question and answer; leaves out the oldest turns "
                       "after them.",
    "rolling_window": "Keeps the system prompt; leaves out the oldest turns.",
}

Messages = Sequence[dict[str, str]]


def answer_room(n_ctx: int, max_tokens: int) -> int:
    """Tokens kept free for the answer when turns are left out: its limit, but never more than a quarter of the
    context (a 1 024-token limit in a 2 048 context must not leave out half the chat)."""
    return max(1, min(max_tokens, n_ctx // 4))


@dataclass(frozen=True)
class Fitted:
    messages: list[dict[str, str]]  # what is sent
    dropped: tuple[int, int] = (0, 0)  # [start, end) of the request's messages left out ((0, 0): none)

    @property
    def dropped_count(self) -> int:
        return self.dropped[1] - self.dropped[0]


def fit_messages(messages: Messages, count: Callable[[list[dict[str, str]]], int], n_ctx: int, room: int,
                 policy: OverflowPolicy) -> Fitted:
    """The messages to send under `policy`: all of them when they fit with `room` tokens to spare (or the policy
    is "stop"); else the kept head, then the newest turns that fit. The last message is always kept; when even the
    head and it do not fit, the head goes too (then the engine says the question alone is too long)."""
    whole = list(messages)
    if policy == "stop" or count(whole) + room <= n_ctx:
        return Fitted(whole)
    n_system = 0
    while n_system < len(whole) and whole[n_system].get("role") == "system":
        n_system += 1
    heads = [n_system]
    if policy == "truncate_middle":
        first_answer = next((i for i in range(n_system, len(whole)) if whole[i].get("role") == "assistant"), None)
        if first_answer is not None:
            heads.insert(0, first_answer + 1)  # the first exchange kept, if that can fit
    last = len(whole) - 1
    for head in heads:
        # the places the kept tail may start: user messages after the head (the last message at the latest)
        starts = [i for i in range(head, last) if whole[i].get("role") == "user" and i > head] + [last]
        starts = sorted(set(starts))
        if head < last and whole[head].get("role") == "user":
            starts.insert(0, head)  # nothing left out at all is the first candidate (checked above: too long)

        def fits(start: int, head: int = head) -> bool:
            return count(whole[:head] + whole[start:]) + room <= n_ctx

        if not fits(last):
            continue
        lo, hi = 0, len(starts) - 1  # the earliest start that fits: the most history kept
        while lo < hi:
            mid = (lo + hi) // 2
            if fits(starts[mid]):
                hi = mid
            else:
                lo = mid + 1
        start = starts[lo]
        return Fitted(whole[:head] + whole[start:], (head, start) if start > head else (0, 0))
    # not even the system prompt and the question fit: send the question alone and let the engine say so
    return Fitted(whole[:n_system] + whole[last:], (n_system, last) if last > n_system else (0, 0))
