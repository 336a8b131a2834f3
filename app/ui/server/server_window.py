"""The Local server window: the switch, where it listens, a copyable example and the live request log.

It speaks to LocalServerHost (app/workers/local_server.py) and keeps the address and key in the settings'
`server` section (saved through the window's SettingsSaver, like every other choice).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QPlainTextEdit, QPushButton, QSpinBox, QTableWidget, QTableWidgetItem,
                               QTabWidget, QVBoxLayout, QWidget)

from app.core.infra.settings import ServerSettings
from app.core.server.gateway import LOG_KEPT, RequestRecord
from app.ui.widgets.wheel_guard import guard_wheel
from app.workers.local_server import LocalServerHost

COLUMNS = ("#", "Time", "Client", "Endpoint", "State", "Tokens", "tok/s", "Drafted → kept", "Prediction ±",
           "Speculation")
STATES = {"queued": "waiting", "running": "answering…", "done": "done", "error": "error", "cancelled": "stopped",
          "disconnected": "client left"}


def python_example(url: str, model: str, key: str) -> str:
    return f'''from openai import OpenAI

client = OpenAI(base_url="{url}", api_key="{key or 'not-needed'}")
source = open("app.py").read()
stream = client.chat.completions.create(
    model="{model or 'the-loaded-model'}",
    messages=[{{"role": "user", "content": "Rename `total` to `count` in:\\n" + source}}],
    prediction={{"type": "content", "content": source}},  # proposed as draft tokens
    stream=True,
)
for chunk in stream:
    if chunk.choices:
        print(chunk.choices[0].delta.content or "", end="", flush=True)
'''


def curl_example(url: str, model: str, key: str) -> str:
    auth = f' \\\n  -H "Authorization: Bearer {key}"' if key else ""
    return (f'curl {url}/chat/completions -H "Content-Type: application/json"{auth} \\\n'
            f'  -d \'{{"model": "{model or "the-loaded-model"}", "messages": [{{"role": "user", '
            f'"content": "Hello!"}}], "stream": true}}\'\n')


class ServerWindow(QWidget):
    def __init__(self, server: LocalServerHost, config: ServerSettings, changed: Callable[[], None],
                 model_id: Callable[[], str], parent: QWidget | None = None) -> None:
        """config: the settings' server section (edited in place); changed: save soon; model_id: the loaded
        main's API id ("" when none is loaded)."""
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Local server")
        self.setObjectName("localServerWindow")
        self.server, self.config, self.changed, self.model_id = server, config, changed, model_id
        self._rows: dict[int, int] = {}  # record number -> table row

        intro = QLabel("Serves the model loaded in the sidebar to other programs (editors, agents, scripts) over "
                       "OpenAI's API, with the sidebar's speculation settings as the default. Requests and chat "
                       "answers share the engine: each waits for the one before it to finish.")
        intro.setWordWrap(True)
        self.switch = QCheckBox("Serve the loaded model")
        self.switch.setObjectName("serverSwitch")
        self.host_edit = QLineEdit(config.host)
        self.host_edit.setToolTip("127.0.0.1: this machine only. 0.0.0.0: every network (set an API key)")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(config.port)
        self.key = QLineEdit(config.api_key)
        self.key.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)
        self.key.setPlaceholderText("none (anyone who reaches the address may use it)")
        form = QFormLayout()
        form.addRow("Address", self.host_edit)
        form.addRow("Port", self.port)
        form.addRow("API key", self.key)

        self.status = QLabel("Stopped")
        self.status.setObjectName("serverStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_url = QPushButton("Copy address")
        self.copy_url.setEnabled(False)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.copy_url)

        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.examples = QTabWidget()
        self.python = QPlainTextEdit()
        self.curl = QPlainTextEdit()
        for edit, name in ((self.python, "Python (openai)"), (self.curl, "curl")):
            edit.setReadOnly(True)
            edit.setFont(mono)
            edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            self.examples.addTab(edit, name)
        self.copy_example = QPushButton("Copy example")

        self.log = QTableWidget(0, len(COLUMNS))
        self.log.setObjectName("serverLog")
        self.log.setHorizontalHeaderLabels(COLUMNS)
        self.log.verticalHeader().hide()
        self.log.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.log.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.log.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.log.horizontalHeader().setStretchLastSection(True)
        self.stop_request = QPushButton("Stop request")
        self.stop_request.setToolTip("Stop the request being answered (the client gets what was written so far)")
        self.stop_request.setEnabled(False)
        self.active = QLabel("")
        log_row = QHBoxLayout()
        log_row.addWidget(QLabel("<b>Requests</b>"))
        log_row.addWidget(self.active, 1)
        log_row.addWidget(self.stop_request)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.switch)
        layout.addLayout(form)
        layout.addLayout(status_row)
        layout.addWidget(self.examples, 1)
        layout.addWidget(self.copy_example, 0, Qt.AlignmentFlag.AlignRight)
        layout.addLayout(log_row)
        layout.addWidget(self.log, 2)
        self.resize(760, 640)

        self.switch.toggled.connect(self._switched)
        self.copy_url.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.server.url))
        self.copy_example.clicked.connect(
            lambda: QGuiApplication.clipboard().setText((self.python, self.curl)[self.examples.currentIndex()]
                                                        .toPlainText()))
        self.stop_request.clicked.connect(self.server.stop_request)
        for line in (self.host_edit, self.key):
            line.editingFinished.connect(self._edited)
        self.port.valueChanged.connect(lambda _: self._edited())
        server.runningChanged.connect(self._running_changed)
        server.failed.connect(self._failed)
        server.recordChanged.connect(self.show_record)
        server.activeChanged.connect(self._active_changed)
        self._running_changed(server.running, server.url, "")
        for record in list(server.gateway.records):
            self.show_record(record)
        self.wheel_guard = guard_wheel(self)

    # ---- the switch and the address ---------------------------------------------------------------------------
    def _edited(self) -> None:
        self.config.host = self.host_edit.text().strip() or "127.0.0.1"
        self.config.port = self.port.value()
        self.config.api_key = self.key.text().strip()
        self.changed()
        self._update_examples()

    def _switched(self, on: bool) -> None:
        if on == self.server.running:
            return
        self._edited()
        self.config.enabled = on
        self.changed()
        if on:
            self.status.setText("Starting…")
            self.server.start(self.config)
        else:
            self.server.stop()

    def _running_changed(self, running: bool, url: str, warning: str) -> None:
        self.switch.blockSignals(True)
        self.switch.setChecked(running)
        self.switch.blockSignals(False)
        for w in (self.host_edit, self.port, self.key):
            w.setEnabled(not running)  # a change applies at the next start: said by greying out, not by surprise
        self.copy_url.setEnabled(running)
        if running:
            text = f"Serving at <b>{url}</b>" + (" · API key required" if self.config.api_key else "")
            if warning:
                text += f"<br><span style='color:#c0392b'>{warning}</span>"
            self.status.setText(text)
        else:
            self.status.setText("Stopped")
        self._update_examples()

    def _failed(self, message: str) -> None:
        self.switch.blockSignals(True)
        self.switch.setChecked(False)
        self.switch.blockSignals(False)
        self.status.setText(f"<span style='color:#c0392b'>Not started: {message}</span>")

    def _update_examples(self) -> None:
        from app.core.server.runner import base_url

        url = self.server.url or base_url(self.config.host, self.config.port)
        model, key = self.model_id(), self.config.api_key
        self.python.setPlainText(python_example(url, model, key))
        self.curl.setPlainText(curl_example(url, model, key))

    # ---- the request log ----------------------------------------------------------------------------------------
    def _active_changed(self, n: int) -> None:
        self.stop_request.setEnabled(n > 0)
        self.active.setText(f"{n} being answered or waiting" if n else "")

    def show_record(self, r: RequestRecord) -> None:
        row = self._rows.get(r.number)
        if row is None:
            if self.log.rowCount() >= LOG_KEPT:  # the gateway keeps as many: the oldest line goes
                self.log.removeRow(0)
                self._rows = {n: i - 1 for n, i in self._rows.items() if i > 0}
            row = self._rows[r.number] = self.log.rowCount()
            self.log.insertRow(row)
        kept = f"{r.drafted} → {r.accepted}" if r.drafted else "–"
        pred = f"+{r.prediction_accepted} / −{r.prediction_rejected}" if (
            r.prediction_accepted or r.prediction_rejected) else "–"
        state = STATES.get(r.state, r.state) + (f" ({r.status})" if r.status and r.status != 200 else "")
        cells = (str(r.number), time.strftime("%H:%M:%S", time.localtime(r.started)), r.client, r.endpoint, state,
                 f"{r.prompt_tokens} + {r.completion_tokens}", f"{r.tokens_per_second:.1f}" if r.tokens_per_second
                 else "–", kept, pred, r.speculation or "–")
        for col, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if col == 4 and r.error:
                item.setToolTip(r.error)
            self.log.setItem(row, col, item)
        self.log.scrollToBottom()
