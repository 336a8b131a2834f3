"""How one answer went, once it ended: the engine's figures and how it stopped, as one typed record.

The engine makes it from its running GenerationStats (speculative.py) and sends it in protocol.Finished; the
window adds what drafted and saves it with the answer (the chat store keeps JSON: to_json / from_json, which
reads rows saved by earlier versions too); the footer and the acceptance advice (speculation_status.py) read it,
and the local server makes OpenAI's `usage` and llama-server's `timings` from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

# the figures: absent from the JSON of an answer that never ran to an end (the engine crashed under it)
FIGURES = ("prompt_tokens", "prompt_eval_s", "ttft_s", "generated_tokens", "tokens_per_second", "drafted",
            "accepted", "acceptance_rate", "prediction_drafted", "prediction_accepted", "elapsed_s",
            "reasoning_tokens", "reasoning_s")


@dataclass(frozen=True)
class AnswerStats:
    stop_reason: str = ""  # eos | stop | length | context | cancelled | error
    error: str = ""  # why it failed, in words
    error_code: str = ""  # which rule refused it before any token (OpenAI's `code`), or "engine_crashed"
    crashed: bool = False  # the engine died under it: no figures were measured, only `error` says anything
    log: str = ""  # after a crash: the engine's log file
    prompt_tokens: int = 0
    prompt_eval_s: float = 0.0
    ttft_s: float = 0.0
    generated_tokens: int = 0
    tokens_per_second: float = 0.0  # after the first token, as llama.cpp reports it
    drafted: int = 0
    accepted: int = 0
    acceptance_rate: float = 0.0
    prediction_drafted: int = 0  # of `drafted`: the tokens a predicted output proposed
    prediction_accepted: int = 0
    elapsed_s: float = 0.0
    # of generated_tokens: those of the reasoning block (its markers included); how long from the first token
    # to its closing marker (0.0: no block closed in this generation)
    reasoning_tokens: int = 0
    reasoning_s: float = 0.0
    rpc_lost: str = ""  # the RPC server that stopped answering during it ("" none)
    # [start, end) of the request's messages the overflow policy left out of the prompt ((0, 0): none); the window
    # saves the chat positions instead (left_out)
    dropped: tuple[int, int] = (0, 0)
    left_out: tuple[int, int] = (0, 0)  # chat positions [first, last + 1) left out of this answer's prompt
    # what the window adds when it saves the answer
    speculation: str = ""  # what drafted ("draft: X", "n-gram (n=3)"); "" when nothing did
    draft_name: str = ""  # answers saved before `speculation` existed had only this
    continued: bool = False  # the figures are a continuation's own, not the whole answer's

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.crashed:  # no made-up zeros: a reader sees that nothing was measured
            for name in FIGURES:
                del data[name]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AnswerStats:
        """A saved answer's stats, from any version: unknown keys are ignored, missing ones take their default,
        and stats without figures (a crash, before this type existed) read as crashed."""
        defaults = cls()
        known: dict[str, Any] = {}
        for f in fields(cls):
            value = data.get(f.name)
            if isinstance(getattr(defaults, f.name), tuple):  # a [start, end] pair of ints, or its default
                pair = isinstance(value, (list, tuple)) and len(value) == 2 and \
                    all(isinstance(v, int) and not isinstance(v, bool) for v in value)
                value = tuple(value) if pair and value is not None else None
            if value is not None:
                try:
                    known[f.name] = type(getattr(defaults, f.name))(value)
                except (TypeError, ValueError):
                    continue  # a damaged value: its default
        known["crashed"] = bool(data.get("crashed")) or "generated_tokens" not in data
        return cls(**known)
