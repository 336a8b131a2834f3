"""Find a draft for this model on the hub: smaller models with the same tokenizer, checked before downloading.

Candidates come from hub searches: the small models of the main's tokenizer family (draft_families: matched on
the tokenizer, never the architecture name), its name's first word, whatever the user typed. Only models smaller
than the main are searched for and offered: a query or repo whose name gives a size not below the main's is
skipped before any request, and a candidate whose header says it is not smaller (parameters, or file size when
either count is unknown) is dropped. For each, one GGUF's header is fetched with range requests (remote_gguf) and
put through the one compatibility rule (compat): the verdict is llama.cpp's, decided by tokenizer. Results stream
out one by one through a callback. An unreachable hub ends the search (HubUnreachable): every other candidate
would fail the same way.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from app.core.models.compat import check_compatibility
from app.core.hub.draft_families import family_of
from app.core.hub.gguf_files import GgufChoice, group_gguf_files, quality_rank
from app.core.hub.client import HubClient, HubError, HubUnreachable
from app.core.models.model_info import ModelInfo
from app.core.hub.remote_gguf import remote_model_info

log = logging.getLogger("specchat.hub")

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


def main_size(main: ModelInfo) -> float | None:
    """The main model's size to compare repo names with: its size label ("1.5B") or name first, on the same
    scale as the names it is compared with (Qwen2.5-1.5B has 1.78B parameters: its siblings named "1.5B" are not
    smaller), else its header's parameter count."""
    named = size_from_name(main.size_label or "") or size_from_name(main.name)
    return named or (float(main.parameter_count) if main.parameter_count else None)


def smaller_by_name(name: str, main_params: float | None) -> bool:
    """False only when the name gives a size and it is not below the main's: a name without one may still be."""
    size = size_from_name(name)
    return size is None or main_params is None or size < main_params


def search_queries(main: ModelInfo, extra: Iterable[str] = ()) -> list[str]:
    """What the user typed (as typed), the main's tokenizer family's members smaller than it, its name's first
    word."""
    words = [w for w in re.split(r"[\s_\-]+", main.name) if w and not _SIZE_RE.fullmatch(w)]
    first = next((w for w in words if w.lower() not in _NAME_NOISE), "")
    family = family_of(main.tokenizer)
    size = main_size(main)
    members = [q for q in (family.queries if family else ()) if smaller_by_name(q, size)]
    queries = [*extra, *members, first]
    return list(dict.fromkeys(q.strip() for q in queries if q and q.strip()))


def is_smaller(main: ModelInfo, draft: ModelInfo) -> bool:
    """Fewer parameters than the main; by file size when either count is unknown (0)."""
    if main.parameter_count and draft.parameter_count:
        return draft.parameter_count < main.parameter_count
    return draft.file_size < main.file_size


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
    size = main_size(main)
    skip = {r.lower() for r in exclude}
    found: dict[str, int] = {}
    for q in search_queries(main, extra_queries):
        try:
            for r in client.search(q, sort="downloads", limit=20):
                if r.repo_id.lower() in skip or not smaller_by_name(r.repo_id, size):
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
        if suggestion is None:
            continue
        results.append(suggestion)
        if on_result:
            on_result(suggestion)
    results.sort(key=suggestion_rank)
    return results


def suggestion_rank(s: DraftSuggestion) -> tuple[bool, bool, float]:
    """Fits without reservations, then fits with advice (too large...), then the ones that do not fit;
    smaller first within each."""
    return (not s.compatible, bool(s.advice), s.parameter_count or float("inf"))


def check_repo(client: HubClient, main: ModelInfo, repo_id: str) -> DraftSuggestion | None:
    """The verdict on the repo's draft-sized file; None when its header says it is not smaller than the main
    (its name did not say so): not a draft for it, so not offered at all."""
    try:
        listing = client.repo_files(repo_id)
        choice = probe_choice(group_gguf_files(listing.files))
        if choice is None:
            return DraftSuggestion(repo_id, listing.revision, None, False, ["no GGUF model file in this repo"])
        info = remote_model_info(client, repo_id, listing.revision, choice)
    except HubUnreachable:
        raise  # the hub is gone: the search ends here, said once, not once per candidate
    except HubError as e:
        return DraftSuggestion(repo_id, "", None, False, [f"could not be checked: {e}"])
    if not is_smaller(main, info):
        log.info("draft candidate %s skipped: not smaller than the main model (%d vs %d parameters, %d vs %d "
                 "bytes)", repo_id, info.parameter_count, main.parameter_count, info.file_size, main.file_size)
        return None
    verdict = check_compatibility(main, info)
    if not info.is_generative:
        return DraftSuggestion(repo_id, listing.revision, choice, False, verdict.advice[:1], [],
                               info.parameter_count)
    log.info("draft candidate %s: %s", repo_id, "fits" if verdict.compatible else "; ".join(verdict.reasons))
    return DraftSuggestion(repo_id, listing.revision, choice, verdict.compatible, verdict.reasons, verdict.advice,
                           info.parameter_count)
