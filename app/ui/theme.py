"""The window's colours: the system's, or a light or dark palette of our own (View > Theme), kept in settings.

Light and dark use the Fusion style, whose every control is drawn from the palette, so one QPalette recolours
the whole app the same way on every desktop. "System" gives back the style and palette the app started with.
The app has no stylesheet of its own: the few coloured pieces (the chat view's formats, chat_theme.ChatTheme)
derive from the palette, so widgets that hold such colours are told to rebuild them (`refresh_theme`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

log = logging.getLogger("specchat.ui")

THEMES = [("system", "System"), ("light", "Light"), ("dark", "Dark")]
@dataclass
class _Start:
    """The app's own style name and palette, before any theme was applied, and the theme now applied."""
    style: str
    palette: QPalette
    current: str = "system"


_started_with: _Start | None = None


DARK_EXTRA = ("QCheckBox::indicator:unchecked, QGroupBox::indicator:unchecked { border: 1px solid #8c8c92; "
              "background: #1f1f22; width: 12px; height: 12px; border-radius: 2px; }")


def dark_palette() -> QPalette:
    """A dark palette with readable disabled text (greyed list rows must still be legible) and visible links."""
    p = QPalette()
    roles = QPalette.ColorRole
    colors = {
        roles.Window: "#2b2b2e", roles.WindowText: "#e6e6e6", roles.Base: "#1f1f22", roles.AlternateBase: "#29292d",
        roles.ToolTipBase: "#3a3a3f", roles.ToolTipText: "#f0f0f0", roles.PlaceholderText: "#8c8c92",
        roles.Text: "#e6e6e6", roles.Button: "#35353a", roles.ButtonText: "#e6e6e6", roles.BrightText: "#ff6b6b",
        roles.Light: "#4a4a50", roles.Midlight: "#3f3f45", roles.Mid: "#2f2f33", roles.Dark: "#18181a",
        roles.Shadow: "#000000", roles.Highlight: "#2f6fca", roles.HighlightedText: "#ffffff",
        roles.Link: "#6cb6ff", roles.LinkVisited: "#b48ef0",
    }
    for role, color in colors.items():
        p.setColor(role, QColor(color))
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7c7c82"))
    p.setColor(QPalette.ColorGroup.Disabled, roles.Base, QColor("#252528"))
    p.setColor(QPalette.ColorGroup.Disabled, roles.Button, QColor("#2e2e32"))
    return p


def light_palette() -> QPalette:
    style = QStyleFactory.create("Fusion")
    p = style.standardPalette()
    p.setColor(QPalette.ColorRole.Link, QColor("#0b62c4"))
    return p


def apply_theme(name: str, app: QApplication | None = None) -> str:
    """Apply "system", "light" or "dark" (anything else: system); returns the name applied."""
    global _started_with
    if app is None:
        running = QApplication.instance()
        app = running if isinstance(running, QApplication) else None
    if app is None:
        return "system"
    if _started_with is None:
        _started_with = _Start(app.style().name(), QPalette(app.palette()))
    if name not in ("light", "dark"):
        name = "system"
    if name == _started_with.current:
        return name  # nothing to change (a start on the system theme touches nothing)
    _started_with.current = name
    hints = QGuiApplication.styleHints()
    if name == "system":
        app.setStyle(_started_with.style)
        app.setPalette(_started_with.palette)
        hints.unsetColorScheme()
    else:
        app.setStyle("Fusion")
        app.setPalette(dark_palette() if name == "dark" else light_palette())
        # window decorations and native dialogs follow where the platform supports it
        hints.setColorScheme(Qt.ColorScheme.Dark if name == "dark" else Qt.ColorScheme.Light)
    # Fusion draws an unchecked box in Base with a rule a shade darker than Window: on the dark palette it was
    # all but invisible. Only the unchecked state is styled (a checked box keeps Fusion's own mark).
    app.setStyleSheet(DARK_EXTRA if name == "dark" else "")
    # the new palette reaches each widget through posted events: deliver them before reading widget palettes
    QApplication.sendPostedEvents()
    for widget in app.allWidgets():  # the chat view's cached formats come from the palette: rebuild them
        refresh = getattr(widget, "refresh_theme", None)
        if callable(refresh):
            refresh()
    log.info("theme: %s", name)
    return name
