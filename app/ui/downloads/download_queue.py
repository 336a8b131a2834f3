"""The "Downloads" tab: the queue with a progress bar per job, the actions that apply to the selected job, and
import of GGUF files from disk.

Pause, Resume/Retry and Cancel follow the selected job's state (a paused job cannot be paused again, a finished
one has nothing to cancel) and are disabled with nothing selected. The tab has its own status line: a failed job
or an import error is said here, and a message about a job goes once that job moves on.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (QApplication, QComboBox, QHBoxLayout, QLabel, QListView, QPushButton, QStackedWidget,
                               QStyle, QStyledItemDelegate, QStyleOptionProgressBar, QStyleOptionViewItem,
                               QVBoxLayout, QWidget)

from app.core.hub.downloads import DownloadJob, State
from app.core.models.importer import MODES as IMPORT_MODES
from app.ui.widgets.item_models import DownloadListModel, DownloadRoles
from app.workers.download_worker import DownloadHost

Index = QModelIndex | QPersistentModelIndex

IMPORT_LABELS = {"copy": "Import by copying", "move": "Import by moving", "link": "Import as a link"}


class DownloadDelegate(QStyledItemDelegate):
    """Two lines per job (name; progress text) over a progress bar drawn by the style."""

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        size = super().sizeHint(option, index)
        size.setHeight(option.fontMetrics.height() * 3 + 16)
        return size

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        style = option.widget.style() if option.widget else QApplication.style()
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        r = option.rect.adjusted(6, 4, -6, -4)
        line = option.fontMetrics.height()
        painter.save()
        color = option.palette.highlightedText() if option.state & QStyle.StateFlag.State_Selected \
            else option.palette.text()
        painter.setPen(color.color())
        name = option.fontMetrics.elidedText(str(index.data(Qt.ItemDataRole.DisplayRole)),
                                             Qt.TextElideMode.ElideMiddle, r.width())
        painter.drawText(QRect(r.left(), r.top(), r.width(), line), Qt.AlignmentFlag.AlignLeft, name)
        detail = option.fontMetrics.elidedText(str(index.data(DownloadRoles.Detail)), Qt.TextElideMode.ElideRight,
                                               r.width())
        painter.drawText(QRect(r.left(), r.top() + line + 2, r.width(), line), Qt.AlignmentFlag.AlignLeft, detail)
        painter.restore()
        bar = QStyleOptionProgressBar()
        if option.widget:
            bar.initFrom(option.widget)
        bar.rect = QRect(r.left(), r.top() + 2 * line + 4, r.width(), line)
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = int(1000 * float(index.data(DownloadRoles.Fraction) or 0))
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal  # Qt 6: no orientation
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)


class QueueTab(QWidget):
    def __init__(self, host: DownloadHost, choose_import: Callable[[], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.jobs = DownloadListModel()
        self.queue = QListView()
        self.queue.setModel(self.jobs)
        self.queue.setItemDelegate(DownloadDelegate(self.queue))
        self.queue.setUniformItemSizes(True)
        self.queue.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.empty = QLabel("No downloads yet. Choose a file in Search, a pair in Recommended pairs, or import GGUF "
                            "files you already have (below).")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setMargin(24)
        self.pages = QStackedWidget()  # the list, or in its place what to do while it is empty
        self.pages.addWidget(self.queue)
        self.pages.addWidget(self.empty)
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel")
        self.clear_button = QPushButton("Clear finished")
        self.import_mode = QComboBox()
        for mode in IMPORT_MODES:
            self.import_mode.addItem(IMPORT_LABELS[mode], mode)
        self.import_mode.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.import_button = QPushButton("Import GGUF…")
        self.status = QLabel("")  # this tab's own messages
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._status_job = ""  # the job the status line speaks of, if any
        self._waiting_group = ""  # a pair being looked up: its jobs end the "Looking up" message
        actions = QHBoxLayout()
        for b in (self.pause_button, self.resume_button, self.cancel_button, self.clear_button):
            actions.addWidget(b)
        actions.addStretch(1)
        importing = QHBoxLayout()
        hint = QLabel("Drop GGUF files anywhere on this window to import them, or:")
        hint.setWordWrap(True)
        importing.addWidget(hint, 1)
        importing.addWidget(self.import_mode)
        importing.addWidget(self.import_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.pages, 1)
        lay.addLayout(actions)
        lay.addWidget(self.status)
        lay.addLayout(importing)
        self.pause_button.clicked.connect(lambda: self._on_selected_job(self.host.pause))
        self.resume_button.clicked.connect(lambda: self._on_selected_job(self.host.resume))
        self.cancel_button.clicked.connect(lambda: self._on_selected_job(self.host.cancel))
        self.clear_button.clicked.connect(self.clear_finished)
        self.import_button.clicked.connect(choose_import)
        self.queue.selectionModel().selectionChanged.connect(lambda *_: self.update_buttons())
        for signal in (self.jobs.dataChanged, self.jobs.rowsInserted, self.jobs.rowsRemoved, self.jobs.modelReset):
            signal.connect(lambda *_: self.update_buttons())
        self.update_buttons()

    # ---- jobs ---------------------------------------------------------------------------------------------------
    def update_job(self, job: DownloadJob) -> None:
        self.jobs.update_job(job)
        if job.state == State.FAILED:
            self.say(f"{job.name}: {job.error}", job.id)
        elif job.id == self._status_job:
            self.say("")  # retried, resumed or gone: the old failure is no longer news
        if self._waiting_group and job.group == self._waiting_group:
            self._waiting_group = ""
            if not self._status_job:
                self.say("")

    def selected_job(self) -> DownloadJob | None:
        rows = self.queue.selectionModel().selectedRows()
        return self.jobs.job_at(rows[0].row()) if rows else None

    def update_buttons(self) -> None:
        self.pages.setCurrentWidget(self.empty if self.jobs.rowCount() == 0 else self.queue)
        job = self.selected_job()
        state = job.state if job else None
        self.pause_button.setEnabled(bool(state and state.active))
        self.resume_button.setEnabled(state in (State.PAUSED, State.FAILED))
        self.resume_button.setText("Retry" if state == State.FAILED else "Resume")
        self.cancel_button.setEnabled(bool(state and not state.finished))
        self.clear_button.setEnabled(any(j.state.finished for j in self._model_jobs()))
        for b, why in ((self.pause_button, "a queued or running download"), (self.resume_button,
                       "a paused or failed download"), (self.cancel_button, "a download that has not finished")):
            b.setToolTip("" if b.isEnabled() else f"Select {why}")

    def _model_jobs(self) -> list[DownloadJob]:
        return [j for j in (self.jobs.job_at(r) for r in range(self.jobs.rowCount())) if j is not None]

    def _on_selected_job(self, action: Callable[[str], None]) -> None:
        job = self.selected_job()
        if job is not None:
            action(job.id)

    def clear_finished(self) -> None:
        for job in self.host.jobs():
            if job.state.finished:
                self.host.remove(job.id)
                self.jobs.remove_job(job.id)
                if job.id == self._status_job:
                    self.say("")

    # ---- messages -----------------------------------------------------------------------------------------------
    def say(self, text: str, job_id: str = "") -> None:
        self.status.setText(text)
        self._status_job = job_id

    def waiting_for_pair(self, group: str, title: str) -> None:
        self._waiting_group = group
        self.say(f"Looking up {title} on the hub…")

    def import_mode_value(self) -> str:
        return str(self.import_mode.currentData())
