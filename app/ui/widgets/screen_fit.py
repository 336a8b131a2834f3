"""Window sizes that suit the screen a window opens on: a preferred size, never larger than what is free there
(a 900x600 laptop, or 1080p at 2x scale, which Qt reports as 960x540)."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

# room left for the window frame and a panel or dock at the screen's edge
FRAME_MARGIN = (40, 60)


def fit_to_screen(widget: QWidget, width: int, height: int) -> None:
    """Resize `widget` to width x height, or to the screen's free area when that is smaller."""
    parent = widget.parentWidget()
    screen = (parent.screen() if parent is not None else None) or QGuiApplication.primaryScreen()
    if screen is not None:
        free = screen.availableGeometry()
        width = min(width, free.width() - FRAME_MARGIN[0])
        height = min(height, free.height() - FRAME_MARGIN[1])
    widget.resize(max(width, widget.minimumSizeHint().width()), max(height, widget.minimumSizeHint().height()))
