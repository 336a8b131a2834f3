"""Chats in a real SQLite file: round trips, search, cut-off answers kept as interrupted, highlighting spans."""

from __future__ import annotations

import sqlite3

import pytest

from app.core.chats.chat_store import ChatStore, ChatStoreError, pieces_from_spans, spans_from_flags


def test_round_trip_across_reopen(tmp_path):
    db = tmp_path / "chats.sqlite"
    store = ChatStore(db)
    chat = store.create_chat("Fibonacci", system_prompt="Answer in Python.")
    store.add_message(chat.id, "user", "Write fib(n).")
    answer = store.start_answer(chat.id)
    store.save_answer(answer.id, "def fib(n):", [(0, 3), (4, 7)], {"tokens_per_second": 50.0}, state="done")
    store.close()

    again = ChatStore(db)
    (c,) = again.chats()
    assert (c.title, c.system_prompt) == ("Fibonacci", "Answer in Python.")
    user, bot = again.messages(c.id)
    assert (user.role, user.content) == ("user", "Write fib(n).")
    assert (bot.content, bot.state, bot.highlights, bot.stats) == ("def fib(n):", "done", [(0, 3), (4, 7)],
                                                                  {"tokens_per_second": 50.0})
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_answer_cut_off_by_a_crash_is_kept_as_interrupted(tmp_path):
    db = tmp_path / "chats.sqlite"
    store = ChatStore(db)
    chat = store.create_chat()
    answer = store.start_answer(chat.id)
    store.save_answer(answer.id, "half an ans", [(0, 4)])  # a checkpoint, then the process dies
    del store
    (msg,) = ChatStore(db).messages(chat.id)
    assert (msg.content, msg.state, msg.highlights) == ("half an ans", "interrupted", [(0, 4)])


def test_search_rename_delete_and_regenerate(tmp_path):
    store = ChatStore(tmp_path / "c.sqlite")
    a = store.create_chat("Cooking")
    b = store.create_chat("Travel")
    store.add_message(a.id, "user", "How long to boil an egg? 100%_sure")
    store.add_message(b.id, "user", "Best time to visit Lisbon?")
    assert [c.title for c in store.chats("egg")] == ["Cooking"]
    assert [c.title for c in store.chats("100%_")] == ["Cooking"]  # LIKE wildcards are escaped
    assert [c.title for c in store.chats("%")] == ["Cooking"]
    assert {c.title for c in store.chats("")} == {"Cooking", "Travel"}
    store.rename_chat(b.id, "  ")
    assert store.chat(b.id).title == "Untitled"
    store.add_message(a.id, "assistant", "About 9 minutes.")
    store.delete_from(a.id, 1)  # regenerate: the answer goes, the question stays
    assert [m.role for m in store.messages(a.id)] == ["user"]
    store.delete_chat(a.id)
    assert store.messages(a.id) == [] and [c.title for c in store.chats()] == ["Untitled"]
    with pytest.raises(ChatStoreError):
        store.chat(a.id)


def _newer_schema(path):
    import sqlite3

    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version=99")
    con.commit()
    con.close()


def _truncated(path):
    store = ChatStore(path)
    for i in range(50):
        store.add_message(store.create_chat(f"chat {i}").id, "user", "x" * 2000)
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(b"this is not sqlite" * 100),
    lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200),
    _truncated,
    _newer_schema,
    lambda p: p.mkdir(),
], ids=["garbage", "bad-header", "truncated", "newer-schema", "a-folder"])
def test_a_damaged_database_is_set_aside_and_a_new_one_started(tmp_path, damage):
    from app.core.infra.damaged_files import take_notices

    take_notices()
    path = tmp_path / "chats.sqlite3"
    damage(path)
    store = ChatStore(path)  # never raises: the app must start
    chat = store.create_chat("works")
    assert [c.title for c in store.chats()] == ["works"] and store.chat(chat.id).title == "works"
    store.close()
    assert len(list(tmp_path.glob("chats.sqlite3.bad-*"))) == 1
    assert len(take_notices()) == 1


def test_spans_merge_consecutive_draft_tokens():
    pieces = [("He", False), ("llo", True), (" wor", True), ("", True), ("ld", False), ("!", True)]
    assert spans_from_flags(pieces) == [(2, 9), (11, 12)]


def test_pieces_from_spans_gives_the_spans_back():
    """A continued answer starts from its saved text and spans: they come back as the same highlighting."""
    pieces = [("Hi", False), (" there", True), (" you", True), ("!", False), ("?", True)]
    content = "".join(t for t, _ in pieces)
    spans = spans_from_flags(pieces)
    again = pieces_from_spans(content, spans)
    assert "".join(t for t, _ in again) == content and spans_from_flags(again) == spans
    assert pieces_from_spans("plain", []) == [("plain", False)] and pieces_from_spans("", []) == []
    # spans past the text (a hand-edited file) are clipped, never a crash
    assert pieces_from_spans("abc", [(1, 9)]) == [("a", False), ("bc", True)]


def test_empty_chat_is_one_without_messages_or_a_system_prompt(tmp_path):
    store = ChatStore(tmp_path / "c.sqlite3")
    assert store.empty_chat() is None
    used = store.create_chat()
    store.add_message(used.id, "user", "hi")
    store.create_chat(system_prompt="be brief")  # set up on purpose: not a throwaway
    empty = store.create_chat()
    assert store.empty_chat() == empty.id and store.has_chat(used.id) and not store.has_chat(999)
    answer = store.start_answer(used.id)
    store.delete_message(answer.id)
    assert [m.role for m in store.messages(used.id)] == ["user"]


def test_a_title_from_a_long_question_is_cut_at_a_word():
    from app.core.chats.chat_store import title_from_question

    question = "Write a Python function that checks whether a number is prime."  # 62 characters
    assert title_from_question(question) == "Write a Python function that checks whether a number is…"
    assert title_from_question("Short one?\nsecond line") == "Short one?"
    assert len(title_from_question("x" * 100)) == 60 and title_from_question("x" * 100).endswith("…")
    assert title_from_question("  ") == ""
