"""Versions of a chat's tail in a real SQLite chat store: kept, switched, nested, dropped when empty, across a
reopen, and gone with their chat."""

from __future__ import annotations

from app.core.chats.chat_store import ChatStore


def contents(store: ChatStore, chat_id: int) -> list[str]:
    return [m.content for m in store.messages(chat_id)]


def answer(store: ChatStore, chat_id: int, text: str, tps: float = 10.0) -> None:
    m = store.start_answer(chat_id)
    store.save_answer(m.id, text, [(0, 2)], {"tokens_per_second": tps, "generated_tokens": 3}, state="done")


def regenerated_once(tmp_path) -> tuple[ChatStore, int]:  # noqa: ANN001
    """A chat of Q1 whose answer was regenerated once: "A1" kept as version 1, "A1 b" shown."""
    store = ChatStore(tmp_path / "chats.sqlite3")
    c = store.create_chat().id
    store.add_message(c, "user", "Q1")
    answer(store, c, "A1")
    store.versions.new_version(c, 1)
    answer(store, c, "A1 b")
    return store, c


def test_a_regenerated_answer_keeps_the_old_one_with_its_figures_and_later_turns(tmp_path):
    store = ChatStore(tmp_path / "chats.sqlite3")
    c = store.create_chat().id
    store.add_message(c, "user", "Q1")
    answer(store, c, "A1 first", tps=11.0)
    store.add_message(c, "user", "Q2")
    answer(store, c, "A2")
    assert store.versions.new_version(c, 1)  # regenerate the first answer: it and what follows are kept
    assert contents(store, c) == ["Q1"] and store.versions.groups(c)[1].shown == 1
    answer(store, c, "A1 second", tps=22.0)
    g = store.versions.groups(c)[1]
    assert (g.shown, g.total) == (1, 2)
    assert store.versions.switch(c, 1, 0)
    msgs = store.messages(c)
    assert [m.content for m in msgs] == ["Q1", "A1 first", "Q2", "A2"]
    assert msgs[1].stats["tokens_per_second"] == 11.0 and msgs[1].highlights == [(0, 2)]
    store.close()

    again = ChatStore(tmp_path / "chats.sqlite3")  # across a restart
    assert contents(again, c) == ["Q1", "A1 first", "Q2", "A2"] and again.versions.groups(c)[1].shown == 0
    assert again.versions.switch(c, 1, 1)
    assert contents(again, c) == ["Q1", "A1 second"]
    assert again.messages(c)[1].stats["tokens_per_second"] == 22.0
    assert not again.versions.switch(c, 1, 5) and not again.versions.switch(c, 1, 1)  # no such / shown already
    again.delete_chat(c)
    assert again.db.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 0


def test_versions_further_down_travel_with_their_tail(tmp_path):
    store = ChatStore(tmp_path / "chats.sqlite3")
    c = store.create_chat().id
    store.add_message(c, "user", "Q1")
    answer(store, c, "A1")
    store.add_message(c, "user", "Q2")
    answer(store, c, "A2 a")
    store.versions.new_version(c, 3)
    answer(store, c, "A2 b")  # the second answer has two versions
    store.versions.new_version(c, 0)  # then the first question is edited
    store.add_message(c, "user", "Q1 edited")
    answer(store, c, "A1 edited")
    assert set(store.versions.groups(c)) == {0}  # the nested group went with the old tail
    store.versions.switch(c, 0, 0)
    assert contents(store, c) == ["Q1", "A1", "Q2", "A2 b"]
    g = store.versions.groups(c)[3]
    assert (g.shown, g.total) == (1, 2)  # and came back with it
    store.versions.switch(c, 3, 0)
    assert contents(store, c)[-1] == "A2 a"


def test_an_empty_new_version_gives_way_to_the_newest_kept_one(tmp_path):
    store = ChatStore(tmp_path / "chats.sqlite3")
    c = store.create_chat().id
    store.add_message(c, "user", "Q1")
    answer(store, c, "A1")
    assert not store.versions.new_version(c, 2)  # nothing there: no version
    store.versions.new_version(c, 1)
    store.versions.drop_empty(c, 1)  # its answer was stopped before any text
    assert contents(store, c) == ["Q1", "A1"] and store.versions.groups(c) == {}
    store.versions.new_version(c, 1)
    answer(store, c, "A1 b")
    store.versions.new_version(c, 1)
    store.versions.drop_empty(c, 1)
    assert contents(store, c) == ["Q1", "A1 b"]
    g = store.versions.groups(c)[1]
    assert (g.shown, g.total) == (1, 2)
    store.versions.switch(c, 1, 0)
    assert contents(store, c) == ["Q1", "A1"]


def test_continue_cutting_later_turns_forgets_their_versions(tmp_path):
    store, c = regenerated_once(tmp_path)
    store.delete_from(c, 1)
    assert store.versions.groups(c) == {} and contents(store, c) == ["Q1"]


def test_a_damaged_stored_version_leaves_the_chat_shown_as_it_is(tmp_path):
    store, c = regenerated_once(tmp_path)
    store.db.execute("UPDATE versions SET tail='{not json' WHERE chat_id=?", (c,))
    assert not store.versions.switch(c, 1, 0)
    assert contents(store, c) == ["Q1", "A1 b"] and store.versions.groups(c)[1].shown == 1
    store.db.execute("UPDATE versions SET tail='{\"messages\": [{\"role\": \"user\"}]}' WHERE chat_id=?", (c,))
    assert not store.versions.switch(c, 1, 0) and contents(store, c) == ["Q1", "A1 b"]
