"""The model library: recursive scan, SQLite metadata cache, split models, what is offered as main/draft."""

from __future__ import annotations

import os
import shutil
import sqlite3

from app.core.models.library import ModelLibrary
from app.core.infra.paths import app_paths
from tests.fixtures.model_factory import write_projector, write_tiny_model


def make_library(tmp_path, fixtures, names):
    lib_dir = tmp_path / "models"
    for n in names:
        sub = lib_dir / ("nested/deeper" if n == "pad100" else "")
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(fixtures[n], sub / f"{n}.gguf")
    return lib_dir


def test_scan_and_cache(tmp_path, fixtures):
    lib_dir = make_library(tmp_path, fixtures, ["base", "base_draft", "pad100", "spm"])
    (lib_dir / "broken.gguf").write_bytes(b"not a model at all, just text" * 10)
    (lib_dir / "notes.txt").write_text("ignored")
    db = app_paths().ensure().database
    lib = ModelLibrary([lib_dir], db)
    entries = lib.scan()
    assert sorted(os.path.basename(e.path) for e in entries) == [
        "base.gguf", "base_draft.gguf", "broken.gguf", "pad100.gguf", "spm.gguf"]
    assert lib.last_scan_reads == 5
    broken = lib.find(lib_dir / "broken.gguf")
    assert broken.info is None and "not a GGUF model file" in broken.error and not broken.usable

    again = ModelLibrary([lib_dir], db)
    assert again.scan() == entries and again.last_scan_reads == 0  # everything from the cache, errors included

    # a replaced file is read again; a deleted one leaves the cache
    shutil.copy(fixtures["tok100"], lib_dir / "base_draft.gguf")
    (lib_dir / "spm.gguf").unlink()
    third = ModelLibrary([lib_dir], db)
    third.scan()
    assert third.last_scan_reads == 1
    assert third.find(lib_dir / "base_draft.gguf").info.name == "Token 100 changed"
    with sqlite3.connect(db) as con:
        paths = {r[0] for r in con.execute("SELECT path FROM gguf_cache")}
    assert str(lib_dir / "spm.gguf") not in paths and len(paths) == 4


def test_draft_candidates(tmp_path, fixtures):
    lib_dir = make_library(tmp_path, fixtures, ["base", "base_draft", "pad100", "pad200", "tok100", "spm", "qwen2_arch"])
    write_projector(lib_dir / "mmproj-tiny.gguf")
    lib = ModelLibrary([lib_dir], app_paths().ensure().database)
    lib.scan()
    main = lib.find(lib_dir / "base.gguf").info
    fits, others = lib.draft_candidates(main)
    assert {os.path.basename(c.entry.path) for c in fits} == {"base_draft.gguf", "pad100.gguf", "qwen2_arch.gguf"}
    assert fits[0].entry.info.name == "Tiny Draft"  # smallest first
    why = {os.path.basename(c.entry.path): c.result.reasons for c in others}
    assert set(why) == {"pad200.gguf", "tok100.gguf", "spm.gguf"}  # projector never listed, main never listed
    assert why["pad200.gguf"][0].startswith("vocabulary sizes differ by 200")


def test_split_and_missing_parts(tmp_path, smol_tokenizer):
    lib_dir = tmp_path / "models"
    write_tiny_model(lib_dir / "big.gguf", smol_tokenizer, split_max_tensors=8)
    write_tiny_model(lib_dir / "half.gguf", smol_tokenizer, split_max_tensors=8)
    (lib_dir / "half-00003-of-00003.gguf").unlink()
    (lib_dir / "orphan-00002-of-00002.gguf").write_bytes((lib_dir / "big-00002-of-00003.gguf").read_bytes())
    lib = ModelLibrary([lib_dir], app_paths().ensure().database)
    entries = {os.path.basename(e.path): e for e in lib.scan()}
    assert set(entries) == {"big-00001-of-00003.gguf", "half-00001-of-00003.gguf", "orphan-00001-of-00002.gguf"}
    assert entries["big-00001-of-00003.gguf"].usable
    assert "missing half-00003-of-00003.gguf" in entries["half-00001-of-00003.gguf"].error
    assert "part 1 is missing" in entries["orphan-00001-of-00002.gguf"].error


def test_symlink_loop_and_missing_dir(tmp_path, fixtures):
    lib_dir = make_library(tmp_path, fixtures, ["base"])
    (lib_dir / "loop").symlink_to(lib_dir)
    lib = ModelLibrary([lib_dir, tmp_path / "does-not-exist"], app_paths().ensure().database)
    assert [os.path.basename(e.path) for e in lib.scan()] == ["base.gguf"]
