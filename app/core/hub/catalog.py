"""The curated catalog of recommended main/draft pairs (models/catalog.toml), resolved against the hub."""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path

from app.core.hub.gguf_files import GgufChoice, MemoryBudget, group_gguf_files, memory_needed
from app.core.hub.client import HubClient, HubError, RepoFiles, check_repo_id
from app.core.infra.resources import resource_path

log = logging.getLogger("specchat.hub")


@dataclass(frozen=True)
class CatalogModel:
    repo: str
    quant: str
    file: str  # the file's name when the catalog was written; the quant decides if it has moved
    size: int = 0  # its size in bytes when the catalog was written (0: not given); the hub's listing decides later


@dataclass(frozen=True)
class CatalogPair:
    id: str
    title: str
    notes: str
    main: CatalogModel
    draft: CatalogModel

    @property
    def size(self) -> int:
        """Both files' bytes as the catalog gives them; 0 when either is unknown."""
        return self.main.size + self.draft.size if self.main.size and self.draft.size else 0


@dataclass(frozen=True)
class PairFit:
    """How a pair (main and draft loaded together) suits this machine."""

    placement: str  # "fits" | "partial" | "too_big" | "unknown" (MemoryBudget.placement, or no sizes known)
    need_bytes: int  # memory for both, weights plus runtime overhead; 0 when unknown
    where: str  # the memory it was measured against, e.g. "24 GiB VRAM"

    @property
    def rank(self) -> int:
        """Sort key: what fits first, then what runs partly on the CPU, then unknown, then too big."""
        return {"fits": 0, "partial": 1, "unknown": 2, "too_big": 3}[self.placement]


def pair_fit(pair: CatalogPair, budget: MemoryBudget) -> PairFit:
    if not pair.size:
        return PairFit("unknown", 0, budget.where)
    # the main and the draft share the machine: the KV cache and buffers of each count too
    need = memory_needed(pair.main.size) + memory_needed(pair.draft.size)
    return PairFit(budget.placement(need), need, budget.where)


def sort_by_fit(pairs: list[CatalogPair], budget: MemoryBudget) -> list[tuple[CatalogPair, PairFit]]:
    """The pairs with their fit, the ones this machine runs first; the catalog's order within each group."""
    rated = [(p, pair_fit(p, budget)) for p in pairs]
    return sorted(rated, key=lambda pf: pf[1].rank)


def catalog_path() -> Path:
    return resource_path("models/catalog.toml")


def _model(d: object, where: str) -> CatalogModel:
    if not isinstance(d, dict) or not all(isinstance(d.get(k), str) for k in ("repo", "quant")):
        raise ValueError(f"{where} needs repo and quant strings")
    size_gb = d.get("size_gb", 0)
    if not isinstance(size_gb, (int, float)) or isinstance(size_gb, bool) or size_gb < 0:
        raise ValueError(f"{where}: size_gb must be a number of gigabytes (10^9 bytes), not {size_gb!r}")
    return CatalogModel(check_repo_id(d["repo"]), d["quant"].upper(), str(d.get("file", "")), int(size_gb * 1e9))


def load_catalog(path: Path | None = None) -> list[CatalogPair]:
    path = path or catalog_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        pairs = [CatalogPair(str(p["id"]), str(p["title"]), str(p.get("notes", "")), _model(p.get("main"), "main"),
                             _model(p.get("draft"), "draft")) for p in data.get("pair", [])]
    except (OSError, tomllib.TOMLDecodeError, KeyError, ValueError, HubError) as e:
        log.error("catalog %s unusable: %s", path, e)
        return []
    return pairs


def resolve(listing: RepoFiles, model: CatalogModel) -> GgufChoice:
    """The catalog's file if the repo still has it, else the same quantization under its current name."""
    choices = [c for c in group_gguf_files(listing.files) if not c.is_projector and c.complete]
    for c in choices:
        if model.file and (c.name == model.file or c.first.path == model.file):
            return c
    for c in choices:
        if c.quant == model.quant:
            return c
    have = ", ".join(sorted({c.quant for c in choices if c.quant})) or "none"
    raise HubError(f"{listing.repo_id} no longer has a {model.quant} file (quantizations there: {have})")


def resolve_pair(client: HubClient, pair: CatalogPair) -> list[tuple[RepoFiles, GgufChoice]]:
    """[(listing, choice) for the main, then the draft]: ready for DownloadManager.enqueue."""
    out = []
    for model in (pair.main, pair.draft):
        listing = client.repo_files(model.repo)
        out.append((listing, resolve(listing, model)))
    return out
