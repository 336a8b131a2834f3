"""The window's local server: the switch, the status line, the Local server window's log, and who wins when a
client and the chat both want the one engine (arrival order; each Stop stops its own), on a real engine."""

from __future__ import annotations

import json
import socket
import threading

import httpx2
import openai

from app.core.infra.settings import load_settings
from tests.gui.test_main_window import library, load_main, open_window  # noqa: F401  (library is a fixture)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serving_window(qtbot):
    w = open_window(qtbot)
    w.sidebar.mode.setCurrentIndex(w.sidebar.mode.findData("off"))
    load_main(qtbot, w, "Tiny Main")
    w.settings.server.port = free_port()
    w.set_serving(True)
    qtbot.waitUntil(lambda: w.server_host.running, timeout=10_000)
    return w


def test_the_switch_serves_the_loaded_model_and_the_log_shows_each_request(qtbot, library):
    w = serving_window(qtbot)
    url = w.server_host.url
    assert w.serve_action.isChecked() and url in w.server_label.text()
    window = w.open_server_window()
    assert window.switch.isChecked() and url in window.status.text()
    assert url in window.python.toPlainText() and w.served_model_id() in window.python.toPlainText()

    result = {}

    def ask() -> None:
        c = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        stream = c.chat.completions.create(model=w.served_model_id(), messages=[{"role": "user", "content": "Hi"}],
                                           max_tokens=20, temperature=0, stream=True)
        result["text"] = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)

    t = threading.Thread(target=ask)
    t.start()
    qtbot.waitUntil(lambda: "text" in result, timeout=30_000)
    t.join()
    qtbot.waitUntil(lambda: window.log.rowCount() == 1 and window.log.item(0, 4).text() == "done", timeout=10_000)
    assert window.log.item(0, 3).text() == "/v1/chat/completions"
    assert window.log.item(0, 5).text().endswith("+ 20")

    # the switch is kept: on again at the next start
    w.settings_saver.flush()
    assert load_settings().server.enabled
    window.switch.setChecked(False)
    qtbot.waitUntil(lambda: not w.server_host.running, timeout=10_000)
    assert not w.server_label.isVisible() and window.status.text() == "Stopped"
    w.settings_saver.flush()
    assert not load_settings().server.enabled


def test_a_chat_answer_waits_for_the_server_request_and_each_stop_stops_its_own(qtbot, library):
    w = serving_window(qtbot)
    window = w.open_server_window()
    body = {"messages": [{"role": "user", "content": "Go on forever"}], "stream": True, "temperature": 0}
    seen = {"chunks": 0, "finish": None}

    def stream() -> None:
        with httpx2.Client(timeout=60) as http, http.stream("POST", w.server_host.url + "/chat/completions",
                                                             json=body) as r:
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    seen["chunks"] += 1
                    choices = json.loads(line[6:]).get("choices") or [{}]
                    seen["finish"] = choices[0].get("finish_reason") or seen["finish"]

    t = threading.Thread(target=stream)
    t.start()
    qtbot.waitUntil(lambda: seen["chunks"] > 3, timeout=30_000)
    # the chat asks while the server answers: it waits its turn, and the window says why
    w.input.setPlainText("Hello from the window")
    w.send()
    qtbot.waitUntil(lambda: "waits its turn" in w.server_label.text(), timeout=10_000)
    qtbot.wait(300)
    assert w.answers.pieces == []  # not a token yet: the engine is still on the server's request
    assert window.stop_request.isEnabled()
    window.stop_request.click()  # the server window's Stop: the server's request ends...
    t.join(30)
    assert seen["finish"] == "stop"
    qtbot.waitUntil(lambda: window.log.item(0, 4).text() == "stopped", timeout=10_000)
    # ...and the chat's answer runs now; the chat's Stop stops the chat's answer only
    qtbot.waitUntil(lambda: len(w.answers.pieces) > 3, timeout=30_000)
    with qtbot.waitSignal(w.host.finished, timeout=10_000) as done:
        w.stop_button.click()
    assert done.args[1].stop_reason == "cancelled"
    assert "waits its turn" not in w.server_label.text()
