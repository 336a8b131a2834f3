"""Chats, messages, per-message stats and the accepted-draft highlighting, in SQLite (WAL) in the data dir.

An answer is written while it streams (state "streaming", checkpointed every few hundred milliseconds by the
caller), so a crash or a closed window keeps what was shown; the next open marks such answers "interrupted".
Highlighting is stored as character spans [start, end) of accepted draft tokens: compact, and enough to repaint
the answer exactly as it streamed.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from app.core.chats.attachments import Attachment, attachments_from_json
from app.core.models.reasoning import Reasoning
from app.core.chats.versions import VERSION_SCHEMA, ChatVersions
from app.core.infra.damaged_files import set_aside
from app.core.models.formatting import count_phrase

log = logging.getLogger("specchat.store")

SCHEMA_VERSION = 2  # 2: messages gained `reasoning` and `attachments` (added to a version-1 file at its open)
SCHEMA = """
CREATE TABLE IF NOT EXISTS chats (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    system_prompt TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'done' CHECK (state IN ('done', 'streaming', 'interrupted', 'error')),
    stats TEXT NOT NULL DEFAULT '{}',
    highlights TEXT NOT NULL DEFAULT '[]',
    created REAL NOT NULL,
    reasoning TEXT NOT NULL DEFAULT '',
    attachments TEXT NOT NULL DEFAULT '[]',
    UNIQUE (chat_id, position)
);
CREATE INDEX IF NOT EXISTS messages_by_chat ON messages (chat_id, position);
"""
# columns added after version 1, with their definitions (ALTER TABLE ... ADD COLUMN on an older file)
ADDED_COLUMNS = (("reasoning", "TEXT NOT NULL DEFAULT ''"), ("attachments", "TEXT NOT NULL DEFAULT '[]'"))
_COLUMNS = "id, chat_id, position, role, content, state, stats, highlights, reasoning, attachments"

Span = tuple[int, int]
Role = Literal["system", "user", "assistant"]
# an answer's state: being written (checkpointed), finished, cut short (stopped, killed, continued after a
# failure), or ended by an error (its text so far kept); questions are "done"
MessageState = Literal["streaming", "done", "interrupted", "error"]


@dataclass
class Chat:
    id: int
    title: str
    system_prompt: str
    created: float
    updated: float


@dataclass
class Message:
    id: int
    chat_id: int
    position: int
    role: Role
    content: str
    state: MessageState = "done"
    stats: dict[str, Any] = field(default_factory=dict)
    highlights: list[Span] = field(default_factory=list)
    # a thinking model's answer: its markers and how long it thought (the text stays in `content`, as written)
    reasoning: Reasoning | None = None
    attachments: list[Attachment] = field(default_factory=list)  # a question's files, sent with its text


def _message(row: tuple[Any, ...]) -> Message:
    def loads(text: str, default: Any) -> Any:
        try:
            return json.loads(text) if text else default
        except ValueError:
            return default

    return Message(row[0], row[1], row[2], row[3], row[4], row[5], loads(row[6], {}),
                   [(int(a), int(b)) for a, b in loads(row[7], [])], Reasoning.from_json(loads(row[8], None)),
                   attachments_from_json(loads(row[9], [])))


class ChatStoreError(RuntimeError):
    pass


TITLE_CHARS = 60  # a chat's title from its first question: the list elides, the export heading shows it whole


def title_from_question(text: str, limit: int = TITLE_CHARS) -> str:
    """The question's first line, cut at a word (not "…whether a number is prim") with "…" when it was cut."""
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    if len(line) <= limit:
        return line
    cut = line[:limit - 1]
    if " " in cut and not line[limit - 1].isspace():
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip() + "…"


def spans_from_flags(pieces: list[tuple[str, bool]]) -> list[Span]:
    """Character spans of consecutive accepted-draft pieces (the engine's events, in order)."""
    spans: list[Span] = []
    extend_spans(spans, 0, pieces)
    return spans


def pieces_from_spans(content: str, spans: list[Span]) -> list[tuple[str, bool]]:
    """The inverse of spans_from_flags: a saved answer as (text, accepted_draft) pieces, so an answer that is
    continued keeps its highlighting (spans_from_flags of the result gives `spans` back)."""
    pieces: list[tuple[str, bool]] = []
    pos = 0
    for start, end in sorted(spans):
        start, end = max(start, pos), min(end, len(content))
        if start >= end:
            continue
        if start > pos:
            pieces.append((content[pos:start], False))
        pieces.append((content[start:end], True))
        pos = end
    if pos < len(content):
        pieces.append((content[pos:], False))
    return pieces


def extend_spans(spans: list[Span], pos: int, pieces: list[tuple[str, bool]]) -> int:
    """Add the spans of `pieces` that follow `pos` characters already counted; returns the new length. The chat
    view keeps its streaming answer's spans this way, batch by batch, in time linear in the answer."""
    for text, from_draft in pieces:
        end = pos + len(text)
        if from_draft and text:
            if spans and spans[-1][1] == pos:
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((pos, end))
        pos = end
    return pos


class ChatStore:
    def __init__(self, path: Path) -> None:
        """Open (or create) the chat database. One that cannot be opened (garbage, truncated, a newer schema, a
        folder in its place) is set aside as chats.sqlite3.bad-<time> with its WAL files, and a new one is
        started: the app must start, and the old chats stay on disk for a newer SpecChat or a rescue."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = self._connect(path)
        except (ChatStoreError, OSError) as e:
            bad = set_aside(path, f"the chat database could not be opened ({e})")
            for extra in ("-wal", "-shm"):
                side = Path(f"{path}{extra}")
                if bad is not None and side.exists():
                    os.rename(side, Path(f"{bad}{extra}"))
            self.db = self._connect(path)
        self.versions = ChatVersions(self.db, self._touch)  # Regenerate's and Edit's earlier versions ("‹ 1/2 ›")
        n = self.db.execute("UPDATE messages SET state='interrupted' WHERE state='streaming'").rowcount
        if n:
            log.info("%s cut off by the last exit kept as interrupted", count_phrase(n, "answer"))

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as e:
            raise ChatStoreError(f"cannot open the chat database {path}: {e}") from e
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ChatStoreError(f"{path.name} was written by a newer SpecChat (schema {version})")
            db.executescript(SCHEMA + VERSION_SCHEMA)
            have = {r[1] for r in db.execute("PRAGMA table_info(messages)")}
            for name, definition in ADDED_COLUMNS:
                if name not in have:
                    db.execute(f"ALTER TABLE messages ADD COLUMN {name} {definition}")
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute(f"SELECT {_COLUMNS} FROM messages LIMIT 1").fetchall()
            db.execute("SELECT id, title, system_prompt, created, updated FROM chats LIMIT 1").fetchall()
        except (sqlite3.Error, ChatStoreError) as e:
            db.close()
            if isinstance(e, ChatStoreError):
                raise
            raise ChatStoreError(f"cannot open the chat database {path}: {e}") from e
        return db

    def close(self) -> None:
        self.db.close()

    # ---- chats ----------------------------------------------------------------------------------------------
    def create_chat(self, title: str = "New chat", system_prompt: str = "") -> Chat:
        now = time.time()
        cur = self.db.execute("INSERT INTO chats (title, system_prompt, created, updated) VALUES (?, ?, ?, ?)",
                              (title, system_prompt, now, now))
        return Chat(int(cur.lastrowid or 0), title, system_prompt, now, now)

    def chat(self, chat_id: int) -> Chat:
        row = self.db.execute("SELECT id, title, system_prompt, created, updated FROM chats WHERE id=?",
                              (chat_id,)).fetchone()
        if row is None:
            raise ChatStoreError(f"no chat {chat_id}")
        return Chat(*row)

    def chats(self, search: str = "") -> list[Chat]:
        """Newest first; `search` matches titles and message text (case-insensitive)."""
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            rows = self.db.execute(
                "SELECT id, title, system_prompt, created, updated FROM chats c WHERE title LIKE ?1 ESCAPE '\\' "
                "OR EXISTS (SELECT 1 FROM messages m WHERE m.chat_id = c.id AND m.content LIKE ?1 ESCAPE '\\') "
                "ORDER BY updated DESC, id DESC", (pattern,))
        else:
            rows = self.db.execute("SELECT id, title, system_prompt, created, updated FROM chats "
                                   "ORDER BY updated DESC, id DESC")
        return [Chat(*r) for r in rows]

    def empty_chat(self, system_prompt: str = "") -> int | None:
        """The newest chat with no message and this system prompt (a new chat's: none, or the default one): New
        chat reuses it rather than adding another empty "New chat"; or None."""
        row = self.db.execute("SELECT id FROM chats c WHERE system_prompt = ? AND NOT EXISTS "
                              "(SELECT 1 FROM messages m WHERE m.chat_id = c.id) ORDER BY updated DESC, id DESC "
                              "LIMIT 1", (system_prompt,)).fetchone()
        return None if row is None else int(row[0])

    def has_chat(self, chat_id: int) -> bool:
        return self.db.execute("SELECT 1 FROM chats WHERE id=?", (chat_id,)).fetchone() is not None

    def rename_chat(self, chat_id: int, title: str) -> None:
        self.db.execute("UPDATE chats SET title=? WHERE id=?", (title.strip() or "Untitled", chat_id))

    def set_system_prompt(self, chat_id: int, system_prompt: str) -> None:
        self.db.execute("UPDATE chats SET system_prompt=? WHERE id=?", (system_prompt, chat_id))

    def delete_chat(self, chat_id: int) -> None:
        self.db.execute("DELETE FROM chats WHERE id=?", (chat_id,))

    def _touch(self, chat_id: int) -> None:
        self.db.execute("UPDATE chats SET updated=? WHERE id=?", (time.time(), chat_id))

    # ---- messages -------------------------------------------------------------------------------------------
    def messages(self, chat_id: int) -> list[Message]:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM messages WHERE chat_id=? ORDER BY position", (chat_id,))
        return [_message(r) for r in rows]

    def add_message(self, chat_id: int, role: Role, content: str, state: MessageState = "done",
                    attachments: list[Attachment] | None = None) -> Message:
        pos = self.db.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM messages WHERE chat_id=?",
                              (chat_id,)).fetchone()[0]
        files = list(attachments or [])
        cur = self.db.execute("INSERT INTO messages (chat_id, position, role, content, state, created, attachments) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?)", (chat_id, pos, role, content, state, time.time(),
                                                               json.dumps([a.to_json() for a in files])))
        self._touch(chat_id)
        return Message(int(cur.lastrowid or 0), chat_id, pos, role, content, state, attachments=files)

    def start_answer(self, chat_id: int) -> Message:
        return self.add_message(chat_id, "assistant", "", state="streaming")

    def save_answer(self, message_id: int, content: str, highlights: list[Span], stats: dict[str, Any] | None = None,
                    state: MessageState = "streaming", reasoning: Reasoning | None = None) -> None:
        """A checkpoint while streaming, or the final write (state done / interrupted / error). `reasoning`: the
        block's format (None leaves what is stored)."""
        self.db.execute("UPDATE messages SET content=?, highlights=?, stats=COALESCE(?, stats), state=?, "
                        "reasoning=COALESCE(?, reasoning) WHERE id=?",
                        (content, json.dumps(highlights), None if stats is None else json.dumps(stats), state,
                         None if reasoning is None else json.dumps(reasoning.to_json()), message_id))

    def delete_message(self, message_id: int) -> None:
        """One message (an answer stopped before its first token: nothing worth keeping)."""
        self.db.execute("DELETE FROM messages WHERE id=?", (message_id,))

    def delete_from(self, chat_id: int, position: int) -> None:
        """Drop the message at `position` and everything after it, and their versions (Continue drops what
        followed the answer it continues; Regenerate and Edit keep a version instead: self.versions)."""
        self.db.execute("DELETE FROM messages WHERE chat_id=? AND position>=?", (chat_id, position))
        self.versions.forget_from(chat_id, position)
        self._touch(chat_id)
