"""Which files may be a main model: broken ones and non-chat GGUFs stay in the library with their reason, are
never offered, and never reach llama.cpp (so a loaded model is never unloaded for them)."""

from __future__ import annotations

import os
import shutil

import gguf
import pytest

from app.core.inference.engine import Engine
from app.core.inference.llama_runtime import LoadOptions, ModelLoadError
from app.core.infra.paths import app_paths
from app.core.models.labels import entry_label
from app.core.models.library import ModelLibrary, entry_files
from app.core.models.usability import unreadable
from tests.fixtures.model_factory import sdist_vocab, write_projector, write_tiny_model


@pytest.fixture
def odd_library(tmp_path, fixtures, model_cache, smol_tokenizer):
    lib_dir = tmp_path / "models"
    lib_dir.mkdir()
    shutil.copy(fixtures["base"], lib_dir / "chat.gguf")
    shutil.copy(sdist_vocab(model_cache, "llama-spm"), lib_dir / "vocab-only.gguf")
    write_projector(lib_dir / "mmproj.gguf")
    write_tiny_model(lib_dir / "embed.gguf", smol_tokenizer, name="Tiny Embed",
                     extra_kv={"llama.pooling_type": (1, gguf.GGUFValueType.UINT32)})
    data = (lib_dir / "chat.gguf").read_bytes()
    (lib_dir / "truncated.gguf").write_bytes(data[: len(data) // 2])  # an interrupted download
    return lib_dir


def test_broken_and_non_chat_files_are_kept_with_their_reason(odd_library):
    lib = ModelLibrary([odd_library], app_paths().ensure().database)
    lib.scan()
    assert [os.path.basename(e.path) for e in lib.usable()] == ["chat.gguf"]
    problems = {os.path.basename(e.path): e.problem for e in lib.unusable()}
    assert set(problems) == {"vocab-only.gguf", "mmproj.gguf", "embed.gguf", "truncated.gguf"}
    assert problems["vocab-only.gguf"].short == "tokenizer only" and not problems["vocab-only.gguf"].broken
    assert "0 parameters" in problems["vocab-only.gguf"].reason
    assert problems["mmproj.gguf"].short == "vision projector"
    assert problems["embed.gguf"].short == "embedding model"
    truncated = problems["truncated.gguf"]
    assert truncated.broken and truncated.short == "incomplete download"
    assert "its tensors need" in truncated.reason and "(an incomplete download?)" in truncated.reason
    assert entry_label(lib.find(odd_library / "truncated.gguf")) == "truncated.gguf · incomplete download"
    # what `models list` shows too, from the cache the second time
    again = ModelLibrary([odd_library], app_paths().ensure().database)
    again.scan()
    assert again.last_scan_reads == 0
    assert {os.path.basename(e.path): e.problem for e in again.unusable()} == problems


def test_no_draft_candidate_is_a_non_chat_file(odd_library, smol_tokenizer):
    lib = ModelLibrary([odd_library], app_paths().ensure().database)
    lib.scan()
    fits, others = lib.draft_candidates(lib.find(odd_library / "chat.gguf").info)
    listed = {os.path.basename(c.entry.path) for c in fits + others}
    assert listed.isdisjoint({"vocab-only.gguf", "mmproj.gguf", "embed.gguf", "truncated.gguf"})


def test_a_vocab_only_main_is_refused_before_the_loaded_model_goes(odd_library):
    engine = Engine()
    loaded = engine.load_main(odd_library / "chat.gguf", LoadOptions(n_ctx=256))
    try:
        with pytest.raises(ModelLoadError, match="holds only a tokenizer"):
            engine.load_main(odd_library / "vocab-only.gguf", LoadOptions(n_ctx=256))
        assert engine.main is loaded  # still loaded and usable
        assert engine.main.tokenize("hello")
    finally:
        engine.unload_main()


@pytest.mark.parametrize("error, short", [
    ("x.gguf: file is truncated: its tensors need 98,362,432 bytes but the file has 50,000,000 (an incomplete "
     "download?)", "incomplete download"),
    ("x.gguf: not a GGUF model file (it starts with b'junk', not b'GGUF')", "not a GGUF file"),
    ("x-00001-of-00003.gguf: split model is incomplete, missing x-00002-of-00003.gguf (1 of 3 parts)",
     "split model: parts missing"),
    ("x.gguf: llama.block_count is 600; llama.cpp supports 1 to 512 layers — llama.cpp cannot load this file "
     "safely", "unsupported by llama.cpp"),
    ("x.gguf: something nobody foresaw", "cannot be read"),
])
def test_reader_errors_get_a_short_name(error, short):
    problem = unreadable(error)
    assert (problem.short, problem.reason, problem.broken) == (short, error, True)


def test_entry_files_lists_what_is_left_of_a_split_model(tmp_path, fixtures):
    write_tiny_model(tmp_path / "split.gguf", None, split_max_tensors=6)
    parts = sorted(tmp_path.glob("split-*-of-*.gguf"))
    assert len(parts) >= 3
    parts[1].unlink()
    lib = ModelLibrary([tmp_path], app_paths().ensure().database)
    lib.scan()
    (entry,) = lib.unusable()
    assert entry.problem.short == "split model: parts missing"
    assert entry_files(entry) == [parts[0], *parts[2:]]
