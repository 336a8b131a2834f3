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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

log = logging.getLogger("specchat.chat")


class ChatTemplateError(ValueError):
    pass


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


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
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

    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        try:
            return self._render(messages, add_generation_prompt)
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
        try:
            if self._compiled is None:
                self._compiled = _environment().from_string(self.template)
            return self._compiled.render(messages=messages, add_generation_prompt=add_generation_prompt,
                                         bos_token=self.bos_token, eos_token=self.eos_token)
        except ChatTemplateError:
            raise
        except TemplateError as e:  # includes the sandbox's SecurityError
            raise ChatTemplateError(f"the chat template ({self.source}) failed: {e}") from e


def choose_chat_format(template: str | None, bos_token: str, eos_token: str,
                       is_single_token: Any) -> ChatFormat:
    """The model's template when it has one that works; else the fallback its control tokens call for.

    `is_single_token(text)` says whether the vocabulary holds `text` as one (control) token.
    """
    if template and template.strip():
        fmt = ChatFormat(template, "the model's template", bos_token, eos_token)
        try:
            fmt.render([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
            return fmt
        except ChatTemplateError as e:
            # some templates refuse a system message; that is their rule, not a broken template
            try:
                fmt.render([{"role": "user", "content": "u"}])
                return fmt
            except ChatTemplateError:
                log.warning("%s; using a fallback format", e)
    for name, tokens, fallback, stops in FALLBACKS:
        if all(is_single_token(t) for t in tokens):
            return ChatFormat(fallback, f"{name} (fallback: the model has no chat template)", bos_token,
                              eos_token, stops)
    return ChatFormat(TRANSCRIPT_TEMPLATE, "plain transcript (fallback: the model has no chat template)",
                      bos_token, eos_token, TRANSCRIPT_STOPS)
