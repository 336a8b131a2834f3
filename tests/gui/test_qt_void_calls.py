"""Regression guard for the PySide6 6.12.0 + CPython 3.11 crash ("none_dealloc: deallocating None") after ~100k
calls of a void-returning method. Runs in a subprocess so a crash is reported, not fatal to the test run."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
from PySide6.QtGui import QTextDocument, QTextCursor
from PySide6.QtCore import QPoint
doc = QTextDocument()
cursor = QTextCursor(doc)
p = QPoint()
for i in range(200_000):
    cursor.insertText("x")      # the call that crashed in the streaming chat view
    p.setX(i)
    if i % 1000 == 999:
        doc.clear()
print("ok")
"""


def test_200k_void_calls_do_not_crash():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
