"""The Models & downloads window when the hub is unreachable (an endpoint that refuses connections, then a local hub
server started on the same port), the suggested pairs its Search tab shows before any search, and Find a draft
offering only smaller models of the main model's tokenizer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel

from app.core.hub import reachability
from app.core.hub.catalog import load_catalog
from app.ui.downloads.downloads_window import DRAFTS_TAB, QUEUE_TAB, DownloadsWindow
from app.ui.downloads.suggested_pairs import INTRO, PAIR_ROLE
from tests.fixtures.fake_hub import FakeHub, closed_port
from tests.fixtures.model_factory import Tokenizer, write_tiny_model
from tests.gui.test_downloads_tabs import downloads_window

LONG = 60_000
FEW_SECONDS = 5_000
QWEN_7B = ("bartowski/Qwen2.5-7B-Instruct-GGUF", "Qwen2.5-7B-Instruct-Q4_K_M.gguf")
QWEN_05B = ("bartowski/Qwen2.5-0.5B-Instruct-GGUF", "Qwen2.5-0.5B-Instruct-Q8_0.gguf")
RAW_NAMES = ("ConnectError", "ConnectTimeout", "ProxyError", "Errno", "HubUnreachable", "Traceback")


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> tuple[str, int]:
    """An endpoint that refuses connections: nothing listens on its port (yet)."""
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return url, port


@pytest.fixture
def window(qtbot) -> Iterator[DownloadsWindow]:
    yield from downloads_window(qtbot)


def add_repos(hub: FakeHub, fixtures: dict[str, Path]) -> None:
    hub.add("t/Tiny-Main-GGUF", {"tiny-main-Q8_0.gguf": fixtures["base"]}, downloads=100)
    hub.add("t/Tiny-Draft-GGUF", {"tiny-draft-Q8_0.gguf": fixtures["base_draft"]}, downloads=50)


def shown_text(w: DownloadsWindow) -> str:
    return "\n".join(label.text() for label in w.findChildren(QLabel) if label.isVisible())


def test_search_offline_says_so_in_seconds_and_retry_finds_the_hub_back(qtbot, endpoint: tuple[str, int],
                                                                        window: DownloadsWindow,
                                                                        fixtures: dict[str, Path]) -> None:
    url, port = endpoint
    banner = window.offline_banner
    assert not banner.isVisible()
    window.query.setText("tiny")
    started = time.monotonic()
    window.run_search()
    qtbot.waitUntil(lambda: banner.isVisible(), timeout=FEW_SECONDS)
    assert time.monotonic() - started < 5  # it used to say "Searching…" for 23 s
    assert f"Can't reach the Hugging Face hub at {url}" in banner.message.text()
    assert "HTTPS_PROXY" in banner.hint.text() and "HF_ENDPOINT" in banner.hint.text()
    assert banner.retry_button.isVisible() and banner.retry_button.isEnabled()
    assert window.search_status.text() == "Not searched: the hub is offline."
    assert not any(name in shown_text(window) for name in RAW_NAMES)  # the cause is in the log, not the window
    assert window.results.count() == len(load_catalog())  # the suggestions stay: something to do offline

    banner.retry_button.click()  # still offline: said again, and Retry can be pressed again
    assert not banner.retry_button.isEnabled()
    qtbot.waitUntil(lambda: banner.retry_button.isEnabled(), timeout=FEW_SECONDS)
    assert banner.isVisible()

    with FakeHub(port) as hub:  # the hub comes back at the same address
        add_repos(hub, fixtures)
        banner.retry_button.click()
        qtbot.waitUntil(lambda: window.results.count() == 2, timeout=LONG)  # the search that failed, done now
        assert not banner.isVisible()
        assert hub.searches == ["tiny"]
        assert window.search_status.text() == "2 repos with GGUF files"


def test_draft_search_offline_then_retry(qtbot, endpoint: tuple[str, int], window: DownloadsWindow,
                                         fixtures: dict[str, Path]) -> None:
    _, port = endpoint
    banner = window.offline_banner
    window.draft_query.setText("Tiny")
    started = time.monotonic()
    window.find_drafts_for(str(fixtures["base"]), "Tiny Main")
    qtbot.waitUntil(lambda: banner.isVisible(), timeout=FEW_SECONDS)
    assert time.monotonic() - started < 5
    assert window.tabs.currentIndex() == DRAFTS_TAB and banner.isVisible()
    assert window.drafts_status.text() == "Not searched: the hub is offline."
    assert window.drafts_tree.topLevelItemCount() == 0
    assert not any(name in shown_text(window) for name in RAW_NAMES)
    with FakeHub(port) as hub:
        add_repos(hub, fixtures)
        banner.retry_button.click()
        qtbot.waitUntil(lambda: "compatible draft" in window.drafts_status.text(), timeout=LONG)
        assert not banner.isVisible()
        assert window.drafts_tree.topLevelItem(0).text(0) == "t/Tiny-Draft-GGUF"


def test_a_file_listing_offline_then_retry(qtbot, endpoint: tuple[str, int],
                                                                         window: DownloadsWindow,
                                                                         fixtures: dict[str, Path]) -> None:
    _, port = endpoint
    with FakeHub(port) as hub:
        add_repos(hub, fixtures)
        window.query.setText("tiny-main")
        window.run_search()
        qtbot.waitUntil(lambda: window.results.count() == 1, timeout=LONG)
    # the hub went away between the search and the click on a result; its last answer is trusted for 30 s
    # (reachability.SUCCESS_TTL), within which the listing would wait out huggingface-hub's retries: skip that
    reachability.forget(hub.url)
    window.results.setCurrentRow(0)
    qtbot.waitUntil(lambda: window.offline_banner.isVisible(), timeout=FEW_SECONDS)
    assert "file list could not be read" in window.fit_label.text()
    with FakeHub(port) as hub:
        add_repos(hub, fixtures)
        window.offline_banner.retry_button.click()  # the listing is asked for again
        qtbot.waitUntil(lambda: window.files_tree.topLevelItemCount() == 1, timeout=LONG)
        assert not window.offline_banner.isVisible()


def test_search_tab_suggests_the_recommended_pairs_before_any_search(qtbot, window: DownloadsWindow,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      fixtures: dict[str, Path]) -> None:
    pairs = load_catalog()
    assert window.results.count() == len(pairs) > 0
    assert window.suggestions_label.isVisible() and window.suggestions_label.text() == INTRO
    assert window.search_status.text() == ""  # the status line is for messages
    first = window.results.item(0)
    pair, fit = first.data(PAIR_ROLE)
    assert first.text().startswith(f"★ {pair.title}") and "✓ fits" in first.text()  # what fits this machine first
    assert not window.download_button.isEnabled()
    window.results.setCurrentRow(0)
    assert window.download_button.isEnabled() and window.download_button.text() == "Download pair"
    assert pair.main.repo in window.fit_label.text() and pair.draft.repo in window.fit_label.text()
    assert not window.remote_drafts_button.isEnabled()

    with FakeHub() as hub:  # queues both files, from the hub
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        assert (pair.main.repo, pair.draft.repo) == (QWEN_7B[0], QWEN_05B[0])
        hub.add(QWEN_7B[0], {QWEN_7B[1]: fixtures["base"]})
        hub.add(QWEN_05B[0], {QWEN_05B[1]: fixtures["base_draft"]})
        hub.add("t/Tiny-Main-GGUF", {"tiny-main-Q8_0.gguf": fixtures["base"]})
        window.download_button.click()
        assert window.tabs.currentIndex() == QUEUE_TAB
        qtbot.waitUntil(lambda: len(window.host.jobs()) == 2, timeout=LONG)
        assert {j.repo_id for j in window.host.jobs()} == {QWEN_7B[0], QWEN_05B[0]}

        window.query.setText("tiny")  # a search replaces the suggestions
        window.run_search()
        qtbot.waitUntil(lambda: window.results.count() == 1, timeout=LONG)
        assert window.results.item(0).data(PAIR_ROLE) is None and not window.suggestions_label.isVisible()
        window.results.setCurrentRow(0)
        qtbot.waitUntil(lambda: window.files_tree.topLevelItemCount() == 1, timeout=LONG)
        assert window.download_button.text() == "Download"


def test_find_a_draft_offers_only_smaller_models_with_the_mains_tokenizer(qtbot, window: DownloadsWindow,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          fixtures: dict[str, Path],
                                                                          tmp_path: Path,
                                                                          smol_tokenizer: Tokenizer) -> None:
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        # larger, another tokenizer: the 135M SmolLM2 main once got this one offered
        hub.add("bartowski/Llama-3.2-1B-Instruct-GGUF", {"Llama-3.2-1B-Instruct-Q8_0.gguf": fixtures["spm"]},
                downloads=9000)
        hub.add("t/Tiny-Draft-GGUF", {"tiny-draft-Q8_0.gguf": fixtures["base_draft"]}, downloads=50)
        wide = write_tiny_model(tmp_path / "wide.gguf", smol_tokenizer, n_embd=128, name="Tiny Wide")
        hub.add("t/Tiny-Wide-GGUF", {"tiny-wide-Q8_0.gguf": wide}, downloads=40)  # same tokenizer, larger
        window.draft_query.setText("Tiny")
        window.find_drafts_for(str(fixtures["base"]), "Tiny Main")  # SmolLM2's tokenizer, a "llama" model
        qtbot.waitUntil(lambda: "compatible draft" in window.drafts_status.text(), timeout=LONG)
        repos = [window.drafts_tree.topLevelItem(i).text(0) for i in range(window.drafts_tree.topLevelItemCount())]
        assert repos == ["t/Tiny-Draft-GGUF"]
        assert window.drafts_status.text() == "1 compatible draft found."
        assert not any("llama" in q.lower() for q in hub.searches)
        assert not any("Llama-3.2" in p for _m, p, _h in hub.requests)
