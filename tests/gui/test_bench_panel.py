"""The benchmark panel on the real engine thread with real tiny models, offscreen: it names what it tests, plots a
finished sweep with axis titles and a legend (plain and auto as lines of their own, never a point on the k axis),
stays responsive through a run, and reports cancel and errors in words."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QTimer

from app.core.inference.bench_report import BenchReport
from app.core.infra.requests import GenerateRequest, LoadOptions, SpeculationConfig
from app.ui.bench.bench_panel import BenchPanel, first_words
from app.workers.engine_worker import EngineHost

LONG = 60_000
PROMPT = "red green blue red green blue red green blue and then some more words after the colours"


@pytest.fixture
def host(qtbot, fixtures: dict[str, Path]) -> Iterator[EngineHost]:
    h = EngineHost()
    with qtbot.waitSignal(h.modelLoaded, timeout=LONG):
        h.requestLoad.emit("main", str(fixtures["base"]), LoadOptions(n_ctx=1024))
    yield h
    h.stop()


def load_draft(qtbot, host: EngineHost, path: Path) -> str:
    with qtbot.waitSignal(host.modelLoaded, timeout=LONG) as loaded:
        host.requestLoad.emit("draft", str(path), LoadOptions(n_ctx=1024))
    return loaded.args[1].name


def panel_for(qtbot, host: EngineHost, mode: str, main_name: str | None = None,
              draft_name: str | None = None) -> BenchPanel:
    panel = BenchPanel(host)
    qtbot.addWidget(panel)
    panel.set_request(GenerateRequest(messages=({"role": "user", "content": PROMPT},),
                                      speculation=SpeculationConfig(mode=mode, draft_tokens=4, ngram_size=2)),
                      main_name, draft_name)
    panel.show()
    return panel


def run_to_end(qtbot, panel: BenchPanel) -> tuple[BenchReport | None, str]:
    with qtbot.waitSignal(panel.host.benchFinished, timeout=LONG) as done:
        panel.run_button.click()
    return done.args[1], done.args[2]


def plotted_x(panel: BenchPanel) -> set[float]:
    xs: set[float] = set()
    for view in (panel.plot.plot_item.vb, panel.plot.accept_view):
        for item in view.addedItems:
            if isinstance(item, pg.PlotDataItem):
                xs.update(float(x) for x in (item.xData if item.xData is not None else []))
    return xs


def test_panel_names_prompt_main_and_draft_and_plots_the_sweep(qtbot, host: EngineHost,
                                                               fixtures: dict[str, Path]) -> None:
    draft = load_draft(qtbot, host, fixtures["base_draft"])
    panel = panel_for(qtbot, host, "draft", main_name="Tiny Main", draft_name=draft)
    before = panel.tested.text()
    assert "Will test" in before and first_words(PROMPT) in before and "Tiny Main" in before and draft in before
    assert "Temperature:</b> 0" in before
    panel.draft_tokens.setText("1,2,auto")
    panel.max_tokens.setValue(16)
    panel.rounds.setValue(1)
    report, error = run_to_end(qtbot, panel)
    assert report is not None and not error and report.models.draft == draft
    after = panel.tested.text()
    assert "Tested" in after and f"{report.prompt_tokens} tokens with the chat template" in after
    assert report.models.main and report.models.main in after and draft in after
    assert panel.table.rowCount() == 4 and panel.table.item(3, 0).text().startswith("auto (")

    plot = panel.plot
    assert plot.plot_item.getAxis("left").labelText == "speed (tokens/s)"
    assert plot.plot_item.getAxis("bottom").labelText.startswith("draft length k")
    assert plot.plot_item.getAxis("right").labelText == "acceptance (%)"
    names = plot.legend_names
    assert any(n.startswith("plain: ") for n in names) and any(n.startswith("auto: ") for n in names)
    assert "fixed k: tok/s" in names and any("acceptance" in n for n in names)
    # auto is a line of its own: the k axis holds exactly the numeric draft lengths that ran
    assert plotted_x(panel) == {1.0, 2.0}
    ticks = plot.plot_item.getAxis("bottom")._tickLevels[0]
    assert [label for _, label in ticks] == ["1", "2"]
    lines = [i for i in plot.plot_item.vb.addedItems if isinstance(i, pg.InfiniteLine)]
    auto = next(r for r in report.runs if r.draft_tokens == "auto")
    assert sorted(line.value() for line in lines) == sorted([report.plain_tokens_per_second, auto.tokens_per_second])
    assert panel.apply_button.isEnabled() and panel.status.text().startswith("Fastest:")

    # auto that drafted (75% accepted, faster than plain) and backed off to k = 0 near the end: it "ended
    # plain"; "went plain" read as if it never drafted
    report = replace(report, runs=[replace(r, last_draft_tokens=0, acceptance_rate=0.75) if r is auto else r
                                   for r in report.runs])
    panel._fill_table(report)
    plot.set_report(report)
    assert panel.table.item(3, 0).text() == "auto (ended plain)" and panel.table.item(3, 3).text() == "75%"
    assert any(n.startswith("auto: ") and "(ended plain, 75% accepted)" in n for n in plot.legend_names)


def test_panel_stays_responsive_and_cancel_says_so(qtbot, host: EngineHost) -> None:
    panel = panel_for(qtbot, host, "ngram", main_name="Tiny Main")
    assert "n-gram prompt lookup (n = 2" in panel.tested.text()
    panel.draft_tokens.setText("1,2,3,4,auto")
    panel.max_tokens.setValue(4096)
    panel.rounds.setValue(10)
    ticks = []
    beat = QTimer()
    beat.setInterval(10)
    beat.timeout.connect(lambda: ticks.append(1))
    beat.start()
    panel.run_button.click()
    assert not panel.run_button.isEnabled() and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=LONG)  # progress arrives while the engine works
    qtbot.waitUntil(lambda: len(ticks) >= 10, timeout=LONG)  # the GUI thread keeps running its timers
    assert panel.running
    with qtbot.waitSignal(host.benchFinished, timeout=LONG):
        panel.cancel_button.click()
    beat.stop()
    assert panel.status.text().startswith("Cancelled")
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled() and not panel.apply_button.isEnabled()
    assert panel.plot.report is None and panel.table.rowCount() == 0 and not panel.running


def test_closing_the_panel_cancels_its_run(qtbot, host: EngineHost) -> None:
    panel = panel_for(qtbot, host, "ngram")
    panel.max_tokens.setValue(4096)
    panel.rounds.setValue(10)
    panel.run_button.click()
    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=LONG)
    with qtbot.waitSignal(host.benchFinished, timeout=LONG) as done:
        panel.close()
    assert done.args[1] is None and done.args[2] == "the benchmark was cancelled"


def test_errors_and_bad_input_are_messages(qtbot, host: EngineHost) -> None:
    panel = panel_for(qtbot, host, "draft", main_name="Tiny Main")  # draft mode, but no draft is loaded
    assert "none loaded" in panel.tested.text()
    panel.draft_tokens.setText("1,two")
    panel.run_button.click()
    assert "whole numbers from 1 to 64" in panel.status.text() and not panel.running
    panel.draft_tokens.setText("2")
    panel.max_tokens.setValue(16)
    panel.rounds.setValue(1)
    report, error = run_to_end(qtbot, panel)
    assert report is None and error
    assert panel.status.text() == f"The benchmark stopped: {error}" and panel.run_button.isEnabled()

    panel.set_request(GenerateRequest(speculation=SpeculationConfig(mode="ngram")))
    panel.run_button.click()
    assert panel.status.text().startswith("No prompt") and not panel.running
    panel.set_request(GenerateRequest(messages=({"role": "user", "content": "hi"},)))
    panel.run_button.click()
    assert panel.status.text().startswith("Speculation is off") and not panel.running


def test_panel_fits_a_small_screen(qtbot, host: EngineHost) -> None:
    panel = panel_for(qtbot, host, "ngram")
    avail = panel.screen().availableGeometry()
    assert panel.width() <= avail.width() and panel.height() <= avail.height()
    for b in (panel.run_button, panel.cancel_button, panel.apply_button):
        assert b.width() >= b.sizeHint().width()  # no clipped button text
