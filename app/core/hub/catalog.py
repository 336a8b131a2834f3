"""The curated catalog of recommended main/draft pairs (models/catalog.toml), resolved against the hub."""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path

from app.core.hub.gguf_files import GgufChoice, group_gguf_files
from app.core.hub.client import HubClient, HubError, RepoFiles, check_repo_id
from app.core.infra.resources import resource_path

log = logging.getLogger("specchat.hub")


@dataclass(frozen=True)
class CatalogModel:
    repo: str
    quant: str
    file: str  # the file's name when the catalog was written; the quant decides if it has moved


@dataclass(frozen=True)
class CatalogPair:
    id: str
    title: str
    notes: str
    main: CatalogModel
    draft: CatalogModel


def catalog_path() -> Path:
    return resource_path("models/catalog.toml")


def _model(d: object, where: str) -> CatalogModel:
    if not isinstance(d, dict) or not all(isinstance(d.get(k), str) for k in ("repo", "quant")):
        raise ValueError(f"{where} needs repo and quant strings")
    return CatalogModel(check_repo_id(d["repo"]), d["quant"].upper(), str(d.get("file", "")))


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
