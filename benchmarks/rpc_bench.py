"""Plain and speculative decoding with the main model's layers on an RPC server, against all-local, on loopback
and with an added network delay (a delaying TCP proxy on loopback: no root, no tc).

    python -m benchmarks.rpc_bench [--delays 0,1,5] [--tokens 64] [--split 1,1] [--ks 4,8,auto] [--repeat 3]
                                   [--main f32|f32_deep] [--shared-cores]

The testbed pair (benchmarks/testbed.py): the SmolLM2 F32 main, the Q4_1 draft (always local). A server is
started as `python -m app rpc-server` on 127.0.0.1; each delay gets a proxy in front of it that adds D ms to
every byte in each direction, pipelined like a real link (latency, not bandwidth). Prints one JSON report.

Two machines on one: the client and the server get disjoint halves of this machine's cores (one thread per
core each), as two machines would. Sharing the cores is not a slower network but a different fault: llama.cpp's
CPU threads (OpenMP) spin for milliseconds after each computation, so two processes with a thread per core
starve each other's barriers, and a token took anything from 30 ms to seconds, whatever the delay
(docs/benchmarks.md). `--shared-cores` runs that way, to show it.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import signal
import statistics
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import llama_cpp  # noqa: F401  before numpy (app/cli/engine.py says why)

from app.core.inference.engine import Engine, SpeculationConfig
from app.core.inference.llama_backend import physical_cores
from app.core.inference.llama_runtime import LoadOptions
from app.core.inference.rpc import RpcServers, parse_servers
from app.core.inference.rpc_protocol import RpcError, parse_endpoint, probe
from app.core.inference.speculative import GenerationStats
from benchmarks.testbed import DEFAULT_DIR, testbed

REPO = Path(__file__).resolve().parent.parent
PROMPT = [{"role": "user", "content": "Write a Python function that returns the n-th Fibonacci number, "
                                      "with a docstring and two examples."}]


class DelayProxy:
    """127.0.0.1:<port> → upstream with a fixed one-way latency in each direction, like netem's `delay`: each chunk
    is stamped when it arrives and sent on `delay_s` later, while the chunks behind it keep arriving, so a
    2 MB reply costs the delay once, not once per chunk (a 1.77 MB request-reply at +5 ms: 12 ms)."""

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


def serve_delay(upstream_port: int, delay_ms: float) -> None:
    """The network, as a process of its own: a DelayProxy to 127.0.0.1:upstream_port; prints its port, then
    serves until its stdin closes (the benchmark ended or died)."""
    proxy = DelayProxy(("127.0.0.1", upstream_port), delay_ms / 1000)
    print(proxy.port, flush=True)
    sys.stdin.read()


def start_network(upstream_port: int, delay_ms: float, cores: set[int]) -> tuple[subprocess.Popen, int]:
    """The delay proxy in a child on `cores` (the server's half): the link's work is not the client's CPU time,
    as on a real network, and a core the client computes on is not taken by it."""
    code = f"from benchmarks.rpc_bench import serve_delay; serve_delay({upstream_port}, {delay_ms!r})"
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)  # the child inherits this thread's cores (no preexec_fn in a threaded process)
    try:
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    finally:
        os.sched_setaffinity(0, own)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def run(engine: Engine, spec: SpeculationConfig, tokens: int) -> dict:
    prompt, stop = engine.chat_prompt(PROMPT)
    stats = GenerationStats()
    out = [e.token for e in engine.generate(prompt, stats, max_tokens=tokens, spec=spec, stop=())]
    return {"tokens": out, "tokens_per_second": round(stats.tokens_per_second, 2),
            "acceptance_rate": round(stats.acceptance_rate, 3), "draft_tokens_last": stats.draft_tokens_last}


def measure(engine: Engine, ks: list[str], tokens: int, repeat: int) -> dict:
    """Each configuration `repeat` times, interleaved (a burst of load elsewhere hits all alike): the median
    tok/s, every run's figure, and the speedup of the medians."""
    run(engine, SpeculationConfig(), 8)  # warm-up: first-use costs out of the figures
    specs = {"plain": SpeculationConfig()}
    for k in ks:
        auto = k == "auto"
        specs[f"draft k={k}"] = SpeculationConfig(mode="draft", draft_tokens=4 if auto else int(k), auto=auto)
    runs: dict[str, list[float]] = {name: [] for name in specs}
    outputs: dict[str, list[int]] = {}
    for _ in range(repeat):
        for name, spec in specs.items():
            r = run(engine, spec, tokens)
            runs[name].append(r["tokens_per_second"])
            outputs.setdefault(name, r["tokens"])
    rows: dict = {}
    plain = statistics.median(runs["plain"])
    for name in specs:
        rows[name] = round(statistics.median(runs[name]), 2)
        rows[f"{name} runs"] = runs[name]
        if name != "plain":
            rows[f"{name} speedup"] = round(rows[name] / plain, 2)
            rows[f"{name} identical"] = outputs[name] == outputs["plain"]
    return rows


def split_cores(shared: bool) -> tuple[set[int], set[int]]:
    """(client cores, server cores): disjoint halves of the cores this process may use (all, twice, if shared)."""
    cores = sorted(os.sched_getaffinity(0))
    if shared or len(cores) < 2:
        return set(cores), set(cores)
    half = len(cores) // 2
    return set(cores[:half]), set(cores[half:])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--delays", default="0,1,5", help="added ms each way (default 0,1,5)")
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--split", default="1,1", help="layer weights: this machine, the server (default 1,1)")
    p.add_argument("--ks", default="4,8,auto")
    p.add_argument("--main", choices=["f32", "f32_deep"], default="f32",
                   help="the testbed main: f32 (31 layer units, costs ~2x the draft) or f32_deep (F32 + 60 "
                        "no-op blocks, 91 units: the cost ratio of a real main/draft pair)")
    p.add_argument("--repeat", type=int, default=1, help="runs per configuration (the median is reported)")
    p.add_argument("--shared-cores", action="store_true",
                   help="client and server on all cores, both (the starved setup docs/benchmarks.md explains)")
    p.add_argument("--models-dir", type=Path, default=DEFAULT_DIR, help="where the testbed models are (written "
                                                                        "when missing)")
    args = p.parse_args(argv)
    models = testbed(args.models_dir, which=("cpu",) if args.main == "f32_deep" else ())
    main_model = models[f"main_{args.main}"]
    ks = [k.strip() for k in args.ks.split(",") if k.strip()]
    port = 50070
    client_cores, server_cores = split_cores(args.shared_cores)
    # the server inherits the cores it starts on, and takes a thread per physical core of them (rpc-server's
    # default); then this process moves to its own, before any thread starts (llama.cpp's, the proxy's)
    os.sched_setaffinity(0, server_cores)
    server = subprocess.Popen([sys.executable, "-m", "app", "rpc-server", "--port", str(port)], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.sched_setaffinity(0, client_cores)
    threads = physical_cores()
    report: dict = {"main": str(main_model), "draft": str(models["draft_q4_1"]), "tokens": args.tokens,
                    "split": args.split, "repeat": args.repeat, "client_cores": sorted(client_cores),
                    "server_cores": sorted(server_cores), "threads": threads, "runs": {}}
    networks: list[subprocess.Popen] = []
    try:
        for _ in range(100):
            try:
                probe(parse_endpoint(f"127.0.0.1:{port}"), 1.0)
                break
            except RpcError:
                time.sleep(0.2)
        engine = Engine()
        opts = LoadOptions(n_ctx=1024, n_threads=threads)
        engine.load_main(main_model, opts)
        engine.load_draft(models["draft_q4_1"], opts)
        report["runs"]["local"] = measure(engine, ks, args.tokens, args.repeat)
        print(json.dumps({"local": report["runs"]["local"]}), file=sys.stderr, flush=True)
        for delay in [float(d) for d in args.delays.split(",")]:
            target = port
            if delay:
                network, target = start_network(port, delay, server_cores)
                networks.append(network)
            rpc = parse_servers(f"127.0.0.1:{target}", args.split)
            engine.unload_main()
            engine.load_main(main_model, LoadOptions(n_ctx=1024, n_threads=threads, rpc=rpc))
            engine.load_draft(models["draft_q4_1"], opts)
            name = f"rpc +{delay:g} ms each way"
            report["runs"][name] = measure(engine, ks, args.tokens, args.repeat)
            report["runs"][name]["devices"] = engine.main.layout
            print(json.dumps({name: report["runs"][name]}), file=sys.stderr, flush=True)
        engine.close()
    finally:
        for child in [server, *networks]:
            child.send_signal(signal.SIGKILL)
            child.communicate()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
