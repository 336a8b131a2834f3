"""The chat's stored turns as the model is sent them: a question with its attached files, an answer without
its reasoning (unless the template wants it back, and then as `reasoning_content`, for it to place)."""

from __future__ import annotations

from app.core.chats.attachments import Attachment
from app.core.chats.chat_store import Message
from app.core.models.reasoning import split_answer


def question_with_files(text: str, attachments: list[Attachment]) -> str:
    """The files first, each fenced under its name, then the question (the order LM Studio and Open WebUI send
    them in: the model reads the material before what is asked about it)."""
    if not attachments:
        return text
    blocks = []
    for a in attachments:
        fence = "````" if "```" in a.text else "```"
        blocks.append(f"File: {a.name}\n{fence}\n{a.text.rstrip()}\n{fence}")
    return "\n\n".join(blocks) + ("\n\n" + text if text else "")


def sent_turn(m: Message) -> dict[str, str]:
    if m.role == "user":
        return {"role": "user", "content": question_with_files(m.content, m.attachments)}
    fmt = m.reasoning.format if m.reasoning is not None else None
    parts = split_answer(m.content, fmt)
    if not parts.has_block:
        return {"role": m.role, "content": m.content}
    turn = {"role": m.role, "content": parts.answer}
    if fmt is not None and fmt.resend and parts.reasoning:
        turn["reasoning_content"] = parts.reasoning
    return turn
