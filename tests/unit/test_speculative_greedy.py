"""The greedy speculative loop on real llama.cpp: output identical to plain decoding, caches kept in sync."""

from __future__ import annotations

import pytest

from app.core.inference.llama_runtime import LoadedModel, LoadOptions, ModelLoadError
from app.core.inference.draft_length import DraftLength
from app.core.inference.drafting import ModelDrafter
from app.core.infra.requests import SamplerParams
from app.core.inference.speculative import GenerationRequest, GenerationStats, generate
from tests.fixtures.model_factory import write_projector

CHAT = "<|im_start|>user\nWrite a Python function that returns the n-th Fibonacci number.<|im_end|>\n" \
       "<|im_start|>assistant\n"


def run(main, draft, prompt, max_tokens, k):
    stats = GenerationStats()
    drafter = ModelDrafter(draft) if draft is not None else None
    req = GenerationRequest(main.tokenize(prompt), max_tokens)
    events = list(generate(main, drafter, DraftLength(k), req, stats))
    return events, stats


@pytest.fixture(scope="module")
def smol_pair(smollm2_path):
    with LoadedModel(smollm2_path, LoadOptions(n_ctx=1024)) as main, \
         LoadedModel(smollm2_path, LoadOptions(n_ctx=1024)) as draft:
        yield main, draft


@pytest.mark.real_model
def test_real_model_speculation_is_lossless(smol_pair):
    main, draft = smol_pair
    plain, pstats = run(main, None, CHAT, 120, 0)
    assert pstats.stop_reason == "length" and pstats.drafted == 0
    for k in (1, 4, 8):
        spec, stats = run(main, draft, CHAT, 120, k)
        assert [e.token for e in spec] == [e.token for e in plain], f"k={k}"
        assert "".join(e.text for e in spec) == "".join(e.text for e in plain)
        # the draft is the main's own weights: every drafted token is accepted
        assert stats.drafted > 0 and stats.accepted == stats.drafted
        assert sum(e.from_draft for e in spec) == stats.accepted
        # the cache holds the prompt and what was emitted; the last token is in it when the round ended on
        # accepted drafts, and not yet decoded when it was the main model's own pick
        emitted = main.tokenize(CHAT) + [e.token for e in spec]
        assert main.cached in (emitted, emitted[:-1]) and main.n_past == len(main.cached)


def test_partial_acceptance_is_still_lossless(fixtures):
    """A different, smaller random draft: many rejections, each rolled back from both caches."""
    with LoadedModel(fixtures["base"], LoadOptions(n_ctx=512)) as main, \
         LoadedModel(fixtures["base_draft"], LoadOptions(n_ctx=512)) as draft:
        prompt = "The quick brown fox jumps over the lazy dog. " * 3
        plain, _ = run(main, None, prompt, 60, 0)
        for k in (2, 5):
            spec, stats = run(main, draft, prompt, 60, k)
            assert [e.token for e in spec] == [e.token for e in plain], f"k={k}"
            assert stats.drafted > 0 and stats.accepted < stats.drafted
            assert draft.cached == main.cached[: len(draft.cached)]


def test_stops_at_max_tokens_and_reuses_the_prefix(fixtures):
    with LoadedModel(fixtures["base"], LoadOptions(n_ctx=512)) as main:
        events, stats = run(main, None, "Hello there", 7, 0)
        assert len(events) == 7 and stats.stop_reason == "length" and stats.ttft_s > 0
        n_cached = len(main.cached)
        assert main.reuse_prefix(main.cached + [42]) == n_cached


def test_full_context_is_a_stop_reason_not_a_crash(fixtures):
    with LoadedModel(fixtures["base"], LoadOptions(n_ctx=64, n_batch=64)) as main:
        events, stats = run(main, None, "Hello there", 1000, 0)
        # llama.cpp rounds the context up (to 256 here); the answer fills it and stops cleanly
        assert stats.stop_reason == "context" and stats.error.startswith(f"the context is full ({main.n_ctx:,} tokens")
        assert "larger context (sidebar, Context)" in stats.error  # what to do, in the answer's footer
        assert len(events) + stats.prompt_tokens == main.n_ctx + 1


def test_empty_prompt_is_an_error_stop(fixtures):
    with LoadedModel(fixtures["base"], LoadOptions(n_ctx=256)) as main:
        stats = GenerationStats()
        assert list(generate(main, None, None, GenerationRequest([], 5), stats)) == []
        assert (stats.stop_reason, stats.error) == ("error", "the prompt is empty")


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file"):
        LoadedModel(tmp_path / "missing.gguf")
    (tmp_path / "bad.gguf").write_bytes(b"GGUF" + b"\0" * 50)
    with pytest.raises(ModelLoadError, match="unknown GGUF version 0"):
        LoadedModel(tmp_path / "bad.gguf")
    with pytest.raises(ModelLoadError, match="vision projector .*cannot generate text"):
        LoadedModel(write_projector(tmp_path / "mmproj.gguf"))


def test_p_min_stops_drafting_when_the_draft_is_unsure_and_min_draft_drops_short_drafts(fixtures):
    with LoadedModel(fixtures["base"], LoadOptions(n_ctx=512)) as main, \
         LoadedModel(fixtures["base_draft"], LoadOptions(n_ctx=512)) as draft:
        prompt = main.tokenize("The quick brown fox")
        plain, _ = run(main, None, "The quick brown fox", 30, 0)

        def spec(**kw):
            stats = GenerationStats()
            req = GenerationRequest(prompt, 30, **kw)
            toks = [e.token for e in generate(main, ModelDrafter(draft), DraftLength(4), req, stats)]
            return toks, stats

        toks, stats = spec(p_min=1.0)  # a random model is never fully sure: nothing is drafted
        assert stats.drafted == 0 and toks == [e.token for e in plain]
        toks, stats = spec(min_draft=5)  # more than k: every draft is too short and dropped
        assert stats.drafted == 0 and toks == [e.token for e in plain]
        assert draft.cached == main.cached[: len(draft.cached)]
        toks, stats = spec()
        assert stats.drafted > 0 and toks == [e.token for e in plain]


def test_greedy_picks_on_the_device_keep_the_output(fixtures, monkeypatch):
    """llama.cpp's backend greedy sampler (the GPU default, forced here on the CPU backend): an argmax node in each
    decode graph picks the tokens, only their ids come back, and the answer is the one numpy's argmax gives,
    plain and speculative, with rejections rolled back; sampled answers turn it off again (they need logits)."""
    with LoadedModel(fixtures["base"], LoadOptions(n_ctx=512)) as main, \
         LoadedModel(fixtures["base_draft"], LoadOptions(n_ctx=512)) as draft:
        prompt = "The quick brown fox jumps over the lazy dog. " * 3
        monkeypatch.setenv("SPECCHAT_DEVICE_GREEDY", "off")
        plain, _ = run(main, None, prompt, 60, 0)
        assert not main.device_greedy
        monkeypatch.setenv("SPECCHAT_DEVICE_GREEDY", "on")
        for k in (0, 1, 5):
            spec, stats = run(main, draft if k else None, prompt, 60, k)
            assert main.device_greedy and (not k or draft.device_greedy)
            assert [e.token for e in spec] == [e.token for e in plain], f"k={k}"
            if k:
                assert stats.drafted > 0 and stats.accepted < stats.drafted
        with pytest.raises(RuntimeError, match="on the device"):
            main.logits_np(-1)
        sampled = GenerationRequest(main.tokenize(prompt), 20, SamplerParams(temperature=0.8, seed=3))
        events = list(generate(main, ModelDrafter(draft), DraftLength(4), sampled, GenerationStats()))
        assert len(events) == 20 and not main.device_greedy and not draft.device_greedy
        main.logits_np(-1)  # read back again
        # switching back and forth keeps one chain at most: the ones let go of are freed at the next switch
        for greedy in (True, False) * 5:
            main.greedy_picks(greedy)
            main.decode([main.bos], logits_from=0)
        assert main._picks.held <= 1
