"""The messages between the app and its engine process: commands one way, events the other.

Plain frozen dataclasses, pickled over a local socket pair (multiprocessing.connection framing): the two ends are
the same program at the same version, so pickle is both the fastest and the simplest codec (the requests are
the same dataclasses the engine runs: app/core/infra/requests.py). Token events carry batches (one per frame at
most, BATCH_S), so the hop costs one message per ~16 ms, not one per token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from app.core.models.reasoning import ReasoningFormat
from app.core.inference.answer_stats import AnswerStats
from app.core.inference.bench_report import BenchReport
from app.core.infra.requests import BenchRequest, GenerateRequest, LoadOptions

ModelRole = Literal["main", "draft"]  # which of the two models a command or event is about

BATCH_S = 0.016  # one token batch per frame at most: a 1 000 tok/s stream is ~60 messages a second


# ---- commands: app -> engine ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Load:
    role: ModelRole
    path: str
    options: LoadOptions


@dataclass(frozen=True)
class Unload:
    role: ModelRole


@dataclass(frozen=True)
class Generate:
    request_id: int
    request: GenerateRequest


@dataclass(frozen=True)
class Measure:
    """How many tokens the request's prompt takes (the context gauge)."""
    request_id: int
    request: GenerateRequest


@dataclass(frozen=True)
class Bench:
    request_id: int
    request: BenchRequest


@dataclass(frozen=True)
class Cancel:
    """Stop that request (generation or benchmark); it may not have started yet. Handled as it arrives, not queued."""
    request_id: int


@dataclass(frozen=True)
class CancelLoad:
    """Stop the running load, if any (handled as it arrives)."""


@dataclass(frozen=True)
class Shutdown:
    """Free the models and exit (queued: what runs is cancelled first by the client)."""


@dataclass(frozen=True)
class Crash:
    """Test only: end the engine process the way a native crash does ("abort": SIGABRT, "segv": SIGSEGV).
    The engine honours it only when it was started with SPECCHAT_TEST_HOOKS=1."""
    how: str = "abort"


Command = Load | Unload | Generate | Measure | Bench | Cancel | CancelLoad | Shutdown | Crash


# ---- events: engine -> app ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ready:
    pid: int
    cpu: str  # cpu_buffers' summary: CPU features and the weight buffer types in use
    facts: dict[str, str] = field(default_factory=dict)  # llama_backend.build_facts() (Help > About)


@dataclass(frozen=True)
class LoadProgress:
    role: ModelRole
    fraction: float


@dataclass(frozen=True)
class ModelSummary:
    """What a loaded model is, for the sidebar, the server's model list and crash reports (server.model_summary)."""
    path: str
    name: str  # as people read it (ModelInfo.display_name)
    size_label: str
    quantization: str
    offloaded_layers: int
    n_layers: int  # the model's blocks + the output layer
    backend: str
    n_ctx: int
    devices: list[tuple[str, int]]  # (device name, layers) in the split's order
    chat_format: str  # the main model's: where its chat format came from ("" for a draft)
    reasoning: ReasoningFormat | None = None  # the main model's reasoning markers (None: it does not think aloud)


@dataclass(frozen=True)
class Loaded:
    role: ModelRole
    summary: ModelSummary


@dataclass(frozen=True)
class LoadFailed:
    role: ModelRole
    message: str
    retry_gpu_layers: int  # a GPU layer count worth offering, -1: none
    kept: ModelSummary | None  # what the engine holds for that role now (None: nothing; unload-first switching)


@dataclass(frozen=True)
class Unloaded:
    role: ModelRole


@dataclass(frozen=True)
class LiveStats:
    generated_tokens: int
    prompt_tokens: int
    acceptance_rate: float
    tokens_per_second: float


@dataclass(frozen=True)
class Tokens:
    request_id: int
    pieces: list[tuple[str, bool]]  # (text, an accepted draft token)
    live: LiveStats


@dataclass(frozen=True)
class PromptProgress:
    """How far prompt evaluation got (n_batch chunks), for long prompts."""
    request_id: int
    done: int
    total: int


@dataclass(frozen=True)
class Finished:
    request_id: int
    stats: AnswerStats


@dataclass(frozen=True)
class BenchProgress:
    request_id: int
    line: str
    fraction: float


@dataclass(frozen=True)
class BenchFinished:
    request_id: int
    report: BenchReport | None  # None when it failed or was cancelled
    error: str = ""  # why


@dataclass(frozen=True)
class Measured:
    request_id: int
    tokens: int  # -1: it could not be counted


@dataclass(frozen=True)
class Died:
    """Made by the client, not sent: the engine process ended without being asked. `lost` holds the commands
    that were under way (each gets its failure from the client's user), `loaded` what it had loaded."""
    exit_code: int  # negative: the signal number
    reason: str  # "SIGSEGV", "SIGABRT", "exit code 1"
    message: str  # the sentence for the user, naming what it was doing and the log file
    lost: tuple[Command, ...]
    loaded: dict[str, ModelSummary]  # role -> model
    log_path: str


Event = (Ready | LoadProgress | Loaded | LoadFailed | Unloaded | Tokens | PromptProgress | Finished
         | BenchProgress | BenchFinished | Measured | Died)
