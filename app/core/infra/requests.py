"""The typed requests every layer speaks: how to load a model, how to sample, how to speculate, what to generate.

One dataclass per concern, one name and one default per field. The settings file stores them (app/core/infra/
settings.py), the sidebar and the CLI build them, they travel over the engine thread's signals as objects and the
engine runs them. Plain data with no llama.cpp import, so the settings schema and the CLI's --help can hold them.

Adding a sampler setting: a field on SamplerParams (its metadata names the CLI flag when it is not --<name>),
a row in the sidebar's SAMPLING_ROWS, and its use in app/core/inference/sampling.py. Settings and the CLI follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final, Literal, get_args

# what is sent when a chat outgrows the context (app/core/inference/context_fit.py applies it)
OverflowPolicy = Literal["stop", "truncate_middle", "rolling_window"]
OVERFLOW_POLICIES: Final[tuple[OverflowPolicy, ...]] = get_args(OverflowPolicy)


def as_policy(value: str) -> OverflowPolicy:
    """A stored or requested policy name as the type ("stop" for anything unknown: the safe one)."""
    for policy in OVERFLOW_POLICIES:
        if value == policy:
            return policy
    return "stop"


AUTO: Final = "auto"  # the draft length that adapts to measured acceptance and cost
DraftTokens = int | Literal["auto"]
MODES = ("off", "draft", "ngram")


def parse_draft_tokens(text: str) -> DraftTokens:
    """One draft length as the user writes it: a number >= 0 or "auto" (the one parser of `K|auto`)."""
    value = text.strip().lower()
    if value == AUTO:
        return AUTO
    try:
        k = int(value)
    except ValueError:
        raise ValueError(f"draft tokens must be a number or 'auto', not {text.strip()!r}") from None
    if k < 0:
        raise ValueError(f"draft tokens must be >= 0, not {k}")
    return k


def parse_draft_token_list(text: str) -> list[DraftTokens]:
    """A comma-separated sweep ("1,2,4,auto"), as the benchmark takes it."""
    return [parse_draft_tokens(v) for v in text.split(",") if v.strip()]


@dataclass(frozen=True)
class RpcServers:
    """Where the main model may put layers besides this machine (app/core/inference/rpc.py places them).

    endpoints: "host:port" each. split: empty for llama.cpp's split by free memory, else one weight for this
    machine followed by one per server (e.g. (1, 2, 2): a fifth of the layers here, two fifths on each server).
    """
    endpoints: tuple[str, ...] = ()
    split: tuple[float, ...] = ()

    def without(self, endpoint: str) -> RpcServers:
        """The same servers but one (after it was lost); a manual split loses that server's weight."""
        eps = [e for e in self.endpoints if e != endpoint]
        split: tuple[float, ...] = ()
        if self.split and endpoint in self.endpoints:
            i = self.endpoints.index(endpoint) + 1
            split = self.split[:i] + self.split[i + 1:]
        return RpcServers(tuple(eps), split)


@dataclass(frozen=True)
class LoadOptions:
    """How one model is loaded. Plain fields with defaults: a new option is one more line here."""

    n_ctx: int = 4096
    n_threads: int = 0  # 0: physical cores (llama-cpp-python's cpu_count//2 halves speed on 2 cores)
    n_gpu_layers: int = -1  # -1: all when a GPU backend exists, else 0
    n_batch: int = 512
    rpc: RpcServers = RpcServers()  # the main model's layers also on these servers (none: this machine only)
    # llama.cpp's flash attention: "auto" (llama.cpp's choice), "on" or "off". On the CPU "off" makes verify
    # batches ~25% cheaper at depth but costs greedy speculation its identity with plain decoding at near ties
    # (docs/benchmarks.md, issue 25): an expert's trade, never the default
    flash_attn: str = "auto"

    def local(self) -> LoadOptions:
        """The same options on this machine only (a draft stays local: it is what saves the round trips)."""
        return replace(self, rpc=RpcServers())


@dataclass(frozen=True)
class SamplerParams:
    """The sampler chain's settings (applied in llama.cpp's order: repetition penalty, top-k, top-p, min-p,
    temperature). The defaults are the engine's and the CLI's: greedy, reproducible; the chat window's own
    defaults are CHAT_SAMPLING."""

    temperature: float = field(default=0.0, metadata={"flag": "--temp", "help": "0 = greedy"})
    top_k: int = field(default=40, metadata={"help": "0 = the whole vocabulary"})
    top_p: float = field(default=0.95, metadata={"help": "1 = off"})
    min_p: float = field(default=0.05, metadata={"help": "0 = off"})
    repeat_penalty: float = field(default=1.0, metadata={"help": "1 = off"})
    repeat_last_n: int = field(default=64, metadata={"help": "tokens the repeat penalty looks back at; -1 = all"})
    seed: int = field(default=-1, metadata={"help": "-1 = a new seed each time"})

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass(frozen=True)
class SpeculationConfig:
    mode: str = "off"  # off | draft | ngram: a draft model and n-gram lookup are never combined
    draft_tokens: int = 4  # k; with auto, where the search starts
    auto: bool = False  # adapt k to measured acceptance and cost (k = 0 when drafting does not pay)
    min_draft: int = 0  # a shorter draft is not worth a verify row: dropped
    p_min: float = 0.0  # stop drafting when the draft's top probability falls below this
    ngram_size: int = 3

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"speculation mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.draft_tokens < 0 or self.min_draft < 0 or self.ngram_size < 1 or not 0.0 <= self.p_min <= 1.0:
            raise ValueError("draft tokens and the minimum draft must be >= 0, the n-gram size >= 1 and p-min "
                             "within 0..1")

    @property
    def length(self) -> DraftTokens:
        """The draft length as one value: k, or "auto"."""
        return AUTO if self.auto else self.draft_tokens

    def with_length(self, k: DraftTokens) -> SpeculationConfig:
        """The same settings with draft length k ("auto" keeps k as where auto starts)."""
        return replace(self, auto=True) if k == AUTO else replace(self, draft_tokens=int(k), auto=False)


# the chat window's defaults: sampled answers, a draft model with an adaptive length
CHAT_SAMPLING = SamplerParams(temperature=0.7)
CHAT_SPECULATION = SpeculationConfig(mode="draft", auto=True)


@dataclass(frozen=True)
class GenerateRequest:
    """One answer to generate: a conversation (rendered with the model's chat format) or raw text as it is."""

    messages: tuple[dict[str, str], ...] = ()
    raw: str | None = None
    max_tokens: int = 1024
    sampling: SamplerParams = SamplerParams()
    speculation: SpeculationConfig = SpeculationConfig()
    # the start of the assistant's answer, already written (an interrupted answer the user continues): the
    # prompt ends with it, so generation picks up where it stopped instead of answering afresh
    answer_prefix: str = ""
    stop: tuple[str, ...] = ()  # stop strings of the request's own, beside the chat format's
    # a predicted output (OpenAI's `prediction`): text the answer will mostly repeat, proposed as draft tokens
    # wherever the answer follows it, beside the draft model or n-gram lookup (app/core/inference/prediction.py)
    prediction: str = ""
    # when the chat does not fit the context with room for an answer: "stop" (sent as it is), "truncate_middle" or
    # "rolling_window" (older turns left out: app/core/inference/context_fit.py)
    overflow: str = "stop"
    # read the answer's reasoning block with the model's markers (its thinking tokens counted apart); False for
    # an answer being continued that was written without one (by a model that does not think aloud)
    read_reasoning: bool = True


class RequestRejected(ValueError):
    """A request the engine will not run as asked (a prediction longer than the context...): said before any
    token, with a stable `code` that the local server hands on as OpenAI's error code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BenchRequest:
    """A benchmark sweep on one prompt: plain against each draft length, `rounds` times."""

    prompt: GenerateRequest
    draft_tokens: tuple[DraftTokens, ...] = (1, 2, 4, 8, AUTO)
    rounds: int = 2
