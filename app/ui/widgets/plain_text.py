"""Text from outside (a file's name, a model's name) shown by Qt as the text it is.

A QLabel, a tooltip or a window title guesses rich text with Qt.mightBeRichText: a file named
"<b>x</b>.py" showed in bold, and "<font color=red>a.txt" looked like a refused file."""

from __future__ import annotations

import html


def plain_tooltip(text: str) -> str:
    """A tooltip that shows `text` literally, its line breaks kept (marked rich, its characters escaped)."""
    return "<qt>" + html.escape(text, quote=False).replace("\n", "<br>") + "</qt>"
