"""Find a draft for this model on the hub: smaller models with the same tokenizer, checked before downloading.

Candidates come from hub searches (the main model's family by architecture, among them the catalog's drafts, its
name's first word, whatever the user typed), minus repos whose name says they are not smaller. For each, one GGUF's header
is fetched with range requests (remote_gguf) and put through the one compatibility rule (compat): the verdict
is llama.cpp's, decided by tokenizer, never by name. Results stream out one by one through a callback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from app.core.models.compat import check_compatibility, max_useful_draft_params
from app.core.hub.gguf_files import GgufChoice, group_gguf_files, quality_rank
from app.core.hub.client import HubClient, HubError
from app.core.models.model_info import ModelInfo
from app.core.hub.remote_gguf import remote_model_info

log = logging.getLogger("specchat.hub")

# small siblings worth searching for, per architecture (general.architecture of the main model)
FAMILY_QUERIES = {
    "llama": ["Llama-3.2-1B-Instruct", "Llama-3.2-3B-Instruct"],
    "qwen2": ["Qwen2.5-0.5B-Instruct", "Qwen2.5-1.5B-Instruct", "Qwen2.5-Coder-0.5B-Instruct"],
    "qwen3": ["Qwen3-0.6B", "Qwen3-1.7B"],
    "qwen3moe": ["Qwen3-0.6B", "Qwen3-1.7B"],
    "gemma3": ["gemma-3-270m", "gemma-3-1b"],
    "gemma2": ["gemma-2-2b"],
    "phi3": ["Phi-3.5-mini"],
}
_SIZE_RE = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)([BbMm])(?![A-Za-z])")
_NAME_NOISE = {"meta", "the", "gguf", "instruct", "chat", "it", "base"}
PREFERRED_DRAFT_QUANTS = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "F16", "BF16")


def size_from_name(repo_id: str) -> float | None:
    """Parameters from a repo name like Qwen2.5-0.5B-Instruct-GGUF (the last size mentioned), else None."""
    found = _SIZE_RE.findall(repo_id.split("/")[-1])
    if not found:
        return None
    number, unit = found[-1]
    return float(number) * (1e9 if unit in "Bb" else 1e6)


def search_queries(main: ModelInfo, extra: Iterable[str] = ()) -> list[str]:
    words = [w for w in re.split(r"[\s_\-]+", main.name) if w and not _SIZE_RE.fullmatch(w)]
    first = next((w for w in words if w.lower() not in _NAME_NOISE), "")
    queries = [*extra, *FAMILY_QUERIES.get(main.architecture, []), first]
    return list(dict.fromkeys(q.strip() for q in queries if q and q.strip()))


def probe_choice(choices: list[GgufChoice]) -> GgufChoice | None:
    """The file a user would download as a draft: Q8_0 if there is one, else the closest quality."""
    usable = [c for c in choices if not c.is_projector and c.complete]
    if not usable:
        return None
    ranked = sorted(usable, key=lambda c: (PREFERRED_DRAFT_QUANTS.index(c.quant) if c.quant in
                                          PREFERRED_DRAFT_QUANTS else 99, quality_rank(c.quant), c.size))
    return ranked[0]


@dataclass(frozen=True)
class DraftSuggestion:
    repo_id: str
    revision: str
    choice: GgufChoice | None  # the file checked, and the one offered for download
    compatible: bool
    reasons: list[str] = field(default_factory=list)  # why it does not fit (or why it could not be checked)
    advice: list[str] = field(default_factory=list)
    parameter_count: int = 0


def candidate_repos(client: HubClient, main: ModelInfo, extra_queries: Iterable[str] = (),
                    exclude: Iterable[str] = (), limit: int = 8) -> list[str]:
    too_big = max_useful_draft_params(main.parameter_count) if main.parameter_count else float("inf")
    skip = {r.lower() for r in exclude}
    found: dict[str, int] = {}
    for q in search_queries(main, extra_queries):
        try:
            for r in client.search(q, sort="downloads", limit=20):
                size = size_from_name(r.repo_id)
                if r.repo_id.lower() in skip or (size is not None and size > too_big):
                    continue
                found[r.repo_id] = max(found.get(r.repo_id, 0), r.downloads)
        except HubError as e:
            log.warning("draft search %r failed: %s", q, e)
            if not e.retryable:
                continue
            raise
    return sorted(found, key=lambda r: -found[r])[:limit]


def find_drafts(client: HubClient, main: ModelInfo, *, extra_queries: Iterable[str] = (),
                exclude: Iterable[str] = (), limit: int = 8,
                on_result: Callable[[DraftSuggestion], None] | None = None,
                should_stop: Callable[[], bool] = lambda: False) -> list[DraftSuggestion]:
    """Check up to `limit` candidate repos; compatible ones first, then the rest with their reasons."""
    results: list[DraftSuggestion] = []
    for repo_id in candidate_repos(client, main, extra_queries, exclude, limit):
        if should_stop():
            break
        suggestion = check_repo(client, main, repo_id)
        results.append(suggestion)
        if on_result:
            on_result(suggestion)
    results.sort(key=suggestion_rank)
    return results


def suggestion_rank(s: DraftSuggestion) -> tuple[bool, bool, float]:
    """Fits without reservations, then fits with advice (too large...), then the ones that do not fit;
    smaller first within each."""
    return (not s.compatible, bool(s.advice), s.parameter_count or float("inf"))


def check_repo(client: HubClient, main: ModelInfo, repo_id: str) -> DraftSuggestion:
    try:
        listing = client.repo_files(repo_id)
        choice = probe_choice(group_gguf_files(listing.files))
        if choice is None:
            return DraftSuggestion(repo_id, listing.revision, None, False, ["no GGUF model file in this repo"])
        info = remote_model_info(client, repo_id, listing.revision, choice)
    except HubError as e:
        return DraftSuggestion(repo_id, "", None, False, [f"could not be checked: {e}"])
    verdict = check_compatibility(main, info)
    if not info.is_generative:
        return DraftSuggestion(repo_id, listing.revision, choice, False, verdict.advice[:1], [],
                               info.parameter_count)
    log.info("draft candidate %s: %s", repo_id, "fits" if verdict.compatible else "; ".join(verdict.reasons))
    return DraftSuggestion(repo_id, listing.revision, choice, verdict.compatible, verdict.reasons, verdict.advice,
                           info.parameter_count)
