"""Which markers a loaded model puts its reasoning between, found from its chat template and its vocabulary.

A thinking model's template says how it treats its own reasoning: DeepSeek-R1's and Qwen3's drop it from earlier
answers with `content.split('</think>')[-1]` (or test `'</think>' in content`); some open the block in the
generation prompt (R1's newer template ends with `<｜Assistant｜><think>\\n`). So the close marker is read from
the template's own string tests, the open marker is its pair, and rendering the generation prompt tells whether
the answer starts inside the block. A vocabulary that holds a tag pair as single tokens (`<think>`/`</think>`,
`[THINK]`/`[/THINK]`, ...) is the second witness, for templates that never mention it. Markers the model
cannot write as text (control tokens, which detokenize to nothing: gpt-oss's channel tokens) are no markers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

from app.core.models.reasoning import ReasoningFormat

log = logging.getLogger("specchat.chat")

# the template strings an answer's text is tested or split by: `x.split('</think>')`, `'</think>' in x`
_SPLIT_LITERAL = re.compile(r"""split\(\s*(['"])(?P<m>[^'"\n]{2,40})\1""")
_IN_LITERAL = re.compile(r"""(['"])(?P<m>[^'"\n]{2,40})\1\s+in\s+""")
# the closing marker's shapes, and how each names its opening one
_CLOSE_SHAPES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"^</(?P<x>[^<>/\s]+)>$"), lambda m: f"<{m['x']}>"),  # </think>, </seed:think>
    (re.compile(r"^\[/(?P<x>[^\[\]/\s]+)\]$"), lambda m: f"[{m['x']}]"),  # [/THINK] (Magistral)
    (re.compile(r"^<\|end_of_(?P<x>[^|]+)\|>$"), lambda m: f"<|begin_of_{m['x']}|>"),  # <|end_of_thought|>
    (re.compile(r"^◁/(?P<x>[^▷]+)▷$"), lambda m: f"◁{m['x']}▷"),  # ◁/think▷ (Kimi)
)
# tag names a vocabulary's pair must carry to be read as reasoning without the template's word for it
_REASONING_NAME = re.compile(r"think|reason|thought", re.IGNORECASE)
_VOCAB_PAIRS = (("<think>", "</think>"), ("<thinking>", "</thinking>"), ("<reasoning>", "</reasoning>"),
                ("[THINK]", "[/THINK]"), ("<|begin_of_thought|>", "<|end_of_thought|>"),
                ("<seed:think>", "</seed:think>"), ("◁think▷", "◁/think▷"))
_PROBE = "\u2063probe\u2063"  # a user message no template changes: the generation prompt is what follows it


def open_marker_for(close: str) -> str | None:
    for shape, opening in _CLOSE_SHAPES:
        m = shape.match(close)
        if m:
            return opening(m)
    return None


def template_markers(template: str) -> list[tuple[str, str]]:
    """(open, close) pairs the template tests or splits an answer's text by, in the order it first does."""
    pairs: list[tuple[str, str]] = []
    for pattern in (_SPLIT_LITERAL, _IN_LITERAL):
        for m in pattern.finditer(template):
            close = m["m"].strip()
            opening = open_marker_for(close)
            if opening and (opening, close) not in pairs:
                pairs.append((opening, close))
    return sorted(pairs, key=lambda p: template.find(p[1]))


def find_reasoning_format(template: str | None, generation_prompt: Callable[[str], str],
                          is_single_token: Callable[[str], bool], writes_as_text: Callable[[str], bool],
                          vocabulary: Iterable[str] = ()) -> ReasoningFormat | None:
    """The model's reasoning markers, or None when it has none that it writes as text.

    `generation_prompt(text)`: the template rendered for one user message `text` with the generation prompt;
    `is_single_token(s)`: the vocabulary holds `s` as one token; `writes_as_text(s)`: `s` detokenizes back to
    itself (a control token comes out empty); `vocabulary`: the token texts, for pairs no list names.
    """
    template = template or ""
    candidates = template_markers(template)
    if not candidates:  # the vocabulary's word: a known pair, or any tag pair with a reasoning name
        known = [p for p in _VOCAB_PAIRS if is_single_token(p[0]) and is_single_token(p[1])]
        if not known:
            texts = set(vocabulary)
            known = sorted((f"<{t[2:]}", t) for t in texts
                           if t.startswith("</") and t.endswith(">") and _REASONING_NAME.search(t)
                           and f"<{t[2:]}" in texts)
        candidates = known
    for opening, close in candidates:
        if not (writes_as_text(opening) and writes_as_text(close)):
            log.info("reasoning markers %s %s are control tokens the model writes as nothing: not used",
                     opening, close)
            continue
        opened = _opened_by_prompt(generation_prompt, opening, close)
        fmt = ReasoningFormat(opening, close, opened, resend="reasoning_content" in template)
        log.info("reasoning markers %s … %s%s", opening, close, " (the prompt opens the block)" if opened else "")
        return fmt
    return None


def _opened_by_prompt(generation_prompt: Callable[[str], str], opening: str, close: str) -> bool:
    """The generation prompt ends inside a block: its last marker is the opening one (Qwen3 with thinking off
    ends with an empty, closed block: that is no opening)."""
    try:
        rendered = generation_prompt(_PROBE)
    except Exception as e:  # noqa: BLE001 - a template that fails here fails the chat later, with its own error
        log.debug("generation prompt not rendered for the reasoning probe: %s", e)
        return False
    tail = rendered[rendered.rfind(_PROBE) + len(_PROBE):] if _PROBE in rendered else rendered[-200:]
    return tail.rfind(opening) > tail.rfind(close) and tail.rfind(opening) >= 0
