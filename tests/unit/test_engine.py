"""The engine facade on real llama.cpp: chat formats, draft checks, cancellation, load progress, the CLI."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict

import pytest

from app.cli import main as cli_main
from app.core.inference.chat_format import TRANSCRIPT_STOPS, ChatFormat, ChatTemplateError, choose_chat_format
from app.core.inference.bench import first_difference
from app.core.inference.bench_report import FirstDifference
from app.core.inference.engine import Engine, SpeculationConfig
from app.core.inference.llama_runtime import LoadedModel, LoadOptions, ModelLoadError
from app.core.inference.speculative import GenerationStats
from tests.fixtures.model_factory import write_tiny_model

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}]


@pytest.mark.real_model
def test_the_models_own_template_is_used(smollm2_path):
    engine = Engine()
    engine.load_main(smollm2_path, LoadOptions(n_ctx=512))
    try:
        assert engine.chat_format().source == "the model's template"
        tokens, stop = engine.chat_prompt(MESSAGES)
        rendered = engine.chat_format().render(MESSAGES)
        assert rendered == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n"
                            "<|im_start|>assistant\n")
        assert stop == () and tokens[0] != tokens[1]
    finally:
        engine.close()


@pytest.mark.real_model
def test_a_base_model_without_template_gets_the_fallback_its_tokens_call_for(gemma_path):
    engine = Engine()
    engine.load_main(gemma_path, LoadOptions(n_ctx=512))
    try:
        fmt = engine.chat_format()
        assert fmt.source.startswith("gemma turns (fallback")
        tokens, _ = engine.chat_prompt(MESSAGES)
        assert tokens.count(engine.main.bos) == 1  # the template's BOS and the tokenizer's are not doubled
        assert fmt.render(MESSAGES).endswith("<start_of_turn>model\n")
    finally:
        engine.close()


def test_no_template_and_no_control_tokens_gives_a_transcript():
    fmt = choose_chat_format(None, "", "", lambda text: False)
    assert fmt.stop == TRANSCRIPT_STOPS
    assert fmt.render(MESSAGES) == "Be brief.\n\nUser: Hi!\n\nAssistant:"


def test_templates_run_sandboxed_and_a_hostile_one_falls_back():
    hostile = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(ChatTemplateError):
        ChatFormat(hostile, "test").render(MESSAGES)
    assert choose_chat_format(hostile, "", "", lambda t: t in ("<|im_start|>", "<|im_end|>")).source.startswith(
        "ChatML (fallback")


def test_a_template_that_refuses_system_messages_gets_it_in_the_first_turn():
    strict = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}"
              "{% endif %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}")
    fmt = choose_chat_format(strict, "", "", lambda t: False)
    assert fmt.source == "the model's template"
    assert fmt.render(MESSAGES) == "[user] Be brief.\n\nHi!\n"


def test_an_incompatible_draft_is_refused_with_the_reason(fixtures):
    engine = Engine()
    with pytest.raises(ModelLoadError, match="main model before"):
        engine.load_draft(fixtures["base_draft"])
    engine.load_main(fixtures["base"], LoadOptions(n_ctx=256))
    try:
        with pytest.raises(ModelLoadError, match="cannot draft for"):
            engine.load_draft(fixtures["pad200"], LoadOptions(n_ctx=256))
        assert engine.draft is None
        engine.load_draft(fixtures["base_draft"], LoadOptions(n_ctx=256))
        with pytest.raises(ValueError, match="mode"):
            SpeculationConfig(mode="both")
    finally:
        engine.close()


def test_stop_strings_end_the_answer_and_are_not_shown(fixtures):
    engine = Engine()
    engine.load_main(fixtures["base"], LoadOptions(n_ctx=256))
    try:
        prompt = engine.raw_prompt("Hello there")
        full = "".join(e.text for e in engine.generate(prompt, GenerationStats(), max_tokens=30))
        stop = full[10:14]
        stats = GenerationStats()
        cut = "".join(e.text for e in engine.generate(prompt, stats, max_tokens=30, stop=(stop,)))
        assert stats.stop_reason == "stop" and cut == full[: full.index(stop)]
    finally:
        engine.close()


def _cancel_latency(engine: Engine, prompt: list[int], after_s: float) -> tuple[float, GenerationStats]:
    cancel = threading.Event()
    stats = GenerationStats()
    timer = threading.Timer(after_s, cancel.set)
    timer.start()
    for _ in engine.generate(prompt, stats, max_tokens=100_000, cancel=cancel):
        pass
    ended = time.perf_counter()
    timer.join()
    return ended, stats


@pytest.mark.real_model
def test_cancel_takes_effect_within_100_ms_in_prompt_evaluation_and_in_generation(smollm2_path):
    engine = Engine()
    engine.load_main(smollm2_path, LoadOptions(n_ctx=4096))
    try:
        long_prompt = engine.raw_prompt("The history of the printing press in Europe. " * 300)  # ~3000 tokens
        set_at = time.perf_counter() + 0.2
        ended, stats = _cancel_latency(engine, long_prompt, 0.2)
        assert stats.stop_reason == "cancelled" and stats.generated_tokens == 0
        assert ended - set_at < 0.1, f"prompt evaluation stopped {ended - set_at:.3f} s after cancel"
        assert engine.main.n_past < len(long_prompt)  # it really was mid-prompt; the cache kept a clean prefix
        assert engine.main.n_past == len(engine.main.cached)
        # generation: the same engine keeps working after a cancelled prompt
        # (cancelled at its 5th token, not after a fixed time: on a loaded machine the first tokens can take longer)
        short = engine.raw_prompt("Once upon a time")
        cancel, stats = threading.Event(), GenerationStats()
        set_at = 0.0
        for i, _ in enumerate(engine.generate(short, stats, max_tokens=100_000, cancel=cancel)):
            if i == 4:
                set_at = time.perf_counter()
                cancel.set()
        ended = time.perf_counter()
        assert stats.stop_reason == "cancelled" and stats.generated_tokens >= 5
        assert ended - set_at < 0.1, f"generation stopped {ended - set_at:.3f} s after cancel"
    finally:
        engine.close()


def test_load_progress_is_reported_and_can_cancel_the_load(fixtures):
    seen: list[float] = []
    with LoadedModel(fixtures["base"], LoadOptions(n_ctx=256), progress=lambda f: seen.append(f) or True):
        pass
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    with pytest.raises(ModelLoadError, match="cancelled"):
        LoadedModel(fixtures["base"], LoadOptions(n_ctx=256), progress=lambda f: False)


def test_a_truncated_model_is_a_clear_error(tmp_path, fixtures):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(fixtures["base"].read_bytes()[:-1000])
    with pytest.raises(ModelLoadError, match="broken.gguf"):
        Engine().load_main(broken)


def test_cli_generate_json(fixtures, capsys):
    rc = cli_main(["generate", "--model", str(fixtures["base"]), "--draft", str(fixtures["base_draft"]),
                   "--draft-tokens", "3", "--max-tokens", "12", "--raw", "--prompt", "Hello", "--json",
                   "--ctx", "256"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert set(out) == {"text", "tokens", "from_draft", "stop_reason", "stats", "devices"}
    assert len(out["tokens"]) == len(out["from_draft"]) == out["stats"]["generated_tokens"]
    assert sum(out["from_draft"]) == out["stats"]["accepted"]
    for key in ("generated_tokens", "tokens_per_second", "ttft_s", "drafted", "accepted", "acceptance_rate"):
        assert key in out["stats"]


def test_cli_bench_json(fixtures, tmp_path, capsys):
    prompt = tmp_path / "p.txt"
    prompt.write_text("red green blue red green blue red green", "utf-8")
    rc = cli_main(["bench", "--model", str(fixtures["base"]), "--ngram", "2", "--draft-tokens", "2,auto",
                   "--max-tokens", "40", "--rounds", "1", "--raw", "--prompt-file", str(prompt), "--json",
                   "--ctx", "256"])
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert rc == 0 and "round 1/1" in captured.err
    assert out["plain"]["tokens_per_second"] > 0
    assert [r["draft_tokens"] for r in out["runs"]] == [2, "auto"]
    for r in out["runs"]:
        assert r["identical"] is True and r["speedup"] > 0 and 0 <= r["acceptance_rate"] <= 1
        assert r["paired_speedup"] > 0 and "first_difference" not in r
    # the report names what it measured: the main model and the n-gram size (no draft model in this mode)
    assert out["models"]["main_path"] == str(fixtures["base"].absolute()) and out["models"]["ngram_size"] == 2
    assert out["models"]["main"] and "draft" not in out["models"]


def test_bench_names_where_a_greedy_run_left_plain():
    assert first_difference([1, 2, 3, 4], [1, 2, 9, 4], round_no=2) == FirstDifference(2, 2, 3, 9)
    # one run stopped early (an end-of-text the other did not pick): the first missing token is the difference
    assert first_difference([1, 2, 3], [1, 2], round_no=1) == FirstDifference(1, 2, 3, -1)
    assert asdict(FirstDifference(1, 2, 3, -1)) == {"round": 1, "position": 2, "plain_token": 3, "token": -1}


def test_cli_errors_are_one_clear_line(tmp_path, capsys):
    rc = cli_main(["generate", "--model", str(tmp_path / "missing.gguf"), "--prompt", "x"])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error:") and "missing.gguf" in err  # ran and failed (README: exit codes)


def test_switching_models_unloads_the_old_pair_before_loading(fixtures, tmp_path):
    """Peak memory: the old main and its draft are gone while the new main loads; what the engine holds after a
    failure is what it says (the old pair for a file whose header does not read, nothing after a later failure)."""
    engine = Engine()
    try:
        engine.load_main(fixtures["base"], LoadOptions(n_ctx=256))
        engine.load_draft(fixtures["base"], LoadOptions(n_ctx=256))
        held: list[tuple[object, object]] = []
        engine.load_main(fixtures["base"], LoadOptions(n_ctx=256),
                         lambda f: held.append((engine.main, engine.draft)) or True)
        assert held and all(m is None and d is None for m, d in held)
        assert engine.main is not None and engine.draft is None
        bad = tmp_path / "bad.gguf"
        bad.write_bytes(b"GGUF" + b"\0" * 50)
        kept = engine.main
        with pytest.raises(ModelLoadError):
            engine.load_main(bad)
        assert engine.main is kept
        with pytest.raises(ModelLoadError, match="cancelled"):
            engine.load_main(fixtures["base"], LoadOptions(n_ctx=256), lambda f: False)
        assert engine.main is None and engine.draft is None
    finally:
        engine.close()


def test_the_overflow_policy_leaves_the_oldest_turns_out_by_the_models_own_count(fixtures):
    from app.core.infra.requests import GenerateRequest, RequestRejected

    engine = Engine()
    engine.load_main(fixtures["base"], LoadOptions(n_ctx=256))
    try:
        turns: list[dict[str, str]] = [{"role": "system", "content": "Be brief."}]
        for i in range(12):
            turns += [{"role": "user", "content": f"Question {i}: tell me about the number {i} and its friends."},
                      {"role": "assistant", "content": f"The number {i} is fine, and so are its friends."}]
        turns.append({"role": "user", "content": "And the last one?"})
        whole = len(engine.chat_prompt(turns)[0])
        assert whole > 256  # the chat does not fit
        request = GenerateRequest(messages=tuple(turns), max_tokens=8, overflow="rolling_window")
        stats = GenerationStats()
        text = "".join(ev.text for ev in engine.answer(request, stats))
        start, end = stats.dropped
        assert start == 1 and end > start and turns[end]["role"] == "user"  # from a question on
        assert stats.prompt_tokens + 8 <= 256 and stats.stop_reason != "context" and text
        assert stats.prompt_tokens == len(engine.chat_prompt(turns[:1] + turns[end:])[0])
        # the same chat under "stop" goes as it is, and the engine says it cannot be answered
        stats = GenerationStats()
        list(engine.answer(GenerateRequest(messages=tuple(turns), max_tokens=8), stats))
        assert stats.dropped == (0, 0) and stats.stop_reason == "context" and "more than the model's context" in \
            stats.error
        with pytest.raises(RequestRejected, match="unknown overflow policy"):
            engine.fit(GenerateRequest(messages=tuple(turns), overflow="drop it all"))
    finally:
        engine.close()


def test_the_overflow_policy_tokenizes_the_chat_it_sends_once(fixtures):
    """The count that chose the messages is the prompt: the whole chat is not rendered and tokenized again."""
    from app.core.infra.requests import GenerateRequest

    engine = Engine()
    engine.load_main(fixtures["base"], LoadOptions(n_ctx=256))
    try:
        turns = [{"role": "user", "content": "Hello there."}, {"role": "assistant", "content": "Hi."},
                 {"role": "user", "content": "And now?"}]
        renders: list[int] = []
        real = engine.chat_prompt
        engine.chat_prompt = lambda ms: renders.append(len(ms)) or real(ms)  # type: ignore[method-assign]
        stats = GenerationStats()
        list(engine.answer(GenerateRequest(messages=tuple(turns), max_tokens=4, overflow="rolling_window"), stats))
        assert renders == [3] and stats.dropped == (0, 0)  # fits: counted once, and that count is the prompt
    finally:
        engine.close()
