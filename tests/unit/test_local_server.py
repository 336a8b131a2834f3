"""The local OpenAI-compatible server against real clients: the official `openai` package (sync and streaming)
and raw HTTP, over a real engine process with the starter model. One server for the module (loading is the slow
part); tests that need other options (an API key, a small body limit, CORS) start a second listener on the same
gateway, which is what the window does when its settings change."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import openai
import pytest

from app.core.inference.engine import Engine
from app.core.inference.engine_process.blocking import BlockingEngine
from app.core.inference.speculative import GenerationStats
from app.core.infra.requests import GenerateRequest, LoadOptions, SpeculationConfig
from app.core.server.asgi import ServerOptions
from app.core.server.gateway import EngineGateway
from app.core.server.openai_api import Defaults
from app.core.server.runner import LocalServer, ServerError, exposure_warning

N_CTX = 1024
QUESTION = "Name three rivers in Europe and say one thing about each."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, str]]:
    engine = BlockingEngine(tmp_path_factory.mktemp("server-logs"))
    engine.load("main", smollm2_path, LoadOptions(n_ctx=N_CTX))
    gateway = EngineGateway(engine.client, Defaults(speculation=SpeculationConfig(mode="ngram", auto=True)))
    server = LocalServer(gateway, "127.0.0.1", free_port())
    server.start()
    yield server, smollm2_path.stem
    server.stop()
    engine.close()


@pytest.fixture(scope="module")
def reference(smollm2_path: Path) -> Engine:
    """The same model in this process: what `generate` answers, to compare with."""
    engine = Engine()
    engine.load_main(smollm2_path, LoadOptions(n_ctx=N_CTX))
    yield engine
    engine.close()


def plain_answer(engine: Engine, messages: list[dict[str, str]], max_tokens: int) -> str:
    req = GenerateRequest(messages=tuple(messages), max_tokens=max_tokens)
    return "".join(ev.text for ev in engine.answer(req, GenerationStats()))


def client(server: LocalServer, key: str = "not-needed") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key=key, max_retries=0, timeout=120)


def test_models_lists_the_loaded_main(served: tuple[LocalServer, str]) -> None:
    server, model = served
    ids = [m.id for m in client(server).models.list()]
    assert ids == [model]


def test_chat_sync_and_stream_equal_generate_at_t0(served: tuple[LocalServer, str], reference: Engine) -> None:
    server, model = served
    messages = [{"role": "user", "content": QUESTION}]
    expected = plain_answer(reference, messages, 60)
    c = client(server)
    whole = c.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=60)
    assert whole.choices[0].message.content == expected
    assert whole.usage.completion_tokens == 60 and whole.choices[0].finish_reason == "length"
    timings = whole.model_extra["timings"]
    assert timings["predicted_n"] == 60 and timings["predicted_per_second"] > 0
    assert timings["draft_n"] >= timings["draft_n_accepted"] >= 0  # the server's default: n-gram, auto

    pieces, usage, chunks = [], None, 0
    for chunk in c.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=60,
                                           stream=True, stream_options={"include_usage": True}):
        chunks += 1
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(pieces) == expected
    assert chunks > 3  # streamed, not one lump
    assert usage is not None and usage.completion_tokens == 60


def test_completions_endpoint_is_raw_text(served: tuple[LocalServer, str], reference: Engine) -> None:
    server, model = served
    req = GenerateRequest(raw="The capital of France is", max_tokens=12)
    expected = "".join(ev.text for ev in reference.answer(req, GenerationStats()))
    out = client(server).completions.create(model=model, prompt="The capital of France is", max_tokens=12,
                                            temperature=0)
    assert out.choices[0].text == expected


def test_prediction_reports_accepted_tokens_and_output_is_unchanged(served: tuple[LocalServer, str],
                                                                    reference: Engine) -> None:
    server, model = served
    messages = [{"role": "user", "content": "Write a Python function that adds two numbers, with a docstring."}]
    expected = plain_answer(reference, messages, 80)
    out = client(server).chat.completions.create(
        model=model, messages=messages, temperature=0, max_tokens=80,
        prediction={"type": "content", "content": expected}, extra_body={"speculative": {"type": "none"}})
    assert out.choices[0].message.content == expected
    details = out.usage.completion_tokens_details
    assert details.accepted_prediction_tokens >= 70
    assert details.rejected_prediction_tokens <= 5
    assert out.model_extra["timings"]["prediction_n_accepted"] == details.accepted_prediction_tokens


def test_two_concurrent_requests_are_served_one_after_the_other(served: tuple[LocalServer, str],
                                                               reference: Engine) -> None:
    server, model = served
    questions = ["Tell me about the sea.", "Tell me about the mountains."]
    expected = [plain_answer(reference, [{"role": "user", "content": q}], 50) for q in questions]
    got: dict[int, str] = {}

    def ask(i: int) -> None:
        stream = client(server).chat.completions.create(
            model=model, messages=[{"role": "user", "content": questions[i]}], temperature=0, max_tokens=50,
            stream=True)
        got[i] = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)

    before = len(server.gateway.records)
    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert got == {0: expected[0], 1: expected[1]}  # no token of one in the other
    records = server.gateway.records[before:]
    assert [r.state for r in records] == ["done", "done"]
    assert len({r.request_id for r in records}) == 2


def test_a_client_that_disconnects_mid_stream_stops_the_generation(served: tuple[LocalServer, str]) -> None:
    server, model = served
    before = len(server.gateway.records)
    body = {"model": model, "messages": [{"role": "user", "content": "Count from one to a thousand in words."}],
            "max_tokens": 900, "temperature": 0, "stream": True, "speculative": {"type": "none"},
            "ignore_eos": True}
    with httpx2.Client(timeout=60) as http:
        with http.stream("POST", server.url + "/chat/completions", json=body) as response:
            assert response.status_code == 200
            lines = 0
            for line in response.iter_lines():
                lines += line.startswith("data: ")
                if lines >= 5:
                    break  # leaving the block closes the connection mid-stream
    record = server.gateway.records[before]
    deadline = time.monotonic() + 20
    while record.state not in ("disconnected", "done", "cancelled") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert record.state == "disconnected"
    assert record.completion_tokens < 900  # it stopped, it did not write the rest for nobody
    # and the engine is free again at once
    t0 = time.monotonic()
    out = client(server).chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}],
                                                 max_tokens=5, temperature=0)
    assert out.choices[0].message.content and time.monotonic() - t0 < 10


def error_of(response: httpx2.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and {"message", "type", "param", "code"} <= set(body["error"])
    return body["error"]


@pytest.mark.parametrize("payload, status, code", [
    (b"{not json", 400, "invalid_json"),
    (json.dumps({"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}).encode(), 404,
     "model_not_found"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "n": 2}).encode(), 400, "unsupported"),
    (json.dumps({"messages": [{"role": "user", "content": "word " * 1500}]}).encode(), 400,
     "context_length_exceeded"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}],
                 "prediction": {"type": "content", "content": "word " * 1500}}).encode(), 400, "prediction_too_long"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "draft_model": "nope"}).encode(), 400,
     "model_not_found"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}).encode(), 400, None),
    # hostile bodies: each a 400 that names the field, never a 500 or a dropped connection
    (b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}', 400, None),
    (b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e300}', 400, None),
    (b'{"messages": [{"role": "user", "content": "hi"}], "temperature": ' + b"9" * 400 + b"}", 400, None),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "stream": "false"}).encode(), 400, None),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "n": True}).encode(), 400, "unsupported"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "speculative": {"type": ["draft"]}}).encode(),
     400, None),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}], "stream_options": "yes"}).encode(), 400, None),
    (b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json"),
    (b'{"messages": [{"role": "user", "content": "\\ud800 hi"}]}', 400, "invalid_text"),
])
def test_bad_requests_get_openai_errors(served: tuple[LocalServer, str], payload: bytes, status: int,
                                        code: str | None) -> None:
    server, _ = served
    r = httpx2.post(server.url + "/chat/completions", content=payload, headers={"content-type": "application/json"},
                    timeout=60)
    assert r.status_code == status
    error = error_of(r)
    assert error["code"] == code and error["message"]


def test_openai_client_raises_its_own_errors(served: tuple[LocalServer, str]) -> None:
    server, _ = served
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client(server).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="context"):
        client(server).chat.completions.create(model="", messages=[{"role": "user", "content": "word " * 1500}],
                                               stream=True)


def test_unknown_routes_and_methods_get_openai_errors(served: tuple[LocalServer, str]) -> None:
    server, _ = served
    assert httpx2.get(server.url + "/embeddings").status_code == 404
    r = httpx2.get(server.url + "/chat/completions")
    assert r.status_code == 405 and error_of(r)["message"] and "POST" in r.headers["allow"]


def test_an_over_context_prompt_is_worded_as_openai_does(served: tuple[LocalServer, str]) -> None:
    server, _ = served
    r = httpx2.post(server.url + "/completions", json={"prompt": "word " * 1500}, timeout=60)
    error = error_of(r)
    assert r.status_code == 400 and error["param"] == "prompt"
    assert f"maximum context length is {N_CTX:,} tokens" in error["message"]


def test_api_key_body_limit_and_cors(served: tuple[LocalServer, str]) -> None:
    server, model = served
    locked = LocalServer(server.gateway, "127.0.0.1", free_port(),
                         ServerOptions(api_key="sekrit", max_body_bytes=2000, cors_origins=("http://editor.test",)))
    locked.start()
    try:
        url = locked.url + "/chat/completions"
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
        assert error_of(httpx2.post(url, json=body))["code"] == "missing_api_key"
        r = httpx2.post(url, json=body, headers={"authorization": "Bearer wrong"})
        assert r.status_code == 401 and error_of(r)["code"] == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            client(locked, "wrong").models.list()
        assert client(locked, "sekrit").chat.completions.create(**body).choices[0].message.content
        big = {**body, "messages": [{"role": "user", "content": "x" * 5000}]}
        r = httpx2.post(url, json=big, headers={"authorization": "Bearer sekrit"})
        assert r.status_code == 413 and error_of(r)["code"] == "request_too_large"
        pre = httpx2.options(url, headers={"origin": "http://editor.test", "access-control-request-method": "POST"})
        assert pre.headers.get("access-control-allow-origin") == "http://editor.test"
    finally:
        locked.stop()
    # the module's server was started without CORS: no header for any origin
    r = httpx2.get(server.url + "/models", headers={"origin": "http://evil.test"})
    assert "access-control-allow-origin" not in r.headers


def test_a_taken_port_is_said_and_a_wide_bind_without_key_warns(served: tuple[LocalServer, str]) -> None:
    server, _ = served
    with pytest.raises(ServerError, match="choose another port"):
        LocalServer(server.gateway, "127.0.0.1", server.port).start()
    assert "WARNING" in exposure_warning("0.0.0.0", "") and "API key" in exposure_warning("0.0.0.0", "")
    assert exposure_warning("0.0.0.0", "k") == "" and exposure_warning("127.0.0.1", "") == ""


def test_serve_command_serves_and_stops(smollm2_path: Path, tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--model", str(smollm2_path), "--host", "0.0.0.0",
                             "--port", str(port), "--ctx", "512"], stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stderr:  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith("serving"):
                break
        text = "".join(lines)
        assert "WARNING" in text and "0.0.0.0" in text  # a wide bind without a key is said loudly
        models = httpx2.get(f"http://127.0.0.1:{port}/v1/models", timeout=30).json()
        assert models["data"][0]["id"] == smollm2_path.stem
    finally:
        proc.send_signal(2)
        code = proc.wait(30)
        proc.stderr.close()  # type: ignore[union-attr]
    assert code == 0
