"""The overflow policies (app/core/inference/context_fit.py): what is sent when a chat outgrows the context, on a
count that is the number of words (the engine's real count is tested on a real model in test_engine)."""

from __future__ import annotations

import pytest

from app.core.inference.context_fit import Fitted, answer_room, as_policy, fit_messages


def chat(turns: int, words: int = 10, system: bool = True) -> list[dict[str, str]]:
    msgs = [{"role": "system", "content": "sys"}] if system else []
    for i in range(turns):
        msgs.append({"role": "user", "content": " ".join([f"q{i}"] * words)})
        msgs.append({"role": "assistant", "content": " ".join([f"a{i}"] * words)})
    msgs.append({"role": "user", "content": "last question"})
    return msgs


def words(msgs: list[dict[str, str]]) -> int:
    return sum(len(m["content"].split()) for m in msgs)


def test_a_chat_that_fits_goes_as_it_is_under_every_policy():
    msgs = chat(3)
    for policy in ("stop", "truncate_middle", "rolling_window"):
        assert fit_messages(msgs, words, 1000, 10, policy) == Fitted(msgs)


def test_stop_sends_an_overlong_chat_as_it_is():
    msgs = chat(10)
    assert fit_messages(msgs, words, 50, 10, "stop") == Fitted(msgs)


def test_the_rolling_window_keeps_the_system_prompt_and_the_newest_turns_that_fit():
    msgs = chat(10)  # 1 + 200 + 2 words
    fitted = fit_messages(msgs, words, 70, 10, "rolling_window")
    start, end = fitted.dropped
    assert start == 1 and fitted.messages[0]["role"] == "system" and fitted.messages[-1]["content"] == "last question"
    assert fitted.messages[1]["role"] == "user"  # the kept tail starts with a question: templates alternate
    assert words(fitted.messages) + 10 <= 70
    # the most history that fits: one more turn would not
    assert words(msgs[:1] + msgs[end - 2:]) + 10 > 70
    assert fitted.messages == msgs[:1] + msgs[end:] and fitted.dropped_count == end - 1


def test_truncate_middle_keeps_the_first_exchange_and_leaves_out_what_follows_it():
    msgs = chat(10)
    fitted = fit_messages(msgs, words, 90, 10, "truncate_middle")
    assert fitted.messages[:3] == msgs[:3] and fitted.dropped[0] == 3  # system, first question and its answer
    assert fitted.messages[3]["role"] == "user" and fitted.messages[-1] == msgs[-1]
    assert words(fitted.messages) + 10 <= 90


def test_truncate_middle_gives_up_the_first_exchange_when_it_alone_is_too_big():
    msgs = chat(1, words=50) + [{"role": "assistant", "content": "short"}, {"role": "user", "content": "again"}]
    fitted = fit_messages(msgs, words, 40, 10, "truncate_middle")
    assert fitted.messages[0]["role"] == "system" and fitted.messages[-1]["content"] == "again"
    assert words(fitted.messages) + 10 <= 40


def test_a_question_that_alone_is_too_long_is_sent_alone_for_the_engine_to_refuse():
    msgs = chat(2) + [{"role": "assistant", "content": "x"}, {"role": "user", "content": "w " * 100}]
    fitted = fit_messages(msgs, words, 50, 10, "rolling_window")
    assert fitted.messages == [msgs[0], msgs[-1]] and fitted.dropped == (1, len(msgs) - 1)


def test_a_chat_of_one_question_has_nothing_to_leave_out():
    msgs = [{"role": "user", "content": "w " * 100}]
    assert fit_messages(msgs, words, 50, 10, "rolling_window") == Fitted(msgs)


def test_the_count_is_asked_a_logarithmic_number_of_times():
    calls: list[int] = []

    def counting(msgs: list[dict[str, str]]) -> int:
        calls.append(1)
        return words(msgs)

    fit_messages(chat(500), counting, 300, 10, "rolling_window")
    assert len(calls) <= 15


@pytest.mark.parametrize(("n_ctx", "max_tokens", "room"), [(4096, 1024, 1024), (2048, 1024, 512), (256, 12, 12)])
def test_the_answer_room_is_its_limit_but_at_most_a_quarter_of_the_context(n_ctx, max_tokens, room):
    assert answer_room(n_ctx, max_tokens) == room


def test_unknown_policy_names_read_as_stop():
    assert as_policy("rolling_window") == "rolling_window" and as_policy("drop everything") == "stop"
