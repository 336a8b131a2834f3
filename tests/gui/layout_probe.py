"""Run as `python -m tests.gui.layout_probe`: opens the downloads window (every tab) and the benchmark panel on
whatever screen Qt reports (tests/gui/test_layout_scaling.py picks one with QT_SCALE_FACTOR and an offscreen
screen size) and prints, as JSON, every way they do not fit: a window larger than the screen, a button narrower
than its text, a widget outside its window, tabs that do not fit their bar."""

from __future__ import annotations

import json
import sys

from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication, QPushButton, QTabWidget, QWidget


def problems(window: QWidget, name: str) -> list[str]:
    out = []
    free = window.screen().availableGeometry()
    if window.width() > free.width() or window.height() > free.height():
        out.append(f"{name}: {window.width()}x{window.height()} on a {free.width()}x{free.height()} screen")
    inside = QRect(0, 0, window.width(), window.height())
    for b in window.findChildren(QPushButton):
        if not b.isVisibleTo(window):
            continue
        if b.width() < b.sizeHint().width():
            out.append(f"{name}: button {b.text()!r} clipped ({b.width()} < {b.sizeHint().width()} px)")
        at = QRect(b.mapTo(window, b.rect().topLeft()), b.size())
        if not inside.contains(at):
            out.append(f"{name}: button {b.text()!r} outside the window")
    for tabs in window.findChildren(QTabWidget):
        if tabs.isVisibleTo(window) and tabs.tabBar().sizeHint().width() > tabs.width():
            out.append(f"{name}: tabs need {tabs.tabBar().sizeHint().width()} px of {tabs.width()}")
    return out


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    from app.core.infra.paths import app_paths
    from app.ui.bench_panel import BenchPanel
    from app.ui.downloads_window import DownloadsWindow
    from app.workers.download_worker import DownloadHost, HubTasks
    from app.workers.engine_worker import EngineHost

    found: list[str] = []
    downloads = DownloadHost(app_paths().ensure())
    window = DownloadsWindow(downloads, HubTasks(downloads.client))
    window.show()
    for i in range(window.tabs.count()):
        window.tabs.setCurrentIndex(i)
        app.processEvents()
        found += problems(window, f"downloads/{window.tabs.tabText(i)}")
    engine = EngineHost()
    panel = BenchPanel(engine)
    panel.show()
    app.processEvents()
    found += problems(panel, "benchmark")
    screen = app.primaryScreen()
    print(json.dumps({"screen": [screen.availableGeometry().width(), screen.availableGeometry().height()],
                      "scale": screen.devicePixelRatio(), "problems": found}))
    window.close()
    panel.close()
    engine.stop()
    downloads.shutdown()
    # parentless windows go before the application does (in the app the main window owns them): a pyqtgraph
    # scene destroyed after QApplication crashes the interpreter's exit
    del window, panel
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
