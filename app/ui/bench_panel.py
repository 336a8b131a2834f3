"""The benchmark panel: the current prompt, plain against speculative over a sweep of draft lengths.

Runs on the engine thread (app/core/inference/bench.py: interleaved rounds, every speculative run checked token for token
against plain), shows a table and a plot of tokens/s and acceptance against the draft length, and offers to
apply the fastest setting. Qt's Essentials wheel has no QtCharts, so the plot is painted directly.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (QDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton,
                               QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from app.workers.engine_worker import EngineHost
from app.core.infra.requests import BenchRequest, GenerateRequest, parse_draft_token_list

TPS_COLOR = QColor(40, 110, 200)
ACC_COLOR = QColor(60, 160, 80)


class SweepPlot(QWidget):
    """tok/s (left axis, blue) and acceptance (right axis, 0-100%, green) against the draft length; the plain
    speed is the dashed line."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumHeight(200)
        self.points: list[tuple[str, float, float]] = []  # (label, tok/s, acceptance)
        self.plain = 0.0

    def set_report(self, report: dict) -> None:
        self.plain = report["plain"]["tokens_per_second"]
        self.points = [(str(r["draft_tokens"]), r["tokens_per_second"], r["acceptance_rate"]) for r in report["runs"]]
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = QRectF(self.rect()).adjusted(50, 12, -50, -28)
        p.setPen(self.palette().color(self.foregroundRole()))
        p.drawRect(area)
        if not self.points:
            p.drawText(area, Qt.AlignmentFlag.AlignCenter, "Run the benchmark to see tokens/s per draft length")
            return
        top = max([tps for _, tps, _ in self.points] + [self.plain]) * 1.15 or 1.0
        n = len(self.points)

        def x(i: int) -> float:
            return area.left() + area.width() * (i + 0.5) / n

        def y_tps(v: float) -> float:
            return area.bottom() - area.height() * v / top

        def y_acc(v: float) -> float:
            return area.bottom() - area.height() * v

        p.drawText(QRectF(0, area.top() - 6, 46, 14), Qt.AlignmentFlag.AlignRight, f"{top:.0f}")
        p.drawText(QRectF(0, area.bottom() - 8, 46, 14), Qt.AlignmentFlag.AlignRight, "0")
        p.drawText(QRectF(area.right() + 4, area.top() - 6, 46, 14), Qt.AlignmentFlag.AlignLeft, "100%")
        for i, (label, _, _) in enumerate(self.points):
            p.drawText(QRectF(x(i) - 30, area.bottom() + 4, 60, 16), Qt.AlignmentFlag.AlignCenter, f"k={label}")
        dashed = QPen(TPS_COLOR, 1, Qt.PenStyle.DashLine)
        p.setPen(dashed)
        p.drawLine(QPointF(area.left(), y_tps(self.plain)), QPointF(area.right(), y_tps(self.plain)))
        for color, ys in ((TPS_COLOR, [y_tps(t) for _, t, _ in self.points]),
                          (ACC_COLOR, [y_acc(a) for _, _, a in self.points])):
            p.setPen(QPen(color, 2))
            pts = [QPointF(x(i), v) for i, v in enumerate(ys)]
            for a, b in zip(pts, pts[1:]):
                p.drawLine(a, b)
            for pt in pts:
                p.drawEllipse(pt, 3, 3)


class BenchPanel(QDialog):
    applyBest = Signal(object)  # the draft length to use: an int (0 = speculation off) or "auto"

    def __init__(self, host: EngineHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Benchmark: plain vs speculative")
        self.host = host
        self.request_id = 0
        self.request: GenerateRequest | None = None
        self.best: object = None
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.draft_tokens = QLineEdit("1,2,4,8,auto")
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(16, 4096)
        self.max_tokens.setValue(128)
        self.rounds = QSpinBox()
        self.rounds.setRange(1, 10)
        self.rounds.setValue(2)
        form.addRow("Draft tokens", self.draft_tokens)
        form.addRow("Tokens per run", self.max_tokens)
        form.addRow("Rounds", self.rounds)
        layout.addLayout(form)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["draft tokens", "tok/s", "speed-up", "acceptance", "identical"])
        self.plot = SweepPlot()
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.apply_button = QPushButton("Apply best")
        self.apply_button.setEnabled(False)
        for b in (self.run_button, self.cancel_button, self.apply_button):
            buttons.addWidget(b)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.table)
        layout.addWidget(self.plot)
        layout.addLayout(buttons)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(lambda: self.host.cancel(self.request_id))
        self.apply_button.clicked.connect(lambda: self.applyBest.emit(self.best))
        host.benchProgress.connect(self._progress)
        host.benchFinished.connect(self._finished)
        self.resize(620, 640)

    def set_request(self, request: GenerateRequest | None) -> None:
        """The prompt and the speculation mode/options to compare with plain (None: no prompt yet)."""
        self.request = request

    def run(self) -> None:
        try:
            ks = parse_draft_token_list(self.draft_tokens.text())
        except ValueError as e:
            self.status.setText(f"Draft tokens: numbers and 'auto', separated by commas ({e})")
            return
        if not ks or self.request is None or self.request.speculation.mode == "off":
            self.status.setText("Choose a draft model or n-gram speculation, and type a prompt, first.")
            return
        self.progress.setValue(0)
        self.apply_button.setEnabled(False)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.request_id = self.host.bench(BenchRequest(replace(self.request, max_tokens=self.max_tokens.value()),
                                                       tuple(ks), self.rounds.value()))

    def _progress(self, request_id: int, line: str, fraction: float) -> None:
        if request_id == self.request_id:
            self.progress.setValue(int(fraction * 100))
            self.status.setText(line)

    def _finished(self, request_id: int, report: dict) -> None:
        if request_id != self.request_id:
            return
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if "error" in report:
            self.status.setText(report["error"])
            return
        self.progress.setValue(100)
        rows = [("plain", report["plain"]["tokens_per_second"], 1.0, None, None)] + [
            (str(r["draft_tokens"]), r["tokens_per_second"], r["speedup"],
             # auto that settled on plain decoding drafted nothing: no acceptance to show
             "— (went plain)" if r.get("last_draft_tokens") == 0 and not r["acceptance_rate"]
             else r["acceptance_rate"], r["identical"])
            for r in report["runs"]]
        self.table.setRowCount(len(rows))
        for i, (k, tps, speed, acc, same) in enumerate(rows):
            acc_text = "" if acc is None else acc if isinstance(acc, str) else f"{acc:.0%}"
            cells = [k, f"{tps:.1f}", f"{speed:.2f}×", acc_text,
                     "" if same is None else ("yes" if same else "NO")]
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.plot.set_report(report)
        self.best = report["best"]["draft_tokens"]
        best_text = "speculation off" if self.best == 0 else f"draft tokens {self.best}"
        self.status.setText(f"Fastest: {best_text} ({report['best']['speedup']:.2f}× plain)")
        self.apply_button.setEnabled(True)
