"""The main model's layers over RPC servers (two real `python -m app rpc-server` processes on 127.0.0.1) and
this machine's CPU: identical greedy output, where the layers went, and the faults (a server down at load, a
server killed mid-answer, another protocol version) as clear errors with the app alive."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest

from app.core.inference.engine import Engine, SpeculationConfig
from app.core.inference.llama_runtime import LoadOptions, ModelLoadError
from app.core.inference.rpc import RpcServers, layer_layout
from app.core.inference.rpc_protocol import RpcError, parse_endpoint, parse_endpoints, probe
from app.core.inference.speculative import GenerationStats
from benchmarks.testbed import dequantized_copy
from tests.fixtures.rpc_server import REPO, Server, free_port

PROMPT = [{"role": "user", "content": "Write a Python function that returns the n-th Fibonacci number."}]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    home = tmp_path_factory.mktemp("rpc-home")
    pair = [Server(home), Server(home)]
    yield pair
    for s in pair:
        s.stop()


@pytest.fixture(scope="module")
def main_f32(smollm2_path, model_cache):
    """The testbed main: SmolLM2 dequantized to F32 (benchmarks/testbed.py), the Q4_1 as its draft."""
    return dequantized_copy(smollm2_path, model_cache / "SmolLM2-135M-Instruct.F32.gguf", np.float32)


def answer(engine: Engine, spec: SpeculationConfig = SpeculationConfig(), n: int = 48):
    tokens, stop = engine.chat_prompt(PROMPT)
    stats = GenerationStats()
    events = list(engine.generate(tokens, stats, max_tokens=n, spec=spec, stop=stop))
    return [e.token for e in events], stats


@pytest.mark.real_model
def test_split_over_two_servers_and_the_cpu_is_identical_to_local_greedy(servers, main_f32, smollm2_path):
    engine = Engine()
    try:
        engine.load_main(main_f32, LoadOptions(n_ctx=512))
        local, stats = answer(engine)
        assert stats.stop_reason == "length" and engine.main.layout == [("CPU", 31)]
        rpc = RpcServers(tuple(s.endpoint for s in servers), (1, 1, 1))
        engine.load_main(main_f32, LoadOptions(n_ctx=512, rpc=rpc))
        # llama.cpp's own assignment for weights 1:1:1 over 30 blocks + the output layer
        assert engine.main.layout == [("CPU", 10), (f"RPC {servers[0].endpoint}", 11),
                                      (f"RPC {servers[1].endpoint}", 10)]
        assert engine.main.offloaded_layers == 21
        plain, _ = answer(engine)
        assert plain == local
        engine.load_draft(smollm2_path, LoadOptions(n_ctx=512))  # the draft stays on this machine
        assert engine.draft.layout == [("CPU", 31)]
        drafted, dstats = answer(engine, SpeculationConfig(mode="draft", draft_tokens=4))
        assert drafted == local and dstats.accepted > 0.8 * dstats.drafted
        ngram, nstats = answer(engine, SpeculationConfig(mode="ngram", draft_tokens=4))
        assert ngram == local and nstats.drafted > 0
    finally:
        engine.close()


def test_layer_layout_replays_llama_cpp():
    assert layer_layout(30, 21, [1.0, 1.0]) == [10, 11, 10]
    assert layer_layout(30, 31, [3.0, 1.0]) == [0, 24, 7]
    assert layer_layout(30, 0, [1.0]) == [31, 0]
    assert layer_layout(30, 31, [0.0, 1.0]) == [0, 0, 31]


@pytest.mark.real_model
def test_a_server_down_at_load_is_named_and_nothing_is_unloaded(servers, smollm2_path):
    dead = f"127.0.0.1:{free_port()}"
    engine = Engine()
    try:
        engine.load_main(smollm2_path, LoadOptions(n_ctx=256))
        loaded = engine.main
        with pytest.raises(ModelLoadError, match=f"RPC server {dead} is not reachable"):
            engine.load_main(smollm2_path, LoadOptions(n_ctx=256, rpc=RpcServers((servers[0].endpoint, dead))))
        assert engine.main is loaded
        assert answer(engine, n=4)[1].stop_reason == "length"
        with pytest.raises(ModelLoadError, match="the split needs 3 non-negative weights"):
            engine.load_main(smollm2_path, LoadOptions(n_ctx=256, rpc=RpcServers(
                tuple(s.endpoint for s in servers), (1, 2))))
        assert engine.main is loaded
    finally:
        engine.close()


@pytest.mark.real_model
def test_a_server_killed_mid_answer_stops_it_with_an_error_and_the_app_goes_on(servers, main_f32, tmp_path):
    doomed = Server(tmp_path)
    engine = Engine()
    try:
        rpc = RpcServers((servers[0].endpoint, doomed.endpoint))
        engine.load_main(main_f32, LoadOptions(n_ctx=512, rpc=rpc))
        tokens, stop = engine.chat_prompt(PROMPT)
        stats = GenerationStats()
        got = []
        for ev in engine.generate(tokens, stats, max_tokens=200, stop=stop):
            got.append(ev.token)
            if len(got) == 5:
                doomed.stop()  # SIGKILL: the connection resets under the next decode
        assert stats.stop_reason == "error"
        assert f"RPC server {doomed.endpoint} stopped answering" in stats.error
        assert 5 <= len(got) < 200
        assert engine.main.rpc_lost()[0] == doomed.endpoint
        # reload without it: the same model on the surviving server and this machine
        engine.load_main(main_f32, LoadOptions(n_ctx=512, rpc=rpc.without(doomed.endpoint)))
        assert [name for name, _ in engine.main.layout] == ["CPU", f"RPC {servers[0].endpoint}"]
        assert answer(engine, n=8)[1].stop_reason == "length"
    finally:
        engine.close()
        doomed.stop()


def fake_server(version: tuple[int, int, int]) -> tuple[str, threading.Thread]:
    """A real TCP server that answers ggml-rpc's HELLO with another protocol version."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            conn.recv(9 + 24)
            conn.sendall(struct.pack("<Q", 28) + bytes(version) + bytes(25))

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return f"127.0.0.1:{listener.getsockname()[1]}", t


def test_a_server_of_another_protocol_version_is_a_clear_error(smollm2_path):
    where, t = fake_server((6, 1, 0))
    with pytest.raises(RpcError, match=r"speaks protocol 6\.1\.0, this SpecChat speaks 7\.0\.0"):
        probe(parse_endpoint(where))
    t.join(5)
    where, t = fake_server((8, 0, 0))
    with pytest.raises(ModelLoadError, match=r"speaks protocol 8\.0\.0"):
        Engine().load_main(smollm2_path, LoadOptions(n_ctx=256, rpc=RpcServers((where,))))
    t.join(5)


def test_endpoints_parse_with_clear_errors():
    assert [str(e) for e in parse_endpoints("a:1, b ,[::1]:7,a:1")] == ["a:1", "b:50052", "[::1]:7"]
    for bad, why in (("h:x", "must be a number"), ("h:0", "within 1..65535"), (":5", "no host")):
        with pytest.raises(ValueError, match=why):
            parse_endpoint(bad)
    assert RpcServers(("a:1", "b:2"), (1, 2, 3)).without("a:1") == RpcServers(("b:2",), (1, 3))


@pytest.mark.real_model
def test_cli_generate_reports_the_devices(servers, smollm2_path, tmp_path):
    import json

    out = subprocess.run([sys.executable, "-m", "app", "generate", "--model", str(smollm2_path), "--prompt",
                          "Hi", "--max-tokens", "3", "--json", "--threads", "1", "--rpc", servers[1].endpoint,
                          "--rpc-split", "1,2"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["devices"] == [{"name": "CPU", "layers": 10}, {"name": f"RPC {servers[1].endpoint}",
                                                                  "layers": 21}]


def test_rpc_server_warns_loudly_off_loopback(tmp_path):
    """Bound beyond loopback, the warning comes first; 192.0.2.1 (TEST-NET-1) is no address of this machine, so
    the test listens nowhere and the server then fails with a clear line."""
    out = subprocess.run([sys.executable, "-m", "app", "rpc-server", "--host", "192.0.2.1", "--port", "50052"],
                         cwd=REPO, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "SPECCHAT_HOME": str(tmp_path)})
    lines = out.stderr.splitlines()
    assert "WARNING: the RPC server is listening on 192.0.2.1:50052" in lines[0]
    assert "NO authentication" in lines[1]
    assert out.returncode == 1 and "error: cannot listen on 192.0.2.1:50052" in out.stderr
