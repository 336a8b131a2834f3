"""Files attached to a question: their name and text, stored with the message and sent as part of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Attachment:
    name: str  # the file's name as shown on its chip ("transfer.py"; "Pasted text 1" for a long paste)
    text: str  # its content, decoded
    tokens: int = 0  # its size in the loaded model's tokens when it was attached (0: not counted)

    @property
    def size(self) -> int:
        """Its text's size in bytes (UTF-8), as the chips and the chat say it."""
        return len(self.text.encode("utf-8"))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "text": self.text, "tokens": self.tokens}

    @classmethod
    def from_json(cls, raw: Any) -> Attachment | None:
        """One stored attachment; None for a row that is not one (a damaged or hand-edited database)."""
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not isinstance(raw.get("text"), str):
            return None
        tokens = raw.get("tokens", 0)
        return cls(raw["name"], raw["text"], tokens if isinstance(tokens, int) and tokens >= 0 else 0)


def attachments_from_json(raw: Any) -> list[Attachment]:
    return [a for a in (Attachment.from_json(r) for r in raw) if a is not None] if isinstance(raw, list) else []
