"""The main window (a model loaded), the downloads window and the benchmark panel at 900x600 and at 1.5x and 2x
scale: each fits the screen with no clipped button, and the sidebar fits its column (no sideways scrolling). Qt reads QT_SCALE_FACTOR once per process, so each screen runs tests/gui/layout_probe.py in a
child process on an offscreen screen of the given size."""

from __future__ import annotations

from tests.gui.test_main_window import library  # noqa: F401  (a fixture)

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.infra.paths import app_paths

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("width", "height", "scale"), [(900, 600, 1), (1920, 1080, 1.5), (1920, 1080, 2)])
def test_windows_fit_the_screen_without_clipping(tmp_path: Path, specchat_home: Path, fixtures: dict[str, Path],
                                                 width: int, height: int, scale: float) -> None:
    shutil.copy(fixtures["base"], app_paths().ensure().models / "only.gguf")  # a first run: the window loads it
    config = tmp_path / "screen.json"
    config.write_text(json.dumps({"screens": [{"name": "probe", "x": 0, "y": 0, "width": width, "height": height,
                                               "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}", "QT_SCALE_FACTOR": str(scale),
           "SPECCHAT_HOME": str(specchat_home), "HF_ENDPOINT": "http://127.0.0.1:9"}
    proc = subprocess.run([sys.executable, "-m", "tests.gui.layout_probe"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["screen"] == [round(width / scale), round(height / scale)]
    assert report["problems"] == []


def test_a_wider_window_widens_the_side_panels_and_lines_the_input_up_with_the_messages(qtbot, library):
    from tests.gui.test_main_window import open_window

    w = open_window(qtbot)
    qtbot.waitUntil(lambda: w.view.isVisible(), timeout=10_000)  # a library: the chat view, not the welcome
    w.resize(900, 600)
    qtbot.wait(50)
    narrow = w.split.sizes()
    w.resize(1600, 1000)
    qtbot.waitUntil(lambda: w.split.sizes()[2] > narrow[2], timeout=5_000)  # the sidebar got its share
    assert w.split.sizes()[0] >= narrow[0]
    margin = w.view.document().rootFrame().frameFormat().leftMargin()
    qtbot.waitUntil(lambda: w.composer.contentsMargins().left() == max(0, int(margin) - 16), timeout=5_000)
    assert margin > 16 and w.composer.contentsMargins().left() > 0
    w.split.splitterMoved.emit(300, 1)  # the user set the widths: a resize keeps them
    sizes = w.split.sizes()
    w.resize(1500, 1000)
    qtbot.wait(50)
    assert w.split.sizes()[0] == sizes[0]
