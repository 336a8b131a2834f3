"""kill -9 of the real app: nothing the user chose or saw is lost. The app runs in a process of its own
(tests/fixtures/app_driver.py), is killed where it stands, and the next start finds it all again."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.chats.chat_store import ChatStore
from app.core.infra.paths import app_paths
from app.core.infra.settings import load_settings
from app.ui.main_window import MainWindow

REPO = Path(__file__).resolve().parents[2]


def start_driver(scenario: str) -> tuple[subprocess.Popen[str], dict]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.fixtures.app_driver", scenario], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("READY "):
            return proc, json.loads(line[6:])
    proc.wait(30)
    raise AssertionError(f"the driver ended before it was ready: {proc.stderr.read() if proc.stderr else ''}")


def kill_9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    assert proc.returncode == -signal.SIGKILL


def gone(pid: int, timeout_s: float = 20.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
            # a zombie is gone too: it holds no memory, only its exit status, until init reaps it
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.1)
    return False


def test_kill_9_mid_answer_keeps_the_settings_the_chat_and_what_was_shown(qtbot, fixtures):
    shutil.copy(fixtures["base"], app_paths().ensure().models / "main.gguf")
    proc, facts = start_driver("mid-answer")
    kill_9(proc)
    # the engine process sees its window go and ends (no orphan holding the model's memory and CPU)
    assert gone(facts["engine_pid"])

    st = load_settings()
    assert st.ui.theme == "dark" and st.sampling.temperature == 0.0 and st.generation.max_tokens == 32768
    assert st.speculation.mode == "off" and st.ui.last_chat_id == facts["chat_id"]
    assert Path(st.ui.last_main_model).name == "main.gguf"
    assert not list(app_paths().config.glob("*.bad-*"))  # the file was whole, not set aside

    w = MainWindow()  # the next start
    qtbot.addWidget(w)
    w.show()
    assert w.chat_id == facts["chat_id"]  # the chat that was open reopens
    answer = w.store.messages(w.chat_id)[-1]
    assert answer.role == "assistant" and answer.state == "interrupted"
    assert answer.content and facts["shown"].startswith(answer.content[:20])  # the checkpoint of what was shown
    assert w.sidebar.temperature.value() == 0.0 and w.sidebar.max_tokens.value() == 32768
    qtbot.waitUntil(lambda: w.models.main is not None, timeout=30_000)  # the model it had comes back by itself
    assert w.models.main.path.endswith("main.gguf")
    w.close()


@pytest.mark.parametrize("after_s", [0.05, 0.17, 0.33])  # three moments in a stream of writes
def test_kill_9_mid_settings_write_leaves_a_whole_file(after_s):
    proc, _ = start_driver("settings")
    time.sleep(after_s)
    kill_9(proc)
    settings_file = app_paths().settings_file
    json.loads(settings_file.read_text(encoding="utf-8"))  # whole JSON: the old file or the new, never half
    assert 1000 <= load_settings().generation.max_tokens < 21000  # one of the values written
    assert not list(settings_file.parent.glob("*.bad-*"))


def test_an_answer_cut_off_before_its_first_token_says_why_and_offers_retry(qtbot):
    """What a kill before the first token leaves (an empty row, marked interrupted at the next start)."""
    paths = app_paths().ensure()
    store = ChatStore(paths.chats)
    chat = store.create_chat("Question")
    store.add_message(chat.id, "user", "Question")
    store.start_answer(chat.id)  # the app died here: no token, no checkpoint
    store.close()
    w = MainWindow()
    qtbot.addWidget(w)
    w.open_chat(chat.id)
    text = w.view.toPlainText()
    assert "No text: the answer was cut off before its first token" in text
    answer_part = text[text.index("No text"):]
    assert "Retry" in answer_part and "Copy" not in answer_part  # no Copy of nothing
    w.close()
