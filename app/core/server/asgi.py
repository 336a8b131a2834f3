"""The HTTP side of the local server: a Starlette app with OpenAI's routes, served by uvicorn (runner.py).

Why Starlette + uvicorn: the two pieces every Python ASGI service is built on (FastAPI is Starlette plus pydantic
validation, whose 422 errors are not OpenAI's shape; we validate in openai_api.py), with Server-Sent Events as
a plain streamed body, and a uvicorn.Server that runs in a thread of the window and stops on a flag.

SSE is written by EventStream rather than Starlette's StreamingResponse: it must notice a client that goes away
while the engine is still reading a long prompt (no chunk is sent then, so a failed send would come too late),
and it cancels the engine request at once.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from app.core.inference.answer_stats import AnswerStats
from app.core.inference.engine_process import protocol as p
from app.core.server import openai_api as api
from app.core.server.gateway import EngineGateway, RequestRecord, RequestState

log = logging.getLogger("specchat.server")

MAX_BODY_BYTES = 16 << 20  # a whole source file as the prediction fits many times over


@dataclass(frozen=True)
class ServerOptions:
    api_key: str = ""  # "": no key asked for
    max_body_bytes: int = MAX_BODY_BYTES
    cors_origins: tuple[str, ...] = ()  # none: no CORS headers at all


def error_response(e: api.ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
    return JSONResponse(e.body(), status_code=e.status, headers=headers)


class EventStream(Response):
    """An SSE response fed by an async iterator of already-encoded events, watching for the client to go."""

    def __init__(self, events: AsyncIterator[bytes], on_disconnect: Callable[[], None]) -> None:
        super().__init__(status_code=200, media_type="text/event-stream")
        self.events, self.on_disconnect = events, on_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                                (b"x-accel-buffering", b"no")]})
        gone = False

        async def listen() -> None:
            nonlocal gone
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone = True
                    self.on_disconnect()
                    return

        watcher = asyncio.create_task(listen())
        events = self.events
        try:
            async for event in events:
                if gone:
                    break
                try:
                    await send({"type": "http.response.body", "body": event, "more_body": True})
                except OSError:
                    gone = True
                    self.on_disconnect()
                    break
            if not gone:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()  # a generator left at a yield is closed now, not at garbage collection


def sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


class Job:
    """One request's events, from the engine client's reader thread into this request's event loop."""

    def __init__(self, gateway: EngineGateway, record: RequestRecord, parsed: api.ParsedRequest,
                 n_ctx: int) -> None:
        self.gateway, self.record, self.parsed, self.n_ctx = gateway, record, parsed, n_ctx
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[p.Event | None] = asyncio.Queue()
        self.request_id = 0
        self.pieces: list[str] = []
        self.stats = AnswerStats(crashed=True)  # nothing measured until the engine says how it ended
        self.disconnected = False

    def start(self, request: Any) -> None:
        self.request_id = self.gateway.submit(request, self.record,
                                              lambda ev: self.loop.call_soon_threadsafe(self.queue.put_nowait, ev))

    def disconnect(self) -> None:
        """The client went away: stop the generation (or drop it from the engine's queue)."""
        if not self.disconnected and self.record.state in ("queued", "running"):
            self.disconnected = True
            log.info("request %d: the client disconnected; stopping it", self.record.number)
            self.gateway.cancel(self.request_id)
            self.gateway.finish(self.record, "disconnected", 499, error="the client closed the connection")
            self.queue.put_nowait(None)

    async def events(self) -> AsyncIterator[p.Event]:
        """Token batches and prompt progress, then a Finished (or a Died: the engine crashed)."""
        while True:
            ev = await self.queue.get()
            if ev is None:
                return
            if isinstance(ev, (p.Tokens, p.PromptProgress)) and self.record.state == "queued":
                self.gateway.update(self.record, state="running", started=time.time())
            if isinstance(ev, p.Tokens):
                self.pieces.extend(text for text, _ in ev.pieces)
                self.gateway.update(self.record, completion_tokens=ev.live.generated_tokens,
                                    prompt_tokens=ev.live.prompt_tokens,
                                    tokens_per_second=round(ev.live.tokens_per_second, 2))
            elif isinstance(ev, p.Finished):
                self.stats = ev.stats
            elif isinstance(ev, p.Died):
                self.stats = AnswerStats(stop_reason="error", error=ev.message, error_code="engine_crashed",
                                         crashed=True)
            yield ev
            if isinstance(ev, (p.Finished, p.Died)):
                return

    def end_state(self) -> RequestState:
        """How the log calls a request that was answered: stopped (Stop request) or done."""
        return "cancelled" if self.stats.stop_reason == "cancelled" else "done"

    def refusal(self) -> api.ApiError | None:
        """An error the request ended with before any token: said as an HTTP error, not as an answer."""
        s = self.stats
        if s.generated_tokens:
            return None
        if s.stop_reason == "context":  # OpenAI's wording: the window's own advice does not apply here
            what = "messages (with the chat template)" if self.parsed.chat else "prompt"
            return api.ApiError(400, f"This model's maximum context length is {self.n_ctx:,} tokens; the {what} "
                                     f"took {s.prompt_tokens:,}", "context_length_exceeded",
                                "messages" if self.parsed.chat else "prompt")
        if s.stop_reason == "error":
            code = s.error_code
            if code == "engine_crashed":
                return api.ApiError(500, s.error, code, kind="server_error")
            return api.ApiError(400, s.error, code or None,
                                "prediction" if code.startswith("prediction") else None)
        return None


def build_app(gateway: EngineGateway, options: ServerOptions = ServerOptions()) -> Starlette:
    async def read_json(request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > options.max_body_bytes:
            raise api.ApiError(413, f"the request body is {int(declared):,} bytes, over this server's limit of "
                                    f"{options.max_body_bytes:,}", "request_too_large")
        body = bytearray()
        async for part in request.stream():
            body += part
            if len(body) > options.max_body_bytes:
                raise api.ApiError(413, f"the request body is over this server's limit of "
                                        f"{options.max_body_bytes:,} bytes", "request_too_large")
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as e:  # bad bytes or syntax, nesting too deep, a 5 000-digit number
            raise api.ApiError(400, f"the request body is not valid JSON: {str(e)[:200]}", "invalid_json") from None

    def check_key(request: Request) -> None:
        if not options.api_key:
            return
        header = request.headers.get("authorization", "")
        if not header:
            raise api.ApiError(401, "You didn't provide an API key: send it as 'Authorization: Bearer KEY' (this "
                                    "server was started with --api-key).", "missing_api_key")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(key.strip().encode(), options.api_key.encode()):
            raise api.ApiError(401, "Incorrect API key provided.", "invalid_api_key")

    async def models(request: Request) -> Response:
        try:
            check_key(request)
        except api.ApiError as e:
            return error_response(e)
        return JSONResponse(api.models_list(gateway.served()))

    async def completions(request: Request, chat: bool) -> Response:
        endpoint = request.url.path
        where = f"{request.client.host}:{request.client.port}" if request.client else "?"
        served = gateway.served()
        try:
            check_key(request)
            body = await read_json(request)
            parsed = api.parse_request(body, served, gateway.defaults, chat)
        except api.ApiError as e:
            record = gateway.open_record(where, endpoint, "", False, "")
            gateway.finish(record, "error", e.status, error=e.message)
            return error_response(e)
        except ClientDisconnect:  # it went away while sending its body: nothing to answer, nothing to log loudly
            record = gateway.open_record(where, endpoint, "", False, "")
            gateway.finish(record, "disconnected", 499, error="the client left while sending the request")
            return Response(status_code=499)
        spec = api.describe_speculation(parsed.request.speculation, bool(parsed.request.prediction))
        record = gateway.open_record(where, endpoint, parsed.model, parsed.stream, spec)
        job = Job(gateway, record, parsed, served.n_ctx)
        job.start(parsed.request)
        return await (stream(job, parsed, request) if parsed.stream else whole(job, parsed, request))

    async def watch(request: Request, job: Job) -> None:
        """Until cancelled: a client that goes before the response starts stops its request."""
        while not await request.is_disconnected():
            await asyncio.sleep(0.2)
        job.disconnect()

    async def whole(job: Job, parsed: api.ParsedRequest, request: Request) -> Response:
        watcher = asyncio.create_task(watch(request, job))
        try:
            async for _ in job.events():
                pass
        finally:
            watcher.cancel()
        if job.disconnected:
            return Response(status_code=499)  # nobody reads it; the log says "client left"
        refused = job.refusal()
        if refused is not None:
            gateway.finish(job.record, "error", refused.status, job.stats, refused.message)
            return error_response(refused)
        if job.stats.stop_reason == "error":
            error = api.ApiError(500, job.stats.error, kind="server_error")
            gateway.finish(job.record, "error", 500, job.stats, error.message)
            return error_response(error)
        gateway.finish(job.record, job.end_state(), 200, job.stats)
        return JSONResponse(api.completion_object(parsed, api.new_id(parsed.chat), "".join(job.pieces), job.stats))

    async def stream(job: Job, parsed: api.ParsedRequest, request: Request) -> Response:
        # wait for the first token (or the end) before answering: a refused request (the prompt over the
        # context, a prediction too long) gets its HTTP status, as OpenAI sends it, not a 200 with an error inside
        events = job.events()
        first: p.Event | None = None
        watcher = asyncio.create_task(watch(request, job))
        try:
            async for ev in events:
                if isinstance(ev, (p.Tokens, p.Finished, p.Died)):
                    first = ev
                    break
        finally:
            watcher.cancel()
        if job.disconnected:
            return Response(status_code=499)  # nobody reads it; the log says "client left"
        refused = job.refusal() if isinstance(first, (p.Finished, p.Died)) else None
        if refused is not None:
            gateway.finish(job.record, "error", refused.status, job.stats, refused.message)
            return error_response(refused)
        rid, created = api.new_id(parsed.chat), int(time.time())

        async def body() -> AsyncIterator[bytes]:
            yield sse(api.chunk_object(parsed, rid, created, first=True))
            pending = [first] if first is not None else []

            async def rest() -> AsyncIterator[p.Event]:
                for ev in pending:
                    yield ev
                async for ev in events:
                    yield ev

            async for ev in rest():
                if isinstance(ev, p.Tokens):
                    text = "".join(t for t, _ in ev.pieces)
                    if text:
                        yield sse(api.chunk_object(parsed, rid, created, text))
            if job.disconnected:
                return
            if job.stats.stop_reason == "error":
                message = job.stats.error
                gateway.finish(job.record, "error", 500, job.stats, message)
                yield sse(api.ApiError(500, message, job.stats.error_code or None,
                                       kind="server_error").body())
                return
            gateway.finish(job.record, job.end_state(), 200, job.stats)  # logged before the client can read the end
            last = api.chunk_object(parsed, rid, created, finish=api.finish_reason(job.stats))
            last["timings"] = api.timings(job.stats)
            if parsed.include_usage:
                yield sse(last)
                yield sse({**api.chunk_object(parsed, rid, created), "choices": [], "usage": api.usage(job.stats)})
            else:
                last["usage"] = api.usage(job.stats)
                yield sse(last)
            yield b"data: [DONE]\n\n"

        return EventStream(body(), job.disconnect)

    async def guarded(request: Request, chat: bool) -> Response:
        """Whatever goes wrong still answers in OpenAI's shape (a plain-text 500 also cost the client its
        keep-alive connection: its next request failed)."""
        try:
            return await completions(request, chat)
        except Exception as e:  # noqa: BLE001 - the last line of defence; logged with its stack
            log.exception("request to %s failed", request.url.path)
            return error_response(api.ApiError(500, f"the server failed on this request: {type(e).__name__}",
                                               kind="server_error"))

    async def chat_completions(request: Request) -> Response:
        return await guarded(request, chat=True)

    async def text_completions(request: Request) -> Response:
        return await guarded(request, chat=False)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = {404: f"no such endpoint: {request.method} {request.url.path} (this server has GET /v1/models, "
                        "POST /v1/chat/completions, POST /v1/completions)",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(status, "server error")
        response = error_response(api.ApiError(status, message, None))
        if isinstance(exc, HTTPException) and exc.headers:
            response.headers.update(exc.headers)  # 405's Allow
        return response

    middleware = []
    if options.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(options.cors_origins),
                                     allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["*"]))
    routes = [Route("/v1/models", models, methods=["GET"]),
              Route("/v1/chat/completions", chat_completions, methods=["POST"]),
              Route("/v1/completions", text_completions, methods=["POST"])]
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={404: not_found, 405: not_found})
