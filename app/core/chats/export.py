"""A stored chat as a file: Markdown to read or share, JSON to keep everything (stats, highlight spans).

Pure functions over the chat store's Chat and Message; writing goes through disk.write_text_atomically, so an
export that fails (a full disk, a folder that cannot be written) leaves no half file and says why.
"""

from __future__ import annotations

import html
import json
import re
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from app import APP_NAME, __version__
from app.core.chats.chat_store import Chat, Message
from app.core.chats.sent_turns import code_fence
from app.core.models.formatting import tokens_phrase
from app.core.models.reasoning import stored_parts, thinking_title
from app.core.infra.disk import os_error_text, write_text_atomically

EXPORT_FORMAT = "specchat-chat"
EXPORT_VERSION = 1
ROLE_TITLES = {"user": "You", "assistant": "Assistant"}
STATE_NOTES = {"interrupted": "interrupted before it ended", "error": "ended with an error",
               "streaming": "still being written when exported"}


class ExportError(RuntimeError):
    """An export that could not be written, in words (the file is left as it was)."""


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def chat_markdown(chat: Chat, messages: list[Message], exported_at: float | None = None) -> str:
    """The conversation as Markdown: a title, when it was written, the system prompt, then each turn under a
    heading. Answers are Markdown already and go in as they are; a question is the user's text, also as is."""
    exported_at = time.time() if exported_at is None else exported_at
    lines = [f"# {chat.title.strip() or 'Untitled'}", "",
             f"*Created {_when(chat.created)} · exported from {APP_NAME} {__version__} on {_when(exported_at)}*", ""]
    if chat.system_prompt.strip():
        lines += ["**System prompt:**", "", *(f"> {line}" for line in chat.system_prompt.strip().splitlines()), ""]
    for m in messages:
        heading = ROLE_TITLES.get(m.role, m.role.title())
        note = STATE_NOTES.get(m.state)
        lines += [f"## {heading}" + (f" *({note})*" if note else ""), ""]
        lines += _files_markdown(m) + _answer_markdown(m)
    return "\n".join(lines).rstrip() + "\n"


def _collapsed(summary: str, body: list[str]) -> list[str]:
    """A section a Markdown viewer folds (GitHub, VS Code, Obsidian: HTML <details>; elsewhere it reads as is)."""
    return [f"<details><summary>{summary}</summary>", "", *body, "", "</details>", ""]


def _files_markdown(m: Message) -> list[str]:
    """Each attached file folded under its name (escaped: a name is text, not HTML), fenced as it was sent."""
    lines: list[str] = []
    for a in m.attachments:
        fence = code_fence(a.text)
        size = f" · {tokens_phrase(a.tokens)}" if a.tokens else ""
        lines += _collapsed(f"📎 {html.escape(a.name)}{size}", [fence, a.text.rstrip(), fence])
    return lines


def _answer_markdown(m: Message) -> list[str]:
    """A question's text; an answer's reasoning as a folded quote (as the window shows it), then the answer."""
    parts = stored_parts(m.content, m.reasoning)
    if not parts.has_block:
        return [m.content.rstrip() or ("" if m.attachments else "*(empty)*"), ""]
    answer = [parts.answer.rstrip() or "*(no answer after the reasoning)*", ""]
    if not parts.reasoning:  # an empty block: nothing to fold
        return answer
    cut_short = m.state != "done" or m.stats.get("stop_reason") in ("length", "cancelled")
    title = thinking_title(parts, m.reasoning.seconds if m.reasoning is not None else None, cut_short=cut_short)
    # escaped: a "</details>" in the reasoning must not end the fold (viewers read the section's HTML)
    quoted = [f"> {html.escape(line, quote=False)}".rstrip() for line in parts.reasoning.splitlines()]
    return _collapsed(title, quoted) + answer


def chat_dict(chat: Chat, messages: list[Message], exported_at: float | None = None) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported": time.time() if exported_at is None else exported_at,
        "app": f"{APP_NAME} {__version__}",
        "chat": asdict(chat),
        "messages": [{"position": m.position, "role": m.role, "content": m.content, "state": m.state,
                      "stats": m.stats, "highlights": [list(s) for s in m.highlights],
                      "reasoning": m.reasoning.to_json() if m.reasoning is not None else None,
                      "attachments": [a.to_json() for a in m.attachments]} for m in messages],
    }


def chat_json(chat: Chat, messages: list[Message], exported_at: float | None = None) -> str:
    """Everything the store holds for the chat: the messages with their state, stats and accepted-draft spans
    ([start, end) character offsets in the content), an answer's reasoning format (its text is in the content,
    between those markers) and a question's attached files. Times are Unix seconds."""
    return json.dumps(chat_dict(chat, messages, exported_at), indent=2, ensure_ascii=False) + "\n"


def suggested_file_name(chat: Chat, suffix: str) -> str:
    """A file name from the title that every OS accepts ("What is 2+2?" -> "What is 2+2.md")."""
    stem = re.sub(r'[\x00-\x1f<>:"/\\|?*]+', " ", chat.title).strip(" .")
    stem = re.sub(r"\s+", " ", stem)[:80].strip(" .") or "chat"
    return f"{stem}{suffix}"


def export_chat(chat: Chat, messages: list[Message], path: Path, kind: str) -> Path:
    """Write the chat to `path` as "markdown" or "json", atomically; ExportError says what went wrong."""
    if kind not in ("markdown", "json"):
        raise ValueError(f"unknown export kind {kind!r}")
    text = chat_markdown(chat, messages) if kind == "markdown" else chat_json(chat, messages)
    try:
        write_text_atomically(path, text)
    except OSError as e:
        raise ExportError(f"The chat was not exported: {os_error_text(e, path)}") from e
    return path
