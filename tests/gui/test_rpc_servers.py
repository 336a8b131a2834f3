"""The "RPC servers" list in the model settings: addresses checked as typed, a reachability check off the GUI
thread (a real TCP server speaking ggml-rpc's handshake, and a port nobody listens on), the load option it makes,
the settings it keeps; and, in the chat window with two real rpc-servers, a server killed mid-answer: the answer
is kept with an error, and the offer to reload without that server does so."""

from __future__ import annotations

import shutil
import socket
import struct
import threading
from dataclasses import replace

import pytest

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app.core.inference.answer_stats import AnswerStats
from app.core.inference.engine_process.protocol import ModelSummary
from app.core.infra.paths import app_paths
from app.core.infra.requests import RpcServers
from app.core.infra.settings import Settings, save_settings
from app.ui.main_window import MainWindow
from app.ui.sidebar.rpc_servers import RpcServersBox
from app.ui.sidebar.sidebar import Sidebar
from tests.fixtures.rpc_server import Server


def handshake_server() -> tuple[str, threading.Thread]:
    """Answers HELLO (7.0.0), one device, 3 GiB free of 4 GiB, like an rpc-server."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with listener:
            for _ in range(2):  # each check probes every server in the list: two checks here
                conn, _ = listener.accept()
                with conn:
                    def read(n: int) -> bytes:
                        buf = b""
                        while len(buf) < n:
                            buf += conn.recv(n - len(buf))
                        return buf

                    for _ in range(3):  # HELLO, DEVICE_COUNT, GET_DEVICE_MEMORY
                        cmd, size = struct.unpack("<BQ", read(9))
                        read(size)
                        body = {14: bytes((7, 0, 0)) + bytes(25), 15: struct.pack("<I", 1),
                                11: struct.pack("<QQ", 3 << 30, 4 << 30)}[cmd]
                        conn.sendall(struct.pack("<Q", len(body)) + body)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return f"127.0.0.1:{listener.getsockname()[1]}", t


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def test_servers_are_checked_and_become_the_load_option(qtbot):
    box = RpcServersBox()
    qtbot.addWidget(box)
    up, t = handshake_server()
    down = closed_port()
    box.address.setText("not a:port:x")
    box.add_button.click()
    assert box.endpoints() == [] and "border" in box.address.styleSheet()
    with qtbot.waitSignal(box.checker.checked, timeout=10_000):
        box.address.setText(up)
        box.add_button.click()
    with qtbot.waitSignal(box.checker.checked, timeout=10_000):
        box.address.setText(down)
        box.add_button.click()
    t.join(5)
    texts = [box.list.item(i).text() for i in range(box.list.count())]
    assert texts[0] == f"{up} — reachable, 3.0 GiB of 4.0 GiB free"
    assert texts[1].startswith(f"{down} — RPC server {down} is not reachable")
    assert box.servers() == RpcServers((up, down), ())
    box.split.setText("1,2,2")
    assert box.servers().without(up) == RpcServers((down,), (1.0, 2.0))
    box.split.setText("1,x")  # not numbers: dropped, and the field says why
    assert box.servers() == RpcServers((up, down), ()) and "Ignored" in box.split.toolTip()


def test_the_sidebar_keeps_the_servers_in_the_settings_and_shows_where_layers_went(qtbot):
    bar = Sidebar()
    qtbot.addWidget(bar)
    st = Settings()
    st.runtime = replace(st.runtime, rpc=RpcServers(("10.0.0.2:50052",), (1.0, 3.0)))
    bar.apply_settings(st)
    assert bar.rpc_servers.endpoints() == ["10.0.0.2:50052"]
    out = Settings()
    bar.collect_settings(out)
    assert out.runtime.rpc == RpcServers(("10.0.0.2:50052",), (1.0, 3.0))
    bar.set_main_state(ModelSummary(path="/m/m.gguf", name="M", size_label="", quantization="", offloaded_layers=21,
                                   n_layers=31, backend="RPC", n_ctx=512, chat_format="x",
                                   devices=[("CPU", 10), ("RPC 10.0.0.2:50052", 21)]))
    assert "layers: CPU 10 · RPC 10.0.0.2:50052 21" in bar.model_state.text()


class ModalAnswerer:
    """Answers the application's modal message boxes as a user would, from a timer (a modal box runs its own
    event loop, so the test cannot answer it in line). The RPC offer gets `button`; any other box is rejected,
    so that a surprise fails the test's assertions instead of hanging it."""

    def __init__(self, button: QMessageBox.StandardButton = QMessageBox.StandardButton.Yes) -> None:
        self.button = button
        self.seen: list[tuple[str, str]] = []  # (title, text) of every box answered
        self.timer = QTimer()
        self.timer.setInterval(50)
        self.timer.timeout.connect(self._poll)
        self.timer.start()

    def _poll(self) -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox) or not box.isVisible():
            return
        self.seen.append((box.windowTitle(), box.text()))
        if box.windowTitle() == "RPC server lost":
            box.button(self.button).click()
        else:
            box.reject()


@pytest.fixture
def answerer(qtbot):
    """Alive until the test's teardown is over: a box that pops up late (a test that failed half-way, events
    processed at teardown) is answered too, never left to block the run."""
    a = ModalAnswerer()
    yield a
    a.timer.stop()


def test_a_server_killed_mid_answer_keeps_the_answer_and_the_offer_reloads_without_it(qtbot, fixtures, tmp_path,
                                                                                        answerer):
    shutil.copy(fixtures["base"], app_paths().ensure().models / "main.gguf")  # "Tiny Main", 2 layers + output
    survivor, doomed = Server(tmp_path), Server(tmp_path)
    try:
        # the servers in the settings: the window's first run loads the library's only model over them
        st = Settings()
        st.runtime = replace(st.runtime, n_ctx=2048, rpc=RpcServers((survivor.endpoint, doomed.endpoint),
                                                                   (1.0, 1.0, 1.0)))
        st.speculation = replace(st.speculation, mode="off")
        st.generation = replace(st.generation, max_tokens=32768)
        save_settings(st)
        w = MainWindow()
        qtbot.addWidget(w)
        loads: list[dict] = []
        w.host.modelLoaded.connect(lambda role, summary: loads.append(summary) if role == "main" else None)
        w.show()
        qtbot.waitUntil(lambda: len(loads) == 1, timeout=60_000)
        assert loads[0].devices == [("CPU", 1), (f"RPC {survivor.endpoint}", 1), (f"RPC {doomed.endpoint}", 1)]
        assert f"RPC {doomed.endpoint} 1" in w.sidebar.model_state.text()

        streamed: list = []

        def kill_after_a_few(_request: int, pieces: list) -> None:
            streamed.extend(pieces)
            if len(streamed) >= 5:
                doomed.kill()  # SIGKILL mid-answer: the next decode meets a reset connection

        w.host.tokens.connect(kill_after_a_few)
        finished: list[AnswerStats] = []
        w.host.finished.connect(lambda _request, stats: finished.append(stats))
        w.input.setPlainText("Go on forever")
        qtbot.keyClick(w.input, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: len(loads) == 2, timeout=60_000)  # the offer was accepted: the reload is done

        stats = finished[0]
        assert stats.stop_reason == "error" and stats.rpc_lost == doomed.endpoint
        assert f"RPC server {doomed.endpoint} stopped answering" in stats.error
        assert len(answerer.seen) == 1
        title, text = answerer.seen[0]
        assert title == "RPC server lost" and f"RPC server {doomed.endpoint} stopped answering" in text
        assert f"Reload the model without {doomed.endpoint}?" in text
        # the chat and the partial answer are kept, marked as an error
        msgs = w.store.messages(w.chat_id)
        assert [m.role for m in msgs[-2:]] == ["user", "assistant"] and msgs[-2].content == "Go on forever"
        assert msgs[-1].state == "error" and msgs[-1].content and len(streamed) >= 5
        # reloaded on this machine and the surviving server only, and the list says which one was lost
        assert [name for name, _ in loads[1].devices] == ["CPU", f"RPC {survivor.endpoint}"]
        assert doomed.endpoint not in w.sidebar.model_state.text()
        rows = {w.sidebar.rpc_servers.list.item(i).text() for i in range(w.sidebar.rpc_servers.list.count())}
        assert f"{doomed.endpoint} — lost" in rows
        # and the app goes on: the next question is answered on the reloaded model
        w.sidebar.max_tokens.setValue(8)
        finished.clear()
        w.input.setPlainText("Once more")
        qtbot.keyClick(w.input, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: bool(finished), timeout=30_000)
        assert finished[0].stop_reason in ("length", "eos") and not finished[0].rpc_lost
        w.close()
    finally:
        survivor.stop()
        doomed.stop()
