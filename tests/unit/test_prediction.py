"""Predicted outputs: where the drafter proposes the prediction, how it lets go, and that the output stays the
model's (greedy: identical to plain; sampled: the speculative-sampling rule with point-mass proposals)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.core.inference.engine import Engine
from app.core.inference.prediction import FIRST_RUN, MAX_RUN, PredictionDrafter
from app.core.inference.speculative import GenerationStats
from app.core.infra.requests import GenerateRequest, LoadOptions, RequestRejected, SamplerParams, SpeculationConfig


def follow(pred: list[int], answer: list[int]) -> tuple[int, int, int]:
    """Play the token loop against a fixed answer: (drafted, accepted, rounds)."""
    d = PredictionDrafter(pred, prompt_len=0)
    hist, i, drafted, accepted, rounds = [answer[0]], 1, 0, 0, 0
    while i < len(answer):
        prop = d.propose(hist, 1000)
        kept = 0
        while kept < len(prop) and i + kept < len(answer) and answer[i + kept] == prop[kept]:
            kept += 1
        d.feedback(len(prop), kept)
        drafted, accepted, rounds = drafted + len(prop), accepted + kept, rounds + 1
        hist.extend(answer[i:i + kept + 1])
        i += kept + 1
    return drafted, accepted, rounds


def test_an_answer_that_repeats_the_prediction_takes_it_in_growing_runs() -> None:
    pred = list(range(100, 400))
    drafted, accepted, rounds = follow(pred, pred)
    assert accepted == drafted  # every guess right
    assert accepted + rounds in (len(pred) - 1, len(pred))  # each round adds the main model's own token
    assert rounds < 15  # 8, 16, 32, 32, ...: not one round per token
    assert FIRST_RUN < MAX_RUN


def test_an_edit_realigns_after_the_changed_tokens() -> None:
    pred = list(range(100, 300))
    answer = pred[:50] + [7, 8] + pred[52:120] + pred[125:]  # a rename at 50, five tokens deleted at 120
    drafted, accepted, rounds = follow(pred, answer)
    assert rounds < 20  # back on the prediction right after each change: 195 tokens in few rounds
    assert accepted + rounds >= len(answer) - 1
    assert drafted - accepted <= 2 * MAX_RUN + 8  # at most one long run thrown away at each change


def test_an_answer_that_never_follows_costs_a_few_short_guesses() -> None:
    pred = [1, 50, 99, 98, 97, 96] * 5 + [11, 12, 13]
    answer = [1, 50, 51] * 200  # loops on a line of its own that starts like one of the prediction's
    drafted, accepted, rounds = follow(pred, answer)
    assert accepted <= 1  # the first "1 50" is the prediction's
    assert drafted < 40  # back-off: not a guess in each of the ~600 rounds


def test_realigning_prefers_the_place_it_was_following() -> None:
    line = [5, 6, 7]
    pred = line + [20, 21] + line + [30, 31] + line + [40, 41]
    d = PredictionDrafter(pred, prompt_len=0)
    # the answer follows into the second copy of the line, then changes a token and comes back to it
    answer = line + [20, 21] + [5, 99, 6, 7]
    assert d.propose(answer, 2) == [30, 31]  # after "6 7" again: the copy at or after where it was, not the first


def test_loop_greedy_prediction_is_identical_to_plain_and_counts_its_tokens(smollm2_path: Path) -> None:
    engine = Engine()
    engine.load_main(smollm2_path, LoadOptions(n_ctx=2048))
    try:
        question = "Write a Python function that returns the squares of the numbers 1 to 10, with a docstring."
        base = GenerateRequest(messages=({"role": "user", "content": question},), max_tokens=120)
        plain_events = list(engine.answer(base, GenerationStats()))
        plain = [ev.token for ev in plain_events]
        prediction = "".join(ev.text for ev in plain_events)
        for spec in (SpeculationConfig(), SpeculationConfig(mode="ngram", auto=True)):
            stats = GenerationStats()
            events = list(engine.answer(replace(base, speculation=spec, prediction=prediction), stats))
            assert [ev.token for ev in events] == plain
            # the answer is its own prediction: nearly every token came from it, in few rounds
            assert stats.prediction_accepted >= len(plain) - 5
            assert stats.prediction_drafted - stats.prediction_accepted <= 3
            assert sum(ev.from_draft for ev in events) == stats.accepted
    finally:
        engine.close()


def test_loop_sampled_with_a_prediction_still_answers_and_mostly_keeps_it(smollm2_path: Path) -> None:
    engine = Engine()
    engine.load_main(smollm2_path, LoadOptions(n_ctx=2048))
    try:
        question = "Repeat exactly: the quick brown fox jumps over the lazy dog."
        req = GenerateRequest(messages=({"role": "user", "content": question},), max_tokens=40,
                              sampling=SamplerParams(temperature=0.7, seed=3),
                              prediction="the quick brown fox jumps over the lazy dog.")
        stats = GenerationStats()
        text = "".join(ev.text for ev in engine.answer(req, stats))
        assert text and stats.stop_reason in ("eos", "length")
        assert stats.prediction_drafted > 0
    finally:
        engine.close()


def test_a_prediction_longer_than_the_context_is_refused_before_any_token(smollm2_path: Path) -> None:
    engine = Engine()
    engine.load_main(smollm2_path, LoadOptions(n_ctx=256))
    try:
        req = GenerateRequest(raw="Hello", prediction="word " * 400)
        with pytest.raises(RequestRejected) as e:
            list(engine.answer(req, GenerationStats()))
        assert e.value.code == "prediction_too_long" and "256" in str(e.value)
    finally:
        engine.close()
