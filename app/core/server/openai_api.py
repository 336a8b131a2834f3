"""OpenAI's wire format, both ways: a request body into the engine's GenerateRequest, the engine's figures into
response objects, stream chunks, `usage` and a llama-server-style `timings` block. Pure functions, no HTTP.

What maps where:
- `messages` go through the model's own chat template (the engine renders them), `prompt` (/v1/completions) is
  raw text; `max_tokens` / `max_completion_tokens` (absent: to the end of the context), `temperature`, `top_p`,
  `top_k`, `min_p`, `repeat_penalty`, `seed`, `stop` (a string or up to MAX_STOPS), `n` = 1 only.
- Speculation per request: LM Studio's `draft_model` (the loaded draft's id, or null for none) and llama-server's
  `speculative.n_max` (a number or "auto"), `speculative.n_min`, `speculative.p_min`, plus `speculative.type`
  ("none" | "draft" | "ngram") and `speculative.ngram_size`; as a nested object or as dotted keys, the way
  llama-server takes them. What a request leaves out comes from the server's defaults (the window's sidebar, or
  `serve`'s flags).
- `prediction: {"type": "content", "content": ...}`: a predicted output, proposed as draft tokens.
- `usage.completion_tokens_details`: accepted_prediction_tokens (prediction tokens the model kept: they are in
  the answer where the prediction had them), rejected_prediction_tokens (prediction tokens it computed and threw
  away: billed, as OpenAI says, but not in the answer), reasoning_tokens (a thinking model's block, markers
  included; the text stays in the answer, as llama-server's `reasoning_format: none` gives it).
- Fields this engine cannot honour are refused with a clear 400 rather than silently dropped: `n` > 1,
  `logprobs`, `tools`, images, a JSON schema. Penalties OpenAI defines differently (`presence_penalty`,
  `frequency_penalty`) are ignored at 0 and refused otherwise: `repeat_penalty` is llama.cpp's.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from app.core.inference.answer_stats import AnswerStats
from app.core.inference.engine_process.protocol import ModelSummary
from app.core.infra.requests import (AUTO, CHAT_SAMPLING, GenerateRequest, SamplerParams, SpeculationConfig,
                                     parse_draft_tokens)

MAX_STOPS = 16
FINISH_REASONS = {"eos": "stop", "stop": "stop", "length": "length", "context": "length", "cancelled": "stop"}


class ApiError(Exception):
    """An error as OpenAI's clients expect it: an HTTP status and {"error": {message, type, param, code}}."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.kind = status, message, code, param, kind

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class ServedModels:
    """What the engine has loaded, as the API names it: ids are file names without .gguf."""
    main: str  # "" when nothing is loaded
    main_aliases: frozenset[str]
    draft: str  # "" when no draft model is loaded
    draft_aliases: frozenset[str]
    n_ctx: int
    owner: str = "specchat"


def model_ids(model: ModelSummary) -> tuple[str, frozenset[str]]:
    """A loaded model's API id and every name a request may use for it (id, file name, display name)."""
    name = model.path.replace("\\", "/").rsplit("/", 1)[-1]
    ident = name[:-5] if name.lower().endswith(".gguf") else name
    names = {ident, name, model.name}
    return ident, frozenset(n.lower() for n in names if n)


@dataclass(frozen=True)
class Defaults:
    """What a request that says nothing gets: the window's settings or serve's flags."""
    sampling: SamplerParams = CHAT_SAMPLING
    speculation: SpeculationConfig = SpeculationConfig(mode="off")


@dataclass(frozen=True)
class ParsedRequest:
    request: GenerateRequest
    model: str  # the id it answers as
    stream: bool
    include_usage: bool
    chat: bool


# ---- request -> GenerateRequest ---------------------------------------------------------------------------------
def parse_request(body: Any, served: ServedModels, defaults: Defaults, chat: bool) -> ParsedRequest:
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    if not served.main:
        raise ApiError(503, "no model is loaded: load one in SpecChat (or start `serve --model M`)",
                       "model_not_loaded", kind="server_error")
    model = body.get("model")
    if model not in (None, "") and (not isinstance(model, str) or model.lower() not in served.main_aliases):
        raise ApiError(404, f"The model {model!r} does not exist: this server serves {served.main!r}",
                       "model_not_found", "model")
    n = body.get("n", 1)
    if isinstance(n, bool) or n != 1:
        raise ApiError(400, f"n must be 1: one model answers one request at a time (n = {n!r})", "unsupported", "n")
    for key in ("logprobs", "top_logprobs", "echo"):
        if body.get(key):
            raise ApiError(400, f"{key} is not supported by this server", "unsupported", key)
    if chat and body.get("tools"):
        raise ApiError(400, "tools (function calling) are not supported by this server", "unsupported", "tools")
    fmt = body.get("response_format")
    if fmt is not None and not isinstance(fmt, dict):
        raise ApiError(400, 'response_format must be an object such as {"type": "text"}', param="response_format")
    if isinstance(fmt, dict) and fmt.get("type", "text") != "text":
        raise ApiError(400, f"response_format {fmt.get('type')!r} is not supported: only text", "unsupported",
                       "response_format")
    if chat:
        request = GenerateRequest(messages=_messages(body.get("messages")))
    else:
        request = GenerateRequest(raw=_prompt(body.get("prompt")))
    request = replace(request, max_tokens=_max_tokens(body, served.n_ctx), sampling=_sampling(body, defaults.sampling),
                      speculation=_speculation(body, served, defaults.speculation), stop=_stops(body.get("stop")),
                      prediction=_prediction(body.get("prediction")))
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise ApiError(400, f"stream must be true or false, not {stream!r}", param="stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ApiError(400, "stream_options must be an object", param="stream_options")
    include_usage = (options or {}).get("include_usage", False)
    if not isinstance(include_usage, bool):
        raise ApiError(400, "stream_options.include_usage must be true or false", param="stream_options.include_usage")
    return ParsedRequest(request, served.main, bool(stream), include_usage, chat)


def _messages(value: Any) -> tuple[dict[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise ApiError(400, "messages must be a non-empty list of {role, content}", param="messages")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict):
            raise ApiError(400, f"messages[{i}] must be an object", param=f"messages[{i}]")
        role = m.get("role")
        if role == "developer":  # OpenAI's newer name for the system role
            role = "system"
        if role not in ("system", "user", "assistant"):
            raise ApiError(400, f"messages[{i}].role {role!r} is not supported (system, developer, user, assistant)",
                           param=f"messages[{i}].role")
        out.append({"role": role, "content": _text(m.get("content"), f"messages[{i}].content")})
    return tuple(out)


def _utf8(text: str, param: str) -> str:
    """JSON's \\ud800 escapes make strings no UTF-8 can hold (lone surrogates): said here, not by the tokenizer."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, f"{param} holds a lone UTF-16 surrogate (an escape such as \\ud800 with no pair): "
                            "not text", "invalid_text", param) from None
    return text


def _text(content: Any, param: str) -> str:
    """A message's content: a string, or OpenAI's list of parts of which only text ones are readable here."""
    if isinstance(content, str):
        return _utf8(content, param)
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise ApiError(400, f"{param}: only text parts are supported, not {kind!r}", "unsupported", param)
            parts.append(part["text"])
        return _utf8("".join(parts), param)
    raise ApiError(400, f"{param} must be a string or a list of text parts", param=param)


def _prompt(value: Any) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str) or not value:
        raise ApiError(400, "prompt must be a non-empty string (one prompt per request)", param="prompt")
    return _utf8(value, "prompt")


def _number(body: dict[str, Any], key: str, kind: type, low: float | None = None,
            high: float | None = None) -> Any:
    value = body.get(key)
    if value is None:
        return None
    # NaN and Infinity (Python's json reads them) fail no comparison: refused here, as are bools and huge floats
    ok = isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and math.isfinite(value)
    if ok and kind is int and isinstance(value, float):
        ok = value.is_integer() and abs(value) < 2 ** 63
    if not ok or (low is not None and value < low) or (high is not None and value > high):
        bounds = f" within {low}..{high}" if high is not None else f" >= {low}" if low is not None else ""
        raise ApiError(400, f"{key} must be {'a number' if kind is float else 'an integer'}{bounds}, not {value!r}",
                       param=key)
    try:
        return kind(value)
    except OverflowError:  # an integer of hundreds of digits where a float is asked for
        raise ApiError(400, f"{key} is out of range", param=key) from None


def _max_tokens(body: dict[str, Any], n_ctx: int) -> int:
    limit = _number(body, "max_completion_tokens", int, 1)
    if limit is None:
        limit = _number(body, "max_tokens", int, 1)
    return limit if limit is not None else max(1, n_ctx)  # to the context's end (the engine stops there)


def _sampling(body: dict[str, Any], base: SamplerParams) -> SamplerParams:
    for key in ("presence_penalty", "frequency_penalty"):
        if _number(body, key, float, -2.0, 2.0):
            raise ApiError(400, f"{key} is not supported: use repeat_penalty (llama.cpp's)", "unsupported", key)
    given = {"temperature": _number(body, "temperature", float, 0.0, 2.0),
             "top_p": _number(body, "top_p", float, 0.0, 1.0), "top_k": _number(body, "top_k", int, 0),
             "min_p": _number(body, "min_p", float, 0.0, 1.0),
             "repeat_penalty": _number(body, "repeat_penalty", float, 0.01, 100.0), "seed": _number(body, "seed", int)}
    return replace(base, **{k: v for k, v in given.items() if v is not None})


def _stops(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if (not isinstance(stops, list) or len(stops) > MAX_STOPS
            or not all(isinstance(s, str) and s for s in stops)):
        raise ApiError(400, f"stop must be a string or a list of up to {MAX_STOPS} non-empty strings", param="stop")
    return tuple(_utf8(s, "stop") for s in stops)


def _prediction(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, dict) or value.get("type") != "content":
        raise ApiError(400, 'prediction must be {"type": "content", "content": ...}', param="prediction")
    return _text(value.get("content"), "prediction.content")


def _speculation_fields(body: dict[str, Any]) -> dict[str, Any]:
    """llama-server's speculative.* settings, from a nested object or from dotted keys."""
    nested = body.get("speculative")
    fields = dict(nested) if isinstance(nested, dict) else {}
    if nested is not None and not isinstance(nested, dict):
        raise ApiError(400, "speculative must be an object", param="speculative")
    for key, value in body.items():
        if key.startswith("speculative."):
            fields[key.split(".", 1)[1]] = value
    return fields


def _speculation(body: dict[str, Any], served: ServedModels, base: SpeculationConfig) -> SpeculationConfig:
    spec = base
    if "draft_model" in body:
        draft = body["draft_model"]
        if draft in (None, ""):
            spec = replace(spec, mode="off") if spec.mode == "draft" else spec
        elif not isinstance(draft, str) or draft.lower() not in served.draft_aliases:
            loaded = f"the loaded draft is {served.draft!r}" if served.draft else "no draft model is loaded"
            raise ApiError(400, f"draft model {draft!r} is not loaded: {loaded}", "model_not_found", "draft_model")
        else:
            spec = replace(spec, mode="draft")
    fields = _speculation_fields(body)
    kind = fields.get("type")
    if kind is not None:
        modes = {"none": "off", "off": "off", "draft": "draft", "ngram": "ngram"}
        if not isinstance(kind, str) or kind not in modes:
            raise ApiError(400, f"speculative.type must be none, draft or ngram, not {kind!r}",
                           param="speculative.type")
        spec = replace(spec, mode=modes[kind])
    if spec.mode == "draft" and not served.draft:
        if kind == "draft" or "draft_model" in body:
            raise ApiError(400, "speculation with a draft model was asked for, but no draft model is loaded",
                           "model_not_found", "draft_model")
        spec = replace(spec, mode="off")  # the default said draft, but the draft went: plain decoding
    if "n_max" in fields:
        try:
            spec = spec.with_length(parse_draft_tokens(str(fields["n_max"])))
        except ValueError as e:
            raise ApiError(400, f"speculative.n_max: {e}", param="speculative.n_max") from None
    numbers = {"n_min": ("min_draft", int, 0, None), "p_min": ("p_min", float, 0.0, 1.0),
               "ngram_size": ("ngram_size", int, 1, 8)}
    for key, (name, kind_, low, high) in numbers.items():
        value = _number(fields, key, kind_, low, high)
        if value is not None:
            spec = replace(spec, **{name: value})
    return spec


# ---- engine figures -> responses ------------------------------------------------------------------------------
def new_id(chat: bool) -> str:
    return ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]


def finish_reason(stats: AnswerStats) -> str:
    return FINISH_REASONS.get(stats.stop_reason, "stop")


def usage(stats: AnswerStats) -> dict[str, Any]:
    prompt, completion = stats.prompt_tokens, stats.generated_tokens
    drafted, kept = stats.prediction_drafted, stats.prediction_accepted
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "completion_tokens_details": {"accepted_prediction_tokens": kept,
                                          "rejected_prediction_tokens": drafted - kept,
                                          "reasoning_tokens": stats.reasoning_tokens}}


def timings(stats: AnswerStats) -> dict[str, Any]:
    """llama-server's names, plus the predicted output's share."""
    prompt_s, prompt_n = stats.prompt_eval_s, stats.prompt_tokens
    gen_s = max(0.0, stats.elapsed_s - stats.ttft_s)
    return {"prompt_n": prompt_n, "prompt_ms": round(prompt_s * 1e3, 2),
            "prompt_per_second": round(prompt_n / prompt_s, 2) if prompt_s > 0 else 0.0,
            "predicted_n": stats.generated_tokens, "predicted_ms": round(gen_s * 1e3, 2),
            "predicted_per_second": stats.tokens_per_second,
            "draft_n": stats.drafted, "draft_n_accepted": stats.accepted,
            "prediction_n": stats.prediction_drafted, "prediction_n_accepted": stats.prediction_accepted}


def completion_object(parsed: ParsedRequest, rid: str, text: str, stats: AnswerStats) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": finish_reason(stats)}
    if parsed.chat:
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice["text"] = text
    return {"id": rid, "object": "chat.completion" if parsed.chat else "text_completion", "created": int(time.time()),
            "model": parsed.model, "system_fingerprint": fingerprint(), "choices": [choice],
            "usage": usage(stats), "timings": timings(stats)}


def chunk_object(parsed: ParsedRequest, rid: str, created: int, text: str | None = None,
                 finish: str | None = None, first: bool = False) -> dict[str, Any]:
    """One stream chunk: the first carries the role, the last the finish reason."""
    choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": finish}
    if parsed.chat:
        delta: dict[str, Any] = {"role": "assistant", "content": ""} if first else {}
        if text:
            delta["content"] = text
        choice["delta"] = delta
    else:
        choice["text"] = text or ""
    return {"id": rid, "object": "chat.completion.chunk" if parsed.chat else "text_completion",
            "created": created, "model": parsed.model, "system_fingerprint": fingerprint(), "choices": [choice]}


def fingerprint() -> str:
    from app import __version__

    return f"specchat-{__version__}"


def models_list(served: ServedModels) -> dict[str, Any]:
    created = int(time.time())
    data = [{"id": mid, "object": "model", "created": created, "owned_by": served.owner, "role": role}
            for mid, role in ((served.main, "main"), (served.draft, "draft")) if mid]
    return {"object": "list", "data": data}


def describe_speculation(spec: SpeculationConfig, prediction: bool) -> str:
    """For the request log: "draft auto", "ngram 4", "off", with "+ prediction"."""
    what = "off" if spec.mode == "off" else f"{spec.mode} {AUTO if spec.auto else spec.draft_tokens}"
    return what + (" + prediction" if prediction else "")
