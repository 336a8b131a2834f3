"""The "RPC servers" list in the model settings: where the main model's layers may go besides this machine.

Each row is a host:port with its state from the last check (reachable, free memory, or why not). The split
field takes manual weights (this machine first, then each server); empty means llama.cpp's split by free memory.
The draft model always stays on this machine.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QGroupBox, QHBoxLayout, QLineEdit, QListWidget, QListWidgetItem, QMessageBox,
                               QPushButton, QToolButton, QVBoxLayout, QWidget)

from app.core.inference.rpc import ServerState, parse_servers
from app.core.infra.requests import RpcServers
from app.core.inference.rpc_protocol import parse_endpoint
from app.workers.rpc_check_worker import RpcChecker

log = logging.getLogger("specchat.ui")

SECURITY_NOTE = ("llama.cpp's RPC protocol has no authentication: use servers on networks you trust only "
                 "(start one with `python -m app rpc-server`).")


def gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


class RpcServersBox(QGroupBox):
    changed = Signal()  # the list or the split was edited (the window saves them in the settings)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFlat(True)
        self.setToolTip(SECURITY_NOTE)
        self.checker = RpcChecker()
        self.checker.checked.connect(self._show_report)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        # folded by default: most users run on one machine, and the sidebar must fit 280 px
        self.header = QToolButton()
        self.header.setCheckable(True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setArrowType(Qt.ArrowType.RightArrow)
        self.header.setAutoRaise(True)
        self.header.toggled.connect(self.set_expanded)
        outer.addWidget(self.header)
        self.body = QWidget()
        box = QVBoxLayout(self.body)
        box.setContentsMargins(0, 0, 0, 0)
        self.list = QListWidget()
        self.list.setMaximumHeight(72)
        box.addWidget(self.list)
        self.address = QLineEdit()
        self.address.setPlaceholderText("host:port (e.g. 192.168.1.20:50052)")
        self.address.returnPressed.connect(self._add)
        box.addWidget(self.address)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self._add)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove)
        self.check_button = QPushButton("Check")
        self.check_button.setToolTip("Is each server reachable, and how much memory does it have free?")
        self.check_button.clicked.connect(self.check)
        for w in (self.add_button, self.remove_button, self.check_button):
            row.addWidget(w)
        box.addLayout(row)
        self.split = QLineEdit()
        self.split.setPlaceholderText("split: by free memory (or e.g. 1,2,2)")
        self.split.setToolTip("Manual weights: this machine first, then each server (e.g. 1,2,2). Empty: llama.cpp "
                              "splits the layers by each device's free memory.")
        self.split.editingFinished.connect(self.changed)
        box.addWidget(self.split)
        outer.addWidget(self.body)
        self.set_expanded(False)

    def set_expanded(self, on: bool) -> None:
        self.body.setVisible(on)
        self.header.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        if self.header.isChecked() != on:
            self.header.setChecked(on)
        self._update_header()

    def _update_header(self) -> None:
        n = self.list.count()
        # short ("none": all layers here): the sidebar is 280 px at 900 px wide
        self.header.setText(f"RPC servers ({n})" if n else "RPC servers: none")

    # ---- state -------------------------------------------------------------------------------------------------
    def endpoints(self) -> list[str]:
        return [self.list.item(i).data(256) for i in range(self.list.count())]

    def set_servers(self, endpoints: list[str], split: str = "") -> None:
        self.list.clear()
        for ep in endpoints:
            self._append(ep)
        self.split.setText(split)
        self.set_expanded(bool(endpoints))

    def servers(self) -> RpcServers:
        """The list and the split as load options take them. A split that is not numbers is dropped (with its
        reason as the field's tooltip): the load then splits by free memory, as the empty field says."""
        try:
            servers = parse_servers(",".join(self.endpoints()), self.split.text())
            self.split.setToolTip("")
        except ValueError as e:
            log.warning("RPC split ignored: %s", e)
            self.split.setToolTip(f"Ignored: {e}")
            servers = RpcServers(tuple(self.endpoints()), ())
        return servers

    def _append(self, endpoint: str, state: str = "not checked") -> None:
        item = QListWidgetItem(f"{endpoint} — {state}")
        item.setData(256, endpoint)
        self.list.addItem(item)
        self._update_header()

    def _add(self) -> None:
        text = self.address.text().strip()
        try:
            ep = str(parse_endpoint(text))
        except ValueError as e:
            self.address.setToolTip(str(e))
            self.address.setStyleSheet("border: 1px solid #c0392b")
            return
        self.address.setStyleSheet("")
        self.address.setToolTip("")
        if ep not in self.endpoints():
            self._append(ep)
            self.changed.emit()
            self.check()
        self.address.clear()

    def _remove(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self._update_header()
        self.changed.emit()

    # ---- checks ------------------------------------------------------------------------------------------------
    def check(self) -> None:
        if self.endpoints():
            self.check_button.setEnabled(False)
            self.checker.check(self.endpoints())

    def mark(self, endpoint: str, state: str) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(256) == endpoint:
                item.setText(f"{endpoint} — {state}")

    def _show_report(self, report: list[ServerState]) -> None:
        self.check_button.setEnabled(True)
        for s in report:
            if s.in_use:
                state = "connected (the loaded model uses it)"
            elif s.ok:
                state = f"reachable, {gib(s.free)} of {gib(s.total)} free"
            else:
                state = s.error
            self.mark(s.endpoint, state)


def offer_reload_without(parent: QWidget, endpoint: str, message: str) -> bool:
    """After a server died mid-answer: the answer so far is kept; reload the model without that server?"""
    answer = QMessageBox.question(parent, "RPC server lost",
                                  f"{message}\n\nThe chat and the answer so far are kept. Reload the model "
                                  f"without {endpoint}?")
    return answer == QMessageBox.StandardButton.Yes
