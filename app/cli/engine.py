"""`generate`, `bench`, `bench-view` and `self-test`: the engine headless (no hub client, no Qt but bench-view's).

Where llama.cpp is wanted it is imported before numpy: the CUDA build was seen to segfault at model load when
numpy came first.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.rpc import add_rpc_args
from app.cli.output import usage
# plain dataclasses, no llama.cpp: --help builds its flags from them
from app.core.infra.requests import (DraftTokens, GenerateRequest, LoadOptions, SamplerParams, SpeculationConfig,
                                     RpcServers, parse_draft_token_list, parse_draft_tokens)

if TYPE_CHECKING:
    from app.core.inference.engine import Engine

log = logging.getLogger("specchat.cli")

def add_sampler_args(p: argparse.ArgumentParser) -> None:
    """One flag per SamplerParams field (--temp for temperature, the rest --<name>): a new sampler field is a new
    flag with no edit here. The defaults are the dataclass's: greedy unless --temp says otherwise."""
    for f in fields(SamplerParams):
        flag = f.metadata.get("flag", "--" + f.name.replace("_", "-"))
        p.add_argument(flag, dest=f.name, type=type(f.default), default=f.default,
                       help=f"{f.metadata.get('help', '')} (default {f.default})".strip())


def _sampler(args: argparse.Namespace) -> SamplerParams:
    return SamplerParams(**{f.name: getattr(args, f.name) for f in fields(SamplerParams)})


def draft_tokens_arg(text: str) -> DraftTokens:
    try:
        return parse_draft_tokens(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def draft_token_list_arg(text: str) -> list[DraftTokens]:
    try:
        ks = parse_draft_token_list(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if not ks:
        raise argparse.ArgumentTypeError("give at least one draft length")
    return ks


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, metavar="M", help="main model (GGUF)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--draft", type=Path, metavar="D", help="draft model (same vocabulary as the main)")
    how.add_argument("--ngram", type=int, metavar="N", help="n-gram prompt-lookup speculation: the longest earlier repeat of at least N tokens")
    p.add_argument("--p-min", type=float, default=0.0, help="stop drafting below this draft confidence")
    p.add_argument("--min-draft", type=int, default=0, help="drop drafts shorter than this")
    p.add_argument("--max-tokens", type=int, default=200)
    p.add_argument("--raw", action="store_true", help="use the prompt text as is (no chat template)")
    p.add_argument("--n-gpu-layers", type=int, default=-1, metavar="L", help="-1: all when a GPU exists")
    p.add_argument("--draft-gpu-layers", type=int, default=-1, metavar="L")
    p.add_argument("--ctx", type=int, default=4096, help="context length")
    p.add_argument("--threads", type=int, default=0, help="0: all cores")
    p.add_argument("--flash-attn", choices=("auto", "on", "off"), default="auto",
                   help="llama.cpp's flash attention (auto: llama.cpp's choice; off: faster speculation on a CPU, "
                        "but greedy output may then differ from plain decoding at near ties)")
    add_rpc_args(p)


def _open_engine(args: argparse.Namespace) -> tuple[Engine, SpeculationConfig]:
    import llama_cpp  # noqa: F401  before numpy (see the note at the top)

    from app.core.inference.engine import Engine
    from app.core.inference.rpc import parse_servers

    rpc = parse_servers(args.rpc, args.rpc_split) if args.rpc else RpcServers()
    engine = Engine()
    engine.load_main(args.model, LoadOptions(n_ctx=args.ctx, n_threads=args.threads, n_gpu_layers=args.n_gpu_layers,
                                             rpc=rpc, flash_attn=args.flash_attn))
    mode = "draft" if args.draft else "ngram" if args.ngram else "off"
    if args.draft:
        engine.load_draft(args.draft, LoadOptions(n_ctx=args.ctx, n_threads=args.threads,
                                                  n_gpu_layers=args.draft_gpu_layers, flash_attn=args.flash_attn))
    main_model = engine.main
    assert main_model is not None
    log.info("main %s: %d/%d layers on %s (%s)", main_model.info.display_name, main_model.offloaded_layers,
             main_model.n_layer + 1, main_model.backend, devices_text(main_model.layout))
    return engine, SpeculationConfig(mode=mode, ngram_size=args.ngram or 3, p_min=args.p_min,
                                     min_draft=args.min_draft)


def devices_text(layout: list[tuple[str, int]]) -> str:
    return ", ".join(f"{name}: {layers}" for name, layers in layout)


def _request(args: argparse.Namespace, spec: SpeculationConfig, system: str = "") -> GenerateRequest:
    text = _read_prompt(args)
    if args.raw:
        return GenerateRequest(raw=text, max_tokens=args.max_tokens, sampling=_sampler(args), speculation=spec)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    return GenerateRequest(messages=tuple(messages), max_tokens=args.max_tokens, sampling=_sampler(args),
                           speculation=spec)


def _read_prompt(args: argparse.Namespace) -> str:
    return args.prompt if getattr(args, "prompt", None) is not None else args.prompt_file.read_text("utf-8")


def cmd_generate(args: argparse.Namespace) -> int:
    engine, spec = _open_engine(args)
    try:
        from app.core.inference.speculation_status import footer_text
        from app.core.inference.speculative import GenerationStats

        request = _request(args, spec.with_length(args.draft_tokens), args.system)
        if args.prediction_file is not None:
            request = replace(request, prediction=args.prediction_file.read_text("utf-8"))
        stats = GenerationStats()
        events = []
        devices = [{"name": name, "layers": n} for name, n in engine.main.layout] if engine.main else []
        for ev in engine.answer(request, stats):
            events.append(ev)
            if not args.json:
                sys.stdout.write(ev.text)
                sys.stdout.flush()
    finally:
        engine.close()
    failed = stats.stop_reason == "error"
    if failed:
        print(f"\nerror: {stats.error}", file=sys.stderr)
        if not args.json:
            return 1
    if args.json:  # with an error too: the answer so far, and the error
        out = {"text": "".join(e.text for e in events), "tokens": [e.token for e in events],
               "from_draft": [e.from_draft for e in events], "stop_reason": stats.stop_reason,
               "stats": stats.to_json(), "devices": devices}
        if failed:
            out["error"] = stats.error
        print(json.dumps(out))
        return 1 if failed else 0
    else:
        print(f"\n[{footer_text(stats.answer_stats())}]", file=sys.stderr)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    ks = args.draft_tokens
    if not args.draft and not args.ngram:
        return usage("bench compares against speculation: give --draft D or --ngram N")
    engine, spec = _open_engine(args)
    from app.core.inference.bench import run_bench

    try:
        tokens, _ = engine.prompt(_request(args, spec))
        bench = run_bench(engine, tokens, spec, ks, args.max_tokens, args.rounds,
                          progress=lambda line, _: print(line, file=sys.stderr, flush=True),
                          sampling=_sampler(args), seeds=args.seeds)
        report = bench.to_json()
        report["gpu_layers"] = {name: f"{m.offloaded_layers}/{m.n_layer + 1}"
                                for name, m in (("main", engine.main), ("draft", engine.draft)) if m is not None}
        if engine.main is not None:
            report["devices"] = [{"name": name, "layers": n} for name, n in engine.main.layout]
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
    from app.cli.view_bench import bench_open_chat, bench_view  # Qt only for this command

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


def cmd_self_test(model: Path | None) -> int:
    """Engine and Qt both: a bundle missing llama.cpp's libraries or Qt's platform plugins fails here."""
    import llama_cpp  # noqa: F401  before numpy

    from app.core.inference.chat_format import ChatTemplateError
    from app.core.models.gguf_reader import GGUFError
    from app.core.inference.llama_runtime import ModelLoadError
    from app.core.infra.paths import app_paths
    from app.core.hub.pypi_models import ModelFetchError
    from app.core.self_test import SelfTestError, run_self_test

    try:
        from app.core.infra.settings import load_settings

        report = run_self_test(app_paths().ensure(), model, load_settings().library.extra_model_dirs)
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
