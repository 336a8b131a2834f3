"""RPC servers' reachability and free memory, checked off the GUI thread (a probe may wait seconds on a server
that does not answer)."""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Signal

from app.core.inference.rpc import RpcServers, check_servers

log = logging.getLogger("specchat.worker")


class RpcChecker(QObject):
    checked = Signal(list)  # [ServerState] in the order asked

    def check(self, endpoints: list[str]) -> None:
        threading.Thread(target=self._check, args=(list(endpoints),), name="rpc-check", daemon=True).start()

    def _check(self, endpoints: list[str]) -> None:
        try:
            report = check_servers(RpcServers(tuple(endpoints)))
        except Exception:  # noqa: BLE001 - a bug here must not kill the thread silently
            log.exception("RPC check failed")
            return
        self.checked.emit(report)  # queued to the GUI thread's receivers
