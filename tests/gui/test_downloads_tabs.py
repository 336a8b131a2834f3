"""The Models & downloads window's tabs against a local hub server with real GGUF bytes and a real library folder:
recommended pairs rated against a machine's memory (fitting first) and marked where the library has their files,
library marks on hub files and drafts, columns that show their text, queue buttons that follow the selected job,
and a status line per tab."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QTreeWidget

from app.core.hub.client import HubClient
from app.core.hub.downloads import State
from app.core.hub.gguf_files import MemoryBudget, group_gguf_files
from app.core.infra.paths import app_paths
from app.ui.downloads.downloads_window import IN_LIBRARY, PAIRS_TAB, QUEUE_TAB, SEARCH_TAB, DownloadsWindow
from app.ui.widgets.item_models import DownloadRoles
from app.ui.downloads.pairs_tab import COL_FIT, COL_LIBRARY, COL_SIZE
from app.workers.download_worker import DownloadHost, HubTasks
from tests.fixtures.fake_hub import FakeHub

LONG = 60_000
LAPTOP = MemoryBudget(ram_bytes=16 << 30, vram_bytes=0)
QWEN_7B = ("bartowski/Qwen2.5-7B-Instruct-GGUF", "Qwen2.5-7B-Instruct-Q4_K_M.gguf")
QWEN_05B = ("bartowski/Qwen2.5-0.5B-Instruct-GGUF", "Qwen2.5-0.5B-Instruct-Q8_0.gguf")


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, fixtures: dict[str, Path]) -> Iterator[FakeHub]:
    with FakeHub() as h:
        monkeypatch.setenv("HF_ENDPOINT", h.url)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        h.add("t/Tiny-Main-GGUF", {"tiny-main-Q8_0.gguf": fixtures["base"], "tiny-main-Q4_K_M.gguf": fixtures["base"]},
              downloads=100)
        h.add("t/Tiny-Draft-GGUF", {"tiny-draft-Q8_0.gguf": fixtures["base_draft"]}, downloads=50)
        h.add("t/Tiny-Draft-Two-GGUF", {"tiny-draft-two-Q8_0.gguf": fixtures["base_draft"]}, downloads=40)
        # the catalog's 7B pair, with tiny files standing in under the catalog's own names
        h.add(QWEN_7B[0], {QWEN_7B[1]: fixtures["base"]})
        h.add(QWEN_05B[0], {QWEN_05B[1]: fixtures["base_draft"]})
        yield h


def downloads_window(qtbot) -> Iterator[DownloadsWindow]:  # noqa: ANN001
    """The Models & downloads window at 900×600 on a 16 GiB laptop's budget, its download host shut down after."""
    host = DownloadHost(app_paths().ensure())
    w = DownloadsWindow(host, HubTasks(host.client), budget=LAPTOP)
    qtbot.addWidget(w)
    w.resize(900, 600)
    w.show()
    yield w
    host.shutdown()


@pytest.fixture
def window(qtbot, hub: FakeHub) -> Iterator[DownloadsWindow]:
    yield from downloads_window(qtbot)


def place(repo_file: tuple[str, str], source: Path) -> Path:
    """A file in the library where a download of it lands."""
    dest = app_paths().models / repo_file[0] / repo_file[1]
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, dest)
    return dest


def rows(tree: QTreeWidget) -> list[list[str]]:
    return [[tree.topLevelItem(i).text(c) for c in range(tree.columnCount())] for i in range(tree.topLevelItemCount())]


def assert_columns_show_their_text(tree: QTreeWidget, stretch: int) -> None:
    fm = tree.fontMetrics()
    for col in range(tree.columnCount()):
        if col == stretch:
            continue
        widest = max(fm.horizontalAdvance(tree.topLevelItem(i).text(col)) for i in range(tree.topLevelItemCount()))
        assert tree.header().sectionSize(col) >= widest, (tree.headerItem().text(col), widest)
    assert tree.header().length() <= tree.viewport().width()  # no column pushed out of sight


def test_pairs_show_size_and_fit_with_the_fitting_first(qtbot, window: DownloadsWindow,
                                                         fixtures: dict[str, Path]) -> None:
    window.tabs.setCurrentIndex(PAIRS_TAB)
    tab = window.pairs_tab
    fits = [tab.pair_at(i)[1].placement for i in range(tab.tree.topLevelItemCount())]
    assert fits == sorted(fits, key=["fits", "partial", "unknown", "too_big"].index)
    table = rows(tab.tree)
    by_title = {r[0]: r for r in table}
    assert by_title["Qwen2.5 7B Instruct + 0.5B draft"][COL_FIT].startswith("✓ fits")
    assert by_title["Llama 3.3 70B Instruct + Llama 3.2 1B draft"][COL_FIT].startswith("✗ too big")
    assert table[-1][0].startswith("Llama 3.3 70B") or table[-1][COL_FIT].startswith("✗")
    assert "GiB + " in by_title["Qwen2.5 7B Instruct + 0.5B draft"][COL_SIZE]
    assert "16 GiB RAM" in tab.tree.topLevelItem(0).toolTip(COL_FIT)
    assert_columns_show_their_text(tab.tree, stretch=0)
    assert all(r[COL_LIBRARY] == "—" for r in table)
    assert not tab.download_button.isEnabled()  # nothing selected

    # the 0.5B draft that three Qwen pairs share is in the library: each of them says so
    place(QWEN_05B, fixtures["base_draft"])
    window.tabs.setCurrentIndex(SEARCH_TAB)
    window.tabs.setCurrentIndex(PAIRS_TAB)
    marked = {r[0] for r in rows(tab.tree) if r[COL_LIBRARY] == "✓ draft"}
    assert {"Qwen2.5 7B Instruct + 0.5B draft", "Qwen2.5 14B Instruct + 0.5B draft",
            "Qwen2.5 32B Instruct + 0.5B draft"} == marked
    row = next(i for i, r in enumerate(rows(tab.tree)) if r[0] == "Qwen2.5 7B Instruct + 0.5B draft")
    tab.tree.setCurrentItem(tab.tree.topLevelItem(row))
    assert "only the main model downloads" in tab.detail.text() and tab.download_button.isEnabled()

    tab.download_button.click()  # the main downloads; the draft is found in the library
    assert window.tabs.currentIndex() == QUEUE_TAB and "Looking up" in window.queue_tab.status.text()
    jobs = window.queue_tab.jobs
    qtbot.waitUntil(lambda: jobs.rowCount() == 2 and all(jobs.job_at(r).state == State.DONE for r in range(2)),
                    timeout=LONG)
    assert window.queue_tab.status.text() == ""  # the lookup ended: its message went with it
    assert not window.queue_tab.empty.isVisible()  # "No downloads yet" went with the first job
    assert sorted(j.error for j in window.host.jobs()) == ["", "already in the library"]
    window.tabs.setCurrentIndex(PAIRS_TAB)
    assert tab.tree.topLevelItem(row).text(COL_LIBRARY) == "✓ main and draft"
    assert not tab.download_button.isEnabled() and "Both files are in your library" in tab.detail.text()


def test_hub_files_and_drafts_in_the_library_are_marked(qtbot, window: DownloadsWindow,
                                                        fixtures: dict[str, Path]) -> None:
    place(("t/Tiny-Main-GGUF", "tiny-main-Q4_K_M.gguf"), fixtures["base"])
    window.query.setText("tiny-main")
    window.run_search()
    qtbot.waitUntil(lambda: window.results.count() == 1, timeout=LONG)
    window.results.setCurrentRow(0)
    qtbot.waitUntil(lambda: window.files_tree.topLevelItemCount() == 2, timeout=LONG)
    notes = {r[0]: r[3] for r in rows(window.files_tree)}
    assert notes["tiny-main-Q8_0.gguf"] == "★ recommended"
    assert notes["tiny-main-Q4_K_M.gguf"] == IN_LIBRARY
    assert_columns_show_their_text(window.files_tree, stretch=0)
    have = next(window.files_tree.topLevelItem(i) for i in range(2)
                if window.files_tree.topLevelItem(i).text(0) == "tiny-main-Q4_K_M.gguf")
    window.files_tree.setCurrentItem(have)
    assert not window.download_button.isEnabled()

    place(("t/Tiny-Draft-GGUF", "tiny-draft-Q8_0.gguf"), fixtures["base_draft"])
    main = place(("local", "main.gguf"), fixtures["base"])
    window.draft_query.setText("Tiny")
    window.find_drafts_for(str(main), "Tiny Main")
    qtbot.waitUntil(lambda: "compatible draft" in window.drafts_status.text(), timeout=LONG)
    assert "1 of them in your library already" in window.drafts_status.text()
    found = {r[0]: r[3] for r in rows(window.drafts_tree)}
    assert found["t/Tiny-Draft-GGUF"].startswith(f"{IN_LIBRARY} · ✓ fits")
    assert found["t/Tiny-Draft-Two-GGUF"].startswith("✓ fits")
    tree = window.drafts_tree
    assert tree.header().sectionResizeMode(3).name == "Stretch"  # the verdict takes the spare width
    items = {tree.topLevelItem(i).text(0): tree.topLevelItem(i) for i in range(tree.topLevelItemCount())}
    assert items["t/Tiny-Draft-GGUF"].toolTip(3) == found["t/Tiny-Draft-GGUF"]  # the whole verdict on hover
    tree.setCurrentItem(items["t/Tiny-Draft-GGUF"])
    assert not window.draft_download.isEnabled() and "already in your library" in window.draft_detail.text()
    tree.setCurrentItem(items["t/Tiny-Draft-Two-GGUF"])
    assert window.draft_download.isEnabled()
    window.draft_download.click()
    # marked once its download finished (the job's signal reaches the window)
    qtbot.waitUntil(lambda: items["t/Tiny-Draft-Two-GGUF"].text(3).startswith(IN_LIBRARY), timeout=LONG)
    window.tabs.setCurrentIndex(2)
    assert not window.draft_download.isEnabled()


def test_queue_buttons_follow_the_selected_job(qtbot, window: DownloadsWindow, hub: FakeHub) -> None:
    q = window.queue_tab
    buttons = (q.pause_button, q.resume_button, q.cancel_button)
    assert not any(b.isEnabled() for b in buttons) and not q.clear_button.isEnabled()
    hub.fault("t/Tiny-Main-GGUF", "tiny-main-Q8_0.gguf").chunk_delay = 0.05
    hub.fault("t/Tiny-Draft-GGUF", "tiny-draft-Q8_0.gguf").status = [404] * 20
    for repo, name in (("t/Tiny-Main-GGUF", "tiny-main-Q8_0.gguf"), ("t/Tiny-Draft-GGUF", "tiny-draft-Q8_0.gguf")):
        listing = HubClient(hub.url).repo_files(repo)
        window.host.enqueue(repo, listing.revision, next(c for c in group_gguf_files(listing.files) if c.name == name))
    qtbot.waitUntil(lambda: q.jobs.rowCount() == 2, timeout=LONG)
    assert not any(b.isEnabled() for b in buttons)  # jobs, but none selected

    running = next(r for r in range(2) if q.jobs.job_at(r).repo_id == "t/Tiny-Main-GGUF")
    q.queue.setCurrentIndex(q.jobs.index(running))
    qtbot.waitUntil(lambda: q.jobs.job_at(running).state == State.RUNNING, timeout=LONG)
    assert q.pause_button.isEnabled() and q.cancel_button.isEnabled() and not q.resume_button.isEnabled()
    q.pause_button.click()
    qtbot.waitUntil(lambda: q.jobs.job_at(running).state == State.PAUSED, timeout=LONG)
    assert not q.pause_button.isEnabled() and q.resume_button.isEnabled() and q.resume_button.text() == "Resume"
    assert q.cancel_button.isEnabled()

    failing = 1 - running
    qtbot.waitUntil(lambda: q.jobs.job_at(failing).state == State.FAILED, timeout=LONG)
    assert q.status.text().startswith("tiny-draft-Q8_0.gguf:")  # a failure is said under Downloads only
    assert window.search_status.text() == "" and window.drafts_status.text() == ""
    assert window.pairs_tab.status.text() == ""
    q.queue.setCurrentIndex(q.jobs.index(failing))
    assert q.resume_button.isEnabled() and q.resume_button.text() == "Retry" and not q.pause_button.isEnabled()
    assert not q.cancel_button.isEnabled() and q.clear_button.isEnabled()
    hub.fault("t/Tiny-Draft-GGUF", "tiny-draft-Q8_0.gguf").status = []
    q.resume_button.click()
    qtbot.waitUntil(lambda: q.jobs.job_at(failing).state == State.DONE, timeout=LONG)
    assert q.status.text() == ""  # retried: the old failure is not news any more
    assert not any(b.isEnabled() for b in buttons)  # a finished job: nothing to pause, resume or cancel

    q.queue.setCurrentIndex(q.jobs.index(running))
    q.cancel_button.click()
    qtbot.waitUntil(lambda: q.jobs.job_at(running).state == State.CANCELLED, timeout=LONG)
    assert not any(b.isEnabled() for b in buttons)
    q.clear_button.click()
    assert q.jobs.rowCount() == 0 and not any(b.isEnabled() for b in buttons) and not q.clear_button.isEnabled()
    assert q.jobs.index(0).data(DownloadRoles.State) is None


def test_each_tab_keeps_its_own_status(qtbot, window: DownloadsWindow, tmp_path: Path) -> None:
    window.query.setText("tiny")
    window.run_search()
    qtbot.waitUntil(lambda: "repos with GGUF files" in window.search_status.text(), timeout=LONG)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 100)
    window.import_files([str(broken)])
    qtbot.waitUntil(lambda: "cannot import broken.gguf" in window.queue_tab.status.text(), timeout=LONG)
    assert "repos with GGUF files" in window.search_status.text()  # each message stays with its own tab
    assert window.drafts_status.text() == "" and window.pairs_tab.status.text() == ""
    window.find_drafts_for("", "")
    assert window.drafts_status.text() == "" and "Load a main model first" in window.draft_for.text()
    window.tabs.setCurrentIndex(SEARCH_TAB)
    assert window.search_status.isVisible() and not window.queue_tab.status.isVisible()


def test_one_repo_is_one_repo_and_the_draft_tab_does_not_ask_for_a_loaded_model(qtbot,
                                                                                 window: DownloadsWindow) -> None:
    # seen with a main model loaded: "Load a main model, then search here…" and "1 repos with GGUF files"
    assert "Load a main model" not in window.draft_for.text()
    assert "loaded main model's tokenizer" in window.draft_for.text()
    window.query.setText("Tiny-Main")
    window.run_search()
    qtbot.waitUntil(lambda: window.results.count() == 1, timeout=LONG)
    assert window.search_status.text() == "1 repo with GGUF files"
