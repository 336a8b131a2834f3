"""`serve`: the local OpenAI-compatible server, headless, over the same engine process the window uses.

    python -m app serve --model M [--draft D | --ngram N] [--host 127.0.0.1] [--port 1234] [--api-key K]

Without --model it serves the model the window last loaded. After an engine crash it loads the same models again
(the window leaves that to the user; a server has nobody to ask), so one bad request costs that request only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

from app.cli.output import fail, usage

log = logging.getLogger("specchat.cli")

API_KEY_ENV = "SPECCHAT_API_KEY"


def add_serve_parser(sub: Any, draft_tokens_arg: Any) -> None:
    from app.core.server.defaults import DEFAULT_HOST, DEFAULT_PORT

    sv = sub.add_parser("serve", help="an OpenAI-compatible server (/v1/chat/completions, /v1/completions, "
                                      "/v1/models) with speculation and predicted outputs")
    sv.add_argument("--host", default=DEFAULT_HOST,
                    help=f"address to listen on (default {DEFAULT_HOST}: this machine only)")
    sv.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT} (LM Studio's)")
    sv.add_argument("--model", type=Path, metavar="M", help="main model (default: the one the window last loaded)")
    how = sv.add_mutually_exclusive_group()
    how.add_argument("--draft", type=Path, metavar="D", help="draft model (same vocabulary as the main)")
    how.add_argument("--ngram", type=int, metavar="N", help="n-gram prompt-lookup speculation: the longest earlier repeat of at least N tokens")
    sv.add_argument("--draft-tokens", default="auto", type=draft_tokens_arg, metavar="K|auto",
                    help="draft length when a request does not say (default auto)")
    sv.add_argument("--api-key", default=os.environ.get(API_KEY_ENV, ""), metavar="K",
                    help=f"ask every request for 'Authorization: Bearer K' (or set {API_KEY_ENV})")
    sv.add_argument("--cors", action="append", default=[], metavar="ORIGIN",
                    help="allow browser pages from ORIGIN (repeatable; '*' for any); default: no CORS")
    sv.add_argument("--max-body-mb", type=float, default=16.0, help="largest request body (default 16 MB)")
    sv.add_argument("--ctx", type=int, default=0, help="context length (default: the app's setting)")
    sv.add_argument("--threads", type=int, default=0, help="0: all cores")
    sv.add_argument("--n-gpu-layers", type=int, default=-1, metavar="L", help="-1: all when a GPU exists")
    sv.add_argument("--draft-gpu-layers", type=int, default=-1, metavar="L")


def cmd_serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from app.core.inference.engine_process.blocking import BlockingEngine, EngineStartError
    from app.core.infra.logging_setup import log_file
    from app.core.infra.paths import app_paths
    from app.core.infra.settings import load_settings
    from app.core.server.asgi import ServerOptions
    from app.core.server.gateway import EngineGateway
    from app.core.server.openai_api import Defaults
    from app.core.server.runner import LocalServer, ServerError

    settings = load_settings()
    model = args.model or (Path(settings.ui.last_main_model) if settings.ui.last_main_model else None)
    if model is None:
        return usage("give --model M (the window has not loaded a model yet)")
    if not model.is_file():
        return fail(f"{model}: no such model file")
    main_opts = replace(settings.runtime, n_threads=args.threads or settings.runtime.n_threads,
                        n_gpu_layers=args.n_gpu_layers, n_ctx=args.ctx or settings.runtime.n_ctx)
    draft_opts = replace(main_opts, n_gpu_layers=args.draft_gpu_layers).local()
    mode = "draft" if args.draft else "ngram" if args.ngram else "off"
    spec = replace(settings.speculation, mode=mode, ngram_size=args.ngram or settings.speculation.ngram_size)
    defaults = Defaults(settings.sampling, spec.with_length(args.draft_tokens))
    options = ServerOptions(args.api_key, int(args.max_body_mb * (1 << 20)), tuple(args.cors))

    logs = log_file()
    reload = threading.Event()
    try:
        engine = BlockingEngine(logs.parent if logs else app_paths().logs, on_died=lambda ev: reload.set())
    except EngineStartError as e:
        return fail(e)

    def load_models() -> None:
        print(f"loading {model.name}…", file=sys.stderr, flush=True)
        summary = engine.load("main", model, main_opts)
        if args.draft:
            engine.load("draft", args.draft, draft_opts)
        print(f"{summary.name} loaded ({summary.backend}, context {summary.n_ctx:,})", file=sys.stderr, flush=True)

    def reload_after_crashes() -> None:
        while True:
            reload.wait()
            reload.clear()
            log.error("the engine crashed; loading %s again", model)
            try:
                load_models()
            except EngineStartError as e:
                log.error("after the crash, %s did not load again: %s", model, e)

    try:
        load_models()
    except EngineStartError as e:
        engine.close()
        return fail(e)
    threading.Thread(target=reload_after_crashes, name="serve-reload", daemon=True).start()
    gateway = EngineGateway(engine.client, defaults)
    server = LocalServer(gateway, args.host, args.port, options)
    if server.warning():
        print(f"\n!!! {server.warning()}\n", file=sys.stderr, flush=True)
    served = gateway.served()
    print(f"serving {served.main} at {server.url}"
          f"{' (API key required)' if args.api_key else ''}; speculation: {_describe(defaults)}; Ctrl+C stops",
          file=sys.stderr, flush=True)
    try:
        server.run()
    except ServerError as e:
        return fail(e)
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()
    return 0


def _describe(defaults: Any) -> str:
    from app.core.server.openai_api import describe_speculation

    return describe_speculation(defaults.speculation, False)
