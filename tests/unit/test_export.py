"""Chat export from a real chat store: Markdown and JSON content, atomic writes, errors a person can act on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.chats.chat_store import ChatStore
from app.core.chats.export import ExportError, chat_json, chat_markdown, export_chat, suggested_file_name
from app.core.infra.disk import os_error_text


@pytest.fixture
def stored(tmp_path: Path):
    store = ChatStore(tmp_path / "chats.sqlite3")
    chat = store.create_chat("Sorting in Python?", system_prompt="Answer briefly.\nUse code.")
    store.add_message(chat.id, "user", "How do I sort a list?")
    answer = store.start_answer(chat.id)
    store.save_answer(answer.id, "Use `sorted()`:\n\n```python\nsorted([3, 1, 2])\n```", [(0, 3), (10, 14)],
                      {"tokens_per_second": 42.5, "drafted": 10, "accepted": 7}, state="done")
    store.add_message(chat.id, "user", "And in reverse?")
    cut = store.start_answer(chat.id)
    store.save_answer(cut.id, "Pass `reverse=True`", [], {}, state="interrupted")
    yield store, store.chat(chat.id), store.messages(chat.id)
    store.close()


def test_markdown_holds_every_turn_in_order(stored):
    _, chat, messages = stored
    md = chat_markdown(chat, messages, exported_at=0)
    assert md.startswith("# Sorting in Python?\n")
    assert "> Answer briefly.\n> Use code." in md
    assert md.index("## You\n\nHow do I sort a list?") < md.index("## Assistant\n\nUse `sorted()`:")
    assert "```python\nsorted([3, 1, 2])\n```" in md  # the answer's Markdown goes in unchanged
    assert "## Assistant *(interrupted before it ended)*\n\nPass `reverse=True`" in md
    assert md.endswith("\n") and not md.endswith("\n\n")


def test_json_keeps_stats_states_and_highlights(stored):
    _, chat, messages = stored
    data = json.loads(chat_json(chat, messages, exported_at=1.5))
    assert (data["format"], data["version"], data["exported"]) == ("specchat-chat", 1, 1.5)
    assert data["chat"]["title"] == "Sorting in Python?" and data["chat"]["system_prompt"].startswith("Answer")
    assert [m["role"] for m in data["messages"]] == ["user", "assistant", "user", "assistant"]
    assert data["messages"][1]["highlights"] == [[0, 3], [10, 14]]
    assert data["messages"][1]["stats"]["accepted"] == 7
    assert data["messages"][3]["state"] == "interrupted"


def test_export_writes_atomically_and_replaces(stored, tmp_path: Path):
    _, chat, messages = stored
    out = tmp_path / "out" / "chat.md"
    out.parent.mkdir()
    out.write_text("an older export")
    assert export_chat(chat, messages, out, "markdown") == out
    assert out.read_text(encoding="utf-8").startswith("# Sorting in Python?")
    export_chat(chat, messages, tmp_path / "out" / "chat.json", "json")
    assert sorted(p.name for p in out.parent.iterdir()) == ["chat.json", "chat.md"]  # no temp file left


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_said_as_such(tmp_path: Path):
    """/dev/full fails every write with ENOSPC: the real error a full disk gives."""
    with pytest.raises(OSError) as failed:
        with open("/dev/full", "w") as f:
            f.write("x" * 10)
            f.flush()
    assert os_error_text(failed.value, tmp_path / "chat.md").startswith(f"the disk is full: {tmp_path} has no room")


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path):
    """A write cut short by the OS (a file-size limit here: EFBIG, as a quota would) in a real process."""
    out = tmp_path / "chat.md"
    out.write_text("the previous export")
    script = f"""
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
from pathlib import Path
from app.core.chats.chat_store import Chat, Message
from app.core.chats.export import ExportError, export_chat
chat = Chat(1, "Long", "", 0.0, 0.0)
try:
    export_chat(chat, [Message(1, 1, 0, "user", "x" * 50_000)], Path({str(out)!r}), "markdown")
except ExportError as e:
    print(e)
"""
    run = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("The chat was not exported: ") and "too large" in run.stdout
    assert out.read_text() == "the previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["chat.md"]


def test_an_unwritable_folder_is_said(stored, tmp_path: Path):
    _, chat, messages = stored
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "chat.md").write_text("kept")
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root writes anywhere: a folder that does not exist fails for everyone
            with pytest.raises(ExportError, match="does not exist"):
                export_chat(chat, messages, tmp_path / "gone" / "chat.md", "markdown")
        else:
            with pytest.raises(ExportError, match="cannot be written"):
                export_chat(chat, messages, locked / "chat.md", "markdown")
        assert (locked / "chat.md").read_text() == "kept"
    finally:
        locked.chmod(0o700)
    with pytest.raises(ExportError, match="is a folder"):
        export_chat(chat, messages, locked, "json")


@pytest.mark.parametrize("title, name", [("Sorting in Python?", "Sorting in Python.md"),
                                         ('a/b\\c:"d"', "a b c d.md"), ("...", "chat.md"), ("", "chat.md")])
def test_suggested_file_names(title, name, stored):
    _, chat, _ = stored
    chat.title = title
    assert suggested_file_name(chat, ".md") == name


def test_files_and_reasoning_are_exported_folded_and_kept_in_json(tmp_path: Path):
    from app.core.chats.attachments import Attachment
    from app.core.models.reasoning import Reasoning, ReasoningFormat

    store = ChatStore(tmp_path / "chats.sqlite3")
    chat = store.create_chat("files")
    store.add_message(chat.id, "user", "What does it do?",
                      attachments=[Attachment("transfer.py", "def f():\n    return 1\n", 12)])
    answer = store.start_answer(chat.id)
    store.save_answer(answer.id, "<think>\nIt returns one.\n</think>\n\nIt returns **1**.", [], {}, "done",
                      Reasoning(ReasoningFormat("<think>", "</think>"), 12.4))
    messages = store.messages(chat.id)
    md = chat_markdown(store.chat(chat.id), messages)
    assert "<details><summary>📎 transfer.py · 12 tokens</summary>" in md and "def f():" in md
    assert "<details><summary>Thought for 12 s</summary>\n\n> It returns one.\n\n</details>" in md
    assert "It returns **1**." in md and "<think>" not in md
    data = json.loads(chat_json(store.chat(chat.id), messages))
    assert data["messages"][0]["attachments"] == [{"name": "transfer.py", "text": "def f():\n    return 1\n",
                                                   "tokens": 12}]
    assert data["messages"][1]["reasoning"]["close"] == "</think>" and data["messages"][1]["reasoning"]["seconds"] == 12.4


def test_markup_in_file_names_and_reasoning_cannot_break_the_export(tmp_path: Path):
    from app.core.chats.attachments import Attachment
    from app.core.models.reasoning import Reasoning, ReasoningFormat

    store = ChatStore(tmp_path / "chats.sqlite3")
    chat = store.create_chat("odd")
    store.add_message(chat.id, "user", "q", attachments=[Attachment("evil</summary><b>x</b>.md", "a\n````\nb\n", 1)])
    answer = store.start_answer(chat.id)
    store.save_answer(answer.id, "<think>see </details> here</think>ok", [], {"stop_reason": "eos"}, "done",
                      Reasoning(ReasoningFormat("<think>", "</think>"), 2.0))
    md = chat_markdown(store.chat(chat.id), store.messages(chat.id))
    assert "📎 evil&lt;/summary&gt;&lt;b&gt;x&lt;/b&gt;.md · 1 token</summary>" in md
    assert "`````\na\n````\nb\n`````" in md  # a fence longer than the file's own
    assert "> see &lt;/details&gt; here" in md and md.count("</details>") == 2
