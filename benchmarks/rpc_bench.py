"""Plain and speculative decoding with the main model's layers on an RPC server, against all-local, on loopback
and with an added network delay (a delaying TCP proxy on loopback: no root, no tc).

    python -m benchmarks.rpc_bench [--delays 0,1,5] [--tokens 64] [--split 1,1] [--ks 4,8,auto]

The testbed pair (benchmarks/testbed.py): the SmolLM2 F32 main, the Q4_1 draft (always local). A server is
started as `python -m app rpc-server` on 127.0.0.1; each delay gets a proxy in front of it that holds every
chunk for D ms in each direction (latency, not bandwidth). Prints one JSON report.
"""

from __future__ import annotations

import argparse
import heapq
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import llama_cpp  # noqa: F401  before numpy (app/cli/engine.py says why)

from app.core.inference.engine import Engine, SpeculationConfig
from app.core.inference.llama_runtime import LoadOptions
from app.core.inference.rpc import RpcServers, parse_servers
from app.core.inference.rpc_protocol import RpcError, parse_endpoint, probe
from app.core.inference.speculative import GenerationStats
from benchmarks.testbed import DEFAULT_DIR, testbed

REPO = Path(__file__).resolve().parent.parent
PROMPT = [{"role": "user", "content": "Write a Python function that returns the n-th Fibonacci number, "
                                      "with a docstring and two examples."}]


class DelayProxy:
    """127.0.0.1:<port> → upstream, every chunk held `delay_s` in each direction, order kept."""

    def __init__(self, upstream: tuple[str, int], delay_s: float) -> None:
        self.upstream, self.delay_s = upstream, delay_s
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            up = socket.create_connection(self.upstream)
            for s in (client, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for a, b in ((client, up), (up, client)):
                self._pipe(a, b)

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        queue: list[tuple[float, int, bytes]] = []
        ready = threading.Condition()
        seq = [0]

        def reader() -> None:
            while True:
                try:
                    data = src.recv(1 << 20)
                except OSError:
                    data = b""
                with ready:
                    seq[0] += 1
                    heapq.heappush(queue, (time.perf_counter() + self.delay_s, seq[0], data))
                    ready.notify()
                if not data:
                    return

        def writer() -> None:
            while True:
                with ready:
                    while not queue:
                        ready.wait()
                    due, _, data = queue[0]
                    wait = due - time.perf_counter()
                    if wait > 0:
                        ready.wait(wait)
                        continue
                    heapq.heappop(queue)
                if not data:  # pass the half-close on (close() would not wake the other direction's recv)
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                try:
                    dst.sendall(data)
                except OSError:
                    return

        threading.Thread(target=reader, daemon=True).start()
        threading.Thread(target=writer, daemon=True).start()


def run(engine: Engine, spec: SpeculationConfig, tokens: int) -> dict:
    prompt, stop = engine.chat_prompt(PROMPT)
    stats = GenerationStats()
    out = [e.token for e in engine.generate(prompt, stats, max_tokens=tokens, spec=spec, stop=())]
    return {"tokens": out, "tokens_per_second": round(stats.tokens_per_second, 2),
            "acceptance_rate": round(stats.acceptance_rate, 3), "draft_tokens_last": stats.draft_tokens_last}


def measure(engine: Engine, ks: list[str], tokens: int) -> dict:
    run(engine, SpeculationConfig(), 8)  # warm-up: first-use costs out of the figures
    plain = run(engine, SpeculationConfig(), tokens)
    rows = {"plain": plain["tokens_per_second"]}
    for k in ks:
        auto = k == "auto"
        r = run(engine, SpeculationConfig(mode="draft", draft_tokens=4 if auto else int(k), auto=auto), tokens)
        rows[f"draft k={k}"] = r["tokens_per_second"]
        rows[f"draft k={k} speedup"] = round(r["tokens_per_second"] / plain["tokens_per_second"], 2)
        rows[f"draft k={k} identical"] = r["tokens"] == plain["tokens"]
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--delays", default="0,1,5", help="added ms each way (default 0,1,5)")
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--split", default="1,1", help="layer weights: this machine, the server (default 1,1)")
    p.add_argument("--ks", default="4,8,auto")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--models-dir", type=Path, default=DEFAULT_DIR, help="where the testbed models are (written "
                                                                        "when missing)")
    args = p.parse_args(argv)
    models = testbed(args.models_dir, which=())
    ks = [k.strip() for k in args.ks.split(",") if k.strip()]
    port = 50070
    server = subprocess.Popen([sys.executable, "-m", "app", "rpc-server", "--port", str(port)], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    report: dict = {"main": str(models["main_f32"]), "draft": str(models["draft_q4_1"]), "tokens": args.tokens,
                    "split": args.split, "runs": {}}
    try:
        for _ in range(100):
            try:
                probe(parse_endpoint(f"127.0.0.1:{port}"), 1.0)
                break
            except RpcError:
                time.sleep(0.2)
        engine = Engine()
        opts = LoadOptions(n_ctx=1024, n_threads=args.threads)
        engine.load_main(models["main_f32"], opts)
        engine.load_draft(models["draft_q4_1"], opts)
        report["runs"]["local"] = measure(engine, ks, args.tokens)
        print(json.dumps({"local": report["runs"]["local"]}), file=sys.stderr, flush=True)
        for delay in [float(d) for d in args.delays.split(",")]:
            target = port
            if delay:
                target = DelayProxy(("127.0.0.1", port), delay / 1000).port
            rpc = parse_servers(f"127.0.0.1:{target}", args.split)
            engine.unload_main()
            engine.load_main(models["main_f32"], LoadOptions(n_ctx=1024, n_threads=args.threads, rpc=rpc))
            engine.load_draft(models["draft_q4_1"], opts)
            name = f"rpc +{delay:g} ms each way"
            report["runs"][name] = measure(engine, ks, args.tokens)
            report["runs"][name]["devices"] = engine.main.layout
            print(json.dumps({name: report["runs"][name]}), file=sys.stderr, flush=True)
        engine.close()
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
