"""The speculation advice follows the mode and the drafter chosen now (a real window, real tiny models): a draft's
size warning only in draft mode, an n-gram's acceptance advice only while n-gram drafts, in sentences."""

from __future__ import annotations

from app.core.inference.answer_stats import AnswerStats
from tests.gui.test_main_window import library, window_with_a_chosen_draft  # noqa: F401  (library: a fixture)


def test_advice_follows_the_mode_and_the_drafter(qtbot, library):
    w = window_with_a_chosen_draft(qtbot, library)  # the same weights as the main: drafting can only be slower
    sb = w.sidebar
    qtbot.waitUntil(lambda: "not smaller than the main" in sb.advice.text() or "own file" in sb.advice.text(),
                    timeout=30_000)
    assert sb.advice.text()[0].isupper() and sb.advice.text().rstrip().endswith(".")  # a sentence
    sb.mode.setCurrentIndex(sb.mode.findData("ngram"))
    qtbot.waitUntil(lambda: sb.advice.text() == "", timeout=5_000)  # no draft runs: no draft warning
    assert sb.advice.isHidden()

    # an n-gram answer that drafted badly: advice about the n-gram lookup
    w.models.answer_finished(AnswerStats(drafted=60, accepted=2, acceptance_rate=2 / 60, generated_tokens=40,
                                         stop_reason="length"))
    assert "Only 2 of 60 drafted tokens" in sb.advice.text()
    sb.mode.setCurrentIndex(sb.mode.findData("draft"))  # a draft model takes over: that advice was not about it
    qtbot.waitUntil(lambda: "Only 2 of 60" not in sb.advice.text() and sb.advice.text() != "", timeout=5_000)
    sb.mode.setCurrentIndex(sb.mode.findData("ngram"))  # back to n-gram: it applies again
    qtbot.waitUntil(lambda: "Only 2 of 60" in sb.advice.text(), timeout=5_000)
    sb.mode.setCurrentIndex(sb.mode.findData("off"))
    qtbot.waitUntil(lambda: sb.advice.text() == "", timeout=5_000)


def test_the_legend_says_what_green_means_and_the_empty_chat_offers_ngram(qtbot, library):
    from tests.gui.test_main_window import load_main, open_window

    w = open_window(qtbot)
    w.sidebar.mode.setCurrentIndex(w.sidebar.mode.findData("off"))
    load_main(qtbot, w, "Tiny Main")
    qtbot.waitUntil(lambda: "Nothing drafts now" in w.sidebar.legend.text(), timeout=10_000)
    assert "N-gram lookup" in w.view.empty_hint.text() and "no download" in w.view.empty_hint.text()
    w.sidebar.mode.setCurrentIndex(w.sidebar.mode.findData("ngram"))
    qtbot.waitUntil(lambda: "drafted by n-gram" in w.sidebar.legend.text(), timeout=10_000)
    assert "accepted by Tiny Main" in w.sidebar.legend.text() and "drafted by n-gram" in w.view.empty_hint.text()
