"""The chat's stored turns as the model is sent them: a question with its attached files, an answer without
its reasoning (unless the template wants it back, and then as `reasoning_content`, for it to place)."""

from __future__ import annotations

import re
from pathlib import PurePath

from app.core.chats.attachments import Attachment
from app.core.chats.chat_store import Message
from app.core.models.reasoning import stored_parts


# the extensions whose language name differs from the extension itself (a model reads "```python" better than
# "```py"); any other extension is given as it is ("```rs", "```go"), a name without one gets no language
_LANGUAGES = {"py": "python", "pyi": "python", "js": "javascript", "mjs": "javascript", "ts": "typescript",
              "tsx": "tsx", "jsx": "jsx", "md": "markdown", "rs": "rust", "rb": "ruby", "sh": "bash",
              "bash": "bash", "zsh": "zsh", "yml": "yaml", "h": "c", "hpp": "cpp", "cc": "cpp", "cxx": "cpp",
              "kt": "kotlin", "cs": "csharp", "txt": "", "log": "", "ps1": "powershell", "htm": "html"}


def fence_language(name: str) -> str:
    suffix = PurePath(name).suffix.lower().lstrip(".")
    if not suffix.isalnum():  # no extension ("Pasted text 1", "Makefile"), or one no fence could carry
        return ""
    return _LANGUAGES.get(suffix, suffix)


def code_fence(text: str) -> str:
    """A fence longer than any run of backticks inside: a Markdown file's own code blocks can't close it."""
    return "`" * max(3, 1 + max((len(run) for run in re.findall("`+", text)), default=0))


def question_with_files(text: str, attachments: list[Attachment]) -> str:
    """The files first, each fenced under its name, then the question (the order LM Studio and Open WebUI send
    them in: the model reads the material before what is asked about it)."""
    if not attachments:
        return text
    blocks = []
    for a in attachments:
        fence = code_fence(a.text)
        blocks.append(f"File: {a.name}\n{fence}{fence_language(a.name)}\n{a.text.rstrip()}\n{fence}")
    return "\n\n".join(blocks) + ("\n\n" + text if text else "")


def sent_turn(m: Message) -> dict[str, str]:
    if m.role == "user":
        return {"role": "user", "content": question_with_files(m.content, m.attachments)}
    parts = stored_parts(m.content, m.reasoning)
    if not parts.has_block:
        return {"role": m.role, "content": m.content}
    if not parts.closed:  # stopped, cut off, or a model that never closed it: what it wrote is its answer
        return {"role": m.role, "content": parts.reasoning}
    turn = {"role": m.role, "content": parts.answer}
    if m.reasoning is not None and m.reasoning.format.resend and parts.reasoning:
        turn["reasoning_content"] = parts.reasoning
    return turn
