"""Speculative sampling keeps the main model's distribution: many seeded runs, chi-square against plain sampling.

Main and draft are different tiny random models, so draft tokens are accepted only part of the time and both
the rejection path (resample from norm(max(0, p - q))) and the bonus path are exercised. The same transforms
(temperature, top-k, top-p, min-p, repetition penalty) apply to p and q. The seeds are fixed, so the test is
deterministic; the threshold (p > 0.001) is what a correct sampler passes by chance 99.9% of the time.
The power check shows the test would notice a wrong distribution: the draft's own samples fail it.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from app.core.inference.draft_length import DraftLength
from app.core.inference.drafting import ModelDrafter, NgramDrafter
from app.core.inference.llama_runtime import LoadedModel, LoadOptions
from app.core.inference.sampling import SamplerParams, top_k_ids
from app.core.inference.speculative import GenerationRequest, GenerationStats, generate
from tests.fixtures.model_factory import write_tiny_model

RUNS = 2500
PARAMS = dict(temperature=0.9, top_k=5, top_p=0.97, min_p=0.02, repeat_penalty=1.3, repeat_last_n=16)


def samples(main, drafter, prompt, seed0, k=3, n_tokens=3, runs=RUNS, params=PARAMS):
    """(token 2, token 3) of each run; the first token comes from prompt evaluation in every mode."""
    out: Counter[tuple[int, ...]] = Counter()
    totals = GenerationStats()
    for i in range(runs):
        stats = GenerationStats()
        req = GenerationRequest(prompt, n_tokens, SamplerParams(seed=seed0 + i, **params))
        toks = [e.token for e in generate(main, drafter, DraftLength(k) if drafter else None, req, stats)]
        assert stats.stop_reason == "length", stats
        out[tuple(toks[1:])] += 1
        totals.drafted += stats.drafted
        totals.accepted += stats.accepted
    return out, totals


def homogeneity_p(a: Counter, b: Counter) -> float:
    """Chi-square test that two samples come from one distribution; rare outcomes pooled (expected >= 5)."""
    keys = sorted(set(a) | set(b), key=lambda k: -(a[k] + b[k]))
    common = [k for k in keys if a[k] + b[k] >= 10]
    rare = [k for k in keys if a[k] + b[k] < 10]
    table = [[a[k] for k in common], [b[k] for k in common]]
    if rare:
        table[0].append(sum(a[k] for k in rare))
        table[1].append(sum(b[k] for k in rare))
    return float(chi2_contingency(table).pvalue)


@pytest.fixture(scope="module")
def models(fixtures, tmp_path_factory, smol_tokenizer):
    # the main model's weights at a different scale: a draft that agrees with it often, not always
    near = write_tiny_model(tmp_path_factory.mktemp("near") / "near.gguf", smol_tokenizer, name="Near Draft",
                            weight_scale=0.65)
    with LoadedModel(fixtures["base"], LoadOptions(n_ctx=256)) as main, \
         LoadedModel(near, LoadOptions(n_ctx=256)) as draft:
        yield main, draft


def test_draft_model_speculative_sampling_matches_plain_sampling(models):
    main, draft = models
    prompt = main.tokenize("Once upon a time there was a")
    plain, _ = samples(main, None, prompt, seed0=10_000)
    spec, totals = samples(main, ModelDrafter(draft), prompt, seed0=20_000)
    # both paths ran: some drafts accepted, some rejected and resampled
    assert 0.05 < totals.accepted / totals.drafted < 0.95, (totals.accepted, totals.drafted)
    assert len(plain) >= 8, "too few outcomes for the test to mean anything"
    assert homogeneity_p(plain, spec) > 0.001
    # power: sampling from the draft alone is a different distribution, and the test sees it
    draft_only, _ = samples(draft, None, prompt, seed0=30_000)
    assert homogeneity_p(plain, draft_only) < 1e-6


@pytest.mark.real_model
def test_ngram_speculative_sampling_matches_plain_sampling(smollm2_path):
    """n-gram drafts are proposals with q = 1 (a point mass): accepted with probability p(x), and a rejection
    resamples from p without x. Random tiny models never repeat their input, so this runs on the real SmolLM2
    with a prompt it copies from (fewer runs: a real model costs ~20 ms per run here)."""
    code = "def area(width, height):\n    return width * height\n"
    text = ("<|im_start|>user\nRepeat this code exactly:\n" + code +
            "<|im_end|>\n<|im_start|>assistant\n```python\ndef")
    params = dict(temperature=1.5, top_k=5, top_p=1.0, min_p=0.0, repeat_penalty=1.1, repeat_last_n=32)
    with LoadedModel(smollm2_path, LoadOptions(n_ctx=512)) as main:
        prompt = main.tokenize(text)
        plain, _ = samples(main, None, prompt, seed0=40_000, runs=800, params=params)
        spec, totals = samples(main, NgramDrafter(3), prompt, seed0=50_000, runs=800, params=params)
    assert 0.1 < totals.accepted / totals.drafted < 0.98, (totals.accepted, totals.drafted)
    assert len(plain) >= 8
    assert homogeneity_p(plain, spec) > 0.001


def test_top_k_ids_are_the_k_largest_whatever_the_shape_of_the_row():
    """The windowed top-k (a max, a comparison, a partition of the few near the top) picks the same set as a
    full argpartition: flat rows, rows with one logit far above the rest (no window holds k), and k = 1."""
    rng = np.random.default_rng(7)
    n = 49152
    rows = [rng.normal(0, s, n).astype(np.float32) for s in (0.5, 2.0, 6.0)]
    peaked = rng.normal(0, 1, n).astype(np.float32)
    peaked[123] = 60.0  # every other logit ~60 below: the fallback partitions the whole row
    rows.append(peaked)
    for x in rows:
        for k in (1, 40, 400):
            assert set(top_k_ids(x, k).tolist()) == set(np.argpartition(x, n - k)[n - k:].tolist())
