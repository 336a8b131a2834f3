"""Run as `python -m tests.gui.layout_probe`: opens the main window (with whatever models SPECCHAT_HOME holds,
its sidebar shown, then hidden), the downloads window (every tab) and the benchmark panel on whatever screen Qt
reports (tests/gui/test_layout_scaling.py picks one with QT_SCALE_FACTOR and an offscreen
screen size) and prints, as JSON, every way they do not fit: a window larger than the screen, a button narrower
than its text, a widget outside its window, tabs that do not fit their bar, a sidebar wider than its scroll area
(it has no horizontal scroll bar: what does not fit is cut off)."""

from __future__ import annotations

import json
import sys
import time

from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication, QPushButton, QScrollArea, QTabWidget, QWidget


def problems(window: QWidget, name: str) -> list[str]:
    out = []
    free = window.screen().availableGeometry()
    if window.width() > free.width() or window.height() > free.height():
        out.append(f"{name}: {window.width()}x{window.height()} on a {free.width()}x{free.height()} screen")
    inside = QRect(0, 0, window.width(), window.height())
    from app.ui.widgets.eliding_button import ElidingButton

    for b in window.findChildren(QPushButton):
        if not b.isVisibleTo(window):
            continue
        elided = isinstance(b, ElidingButton) and b.text() != b.full_text() and "…" in b.text()
        if b.width() < b.sizeHint().width() and not elided:  # an ElidingButton elides with "…" by design
            out.append(f"{name}: button {b.text()!r} clipped ({b.width()} < {b.sizeHint().width()} px)")
        at = QRect(b.mapTo(window, b.rect().topLeft()), b.size())
        if not inside.contains(at) and not _scrolls(b, window):  # below a scroll area's fold is not outside
            out.append(f"{name}: button {b.text()!r} outside the window")
    for tabs in window.findChildren(QTabWidget):
        if tabs.isVisibleTo(window) and tabs.tabBar().sizeHint().width() > tabs.width():
            out.append(f"{name}: tabs need {tabs.tabBar().sizeHint().width()} px of {tabs.width()}")
    return out


def _scrolls(widget: QWidget, window: QWidget) -> bool:
    p = widget.parentWidget()
    while p is not None and p is not window:
        if isinstance(p, QScrollArea):
            return True
        p = p.parentWidget()
    return False


def main_window_problems(app: QApplication) -> list[str]:
    from app.ui.main_window import MainWindow

    w = MainWindow()
    w.show()

    def settle(done, seconds: float) -> None:  # type: ignore[no-untyped-def]
        end = time.monotonic() + seconds
        while not done() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)
        app.processEvents()

    settle(lambda: w.sidebar.main_models.rowCount() > 0, 5)
    if w.sidebar.main_models.rowCount():  # a first run loads the only model: measure the window ready to chat
        settle(lambda: w.models.main is not None, 30)
    found = problems(w, "main window")
    scroll, side = w.sidebar_scroll, w.sidebar
    if side.minimumSizeHint().width() > scroll.viewport().width():
        found.append(f"main window: the sidebar needs {side.minimumSizeHint().width()} px of "
                     f"{scroll.viewport().width()}")
    if w.split.sizes()[1] < 300:
        found.append(f"main window: the chat column is {w.split.sizes()[1]} px")
    toggle = next(a for a in w.actions() if a.objectName() == "toggle_sidebar")
    toggle.trigger()  # hidden: the chat gets the width
    app.processEvents()
    found += problems(w, "main window without sidebar")
    toggle.trigger()
    w.close()
    del w
    app.processEvents()
    return found


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    from app.core.infra.paths import app_paths
    from app.ui.bench.bench_panel import BenchPanel
    from app.ui.downloads.downloads_window import DownloadsWindow
    from app.workers.download_worker import DownloadHost, HubTasks
    from app.workers.engine_worker import EngineHost

    found: list[str] = main_window_problems(app)
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
