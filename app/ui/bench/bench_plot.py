"""The benchmark's plot: tokens/s against the draft length k, drawn by pyqtgraph.

The x axis holds only the numeric draft lengths that ran. Plain decoding and `auto` have no k of their own (auto
chooses k as it goes, down to 0), so each is a horizontal line across the plot with its own legend entry rather
than a point on the k axis. Acceptance is a second series on its own 0-100 % axis at the right. Colours follow
the widget's palette, so the plot reads in a light and a dark theme alike.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget

from app.core.inference.bench_report import BenchReport, BenchRun

# mid-tone colours: readable on white and on a dark window
SPEED_COLOR = QColor(40, 110, 210)
ACCEPT_COLOR = QColor(40, 160, 80)
PLAIN_COLOR = QColor(128, 128, 128)
AUTO_COLOR = QColor(225, 120, 20)
BEST_COLOR = QColor(220, 50, 50)
MARKER_RING = QColor(255, 255, 255, 200)  # a light ring sets a marker off from the line and the grid

EMPTY_TEXT = "Run the benchmark to see tokens/s per draft length"


def _pen(color: QColor, width: float = 2.0, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> Any:
    return pg.mkPen(color=color, width=width, style=style)


class BenchPlot(pg.GraphicsLayoutWidget):
    """The report of one run (app/core/inference/bench.py) as a plot with axis titles, units and a legend."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(220)
        self.report: BenchReport | None = None
        self.plot_item: pg.PlotItem = self.addPlot(row=0, col=0)
        self.plot_item.setMenuEnabled(False)  # a fixed view: nothing to explore in four points
        self.plot_item.setMouseEnabled(x=False, y=False)
        self.plot_item.hideButtons()
        self.plot_item.setLabel("left", "speed (tokens/s)")
        self.plot_item.setLabel("bottom", "draft length k (tokens drafted per round)")
        self.plot_item.showAxis("right")
        self.plot_item.setLabel("right", "acceptance (%)")
        # the acceptance axis: a second view box sharing the x axis (pyqtgraph's MultiplePlotAxes pattern)
        self.accept_view = pg.ViewBox(enableMouse=False)
        self.plot_item.scene().addItem(self.accept_view)
        self.plot_item.getAxis("right").linkToView(self.accept_view)
        self.accept_view.setXLink(self.plot_item)
        self.accept_view.setYRange(0, 105, padding=0)
        self.plot_item.vb.sigResized.connect(self._sync_views)
        # the legend below the plot, in its own layout cell: it never covers a point
        self.legend = pg.LegendItem(colCount=3, verSpacing=-6, horSpacing=14)
        self.addItem(self.legend, row=1, col=0)
        self.empty_label = pg.TextItem(EMPTY_TEXT, anchor=(0.5, 0.5))
        self.legend_names: list[str] = []
        self._apply_palette()
        self.clear_report()
        self._built = True

    # ---- public -----------------------------------------------------------------------------------------------
    def clear_report(self, text: str = EMPTY_TEXT) -> None:
        """No results: empty axes (no made-up scale) and `text` in the middle."""
        self.report = None
        self._clear_items()
        for side in ("left", "bottom", "right"):
            self.plot_item.getAxis(side).setTicks([[], []])
        self.plot_item.showGrid(x=False, y=False)
        self.accept_view.setYRange(0, 105, padding=0)
        self.plot_item.setXRange(0, 1, padding=0)
        self.plot_item.setYRange(0, 1, padding=0)
        self.empty_label.setText(text)
        self.empty_label.setPos(0.5, 0.5)
        self.plot_item.addItem(self.empty_label)

    def set_report(self, report: BenchReport) -> None:
        self.report = report
        self._clear_items()
        for side in ("left", "right"):
            self.plot_item.getAxis(side).setTicks(None)  # pyqtgraph's own ticks for speed and acceptance
        self.plot_item.showGrid(x=False, y=True, alpha=0.25)
        plain = report.plain_tokens_per_second
        fixed = sorted((r for r in report.runs if isinstance(r.draft_tokens, int)), key=lambda r: int(r.draft_tokens))
        auto = next((r for r in report.runs if r.draft_tokens == "auto"), None)
        ks = [int(r.draft_tokens) for r in fixed]
        # an x range even when only auto ran: 1..8, the usual span of k
        lo, hi = (min(ks), max(ks)) if ks else (1, 8)
        pad = max(0.5, (hi - lo) * 0.06)
        x0, x1 = lo - pad, hi + pad

        self._line(plain, f"plain: {plain:.1f} tok/s", _pen(PLAIN_COLOR, 2, Qt.PenStyle.DashLine))
        if fixed:
            # thick lines and ringed markers: readable on a light or dark plot, printed or in a screenshot
            speed = pg.PlotDataItem(ks, [r.tokens_per_second for r in fixed], pen=_pen(SPEED_COLOR, 3),
                                    symbol="o", symbolSize=11, symbolBrush=SPEED_COLOR,
                                    symbolPen=pg.mkPen(MARKER_RING, width=1.5))
            self.plot_item.addItem(speed)
            self._legend(speed, "fixed k: tok/s")
            accept = pg.PlotDataItem(ks, [100 * r.acceptance_rate for r in fixed],
                                     pen=_pen(ACCEPT_COLOR, 2.5, Qt.PenStyle.DashLine), symbol="t", symbolSize=11,
                                     symbolBrush=ACCEPT_COLOR, symbolPen=pg.mkPen(MARKER_RING, width=1.5))
            self.accept_view.addItem(accept)
            self._legend(accept, "fixed k: acceptance (right axis)")
            ticks = [(k, str(k)) for k in ks]
            self.plot_item.getAxis("bottom").setTicks([ticks, []])
        else:
            self.plot_item.getAxis("bottom").setTicks([[], []])
        if auto is not None:
            self._line(auto.tokens_per_second, self._auto_text(auto), _pen(AUTO_COLOR, 2.5,
                                                                                    Qt.PenStyle.DashDotLine))
        best = report.best_draft_tokens
        if isinstance(best, int) and best in ks:
            star = pg.ScatterPlotItem([best], [fixed[ks.index(best)].tokens_per_second], symbol="star",
                                      size=18, brush=BEST_COLOR, pen=pg.mkPen(BEST_COLOR))
            self.plot_item.addItem(star)
            self._legend(star, "fastest k")
        top = max([plain] + [r.tokens_per_second for r in report.runs]) or 1.0
        self.plot_item.setXRange(x0, x1, padding=0)
        self.plot_item.setYRange(0, top * 1.15, padding=0)
        self._sync_views()

    # ---- internals ----------------------------------------------------------------------------------------------
    @staticmethod
    def _auto_text(auto: BenchRun) -> str:
        settled = auto.last_draft_tokens
        where = "ended plain" if settled == 0 else f"settled at k={settled}" if settled is not None else ""
        accepted = "" if settled == 0 and not auto.acceptance_rate else f", {auto.acceptance_rate:.0%} accepted"
        return f"auto: {auto.tokens_per_second:.1f} tok/s ({where}{accepted})"

    def _line(self, y: float, name: str, pen: Any) -> None:
        """A horizontal reference line with a legend entry of its own (an InfiniteLine has no legend sample)."""
        line = pg.InfiniteLine(pos=y, angle=0, pen=pen, movable=False)
        self.plot_item.addItem(line)
        self._legend(pg.PlotDataItem([], [], pen=pen), name)

    def _legend(self, item: Any, name: str) -> None:
        self.legend.addItem(item, name)
        self.legend_names.append(name)

    def _clear_items(self) -> None:
        self.plot_item.clear()  # also removes the empty-state text
        self.accept_view.clear()
        self.legend.clear()
        self.legend_names = []

    def _sync_views(self) -> None:
        self.accept_view.setGeometry(self.plot_item.vb.sceneBoundingRect())
        self.accept_view.linkedViewChanged(self.plot_item.vb, self.accept_view.XAxis)

    def _apply_palette(self) -> None:
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        self.setBackground(pal.color(QPalette.ColorRole.Base))
        for side in ("left", "bottom", "right"):
            axis = self.plot_item.getAxis(side)
            axis.setPen(text)
            axis.setTextPen(text)
            axis.label.setDefaultTextColor(text)
        self.legend.setLabelTextColor(text)
        self.empty_label.setColor(text)
        if self.report is not None:
            self.set_report(self.report)  # legend labels take the colour when they are made

    def changeEvent(self, event: QEvent) -> None:
        # GraphicsLayoutWidget's own constructor already sets a palette: only once ours has run
        if event.type() == QEvent.Type.PaletteChange and getattr(self, "_built", False):
            self._apply_palette()
        super().changeEvent(event)
