"""An answer's reasoning block: the text a thinking model writes between its markers before it answers.

The answer is stored as the model wrote it (markers and all), so its accepted-draft spans and Continue keep
working on the very text that streamed; `ReasoningFormat` (which markers, and whether the prompt opened the
block) is stored with it, so the split is the same after a restart with another model loaded, or none.
`split_answer` cuts a whole answer; `StreamSplit` does it piece by piece as tokens arrive, holding back what
may be the start of a marker (a marker split across tokens is never shown half).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Part = Literal["reasoning", "answer"]
Piece = tuple[str, bool]  # (text, accepted draft)


@dataclass(frozen=True)
class ReasoningFormat:
    open: str  # "<think>"
    close: str  # "</think>"
    # the template's generation prompt ends with `open` (DeepSeek-R1's): the answer begins inside the block
    opened_by_prompt: bool = False
    # the template reads an assistant message's `reasoning_content` (it decides when to show the model its own
    # reasoning again, as Qwen3's does within a tool call): the reasoning is passed to it
    resend: bool = False


@dataclass(frozen=True)
class Reasoning:
    """What is stored with an answer that had (or may have) a block: its format, and how long it thought."""
    format: ReasoningFormat
    seconds: float | None = None  # from the answer's first token to the closing marker; None: not closed

    def to_json(self) -> dict[str, Any]:
        f = self.format
        return {"open": f.open, "close": f.close, "opened_by_prompt": f.opened_by_prompt, "resend": f.resend,
                "seconds": self.seconds}

    @classmethod
    def from_json(cls, raw: Any) -> Reasoning | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("open"), str) or not isinstance(raw.get("close"), str) \
                or not raw["close"]:
            return None
        seconds = raw.get("seconds")
        seconds = float(seconds) if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) \
            and 0 <= seconds < 1e7 else None
        return cls(ReasoningFormat(raw["open"], raw["close"], bool(raw.get("opened_by_prompt")),
                                   bool(raw.get("resend"))), seconds)


@dataclass(frozen=True)
class AnswerParts:
    reasoning: str  # the block's text, markers and surrounding blank lines left out ("" when there is none)
    answer: str  # what follows the block (the whole text when there is no block)
    reasoning_start: int  # where `reasoning` begins in the stored text (for its highlight spans)
    answer_start: int  # where `answer` begins in it
    has_block: bool
    closed: bool  # the closing marker came (False: still thinking, or stopped while it was)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def split_answer(content: str, fmt: ReasoningFormat | None) -> AnswerParts:
    """A whole answer cut into its reasoning and the answer after it. Only a block at the start counts (a model
    thinks first; a marker quoted later in an answer is text), and a block that never opens is no block."""
    if fmt is None or not fmt.close:
        return AnswerParts("", content, 0, 0, False, False)
    start = _skip_space(content, 0)
    if not fmt.opened_by_prompt:
        if not fmt.open or not content.startswith(fmt.open, start):
            return AnswerParts("", content, 0, 0, False, False)
        start += len(fmt.open)
    end = content.find(fmt.close, start)
    closed = end >= 0
    if not closed:
        end = len(content)
    inner_start = _skip_space(content, start)
    reasoning = content[inner_start:end].rstrip()
    answer_start = _skip_space(content, end + len(fmt.close)) if closed else len(content)
    return AnswerParts(reasoning, content[answer_start:], inner_start, answer_start, True, closed)


def stored_parts(content: str, reasoning: Reasoning | None) -> AnswerParts:
    """A stored message cut with the format it was written with (none: no block)."""
    return split_answer(content, reasoning.format if reasoning is not None else None)


def thought_for(seconds: float | None) -> str:
    if seconds is None:
        return "Thought"
    return f"Thought for {seconds:.0f} s" if seconds >= 1 else "Thought for less than a second"


def thinking_title(parts: AnswerParts, seconds: float | None, streaming: bool = False, cut_short: bool = True) -> str:
    """A block's header, in the window and the export: "Thought for 12 s", or why it has no time. `cut_short`:
    the answer was stopped or hit its length limit (else the model ended without closing the block)."""
    if not parts.closed:
        if streaming:
            return "Thinking…"
        return "Thinking (cut off before it ended)" if cut_short else "Thinking (the model never closed it)"
    return thought_for(seconds)


def spans_within(spans: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The spans that fall in [start, end) of a text, moved to count from `start` (a part's own highlighting)."""
    out = []
    for a, b in spans:
        a, b = max(a, start), min(b, end)
        if a < b:
            out.append((a - start, b - start))
    return out


class StreamSplit:
    """Cuts streamed pieces into reasoning and answer as they come.

    `feed` returns the new (part, text, accepted) pieces that are certain; text that may still turn out to be a
    marker waits for the next piece (or `finish`). Markers are not returned, nor the blank lines around them.
    """

    def __init__(self, fmt: ReasoningFormat | None) -> None:
        self.fmt = fmt
        # "start": no text yet (or only blanks, or a beginning of the opening marker); "reasoning"; "answer"
        self.phase: Literal["start", "reasoning", "answer"] = \
            "reasoning" if fmt is not None and fmt.opened_by_prompt and fmt.close else "start"
        if fmt is None or not fmt.close:
            self.phase = "answer"
        self.had_block = self.phase == "reasoning"
        self.closed = False
        self._held: list[Piece] = []  # text not returned yet
        self._skip_blank = True  # blanks at the start of a part are left out

    @property
    def held_text(self) -> str:
        return "".join(t for t, _ in self._held)

    def feed(self, pieces: list[Piece]) -> list[tuple[Part, str, bool]]:
        out: list[tuple[Part, str, bool]] = []
        for text, accepted in pieces:
            if text:
                self._held.append((text, accepted))
            self._advance(out, final=False)
        return out

    def finish(self) -> list[tuple[Part, str, bool]]:
        """The end of the answer: what was held back is what it is (an unfinished marker is text)."""
        out: list[tuple[Part, str, bool]] = []
        self._advance(out, final=True)
        return out

    def _advance(self, out: list[tuple[Part, str, bool]], final: bool) -> None:
        fmt = self.fmt
        while self._held:
            held = self.held_text
            if self.phase == "start":
                assert fmt is not None
                body = held.lstrip()
                if body.startswith(fmt.open) and fmt.open:
                    self._take(len(held) - len(body) + len(fmt.open))  # blanks and the marker go
                    self.phase, self.had_block, self._skip_blank = "reasoning", True, True
                    continue
                if not final and (not body or fmt.open.startswith(body)):
                    return  # blanks, or the opening marker so far: wait
                self.phase, self._skip_blank = "answer", False  # no block: everything is the answer, as it came
                continue
            if self.phase == "reasoning":
                assert fmt is not None
                at = held.find(fmt.close)
                if at >= 0:
                    self._emit(out, "reasoning", at, trim_end=True)
                    self._take(len(fmt.close))
                    self.phase, self.closed, self._skip_blank = "answer", True, True
                    continue
                keep = 0 if final else marker_start_at_end(held, (fmt.close,))
                self._emit(out, "reasoning", len(held) - keep, trim_end=False)
                return
            self._emit(out, "answer", len(held), trim_end=False)
            return

    def _emit(self, out: list[tuple[Part, str, bool]], part: Part, n: int, trim_end: bool) -> None:
        """Return the first n held characters as `part` (blanks leading a part are dropped)."""
        taken = self._take(n)
        if self._skip_blank:
            while taken and not taken[0][0].lstrip():
                taken.pop(0)
            if taken:
                taken[0] = (taken[0][0].lstrip(), taken[0][1])
                self._skip_blank = False
        if trim_end:
            while taken and not taken[-1][0].rstrip():
                taken.pop()
            if taken:
                taken[-1] = (taken[-1][0].rstrip(), taken[-1][1])
        out.extend((part, t, a) for t, a in taken if t)

    def _take(self, n: int) -> list[Piece]:
        taken: list[Piece] = []
        while n > 0 and self._held:
            text, accepted = self._held[0]
            if len(text) <= n:
                taken.append(self._held.pop(0))
                n -= len(text)
            else:
                taken.append((text[:n], accepted))
                self._held[0] = (text[n:], accepted)
                n = 0
        return taken


def marker_start_at_end(text: str, markers: tuple[str, ...] | list[str]) -> int:
    """How many characters at the end of `text` could be the beginning of one of `markers` (the longest such
    tail): what a stream must hold back until the next piece says. Reasoning markers and stop strings alike."""
    longest = 0
    for marker in markers:
        for n in range(min(len(marker) - 1, len(text)), longest, -1):
            if text.endswith(marker[:n]):
                longest = n
                break
    return longest
