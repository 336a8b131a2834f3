"""`rpc-server`: serve this machine's GPU (or CPU) to other SpecChats over llama.cpp's RPC protocol, and the
`--rpc` options of the engine commands and `models list`.

ggml-rpc's protocol has NO authentication and no encryption: whoever reaches the port can run computations and
read or write the served device's memory. The server binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from app.core.infra.net import is_loopback, port_problem

WARNING = """\
!!! WARNING: the RPC server is listening on {host}:{port}, beyond this machine.
!!! llama.cpp's RPC protocol has NO authentication and NO encryption: anyone who can reach this port can use
!!! this machine's {what} and read or overwrite what it holds. Use it only on a network you trust entirely
!!! (a private LAN, a VPN, or an SSH tunnel to 127.0.0.1), never on the internet.
"""


def add_rpc_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rpc", metavar="HOST:PORT[,HOST:PORT]", default="",
                   help="put some of the main model's layers on these rpc-servers (`python -m app rpc-server`)")
    p.add_argument("--rpc-split", metavar="W,W,..", default="",
                   help="with --rpc: layer weights, this machine first, then each server (default: by free memory)")


def add_server_parser(sub: Any) -> None:
    rs = sub.add_parser("rpc-server", help="serve this machine's GPU (or CPU) to other SpecChats over llama.cpp's "
                                           "RPC protocol (no authentication: trusted networks only)")
    rs.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every network)")
    rs.add_argument("--port", type=int, default=50052)
    rs.add_argument("--threads", type=int, default=0, help="CPU threads for computations (0: all cores)")
    rs.add_argument("--cache", type=Path, metavar="DIR",
                    help="keep received tensors in DIR, so a client reloading the same model sends only hashes")


def cmd_rpc_server(args: argparse.Namespace) -> int:
    from app.core.inference import ggml_devices
    from app.core.inference.llama_backend import init_backend, physical_cores

    if not 0 < args.port < 65536:
        print(f"error: --port {args.port} is not within 1..65535", file=sys.stderr)
        return 2
    if ":" in args.host:
        print("error: llama.cpp's RPC server takes an IPv4 address or a host name, not IPv6", file=sys.stderr)
        return 2
    init_backend()
    if not ggml_devices.rpc_supported():
        print("error: this llama-cpp-python was built without the RPC backend: run `make setup` again "
              "(the Makefile builds it with -DGGML_RPC=ON)", file=sys.stderr)
        return 1
    serve = ggml_devices.local_gpus() or [ggml_devices.cpu_device()]
    what = ", ".join(f"{d.name} ({d.description})" for d in serve)
    if not is_loopback(args.host):  # first, before anything else can go wrong: the user must see this
        print(WARNING.format(host=args.host, port=args.port, what=what), file=sys.stderr, flush=True)
    problem = port_problem(args.host, args.port)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    cache = None
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
        cache = str(args.cache)
    # a wildcard address is where the server listens, not one a client can connect to
    reach = "<this machine's address>" if args.host in ("0.0.0.0", "::", "") else args.host
    print(f"SpecChat RPC server: {what} on {args.host}:{args.port}; clients: --rpc {reach}:{args.port} "
          "(Ctrl+C stops it)", file=sys.stderr, flush=True)
    # ggml-rpc's accept loop is C and never returns to Python: let Ctrl+C and SIGTERM end the process directly
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    ggml_devices.start_rpc_server(f"{args.host}:{args.port}", cache, args.threads or physical_cores(), serve)
    print(f"error: the RPC server on {args.host}:{args.port} stopped (see the messages above)", file=sys.stderr)
    return 1


def servers_report(text: str) -> list[dict[str, Any]]:
    """`models list --rpc`: each server's state and free memory (the protocol's probe: no llama.cpp needed)."""
    from app.core.inference.rpc_protocol import RpcError, parse_endpoints, probe, version_text

    out: list[dict[str, Any]] = []
    for ep in parse_endpoints(text):
        try:
            info = probe(ep)
            out.append({"endpoint": str(ep), "ok": True, "version": version_text(info.version),
                        "free": info.free, "total": info.total, "devices": len(info.devices)})
        except RpcError as e:
            out.append({"endpoint": str(ep), "ok": False, "error": str(e)})
    return out


def print_servers(report: list[dict[str, Any]], as_json: bool) -> None:
    from app.core.models.formatting import count_phrase

    if as_json:
        print(json.dumps(report))
        return
    for s in report:
        if s["ok"]:
            print(f"RPC server {s['endpoint']}: protocol {s['version']}, {count_phrase(s['devices'], 'device')}, "
                  f"{s['free'] / 2**30:.1f} of {s['total'] / 2**30:.1f} GiB free")
        else:
            print(f"RPC server {s['endpoint']}: {s['error']}")
