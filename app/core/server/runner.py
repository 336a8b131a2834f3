"""Run the local server: uvicorn on a thread of its own (the window) or on the calling thread (`serve`).

It binds 127.0.0.1 unless told otherwise. A bind that other machines can reach without an API key is allowed,
as llama.cpp's rpc-server allows it, but said loudly: anyone on that network could use the model.
"""

from __future__ import annotations

import logging
import threading
import time

import uvicorn

from app.core.infra.net import is_loopback, port_problem
from app.core.server.asgi import ServerOptions, build_app
from app.core.server.defaults import DEFAULT_HOST, DEFAULT_PORT
from app.core.server.gateway import EngineGateway

log = logging.getLogger("specchat.server")


class ServerError(Exception):
    """The server could not start (the port is taken, the address is not this machine's...)."""


def exposure_warning(host: str, api_key: str) -> str:
    """The loud line for a bind other machines reach with no key; "" when there is nothing to say."""
    if is_loopback(host) or api_key:
        return ""
    return (f"WARNING: the local server listens on {host}, which other machines can reach, and no API key is set: "
            "anyone who can reach this port can use the model. Bind 127.0.0.1, or set an API key (--api-key).")


def check_port(host: str, port: int) -> None:
    problem = port_problem(host, port)
    if problem:
        raise ServerError(f"{problem}: choose another port, or stop the program that uses it")


def base_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v1"


class LocalServer:
    """uvicorn serving build_app(gateway); start() returns once it listens (or raises ServerError)."""

    def __init__(self, gateway: EngineGateway, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 options: ServerOptions = ServerOptions()) -> None:
        self.gateway, self.host, self.port, self.options = gateway, host, port, options
        config = uvicorn.Config(build_app(gateway, options), host=host, port=port, log_config=None,
                                access_log=False, lifespan="off", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return base_url(self.host, self.port)

    def warning(self) -> str:
        return exposure_warning(self.host, self.options.api_key)

    def start(self, timeout_s: float = 10.0) -> None:
        check_port(self.host, self.port)
        if self.warning():
            log.warning("%s", self.warning())
        self._thread = threading.Thread(target=self._server.run, name="local-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ServerError(f"the server did not start on {self.host}:{self.port} (see the log)")
            time.sleep(0.02)
        log.info("local server on %s", self.url)

    def run(self) -> None:
        """Serve on this thread until interrupted (the `serve` command, which prints the warning itself)."""
        check_port(self.host, self.port)
        self._server.run()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop listening; requests still streaming are cancelled in the engine."""
        self._server.should_exit = True
        for record in list(self.gateway.records):
            if record.state in ("queued", "running"):
                self.gateway.cancel(record.request_id)
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout_s)
        log.info("local server on %s stopped", self.url)
