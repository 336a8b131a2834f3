"""What the window says about speculation: the label of what really runs, an answer's footer, acceptance advice.

One place for these words, so the sidebar's status line, the live status bar and the saved footer never
disagree: "draft: <name>", "n-gram (n=3)", or "plain decoding: no draft loaded" when the mode asks for a draft
model that is not there (the engine then decodes plainly, and no acceptance figure is shown for it).
"""

from __future__ import annotations

from app.core.inference.answer_stats import AnswerStats
from app.core.inference.engine_process.protocol import LiveStats
from app.core.models.formatting import count_phrase

PLAIN_NO_DRAFT = "plain decoding: no draft loaded"
PLAIN_OFF = "plain decoding (speculation off)"

# One answer is enough to warn about a draft that is plainly useless (its drafts cost time and are thrown
# away); with fewer drafted tokens than this the rate says too little to warn on.
BAD_ACCEPTANCE = 0.10
BAD_ACCEPTANCE_MIN_DRAFTED = 32
# The slower signal: the mean over the last few answers (drafting pays only at high acceptance).
LOW_ACCEPTANCE = 0.6
LOW_ACCEPTANCE_ANSWERS = 3
RECENT_ANSWERS = 5


def speculation_label(mode: str, draft_name: str, ngram_size: int) -> str:
    """What a generation in `mode` runs now: the draft by name, the n-gram lookup with its n, or plain."""
    if mode == "ngram":
        return f"n-gram (n={ngram_size})"
    if mode == "draft":
        return f"draft: {draft_name}" if draft_name else PLAIN_NO_DRAFT
    return PLAIN_OFF


def speculates(label: str) -> bool:
    return label not in (PLAIN_NO_DRAFT, PLAIN_OFF)


def footer_text(stats: AnswerStats) -> str:
    """The answer's figures; none for an answer that never finished (no made-up "0.0 tok/s · 0 tokens"), and
    none for one stopped before its first token."""
    if stats.crashed:
        return stats.error
    if not stats.generated_tokens:
        if stats.error:
            return stats.error
        return "stopped before any text" if stats.stop_reason == "cancelled" else "no text generated"
    tokens = f"{stats.generated_tokens} {'more tokens (continued)' if stats.continued else 'tokens'}"
    if stats.reasoning_tokens:  # a thinking model's: what the thinking cost, apart from the answer
        answer = stats.generated_tokens - stats.reasoning_tokens
        tokens += f" ({stats.reasoning_tokens} thinking, {answer} answer)"
    # a full context's sentence says "the context is full" and what to do: the short word would say it twice
    ended = "" if stats.stop_reason == "context" and stats.error else STOP_WORDS.get(stats.stop_reason,
                                                                                      stats.stop_reason)
    parts = [ended, f"{stats.tokens_per_second:.1f} tok/s", tokens,
             f"{stats.ttft_s:.2f} s to first token"]
    if stats.drafted:
        # "speculation" is what ran ("draft: X", "n-gram (n=3)"); answers saved before it had only draft_name
        parts.append(stats.speculation or (f"draft: {stats.draft_name}" if stats.draft_name else ""))
        parts.append(f"accepted {stats.accepted}/{stats.drafted} ({stats.acceptance_rate:.0%})")
    if stats.prediction_drafted:
        parts.append(f"prediction {stats.prediction_accepted}/{stats.prediction_drafted}")
    left_out = stats.left_out[1] - stats.left_out[0]
    if left_out > 0:
        parts.append(f"{count_phrase(left_out, 'earlier message')} left out (context)")
    if stats.error:
        parts.append(stats.error)
    return " · ".join(p for p in parts if p)


# how an answer ended, in the footer's words (the engine's stop reasons)
STOP_WORDS = {"eos": "finished", "stop": "finished (stop string)", "length": "length limit reached",
              "context": "context full", "cancelled": "stopped", "error": "failed"}


def live_text(live: LiveStats, label: str) -> str:
    """The status line while an answer streams: speed, tokens, what runs (`label`) and, when something drafts, the
    acceptance so far (no acceptance figure for plain decoding)."""
    acc = f" · acceptance {live.acceptance_rate:.0%}" if speculates(label) else ""
    return f"{live.tokens_per_second:.1f} tok/s · {live.generated_tokens} tokens · {label}{acc}"


def acceptance_advice(stats: AnswerStats, recent: list[float]) -> str:
    """Advice after an answer (`recent`: acceptance rates of the last answers, this one included), or ""."""
    drafted, accepted = stats.drafted, stats.accepted
    if drafted >= BAD_ACCEPTANCE_MIN_DRAFTED and accepted / drafted < BAD_ACCEPTANCE:
        return (f"Only {accepted} of {drafted} drafted tokens ({accepted / drafted:.0%}) were accepted in the last "
                "answer: this drafter rarely agrees with the main model, so drafting costs time. Try fewer draft "
                "tokens (or auto), another draft, or Off.")
    if len(recent) >= LOW_ACCEPTANCE_ANSWERS:
        mean = sum(recent) / len(recent)
        if mean < LOW_ACCEPTANCE:
            return (f"Acceptance over the last {len(recent)} answers is {mean:.0%}: fewer draft tokens (or auto) "
                    "will likely be faster.")
    return ""
