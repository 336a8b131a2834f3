"""The "RPC servers" list in the model settings: addresses checked as typed, a reachability check off the GUI
thread (a real TCP server speaking ggml-rpc's handshake, and a port nobody listens on), the load option it makes,
and the settings it keeps."""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import replace

from app.core.infra.requests import RpcServers
from app.core.infra.settings import Settings
from app.ui.rpc_servers import RpcServersBox
from app.ui.sidebar import Sidebar


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
    bar.set_main_state({"name": "M", "offloaded_layers": 21, "n_layers": 31, "backend": "RPC", "n_ctx": 512,
                        "chat_format": "x", "devices": [("CPU", 10), ("RPC 10.0.0.2:50052", 21)]})
    assert "layers: CPU 10 · RPC 10.0.0.2:50052 21" in bar.model_state.text()
