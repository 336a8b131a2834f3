"""The memory estimate before loading, held against what llama.cpp itself allocates for real files (its "model
buffer", "KV buffer" and "compute buffer" log lines, which the engine routes into our log)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from app.core.inference.llama_runtime import LoadedModel
from app.core.infra.requests import LoadOptions
from app.core.models.library import LibraryEntry
from app.core.models.memory_estimate import MemoryFacts, estimate_memory, judge_memory
from app.core.models.model_info import ModelInfo, read_model_info
from tests.fixtures.model_factory import Tokenizer, write_tiny_model

MIB = 2**20


def llama_cpp_buffers(path: Path, n_ctx: int, n_batch: int, caplog: pytest.LogCaptureFixture) -> dict[str, float]:
    """Load on the CPU and read llama.cpp's own accounting, in MiB: {"model", "kv", "compute"}."""
    with caplog.at_level(logging.DEBUG, logger="specchat.runtime"):
        model = LoadedModel(path, LoadOptions(n_ctx=n_ctx, n_batch=n_batch, n_gpu_layers=0))
        model.close()
    sums = {"model": 0.0, "kv": 0.0, "compute": 0.0}
    for rec in caplog.records:
        msg = rec.getMessage()
        for kind, pattern in (("model", r"CPU\w* model buffer size =\s*([\d.]+) MiB"),
                              ("kv", r"CPU KV buffer size =\s*([\d.]+) MiB"),
                              ("compute", r"sched_reserve:\s+CPU compute buffer size =\s*([\d.]+) MiB")):
            m = re.search(pattern, msg)
            if m:
                sums[kind] += float(m[1])
    caplog.clear()
    assert all(sums.values()), f"llama.cpp's buffer lines were not logged: {sums}"
    return sums


@pytest.mark.parametrize(("n_head", "n_head_kv", "n_layer", "n_ctx", "n_batch"),
                         [(4, 4, 2, 512, 512), (4, 2, 3, 1024, 256), (8, 1, 4, 2048, 128)])
def test_estimate_matches_what_llama_cpp_allocates(tmp_path, smol_tokenizer, caplog, n_head, n_head_kv, n_layer,
                                                   n_ctx, n_batch):
    """Multi-head and grouped-query attention: the KV cache to the byte, weights and compute within a few %."""
    path = write_tiny_model(tmp_path / "tiny.gguf", smol_tokenizer, n_embd=64, n_head=n_head, n_head_kv=n_head_kv,
                            n_layer=n_layer)
    facts = read_model_info(path).memory
    assert facts is not None and facts.layer_kv_width == (2 * 64 // n_head * n_head_kv,) * n_layer
    est = estimate_memory(facts, n_ctx, n_batch)
    real = llama_cpp_buffers(path, n_ctx, n_batch, caplog)
    assert est.context / MIB == pytest.approx(real["kv"], abs=0.01)
    assert est.weights_ram / MIB == pytest.approx(real["model"], rel=0.02)
    assert est.compute_ram / MIB == pytest.approx(real["compute"], rel=0.08)
    assert (est.vram, est.gpu_layers) == (0, 0)


@pytest.mark.real_model
def test_estimate_of_real_models(smollm2_path, gemma_path, caplog):
    """SmolLM2 (30 layers, 3 KV heads) and Gemma 3 (sliding-window layers, a 262k vocabulary: the logits of a
    batch are most of its compute buffer) against llama.cpp at n_ctx 4096."""
    for path in (smollm2_path, gemma_path):
        est = estimate_memory(read_model_info(path).memory, 4096, 512)
        real = llama_cpp_buffers(path, 4096, 512, caplog)
        assert est.context / MIB == pytest.approx(real["kv"], abs=0.01)
        assert est.weights_ram / MIB == pytest.approx(real["model"], rel=0.06)  # Gemma: +5% CPU_REPACK copies
        assert est.compute_ram / MIB == pytest.approx(real["compute"], rel=0.08)


def test_gpu_split_follows_llama_cpp_layer_order(tmp_path, smol_tokenizer):
    """llama.cpp offloads the output layer first, then the last blocks; the token embeddings stay on the CPU
    (a tied output head is copied to the GPU); an offloaded block's KV cache is on the GPU."""
    path = write_tiny_model(tmp_path / "tiny.gguf", smol_tokenizer, n_layer=4)
    f = read_model_info(path).memory
    assert f.n_layer == 4 and not f.tied_output and f.output_bytes > 0
    cpu = estimate_memory(f, 2048, 512, 0)
    assert cpu.weights_ram == f.weight_bytes and cpu.vram == 0
    head_only = estimate_memory(f, 2048, 512, 1)
    assert head_only.weights_vram == f.output_bytes and head_only.context_vram == 0
    two = estimate_memory(f, 2048, 512, 3)  # output + blocks 2 and 3
    assert two.weights_vram == f.output_bytes + sum(f.layer_bytes[2:])
    assert two.context_vram == two.context_ram == cpu.context // 2
    full = estimate_memory(f, 2048, 512, 999)
    assert (full.gpu_layers, full.weights_ram, full.context_ram) == (5, f.input_bytes, 0)
    assert full.compute_vram > full.compute_ram > 0
    assert full.weights_ram + full.weights_vram == f.weight_bytes


def test_verdict_says_what_is_needed_and_warns_when_it_will_not_fit(tmp_path, smol_tokenizer):
    f = read_model_info(write_tiny_model(tmp_path / "tiny.gguf", smol_tokenizer)).memory
    est = estimate_memory(f, 4096, 512)
    ok = judge_memory(est, free_ram=16 << 30)
    assert ok.fits and not ok.warning
    assert ok.text.startswith("Needs about ") and "RAM (+ 2.0 MiB for the context at n_ctx 4096)" in ok.text
    assert ok.text.endswith("this machine has 16.0 GiB free")
    short = judge_memory(est, free_ram=est.ram - 1)
    assert not short.fits and "will probably not fit" in short.warning and "more RAM" in short.warning
    huge_ctx = judge_memory(estimate_memory(f, 524288, 512), free_ram=64 * MIB)  # the cache outweighs the rest
    assert "a smaller context (the cache alone is 256.0 MiB)" in huge_ctx.warning
    gpu = judge_memory(estimate_memory(f, 4096, 512, 999), free_ram=16 << 30, free_vram=1 << 20)
    assert " VRAM + " in gpu.text and "on the GPU" in gpu.text and "1.0 MiB VRAM and 16.0 GiB RAM free" in gpu.text
    assert not gpu.fits and "more VRAM" in gpu.warning and "fewer GPU layers" in gpu.warning
    unknown = judge_memory(est, free_ram=None)
    assert unknown.fits and "free" not in unknown.text


def test_facts_survive_the_library_cache(tmp_path, smol_tokenizer):
    """The library caches ModelInfo as JSON: the memory facts come back equal (no re-read of the file)."""
    info = read_model_info(write_tiny_model(tmp_path / "tiny.gguf", smol_tokenizer, n_head_kv=2))
    back = ModelInfo.from_json(json.loads(json.dumps(info.to_json())))
    assert back == info and isinstance(back.memory, MemoryFacts)
    old = {**info.to_json(), "memory": None}  # a row written before the field existed reads, without facts
    assert ModelInfo.from_json(old).memory is None and LibraryEntry(info.path, ModelInfo.from_json(old)).usable


def _spm_tokenizer(n: int) -> Tokenizer:
    """A small valid SentencePiece vocabulary (unk, bos, eos, 256 byte tokens, words): for a model made the same
    way here and on a GPU machine that has no tokenizer files."""
    toks = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    toks += [f"w{i}" for i in range(n - len(toks))]
    return Tokenizer({"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": toks,
                      "tokenizer.ggml.scores": [-float(i) for i in range(n)],
                      "tokenizer.ggml.token_type": [2, 3, 3] + [6] * 256 + [1] * (n - 259),
                      "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
                      "tokenizer.ggml.unknown_token_id": 0})


# llama.cpp's buffer lines (MiB) for that model (8 layers, n_embd 512, vocab 8000, F16) at n_ctx 4096 and n_batch
# 512 on an NVIDIA H200 with llama-cpp-python 0.3.36 built for CUDA (shared/tools/gpu/build.sh), 2026-12-02:
# n_gpu_layers -> (CUDA0 model, CPU KV, CUDA0 KV, CPU_Mapped model)
H200_BUFFERS = {1: (7.81, 64.0, 0.0, 55.66), 4: (22.83, 40.0, 24.0, 40.65), 999: (47.85, 0.0, 64.0, 7.81)}


@pytest.mark.parametrize("layers", sorted(H200_BUFFERS))
def test_gpu_split_matches_llama_cpp_on_a_gpu(tmp_path, layers):
    """The VRAM side to the hundredth of a MiB. On the CPU side llama.cpp maps the file span from the first to the
    last CPU tensor, so an offloaded output head lying between token_embd and the blocks is inside its
    CPU_Mapped figure; those pages are read once for the upload and are not kept: the estimate leaves them out."""
    path = write_tiny_model(tmp_path / "a.gguf", _spm_tokenizer(8000), n_embd=512, n_layer=8, n_head=8, n_ff=1024)
    f = read_model_info(path).memory
    est = estimate_memory(f, 4096, 512, layers)
    cuda_model, cpu_kv, cuda_kv, cpu_mapped = H200_BUFFERS[layers]
    assert est.weights_vram / MIB == pytest.approx(cuda_model, abs=0.01)
    assert (est.context_ram / MIB, est.context_vram / MIB) == (cpu_kv, cuda_kv)
    head_in_span = f.output_bytes if layers < f.n_layer + 1 else 0
    assert (est.weights_ram + head_in_span) / MIB == pytest.approx(cpu_mapped, abs=0.01)
