"""The window's local server: the OpenAI-compatible server of app/core/server, on the window's engine process.

It serves whatever the window has loaded (main and draft), with the sidebar's sampling and speculation as the
defaults of requests that do not say (pushed here whenever they change). uvicorn runs on a thread of its own;
the request log reaches the GUI thread through a queued signal.

Who wins when the window and a client both want the engine: neither. The engine answers in arrival order, so a
chat message sent while a server request is answered waits for it (the window says so), and a request that
arrives while the window answers waits in turn. The chat's Stop stops the chat's answer; the server window's
"Stop request" stops the request being answered; a client that disconnects stops its own.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from PySide6.QtCore import QObject, Qt, Signal

from app.core.infra.requests import SamplerParams, SpeculationConfig
from app.core.infra.settings import ServerSettings
from app.core.server.asgi import ServerOptions
from app.core.server.gateway import EngineGateway, RequestRecord
from app.core.server.openai_api import Defaults
from app.core.server.runner import LocalServer, ServerError
from app.workers.engine_worker import EngineHost

log = logging.getLogger("specchat.server")


class LocalServerHost(QObject):
    runningChanged = Signal(bool, str, str)  # running, the base URL ("" when stopped), a warning ("" none)
    failed = Signal(str)  # the server could not start: why
    recordChanged = Signal(object)  # RequestRecord (a copy): a request-log line was added or changed
    activeChanged = Signal(int)  # requests being answered or waiting (the window says chat answers wait)
    _record = Signal(object)  # from the server's threads to the GUI thread

    def __init__(self, host: EngineHost, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.gateway = EngineGateway(host.client, on_record=self._record.emit)
        self.server: LocalServer | None = None
        self.url = ""
        self._active: set[int] = set()
        self._record.connect(self._on_record, Qt.ConnectionType.QueuedConnection)

    @property
    def running(self) -> bool:
        return self.server is not None

    def set_defaults(self, sampling: SamplerParams, speculation: SpeculationConfig) -> None:
        """What requests that say nothing run with: the sidebar's choices (a frozen value, swapped whole)."""
        self.gateway.defaults = Defaults(sampling, replace(speculation))

    def start(self, config: ServerSettings) -> bool:
        self.stop()
        server = LocalServer(self.gateway, config.host, config.port, ServerOptions(api_key=config.api_key))
        try:
            server.start()
        except ServerError as e:
            log.warning("local server: %s", e)
            self.failed.emit(str(e))
            return False
        self.server, self.url = server, server.url
        self.runningChanged.emit(True, self.url, server.warning())
        return True

    def stop(self) -> None:
        if self.server is None:
            return
        self.server.stop()
        self.server, self.url = None, ""
        self._active.clear()
        self.activeChanged.emit(0)
        self.runningChanged.emit(False, "", "")

    def stop_request(self) -> bool:
        """The server window's Stop: the request being answered stops (its client gets what was written)."""
        return self.gateway.cancel_running()

    def _on_record(self, record: RequestRecord) -> None:
        before = len(self._active)
        if record.state in ("queued", "running"):
            self._active.add(record.number)
        else:
            self._active.discard(record.number)
        if len(self._active) != before:
            self.activeChanged.emit(len(self._active))
        self.recordChanged.emit(record)
