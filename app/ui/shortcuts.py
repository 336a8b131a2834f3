"""The window's keyboard shortcuts, named once: the window's actions take their keys from here, the Chat and
View menus show those same actions (one action per key: a second action on a key makes Qt's shortcut ambiguous
and it fires neither), and the empty chat's hint lists them."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence

# names and standard keys, not QKeySequence objects: those need a QGuiApplication, and this module is imported
# before one exists
Key = QKeySequence.StandardKey | str
NEW_CHAT: Key = QKeySequence.StandardKey.New  # Ctrl+N (Cmd+N on macOS)
STOP: Key = "Esc"
REGENERATE: Key = "Ctrl+R"
EDIT_LAST: Key = "Ctrl+E"
SEARCH_CHATS: Key = QKeySequence.StandardKey.Find  # Ctrl+F
TOGGLE_SIDEBAR: Key = "Ctrl+B"  # the model sidebar on the right (as in editors: Ctrl+B hides a side bar)
TOGGLE_CHAT_LIST: Key = "Ctrl+Shift+B"
LOCAL_SERVER: Key = "Ctrl+Shift+L"  # the Local server window
SETTINGS: Key = "Ctrl+,"  # the Settings window (as in LM Studio, VS Code and most desktop apps)

# (what it does, key) as the empty chat's hint lists them; composing keys first
HINT_ROWS: list[tuple[str, Key]] = [("send", "Enter"), ("new line", "Shift+Enter"), ("stop", STOP), ("regenerate", REGENERATE),
             ("edit last question", EDIT_LAST), ("new chat", NEW_CHAT), ("search chats", SEARCH_CHATS),
             ("hide or show the sidebar", TOGGLE_SIDEBAR)]


def key_sequence(key: Key) -> QKeySequence:
    return QKeySequence(key)


def key_text(key: Key) -> str:
    """The key as the platform writes it ("Ctrl+R"; "⌘R" on macOS); "Enter" and the like as they are."""
    if key in ("Enter", "Shift+Enter"):
        return str(key)
    return QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)
