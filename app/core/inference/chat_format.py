"""Turning a conversation into the prompt text a model was trained on.

The GGUF's own chat template (tokenizer.chat_template, Jinja as in Hugging Face transformers) is rendered in
Jinja's immutable sandbox: a template comes from a downloaded file and must not reach Python internals. Models
without a template (base models such as gemma-3-270m) get a fallback chosen by the control tokens their
vocabulary actually has (Gemma turns, ChatML), and otherwise a plain "User:/Assistant:" transcript with a stop
string. Raw mode skips all of this: the text is the prompt.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

log = logging.getLogger("specchat.chat")


class ChatTemplateError(ValueError):
    pass


class TemplateLimitError(ChatTemplateError):
    """The template ran past a time or size bound: trying it again with other messages would only cost more."""


GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% set role = 'model' if m['role'] == 'assistant' else 'user' %}"
    "{% if m['role'] == 'system' %}<start_of_turn>user\n{{ m['content'] }}<end_of_turn>\n"
    "{% else %}<start_of_turn>{{ role }}\n{{ m['content'] }}<end_of_turn>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TRANSCRIPT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'user' %}User: {{ m['content'] }}\n\n"
    "{% else %}Assistant: {{ m['content'] }}\n\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)
# the control tokens that make a fallback the right one (all must be single tokens in the vocabulary)
FALLBACKS: list[tuple[str, tuple[str, ...], str, tuple[str, ...]]] = [
    ("gemma turns", ("<start_of_turn>", "<end_of_turn>"), GEMMA_TEMPLATE, ()),
    ("ChatML", ("<|im_start|>", "<|im_end|>"), CHATML_TEMPLATE, ()),
]
TRANSCRIPT_STOPS = ("\nUser:", "\n\nUser:")


def _raise(message: str) -> None:
    raise ChatTemplateError(message)


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False) -> str:
    # transformers' tojson: no HTML escaping (Jinja's built-in escapes <, >, & and ')
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)


RENDER_TIME_S = 2.0  # a real template renders a long chat in milliseconds
MAX_OUTPUT_CHARS = 8 << 20  # far beyond any context window
_MAX_OPERAND = 1 << 20  # items a `*` may produce ("x" * 10**9 would take gigabytes in one step)


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus bounds on the operators that build big values in one step."""

    intercepted_binops = frozenset(["*", "**", "+"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise ChatTemplateError("the chat template raises a number to an absurd power")
        if operator == "*":
            sizes = [len(v) for v in (left, right) if isinstance(v, (str, list, tuple))]
            counts = [v for v in (left, right) if isinstance(v, int)]
            if sizes and counts and sizes[0] * max(counts[0], 0) > _MAX_OPERAND:
                raise TemplateLimitError("the chat template builds a string too large to be a prompt")
        return _bounded(super().call_binop(context, operator, left, right))

    def getattr(self, obj: Any, attribute: str) -> Any:  # ns.s read back while it is being doubled
        return _bounded(super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        return _bounded(super().getitem(obj, argument))


def _bounded(value: Any) -> Any:
    if isinstance(value, (str, list)) and len(value) > MAX_OUTPUT_CHARS:
        raise TemplateLimitError("the chat template builds a string too large to be a prompt")
    return value


def _bounded_str_join(seq: Any) -> str:  # `a ~ b`: jinja's compiled code calls str_join from its globals
    return _bounded("".join(map(str, seq)))


class _Deadline:
    """A trace function that stops the rendering thread's Python code once the time is up: templates compile to
    Python, so nested loops and quadratic string building are cut off on the next line they run."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def __call__(self, frame: Any, event: str, arg: Any) -> Any:
        if time.monotonic() > self.end:
            raise TemplateLimitError(f"the chat template took longer than {RENDER_TIME_S:g} s")
        return self


def _environment() -> ImmutableSandboxedEnvironment:
    env = _BoundedSandbox(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    env.filters["tojson"] = _tojson
    return env


@dataclass
class ChatFormat:
    template: str
    source: str  # "the model's template" or the fallback's name: shown in the UI and logged
    bos_token: str = ""
    eos_token: str = ""
    stop: tuple[str, ...] = ()
    _compiled: Any = field(default=None, repr=False)
    # the format to switch to when the model's own template fails on a real chat (it passed the trial render)
    fallback: ChatFormat | None = field(default=None, repr=False)

    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        try:
            return self._render_own(messages, add_generation_prompt)
        except ChatTemplateError as e:
            fb = self.fallback
            if fb is None or str(e).startswith("not a chat message"):
                raise
            log.warning("%s; switching to %s", e, fb.source)
            self.template, self.stop, self._compiled, self.fallback = fb.template, fb.stop, None, None
            self.source = fb.source.replace("(fallback: ", f"(fallback: the model's chat template failed: "
                                            f"{str(e)[:120]}; ", 1)
            return self._render_own(messages, add_generation_prompt)

    def _render_own(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        try:
            return self._render(messages, add_generation_prompt)
        except TemplateLimitError:
            raise
        except ChatTemplateError:
            if not messages or messages[0]["role"] != "system" or len(messages) < 2:
                raise
            # templates that refuse a system role (Gemma's own, for one): put it in front of the first turn
            system, first, *rest = messages
            merged = {"role": first["role"], "content": f"{system['content']}\n\n{first['content']}"}
            return self._render([merged, *rest], add_generation_prompt)

    def _render(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        for m in messages:
            if m.get("role") not in ("system", "user", "assistant") or not isinstance(m.get("content"), str):
                raise ChatTemplateError(f"not a chat message: {m!r}")
        previous = sys.gettrace()
        sys.settrace(_Deadline(RENDER_TIME_S))
        try:
            if self._compiled is None:
                self._compiled = _environment().from_string(self.template)
                self._compiled.root_render_func.__globals__["str_join"] = _bounded_str_join
            out: list[str] = []
            size = 0
            for piece in self._compiled.generate(messages=messages, add_generation_prompt=add_generation_prompt,
                                                 bos_token=self.bos_token, eos_token=self.eos_token):
                size += len(piece)
                if size > MAX_OUTPUT_CHARS:
                    raise TemplateLimitError(f"the chat template wrote more than {MAX_OUTPUT_CHARS:,} characters")
                out.append(piece)
            return "".join(out)
        except ChatTemplateError:
            raise
        except TemplateError as e:  # includes the sandbox's SecurityError and a missing include/import
            raise ChatTemplateError(f"the chat template ({self.source}) failed: {e}") from e
        except (Exception, RecursionError, MemoryError) as e:  # noqa: BLE001 - tojson(undefined), range(10**9)...
            raise ChatTemplateError(f"the chat template ({self.source}) failed: {type(e).__name__}: {e}") from e
        finally:
            sys.settrace(previous)


def choose_chat_format(template: str | None, bos_token: str, eos_token: str,
                       is_single_token: Any) -> ChatFormat:
    """The model's template when it has one that works; else the fallback its control tokens call for.

    `is_single_token(text)` says whether the vocabulary holds `text` as one (control) token.
    """
    if template and template.strip():
        fmt = ChatFormat(template, "the model's template", bos_token, eos_token,
                         fallback=_fallback(bos_token, eos_token, is_single_token, "for this chat"))
        try:
            fmt._render_own([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
            return fmt
        except TemplateLimitError as e:
            log.warning("%s; using a fallback format", e)
            return _fallback(bos_token, eos_token, is_single_token, f"the model's chat template failed: {e}")
        except ChatTemplateError:
            # some templates refuse a system message; that is their rule, not a broken template
            try:
                fmt._render_own([{"role": "user", "content": "u"}])
                return fmt
            except ChatTemplateError as e2:
                log.warning("%s; using a fallback format", e2)
                why = f"the model's chat template failed: {str(e2)[:160]}"
                return _fallback(bos_token, eos_token, is_single_token, why)
    return _fallback(bos_token, eos_token, is_single_token, "the model has no chat template")


def _fallback(bos_token: str, eos_token: str, is_single_token: Any, why: str) -> ChatFormat:
    for name, tokens, fallback, stops in FALLBACKS:
        if all(is_single_token(t) for t in tokens):
            return ChatFormat(fallback, f"{name} (fallback: {why})", bos_token, eos_token, stops)
    return ChatFormat(TRANSCRIPT_TEMPLATE, f"plain transcript (fallback: {why})", bos_token, eos_token,
                      TRANSCRIPT_STOPS)
