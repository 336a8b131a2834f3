"""`download`, `search`, `files` and `find-drafts`: the Hugging Face hub (the only commands that load its client)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from app.cli.output import FAILED, INTERRUPTED, OK, fail

if TYPE_CHECKING:
    from app.core.hub.client import HubClient
    from app.core.hub.draft_finder import DraftSuggestion


def hub_client(endpoint: str | None) -> HubClient:
    from app.core.hub.client import HubClient
    from app.core.infra.paths import app_paths

    return HubClient.for_app(app_paths().ensure(), endpoint)


def cmd_download(args: argparse.Namespace) -> int:
    from app.core.hub.downloads import DownloadJob, DownloadManager, State
    from app.core.hub.client import HubError
    from app.core.models.formatting import format_bytes
    from app.core.infra.paths import app_paths

    paths = app_paths().ensure()
    last = [0.0]

    def show(job: DownloadJob) -> None:
        now = time.monotonic()
        if args.json or (now - last[0] < 1.0 and job.state == State.RUNNING):
            return
        last[0] = now
        eta = f", {job.eta_seconds:.0f} s left" if job.eta_seconds is not None else ""
        extra = f" — {job.error}" if job.error else ""
        print(f"{job.name}: {job.state.value} {format_bytes(job.done_bytes)} / {format_bytes(job.total_bytes)} "
              f"({job.fraction:.0%}, {format_bytes(int(job.speed))}/s{eta}){extra}", file=sys.stderr)

    manager = DownloadManager(paths.models, paths.downloads, lambda: hub_client(args.endpoint), listener=show)
    started = time.monotonic()
    try:
        job = manager.enqueue_file(args.repo_id, args.filename, args.revision)
        job = manager.wait(job.id)
    except KeyboardInterrupt:
        manager.shutdown()
        print("interrupted: the partial download is kept; run the same command again to resume", file=sys.stderr)
        return INTERRUPTED
    except HubError as e:
        manager.shutdown()
        return fail(e)
    manager.shutdown()
    if job.state != State.DONE:
        return fail(f"{job.name}: {job.error or job.state.value}")
    path = job.model_path(paths.models)
    manager.remove(job.id)
    if args.json:
        print(json.dumps({"path": str(path), "repo_id": job.repo_id, "revision": job.revision, "bytes": job.total_bytes,
                          "sha256": [p.sha256 for p in job.parts], "seconds": round(time.monotonic() - started, 2),
                          "note": job.error}))
    else:
        print(path)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from app.core.hub.client import SORTS

    if args.sort not in SORTS:
        raise ValueError(f"--sort must be one of {', '.join(SORTS)}, not {args.sort!r}")
    found = hub_client(args.endpoint).search(args.query, args.sort, args.limit)
    if args.json:
        print(json.dumps([{"repo_id": r.repo_id, "downloads": r.downloads, "likes": r.likes, "gated": r.gated,
                           "last_modified": r.last_modified.isoformat() if r.last_modified else None}
                          for r in found], indent=2))
        return 0
    for r in found:
        print(f"{r.repo_id:60s} {r.downloads:>10,} downloads {r.likes:>6,} likes{'  (gated)' if r.gated else ''}")
    return 0


def cmd_files(args: argparse.Namespace) -> int:
    from app.core.hub.gguf_files import group_gguf_files, machine_budget, recommend
    from app.core.models.formatting import format_bytes

    listing = hub_client(args.endpoint).repo_files(args.repo_id)
    choices = group_gguf_files(listing.files)
    budget = machine_budget()
    best = recommend(choices, budget.bytes)
    rows: list[dict[str, Any]] = [
        {"name": c.name, "quantization": c.quant, "bytes": c.size, "parts": [p.path for p in c.parts],
         "projector": c.is_projector, "recommended": c is best} for c in choices]
    if args.json:
        print(json.dumps({"repo_id": listing.repo_id, "revision": listing.revision, "gated": listing.gated,
                          "budget": {"bytes": budget.bytes, "from": budget.where}, "files": rows}, indent=2))
        return 0
    print(f"{listing.repo_id} @ {listing.revision[:10]}; recommended for {budget.where}: "
          f"{best.name if best else 'nothing fits'}")
    for r in rows:
        mark = "*" if r["recommended"] else " "
        split = f" ({len(r['parts'])} parts)" if len(r["parts"]) > 1 else ""
        print(f" {mark} {r['quantization'] or '?':8s} {format_bytes(r['bytes']):>10s}  {r['name']}{split}"
              f"{'  [vision projector]' if r['projector'] else ''}")
    return 0


def _suggestion_json(s: DraftSuggestion) -> dict[str, Any]:
    return {"repo_id": s.repo_id, "compatible": s.compatible, "file": s.choice.name if s.choice else None,
            "bytes": s.choice.size if s.choice else None, "parameters": s.parameter_count, "reasons": s.reasons,
            "advice": s.advice}


def cmd_find_drafts(args: argparse.Namespace) -> int:
    from app.core.hub.draft_finder import find_drafts
    from app.core.hub.gguf_files import group_gguf_files
    from app.core.hub.client import HubError
    from app.core.models.formatting import format_bytes
    from app.core.models.model_info import read_model_info
    from app.core.hub.remote_gguf import remote_model_info

    client = hub_client(args.endpoint)
    if args.model:
        main_info = read_model_info(args.model)
    else:
        listing = client.repo_files(args.repo)
        choice = next((c for c in group_gguf_files(listing.files)
                       if args.file in (c.name, *(p.path for p in c.parts))), None)
        if choice is None:
            raise HubError(f"{args.repo} has no GGUF file {args.file!r}")
        main_info = remote_model_info(client, listing.repo_id, listing.revision, choice)
    found = find_drafts(client, main_info, extra_queries=args.query, limit=args.limit,
                        exclude=[args.repo] if args.repo else [])
    if args.json:
        print(json.dumps([_suggestion_json(s) for s in found], indent=2))
        return 0
    if not found:
        print("no candidates found on the hub (try --query with a model family name)")
    for s in found:
        head = f"{'fits' if s.compatible else 'no  '}  {s.repo_id}"
        print(head + (f"  {s.choice.name} ({format_bytes(s.choice.size)})" if s.choice else ""))
        for line in s.reasons + s.advice:
            print(f"        {line}")
    return 0
