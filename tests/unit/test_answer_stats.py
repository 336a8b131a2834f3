"""AnswerStats as the chat store keeps it: what the window saves reads back the same, rows saved by earlier
versions (plain dicts with fewer keys, or damaged values) still read, and a crash saves no made-up figures."""

from __future__ import annotations

import json

from app.core.inference.answer_stats import AnswerStats
from app.core.inference.speculation_status import footer_text
from app.core.inference.speculative import GenerationStats


def test_what_is_saved_reads_back_the_same() -> None:
    stats = AnswerStats(stop_reason="eos", prompt_tokens=12, generated_tokens=30, tokens_per_second=41.5,
                        drafted=20, accepted=15, acceptance_rate=0.75, speculation="n-gram (n=3)", continued=True)
    assert AnswerStats.from_json(json.loads(json.dumps(stats.to_json()))) == stats


def test_the_engine_record_rounds_as_its_json_did() -> None:
    running = GenerationStats(prompt_tokens=5, generated_tokens=11, ttft_s=0.123456, elapsed_s=1.123456, drafted=4,
                              accepted=3, stop_reason="length")
    stats = running.answer_stats(rpc_lost="10.0.0.2:50052")
    assert {k: v for k, v in stats.to_json().items() if k in running.to_json()} == running.to_json()
    assert (stats.stop_reason, stats.elapsed_s, stats.rpc_lost) == ("length", 1.1235, "10.0.0.2:50052")


def test_rows_of_earlier_versions_and_damaged_values_read() -> None:
    old = AnswerStats.from_json({"generated_tokens": 9, "tokens_per_second": "5.0", "stop_reason": "eos",
                                 "drafted": 8, "accepted": 6, "acceptance_rate": 0.75, "draft_name": "Tiny",
                                 "ttft_s": [1], "something_new": 1})
    assert (old.generated_tokens, old.tokens_per_second, old.ttft_s, old.crashed) == (9, 5.0, 0.0, False)
    assert "draft: Tiny · accepted 6/8 (75%)" in footer_text(old)


def test_a_crash_keeps_its_sentence_and_no_figures() -> None:
    crash = AnswerStats(stop_reason="error", error="the engine crashed (SIGSEGV)", crashed=True, log="/x/engine.log")
    saved = crash.to_json()
    assert "generated_tokens" not in saved and "tokens_per_second" not in saved
    back = AnswerStats.from_json(saved)
    assert back == crash and footer_text(back) == "the engine crashed (SIGSEGV)"
    # a crash saved before this type existed: an error and no figures
    assert AnswerStats.from_json({"stop_reason": "error", "error": "boom"}).crashed
