"""Model facts from the header: real models, split files, projectors and embeddings."""

from __future__ import annotations

import pytest

from app.core.models.gguf_reader import GGUFError
from app.core.models.model_info import ROLE_EMBEDDING, ROLE_GENERATIVE, ROLE_PROJECTOR, read_model_info
from tests.fixtures.model_factory import write_projector, write_tiny_model


@pytest.mark.real_model
def test_smollm2(smollm2_path):
    i = read_model_info(smollm2_path)
    assert (i.architecture, i.size_label, i.file_type, i.context_length) == ("llama", "135M", "Q4_1", 8192)
    assert i.parameter_count == 134_515_008 and i.has_chat_template and i.role == ROLE_GENERATIVE
    t = i.tokenizer
    assert (t.model, t.pre, t.vocab_type_name, t.n_tokens, t.bos_id, t.eos_id, t.add_bos, t.add_eos) == (
        "gpt2", "smollm", "BPE (byte-level)", 49152, 1, 2, False, False)


@pytest.mark.real_model
def test_gemma_base_model_has_no_chat_template(gemma_path):
    i = read_model_info(gemma_path)
    assert (i.architecture, i.file_type, i.has_chat_template) == ("gemma3", "Q4_K_M", False)
    assert i.tokenizer.n_tokens == 262_144 and i.tokenizer.vocab_type_name == "SPM (SentencePiece)"
    assert 250e6 < i.parameter_count < 300e6


def test_split_model_is_one_model(tmp_path, smol_tokenizer):
    write_tiny_model(tmp_path / "tiny.gguf", smol_tokenizer, split_max_tensors=8)
    parts = sorted(tmp_path.glob("*.gguf"))
    assert [p.name for p in parts] == [f"tiny-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    whole = write_tiny_model(tmp_path / "whole" / "tiny.gguf", smol_tokenizer)
    info = read_model_info(parts[0])
    assert len(info.shards) == 3
    assert info.parameter_count == read_model_info(whole).parameter_count
    assert info.file_size == sum(p.stat().st_size for p in parts)
    parts[2].unlink()
    with pytest.raises(GGUFError, match="split model is incomplete, missing tiny-00003-of-00003.gguf"):
        read_model_info(parts[0])
    with pytest.raises(GGUFError, match="part 2 of a split model"):
        read_model_info(parts[1])


def test_roles(tmp_path, smol_tokenizer):
    import gguf

    assert read_model_info(write_projector(tmp_path / "mmproj.gguf")).role == ROLE_PROJECTOR
    emb = write_tiny_model(tmp_path / "emb.gguf", smol_tokenizer,
                           extra_kv={"llama.pooling_type": (1, gguf.GGUFValueType.UINT32)})
    assert read_model_info(emb).role == ROLE_EMBEDDING


def test_json_round_trip(fixtures):
    from app.core.models.model_info import ModelInfo

    info = read_model_info(fixtures["base"])
    assert ModelInfo.from_json(info.to_json()) == info
