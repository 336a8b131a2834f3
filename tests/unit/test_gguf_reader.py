"""Our streaming GGUF reader: the same facts as gguf.GGUFReader on real files, and clear errors on bad ones."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import gguf
import pytest

from app.core.models.gguf_reader import GGUFArray, GGUFError, read_header


def assert_same_as_gguf_reader(path: Path) -> None:
    ref = gguf.GGUFReader(path)
    ours = read_header(path)
    keys = [k for k in ref.fields if not k.startswith("GGUF.")]
    assert sorted(keys) == sorted(ours.metadata)
    for key in keys:
        expected = ref.fields[key].contents()
        got = ours.array_values(key) if isinstance(ours.metadata[key], (GGUFArray, list)) else ours.metadata[key]
        if isinstance(expected, float):
            assert got == pytest.approx(expected, rel=1e-6), key
        elif isinstance(expected, list) and expected and isinstance(expected[0], float):
            assert got == pytest.approx(expected, rel=1e-6), key
        else:
            assert got == expected, key
    assert len(ref.tensors) == len(ours.tensors)
    for r, t in zip(ref.tensors, ours.tensors):
        assert (r.name, tuple(int(x) for x in r.shape), int(r.tensor_type), int(r.n_elements)) == (
            t.name, t.shape, t.ggml_type, t.n_elements)
        assert r.data_offset == ours.data_offset + t.offset


def test_same_as_gguf_reader_on_fixture(fixtures):
    assert_same_as_gguf_reader(fixtures["base"])
    assert_same_as_gguf_reader(fixtures["spm"])


@pytest.mark.real_model
def test_same_as_gguf_reader_on_smollm2(smollm2_path):
    assert_same_as_gguf_reader(smollm2_path)


@pytest.mark.real_model
def test_same_as_gguf_reader_on_gemma(gemma_path):
    assert_same_as_gguf_reader(gemma_path)  # GGUFReader takes ~12 s on this 262k vocabulary; ours ~20 ms


# ---- bad files -------------------------------------------------------------------------------------------------

def gguf_bytes(version: int = 3, kvs: bytes = b"", n_kv: int = 0, n_tensors: int = 0) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv) + kvs


def kv_string_array(key: bytes, count: int, items: bytes) -> bytes:
    return struct.pack("<Q", len(key)) + key + struct.pack("<IIQ", 9, 8, count) + items


def error_for(tmp_path: Path, data: bytes) -> str:
    p = tmp_path / "bad.gguf"
    p.write_bytes(data)
    with pytest.raises(GGUFError) as e:
        read_header(p)
    return str(e.value)


def test_not_gguf(tmp_path):
    assert "not a GGUF model file" in error_for(tmp_path, b"PK\x03\x04" + b"\0" * 100)
    assert "only 0 bytes" in error_for(tmp_path, b"")


def test_versions(tmp_path):
    assert "unknown GGUF version 4" in error_for(tmp_path, gguf_bytes(4) + b"\0" * 8)
    assert "version 1 is too old" in error_for(tmp_path, gguf_bytes(1) + b"\0" * 8)
    big_endian = b"GGUF" + struct.pack(">IQQ", 3, 0, 0)
    assert "big-endian" in error_for(tmp_path, big_endian)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(GGUFError, match="no such file"):
        read_header(tmp_path / "nope.gguf")
    with pytest.raises(GGUFError, match="is a directory"):
        read_header(tmp_path)


def test_absurd_counts_fail_before_allocating(tmp_path):
    tracemalloc.start()
    try:
        msg = error_for(tmp_path, gguf_bytes(n_kv=2**62, n_tensors=2**40))
        assert "more than a 24-byte file can hold" in msg
        # an array claiming 2^60 strings in a tiny file
        msg = error_for(tmp_path, gguf_bytes(kvs=kv_string_array(b"tokens", 2**60, b"\0" * 16), n_kv=1))
        assert "truncated or corrupt" in msg and "tokens" in msg
        # one string whose length runs past the end of the file
        msg = error_for(tmp_path, gguf_bytes(kvs=kv_string_array(b"tokens", 1, struct.pack("<Q", 2**50)), n_kv=1))
        assert "runs past the end of the file" in msg
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_every_truncation_of_a_real_header_is_a_clear_error(fixtures, tmp_path):
    data = fixtures["spm"].read_bytes()  # tokenizer-only: the whole file is header
    full = read_header(fixtures["spm"])
    header_end = full.tensors and full.data_offset or len(data)
    cut = tmp_path / "cut.gguf"
    for n in sorted({24, 25, 31, 40, 100, 1000, header_end // 3, header_end // 2, header_end - 1}):
        cut.write_bytes(data[:n])
        with pytest.raises(GGUFError, match="truncated|corrupt|not a GGUF"):
            read_header(cut)


def test_truncated_tensor_data(fixtures, tmp_path):
    data = fixtures["base"].read_bytes()
    cut = tmp_path / "partial-download.gguf"
    cut.write_bytes(data[: len(data) - 1000])
    with pytest.raises(GGUFError, match="file is truncated: its tensors need .*incomplete download"):
        read_header(cut)


def test_bad_alignment_and_value_type(tmp_path):
    key = b"general.alignment"
    kv = struct.pack("<Q", len(key)) + key + struct.pack("<II", 4, 3)
    assert "not a power of two" in error_for(tmp_path, gguf_bytes(kvs=kv, n_kv=1) + b"\0" * 16)
    kv = struct.pack("<Q", 3) + b"key" + struct.pack("<I", 99)
    assert "unknown value type 99" in error_for(tmp_path, gguf_bytes(kvs=kv, n_kv=1) + b"\0" * 16)
