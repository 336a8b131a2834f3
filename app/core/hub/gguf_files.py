"""A repo's GGUF files as a user chooses among them: quantization, split parts grouped, what fits this machine."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from app.core.hub.client import RemoteFile
from app.core.infra.machine import total_ram, total_vram
from app.core.models.model_info import SPLIT_RE

# best first; F16/BF16/F32 last: for inference they cost 2-4x the memory of Q8_0 for no visible gain
QUALITY_ORDER = (
    "Q8_0", "Q6_K_L", "Q6_K", "Q5_K_L", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_L", "Q4_K_M", "IQ4_NL", "IQ4_XS",
    "Q4_K_S", "Q4_1", "Q4_0", "IQ3_M", "Q3_K_L", "Q3_K_M", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q2_K_L", "Q2_K",
    "IQ2_M", "IQ2_S", "IQ2_XS", "IQ2_XXS", "IQ1_M", "IQ1_S", "TQ2_0", "TQ1_0", "MXFP4", "BF16", "F16", "F32",
)
_QUANT_RE = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(sorted(QUALITY_ORDER, key=len, reverse=True)) + r")"
                       r"(?![A-Za-z0-9])", re.IGNORECASE)
# memory beyond the weights: KV cache for a few thousand tokens, compute buffers, the app itself
RUNTIME_OVERHEAD = 1.2
RUNTIME_EXTRA_BYTES = 512 << 20


def quantization(filename: str) -> str:
    # the last match wins: "Qwen2.5-0.5B-Instruct-Q8_0" has no earlier one, "Q4_K_M-Q8_0-embed" keeps the tail
    found = _QUANT_RE.findall(PurePosixPath(filename).name.replace(".", "-"))
    return found[-1].upper() if found else ""


def quality_rank(quant: str) -> int:
    return QUALITY_ORDER.index(quant) if quant in QUALITY_ORDER else len(QUALITY_ORDER)


@dataclass(frozen=True)
class GgufChoice:
    """One downloadable model: a single GGUF file, or every part of a split one (llama.cpp opens part 1)."""

    name: str  # the file, or the split's stem
    quant: str
    parts: tuple[RemoteFile, ...]
    is_projector: bool  # a vision projector (mmproj): not a model to chat with

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def first(self) -> RemoteFile:
        return self.parts[0]

    @property
    def complete(self) -> bool:
        m = SPLIT_RE.match(PurePosixPath(self.first.path).name)
        return m is None or len(self.parts) == int(m["count"])


def group_gguf_files(files: Iterable[RemoteFile]) -> list[GgufChoice]:
    """GGUF files grouped into models (split parts together, in order), largest quality first."""
    singles: list[GgufChoice] = []
    splits: dict[str, list[RemoteFile]] = {}
    for f in files:
        name = PurePosixPath(f.path).name
        if not name.lower().endswith(".gguf"):
            continue
        m = SPLIT_RE.match(name)
        if m:
            splits.setdefault(str(PurePosixPath(f.path).parent / m["stem"]), []).append(f)
        else:
            singles.append(GgufChoice(f.path, quantization(f.path), (f,), "mmproj" in name.lower()))
    for stem, parts in splits.items():
        parts.sort(key=lambda p: p.path)
        singles.append(GgufChoice(stem, quantization(stem), tuple(parts), "mmproj" in stem.lower()))
    return sorted(singles, key=lambda c: (c.is_projector, quality_rank(c.quant), c.name))


@dataclass(frozen=True)
class MemoryBudget:
    ram_bytes: int
    vram_bytes: int  # 0: no GPU known

    @property
    def bytes(self) -> int:
        """What a model may take: all of the VRAM when there is a GPU (full offload is what makes it fast),
        else 60% of the RAM (the OS, the app and a browser need the rest)."""
        return int(self.vram_bytes * 0.9) if self.vram_bytes else int(self.ram_bytes * 0.6)

    @property
    def where(self) -> str:
        return f"{self.vram_bytes / 2**30:.0f} GiB VRAM" if self.vram_bytes else f"{self.ram_bytes / 2**30:.0f} GiB RAM"

    def placement(self, need_bytes: int) -> str:
        """Where a model that needs `need_bytes` (memory_needed) runs here: "fits" (all on the GPU, or in RAM
        without one), "partial" (GPU and RAM together: layers beyond the VRAM run on the CPU, slower) or
        "too_big"."""
        if need_bytes <= self.bytes:
            return "fits"
        if self.vram_bytes and need_bytes <= self.bytes + int(self.ram_bytes * 0.6):
            return "partial"
        return "too_big"


def machine_budget() -> MemoryBudget:
    return MemoryBudget(total_ram() or 8 << 30, total_vram())  # an unknown machine: assume a modest one


def memory_needed(file_bytes: int) -> int:
    """Memory to run weights of this size: the weights plus KV cache, compute buffers and the app."""
    return int(file_bytes * RUNTIME_OVERHEAD + RUNTIME_EXTRA_BYTES)


def fits(choice: GgufChoice, budget_bytes: int) -> bool:
    return memory_needed(choice.size) <= budget_bytes


def recommend(choices: list[GgufChoice], budget_bytes: int) -> GgufChoice | None:
    """The best quality that fits the budget; F16/F32 only when the repo has nothing quantized."""
    usable = [c for c in choices if not c.is_projector and c.complete]
    fitting = [c for c in usable if fits(c, budget_bytes)]
    if not fitting:
        return None
    return min(fitting, key=lambda c: (quality_rank(c.quant), -c.size))
