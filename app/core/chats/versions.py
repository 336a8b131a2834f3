"""Versions of a chat from one message on ("‹ 1/2 ›", as LM Studio, Jan and ChatGPT keep them).

Regenerate keeps the old answer, and Edit the old question, as a version instead of deleting it: the chat's tail
from that position on (the message and every turn after it, with their own figures and highlighting, and the
version groups further down) is stored as one slot of the position's group, and the new answer or question starts
another. Switching to a version stores the tail shown now in its slot and puts the chosen one back. The messages
table always holds the version shown, so everything that reads a chat (the view, the prompt, search, export) sees
that one and nothing else.

Two tables in the chat database (created with it; an older database gains them at its next open):
version_groups(chat_id, position, shown, total): `shown` is the 0-based slot in the messages table now;
versions(chat_id, position, slot, tail): the other slots, each a JSON tail (messages, then nested groups).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

VERSION_SCHEMA = """
CREATE TABLE IF NOT EXISTS version_groups (
    chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    shown INTEGER NOT NULL,
    total INTEGER NOT NULL,
    PRIMARY KEY (chat_id, position)
);
CREATE TABLE IF NOT EXISTS versions (
    chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    tail TEXT NOT NULL,
    PRIMARY KEY (chat_id, position, slot)
);
"""

log = logging.getLogger("specchat.store")

_MESSAGE_COLUMNS = ("position", "role", "content", "state", "stats", "highlights", "created", "reasoning",
                    "attachments")
_COLUMN_DEFAULTS = {"reasoning": "", "attachments": "[]"}  # a version stored before these columns existed


@dataclass(frozen=True)
class VersionGroup:
    position: int
    shown: int  # 0-based
    total: int


class ChatVersions:
    def __init__(self, db: sqlite3.Connection, touch: Callable[[int], None]) -> None:
        """`touch`: the store's own "this chat changed now" (ChatStore._touch)."""
        self.db = db
        self._touch = touch

    # ---- reading --------------------------------------------------------------------------------------------
    def groups(self, chat_id: int) -> dict[int, VersionGroup]:
        """The chat's version groups by position (only those with two versions or more exist)."""
        rows = self.db.execute("SELECT position, shown, total FROM version_groups WHERE chat_id=?", (chat_id,))
        return {r[0]: VersionGroup(*r) for r in rows}

    # ---- changing ---------------------------------------------------------------------------------------------
    def new_version(self, chat_id: int, position: int) -> bool:
        """Keep the chat from `position` on as a version and clear it for a new one (the caller writes that: a
        new answer, an edited question). False, and nothing changed, when there is nothing there to keep."""
        with self._transaction():
            tail = self._capture(chat_id, position)
            if not tail["messages"]:
                return False
            group = self.groups(chat_id).get(position) or VersionGroup(position, 0, 1)
            self._store_slot(chat_id, position, group.shown, tail)
            self._clear(chat_id, position)
            self._set_group(chat_id, VersionGroup(position, group.total, group.total + 1))
            return True

    def switch(self, chat_id: int, position: int, slot: int) -> bool:
        """Show version `slot` (0-based) of the group at `position`; the one shown now is kept in its place."""
        with self._transaction():
            group = self.groups(chat_id).get(position)
            if group is None or not 0 <= slot < group.total or slot == group.shown:
                return False
            tail = self._stored(chat_id, position, slot)
            if tail is None:
                return False
            self._store_slot(chat_id, position, group.shown, self._capture(chat_id, position))
            self._clear(chat_id, position)
            self._restore(chat_id, tail)
            self.db.execute("DELETE FROM versions WHERE chat_id=? AND position=? AND slot=?", (chat_id, position, slot))
            self._set_group(chat_id, VersionGroup(position, slot, group.total))
            self._touch(chat_id)
            return True

    def drop_empty(self, chat_id: int, position: int) -> None:
        """The version shown at `position` ended up with nothing (its answer stopped before any text, its question
        could not fit): it is no version; the newest kept one is shown again in its place."""
        with self._transaction():
            group = self.groups(chat_id).get(position)
            if group is None or self._capture(chat_id, position)["messages"]:
                return
            slots = [r[0] for r in self.db.execute(
                "SELECT slot FROM versions WHERE chat_id=? AND position=? ORDER BY slot", (chat_id, position))]
            if not slots:
                self.db.execute("DELETE FROM version_groups WHERE chat_id=? AND position=?", (chat_id, position))
                return
            back = slots[-1]
            tail = self._stored(chat_id, position, back)
            if tail is None:
                return
            self._clear(chat_id, position)
            self._restore(chat_id, tail)
            self.db.execute("DELETE FROM versions WHERE chat_id=? AND position=? AND slot=?", (chat_id, position, back))
            # the empty slot goes: the slots after it move down one
            self.db.execute("UPDATE versions SET slot = slot - 1 WHERE chat_id=? AND position=? AND slot > ?",
                            (chat_id, position, group.shown))
            shown = back - 1 if back > group.shown else back
            if group.total - 1 <= 1:
                self.db.execute("DELETE FROM version_groups WHERE chat_id=? AND position=?", (chat_id, position))
                self.db.execute("DELETE FROM versions WHERE chat_id=? AND position=?", (chat_id, position))
            else:
                self._set_group(chat_id, VersionGroup(position, shown, group.total - 1))

    def forget_from(self, chat_id: int, position: int) -> None:
        """The chat was cut from `position` on for good (Continue drops later turns): their versions go too."""
        self.db.execute("DELETE FROM version_groups WHERE chat_id=? AND position>=?", (chat_id, position))
        self.db.execute("DELETE FROM versions WHERE chat_id=? AND position>=?", (chat_id, position))

    # ---- the tail as data -------------------------------------------------------------------------------------
    def _capture(self, chat_id: int, position: int) -> dict[str, Any]:
        """Messages from `position` on, and the version groups after it (with their stored slots)."""
        messages = [dict(zip(_MESSAGE_COLUMNS, r)) for r in self.db.execute(
            f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM messages WHERE chat_id=? AND position>=? ORDER BY position",
            (chat_id, position))]
        groups = []
        for g in self.groups(chat_id).values():
            if g.position > position:
                slots = {str(s): json.loads(t) for s, t in self.db.execute(
                    "SELECT slot, tail FROM versions WHERE chat_id=? AND position=?", (chat_id, g.position))}
                groups.append({"position": g.position, "shown": g.shown, "total": g.total, "slots": slots})
        return {"messages": messages, "groups": groups}

    def _stored(self, chat_id: int, position: int, slot: int) -> dict[str, Any] | None:
        """A stored version's tail; None (logged) when there is none or it cannot be read (a damaged row stays,
        and the chat shown stays as it is)."""
        row = self.db.execute("SELECT tail FROM versions WHERE chat_id=? AND position=? AND slot=?",
                              (chat_id, position, slot)).fetchone()
        if row is None:
            return None
        try:
            tail = json.loads(row[0])
            if not isinstance(tail, dict) or not all(
                    isinstance(m, dict) and set(_MESSAGE_COLUMNS) - set(_COLUMN_DEFAULTS) <= set(m)
                    for m in tail.get("messages", [])):
                raise ValueError("not a chat tail")
        except (ValueError, TypeError) as e:
            log.error("chat %d: version %d at position %d cannot be read (%s); kept as it is", chat_id, slot,
                      position, e)
            return None
        return tail

    def _clear(self, chat_id: int, position: int) -> None:
        self.db.execute("DELETE FROM messages WHERE chat_id=? AND position>=?", (chat_id, position))
        self.db.execute("DELETE FROM version_groups WHERE chat_id=? AND position>?", (chat_id, position))
        self.db.execute("DELETE FROM versions WHERE chat_id=? AND position>?", (chat_id, position))

    def _restore(self, chat_id: int, tail: dict[str, Any]) -> None:
        for m in tail.get("messages", []):
            self.db.execute(f"INSERT INTO messages (chat_id, {', '.join(_MESSAGE_COLUMNS)}) "
                            f"VALUES (?{', ?' * len(_MESSAGE_COLUMNS)})",
                            (chat_id, *(m.get(c, _COLUMN_DEFAULTS.get(c)) for c in _MESSAGE_COLUMNS)))
        for g in tail.get("groups", []):
            self._set_group(chat_id, VersionGroup(int(g["position"]), int(g["shown"]), int(g["total"])))
            for slot, sub in g.get("slots", {}).items():
                self._store_slot(chat_id, int(g["position"]), int(slot), sub)

    def _store_slot(self, chat_id: int, position: int, slot: int, tail: dict[str, Any]) -> None:
        self.db.execute("INSERT OR REPLACE INTO versions (chat_id, position, slot, tail) VALUES (?, ?, ?, ?)",
                        (chat_id, position, slot, json.dumps(tail)))

    def _set_group(self, chat_id: int, g: VersionGroup) -> None:
        self.db.execute("INSERT OR REPLACE INTO version_groups (chat_id, position, shown, total) VALUES (?, ?, ?, ?)",
                        (chat_id, g.position, g.shown, g.total))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """All of a change or none of it (the connection autocommits otherwise): a crash mid-switch loses no
        version."""
        if self.db.in_transaction:
            yield
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
