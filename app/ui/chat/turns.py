"""How one turn looks in the conversation view: a question in its tinted box with Copy and Edit, an answer's
heading, footer and actions (Regenerate or Retry, Continue, "‹ 2/3 ›" between versions), and the line where the
overflow policy left history out. ChatView (chat_view.py) lays the turns out and streams; this draws each one.

Mixed into ChatView: `_theme` is the view's."""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor, QTextFrameFormat
from PySide6.QtWidgets import QTextBrowser

from app.core.chats.attachments import Attachment
from app.core.chats.export import ROLE_TITLES
from app.core.models.formatting import format_bytes, tokens_phrase
from app.core.models.reasoning import Reasoning
from app.ui.chat.chat_theme import ChatTheme
from app.ui.chat.markdown_render import block_format, collapse_block

STATE_NOTES = {"interrupted": "interrupted", "error": "error", "streaming": "interrupted"}


def empty_answer_note(state: str, reason: str = "") -> str:
    """Why an answer has no text, in the words shown where its text would be (`reason`: its footer, which for an
    answer without tokens is the engine's reason: an error, a full context, "no text generated")."""
    if state in ("interrupted", "streaming"):
        return ("No text: the answer was cut off before its first token (SpecChat closed or was stopped while the "
                "model read the prompt). Retry asks again.")
    why = f": {reason}" if reason else ""
    return f"No text{why}. Retry asks again."


TURN_GAP = 22


def attachment_facts(a: Attachment) -> str:
    """ "1,234 tokens · 4.1 KiB" (the tokens as counted when it was attached; a file never counted: its size), in
    no-break spaces: a file's facts never wrap apart."""
    size = format_bytes(a.size)
    facts = f"{tokens_phrase(a.tokens)} · {size}" if a.tokens else size
    return facts.replace(" ", "\u00a0")


def unbroken_items(footer: str) -> str:
    """A footer that wraps between its items, never inside a short one (no "(100%)" alone on a line): the spaces
    inside items of up to 40 characters become no-break spaces (a long sentence still wraps)."""
    return " · ".join(item if len(item) > 40 else item.replace(" ", "\u00a0") for item in footer.split(" · "))


@dataclass
class ShownMessage:
    role: str
    content: str
    highlights: list[tuple[int, int]] = field(default_factory=list)
    footer: str = ""
    state: str = "done"
    position: int = -1  # the message's position in its chat (the store's), for per-message actions
    can_continue: bool = False  # an answer cut short: it gets a Continue action
    # a line shown above the message: the messages before it were left out of the latest answer's prompt
    note_above: str = ""
    versions: tuple[int, int] = (0, 0)  # (the one shown, 1-based; how many) where Regenerate or Edit kept some
    reasoning: Reasoning | None = None  # an answer's reasoning format and time (its text is in `content`)
    attachments: list[Attachment] = field(default_factory=list)  # a question's files (chips above its text)


class Turns(QTextBrowser):
    _theme: ChatTheme  # the view's (chat_view.py)

    def _note_line(self, cursor: QTextCursor, text: str) -> None:
        """A centred small line between turns (where the overflow policy left history out)."""
        fmt = block_format(TURN_GAP if not cursor.atStart() else 2)
        fmt.setAlignment(Qt.AlignmentFlag.AlignCenter)
        if cursor.atStart():
            cursor.setBlockFormat(fmt)
        else:
            cursor.insertBlock(fmt, self._theme.small)
        cursor.insertText(f"⋯  {text}  ⋯", self._theme.small)

    def _heading(self, cursor: QTextCursor, role: str, note: str = "") -> None:
        t = self._theme
        fmt = block_format(TURN_GAP if not cursor.atStart() else 2)
        if cursor.atStart():
            cursor.setBlockFormat(fmt)
            cursor.setBlockCharFormat(t.role)
        else:
            cursor.insertBlock(fmt, t.role)
        cursor.insertText(ROLE_TITLES.get(role, role), t.role)
        if note:
            cursor.insertText(f"  · {note}", t.small)

    def _user_turn(self, cursor: QTextCursor, m: ShownMessage, index: int) -> None:
        t = self._theme
        if cursor.atStart():
            collapse_block(cursor)  # a document begins with a block, before any frame
        else:
            cursor.insertBlock(block_format(0), t.small)
        frame = QTextFrameFormat()
        frame.setBackground(t.user_bg)
        frame.setPadding(12)
        frame.setTopMargin(TURN_GAP if index else 4)
        frame.setBorder(0)
        inner = cursor.insertFrame(frame)
        cursor.setBlockFormat(block_format(0))
        cursor.insertText(ROLE_TITLES["user"], t.role)
        self._attachment_line(cursor, m, index)
        if m.content or not m.attachments:  # files alone are a question: no empty line under them
            body = block_format(4)
            cursor.insertBlock(body, t.plain)
            cursor.insertText(m.content, t.plain)
        cursor.setPosition(inner.lastPosition() + 1)
        actions = block_format(3)
        actions.setAlignment(Qt.AlignmentFlag.AlignRight)
        cursor.setBlockFormat(actions)
        self._version_switch(cursor, m, index)
        cursor.insertText("Copy", t.action(f"msg-copy:{index}"))
        cursor.insertText("     ", t.small)
        cursor.insertText("Edit", t.action(f"msg-edit:{index}"))

    def _attachment_line(self, cursor: QTextCursor, m: ShownMessage, index: int) -> None:
        """A question's files under its title: each name a link (the view shows the file), its tokens and size."""
        if not m.attachments:
            return
        t = self._theme
        cursor.insertBlock(block_format(4), t.small)
        cursor.insertText("Attached:  ", t.small)
        for j, a in enumerate(m.attachments):
            if j:
                cursor.insertText("      ", t.small)
            cursor.insertText(a.name, t.action(f"msg-file:{index}:{j}"))
            cursor.insertText("\u00a0· " + attachment_facts(a), t.small)

    def _version_switch(self, cursor: QTextCursor, m: ShownMessage, index: int) -> None:
        """"‹ 2/3 ›" before a message's actions when Regenerate or Edit kept earlier versions of it."""
        shown, total = m.versions
        if total < 2:
            return
        t = self._theme
        cursor.insertText("‹", t.action(f"msg-ver:{index}:prev") if shown > 1 else t.small)
        cursor.insertText(f" {shown}/{total} ", t.small)
        cursor.insertText("›", t.action(f"msg-ver:{index}:next") if shown < total else t.small)
        cursor.insertText("     ", t.small)

    def _answer_footer(self, cursor: QTextCursor, m: ShownMessage, index: int) -> None:
        t = self._theme
        if not m.content:  # an answer with no text says why, and offers Retry instead of a Copy of nothing
            cursor.insertBlock(block_format(4), t.small)
            cursor.insertText(empty_answer_note(m.state, m.footer), t.small)
        cursor.insertBlock(block_format(8), t.small)
        self._version_switch(cursor, m, index)
        if m.content:
            cursor.insertText("Copy", t.action(f"msg-copy:{index}"))
            cursor.insertText("     ", t.small)
        retry = m.state == "error" or not m.content
        cursor.insertText("Retry" if retry else "Regenerate", t.action(f"msg-regen:{index}"))
        if m.can_continue:
            cursor.insertText("     ", t.small)
            cursor.insertText("Continue", t.action(f"msg-cont:{index}"))
        if m.footer and m.content:  # without text, the footer is the reason, said above
            cursor.insertText("      " + unbroken_items(m.footer), t.small)
