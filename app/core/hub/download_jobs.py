"""What a download is: its states, retry policy, the job record kept in queue.json, and the safe library path
it installs to (names from the hub are cleaned here, so no hub text reaches the filesystem unchecked).
The queue that runs jobs is app/core/hub/downloads.py."""

from __future__ import annotations

import dataclasses
import enum
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from app.core.hub.client import check_repo_id, safe_filename
from app.core.models.model_info import SPLIT_RE
from app.core.hub.transfer import PartSpec


class State(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"  # waiting out a backoff before the next attempt
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in (State.QUEUED, State.RUNNING, State.RETRYING)

    @property
    def finished(self) -> bool:
        return self in (State.DONE, State.FAILED, State.CANCELLED)


@dataclass
class RetryPolicy:
    attempts: int = 8  # consecutive failed attempts without progress before a job fails
    base_delay: float = 2.0
    max_delay: float = 60.0
    checksum_attempts: int = 2  # whole re-downloads after a checksum mismatch

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * 2 ** max(0, attempt - 1))


@dataclass
class DownloadJob:
    id: str
    repo_id: str
    revision: str
    name: str  # what the user sees: the file, or a split model's stem
    parts: list[PartSpec]
    dest: str  # relative to the models dir: the file, or a split model's directory
    state: State = State.QUEUED
    error: str = ""
    done_bytes: int = 0
    speed: float = 0.0  # bytes/s, smoothed
    attempt: int = 0
    checksum_failures: int = 0
    retry_at: float = 0.0  # time.time() of the next attempt while RETRYING
    created: float = field(default_factory=time.time)
    group: str = ""  # jobs enqueued together (a recommended pair) share it

    @property
    def total_bytes(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def eta_seconds(self) -> float | None:
        if self.state != State.RUNNING or self.speed <= 0:
            return None
        return (self.total_bytes - self.done_bytes) / self.speed

    @property
    def fraction(self) -> float:
        return self.done_bytes / self.total_bytes if self.total_bytes else 0.0

    def model_path(self, models_dir: Path) -> Path:
        """The file the library loads: the file itself, or part 1 inside a split model's directory."""
        return model_file(models_dir, PurePosixPath(self.dest), self.parts)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["state"] = self.state.value
        return d

    @classmethod
    def from_json(cls, d: dict) -> DownloadJob:
        d = dict(d)
        d["parts"] = [PartSpec(**p) for p in d["parts"]]
        d["state"] = State(d["state"])
        return cls(**d)


def safe_component(text: str) -> str:
    """One path component from hub-supplied text that cannot climb out of, or hide in, a directory.

    When cleaning changed the text, a short hash of the original is added, so two names that clean alike
    ("a?b.gguf", "a*b.gguf") get distinct files; a .gguf name keeps its extension however long or dotted."""
    return safe_filename(text)


def safe_relative(*parts: str) -> PurePosixPath:
    pieces: list[str] = []
    for p in parts:
        pieces.extend(safe_component(c) for c in PurePosixPath(p.replace("\\", "/")).parts if c not in ("/", ""))
    return PurePosixPath(*pieces)


def destination(repo_id: str, choice_parts: list[PartSpec]) -> PurePosixPath:
    """models/<owner>/<name>/<file> for a single file; models/<owner>/<name>/<stem>/ for a split model."""
    owner, name = check_repo_id(repo_id).split("/")
    first = choice_parts[0].path
    if len(choice_parts) > 1:
        m = SPLIT_RE.match(PurePosixPath(first).name)
        stem = m["stem"] if m else PurePosixPath(first).stem
        return safe_relative(owner, name, str(PurePosixPath(first).parent), stem)
    return safe_relative(owner, name, first)


def model_file(models_dir: Path, dest: PurePosixPath, parts: list[PartSpec]) -> Path:
    """The file the library loads for a download to `dest`: the file itself, or part 1 in a split's directory."""
    return models_dir / dest / PurePosixPath(parts[0].path).name if len(parts) > 1 else models_dir / dest


def installed_file(models_dir: Path, repo_id: str, parts: list[PartSpec]) -> Path | None:
    """The library's copy of this download, when it has one: the file at its download destination with part 1's
    size (a size of 0 means unknown: then being there is enough). Unfinished bytes live in the downloads folder,
    so a file here is a finished one."""
    final = model_file(models_dir, destination(repo_id, parts), parts)
    try:
        size = final.stat().st_size
    except OSError:
        return None
    return final if parts[0].size <= 0 or size == parts[0].size else None


def is_inside(root: Path, p: Path) -> bool:
    try:
        p.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False
