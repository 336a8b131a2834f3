"""What an empty chat shows instead of a blank page: the model that will answer and how speculation will run
(or how to get a model loaded), and the keys that drive the chat. It sits centred over the chat view's
viewport while the chat has no message, and goes as soon as one is sent."""

from __future__ import annotations

import html
import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QWidget

from app.core.inference.speculation_status import speculates
from app.ui.shortcuts import HINT_ROWS, key_text

HINT_WIDTH = 420  # px at most: a short column reads as a note, not as a page


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def tint_legend(runs: str, main_name: str, tint: str) -> str:
    """What the green tint means, for what runs now (`runs`: the Runs line; `tint`: the highlight's colour)."""
    swatch = f"<span style='background:{tint}'>&nbsp;green&nbsp;</span>"
    if not main_name:
        return f"{swatch}: text a draft proposed and the main model accepted."
    if not speculates(runs):
        return (f"{swatch}: text a drafter proposed and {esc(main_name)} accepted. Nothing drafts now: choose "
                "<i>N-gram lookup</i> (no download) or a draft model under Mode to see it.")
    drafter = runs.removeprefix("draft: ").split(" (loading")[0]
    return f"{swatch}: drafted by {esc(drafter)} and accepted by {esc(main_name)} (the rest it wrote itself)."


def hint_html(loaded_name: str, loading_path: str, runs: str, tint: str = "#bfecbe") -> str:
    """`loaded_name`: the main model ("" for none); `loading_path`: a main model being loaded ("" for none);
    `runs`: the sidebar's Runs line (what the next answer will run with); `tint`: the accepted-draft colour."""
    if loading_path:
        top = (f"<p style='font-size:large'><b>Loading {esc(os.path.basename(loading_path))}…</b></p>"
               "<p>The chat is ready once it has loaded (progress in the sidebar).</p>")
    elif loaded_name:
        top = (f"<p style='font-size:large'>Ready to chat with <b>{esc(loaded_name)}</b></p>"
               f"<p>Answers will run with {esc(runs or 'plain decoding')}.</p>"
               f"<p>{tint_legend(runs, loaded_name, tint)}</p>")
    else:
        top = ("<p style='font-size:large'><b>No model loaded</b></p><p>Load a model in the sidebar: choose it under <i>Model</i> and click "
               "<i>Load</i>.</p>")
    keys = "".join(f"<tr><td align='right'><b>{esc(key_text(k))}</b>&nbsp;&nbsp;</td><td>{esc(what)}</td></tr>"
                   for what, k in HINT_ROWS)
    return f"<div align='center'>{top}<table style='margin-top:10px'>{keys}</table></div>"


class EmptyChatHint(QLabel):
    """Centred in its parent (the chat view's viewport); the view says when it shows (`place`)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("emptyChatHint")
        self.setTextFormat(Qt.TextFormat.RichText)  # hint_html escapes the names it puts in
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)  # the view under it stays the view
        self.setForegroundRole(QPalette.ColorRole.PlaceholderText)  # a quiet grey that follows the theme
        self.setText(hint_html("", "", ""))

    def place(self, visible: bool) -> None:
        parent = self.parentWidget()
        if visible and parent is not None:
            width = min(HINT_WIDTH, max(parent.width() - 32, 120))
            height = self.heightForWidth(width)
            self.setGeometry((parent.width() - width) // 2, max(8, (parent.height() - height) // 2), width, height)
            self.raise_()
        self.setVisible(visible)

