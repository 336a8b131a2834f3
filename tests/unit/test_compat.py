"""Draft compatibility: our reading of the GGUF agrees with llama.cpp's own on every fixture pair."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.core.models.compat import check_compatibility, max_useful_draft_params
from app.core.models.model_info import read_model_info
from tests.fixtures.fixture_set import PAIRS
from tests.fixtures.llama_vocab import llama_cpp_compatible, load_vocab


@pytest.fixture(scope="module")
def vocabs(fixtures: dict[str, Path]):
    return {name: load_vocab(path) for name, path in fixtures.items()}


@pytest.mark.parametrize("main,draft,expected", PAIRS, ids=[f"{m}-{d}" for m, d, _ in PAIRS])
def test_agrees_with_llama_cpp(fixtures, vocabs, main, draft, expected):
    ours = check_compatibility(read_model_info(fixtures[main]), read_model_info(fixtures[draft]))
    theirs = llama_cpp_compatible(vocabs[main], vocabs[draft])
    assert theirs == expected, "the fixture does not test what its name says"
    assert ours.compatible == theirs, ours.reasons
    assert bool(ours.reasons) != ours.compatible


def test_tokenizer_facts_match_llama_cpp(fixtures, vocabs):
    """Defaults included: files without add-BOS/EOS keys, a BOS id out of range, a llama3 pre-tokenizer."""
    for name, path in fixtures.items():
        tok = read_model_info(path).tokenizer
        v = vocabs[name]
        assert (tok.vocab_type, tok.add_bos, tok.add_eos, tok.n_tokens) == (
            v.vocab_type, v.add_bos, v.add_eos, len(v.texts)), name
        assert (tok.bos_id, tok.eos_id) == (v.bos, v.eos), name


def reasons(fixtures, main, draft):
    return check_compatibility(read_model_info(fixtures[main]), read_model_info(fixtures[draft])).reasons


def test_reasons_are_sentences(fixtures, smol_tokenizer):
    assert reasons(fixtures, "base", "pad200") == ["vocabulary sizes differ by 200, limit 128 (49152 vs 49352 tokens)"]
    assert reasons(fixtures, "base", "tok100") == [f"token 100 differs: '{smol_tokenizer.tokens[100]}' vs '<changed-100>'"]
    assert reasons(fixtures, "base", "add_bos") == [
        "add-BOS differs: the main model does not add a BOS token, the draft does"]
    assert reasons(fixtures, "add_bos", "add_bos_id7") == ["BOS token ids differ: 1 vs 7"]
    assert reasons(fixtures, "add_eos", "add_eos_id7") == ["EOS token ids differ: 2 vs 7"]
    spm = reasons(fixtures, "base", "spm")
    assert "tokenizer types differ: BPE (byte-level) vs SPM (SentencePiece)" in spm
    assert any(r.startswith("vocabulary sizes differ by 17152") for r in spm)
    assert any(r.startswith("add-BOS differs") for r in spm)


def test_every_failing_rule_is_reported(fixtures, tmp_path, smol_tokenizer):
    from tests.fixtures.model_factory import write_tiny_model

    both = write_tiny_model(tmp_path / "both.gguf", smol_tokenizer.with_token(9, "<x9>").with_keys(add_eos_token=True))
    r = check_compatibility(read_model_info(fixtures["base"]), read_model_info(both))
    assert r.reasons == ["add-EOS differs: the main model does not add an EOS token, the draft does",
                         f"token 9 differs: '{smol_tokenizer.tokens[9]}' vs '<x9>'"]


def test_architecture_name_is_not_a_rule(fixtures):
    main, draft = read_model_info(fixtures["base"]), read_model_info(fixtures["qwen2_arch"])
    assert (main.architecture, draft.architecture) == ("llama", "qwen2")
    assert check_compatibility(main, draft).compatible


def test_advice(fixtures):
    main, draft = read_model_info(fixtures["base"]), read_model_info(fixtures["base_draft"])
    # half the main's size: compatible, but more than the quarter a draft below 7B should cost
    assert check_compatibility(main, draft).advice == [
        "the draft (3.2M) is large for a 6.4M main model; drafts up to about 1.6M usually pay off"]
    bigger = check_compatibility(draft, main)
    assert bigger.compatible and "not smaller than the main model" in bigger.advice[0]
    same = check_compatibility(main, main)
    assert same.advice == ["this is the main model's own file: drafting with it can only be slower"]


def test_advice_for_a_smaller_quantization_of_the_same_size(fixtures):
    """A Q4_1 drafting for its own F32 has as many parameters but reads a fifth of the bytes per step: the
    benchmark measured 1.39x there, so the advice must not say it "will be slower"."""
    main = read_model_info(fixtures["base"])
    f32 = replace(main, path=main.path + ".f32", file_size=main.file_size * 5)  # the same weights, 5x the bytes
    advice = check_compatibility(f32, main).advice
    assert len(advice) == 1 and "will be slower" not in advice[0]
    assert "only its file is" in advice[0] and "the benchmark tells" in advice[0]
    twin = replace(main, path=main.path + ".copy")  # as many bytes too: drafting cannot pay
    assert "will be slower than plain decoding" in check_compatibility(twin, main).advice[0]


@pytest.mark.parametrize("main_b,limit_b", [(7.6, 1.15), (14.8, 3.45), (32.5, 8.05), (70, 8.05), (1.0, 0.25)])
def test_size_advice_follows_lm_studio_table(main_b, limit_b):
    assert max_useful_draft_params(int(main_b * 1e9)) == pytest.approx(limit_b * 1e9)
