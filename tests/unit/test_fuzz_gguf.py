"""Seeded, bounded fuzzing of the reader, model info and compat (issue 15): every mutated file gives a verdict or
a GGUFError, within 1 s and 100 MB. 2 000 files from a small fixture; a few seconds in all."""

from __future__ import annotations

import random
import struct
import time
import tracemalloc
from pathlib import Path

import pytest

from app.core.models.compat import check_compatibility
from app.core.models.gguf_reader import GGUFError, read_header
from app.core.models.model_info import read_model_info
from tests.fixtures.model_factory import Tokenizer, write_tiny_model

N_FILES = 2000
SEED = 15
INTERESTING = [0, 1, 2, 7, 8, 9, 12, 13, 63, 64, 255, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**62, 2**63 - 1, 2**63,
               2**64 - 1]


def _seed_file(tmp: Path, smol: Tokenizer) -> Path:
    """A small but complete model: 300 real tokens, every tokenizer key, a chat template, two layers."""
    tok = smol.variant()
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
        if key in tok.kv:
            tok.kv[key] = tok.kv[key][:300]
    tok.kv.pop("tokenizer.ggml.merges", None)
    tok.kv["tokenizer.chat_template"] = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    return write_tiny_model(tmp / "seed.gguf", tok, n_embd=8, n_head=2, n_ff=16, n_layer=2)


def _mutate(data: bytes, header_end: int, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 8))):
        at = rng.randrange(4, header_end)
        kind = rng.randrange(6)
        if kind == 0:  # flip a bit
            b[at] ^= 1 << rng.randrange(8)
        elif kind == 1:  # an interesting 8-byte or 4-byte value (lengths, counts, types)
            fmt = rng.choice(("<Q", "<I"))
            v = rng.choice(INTERESTING) & (0xFFFFFFFF if fmt == "<I" else 0xFFFFFFFFFFFFFFFF)
            b[at:at + struct.calcsize(fmt)] = struct.pack(fmt, v)
        elif kind == 2:  # a random byte
            b[at] = rng.randrange(256)
        elif kind == 3:  # cut the file
            del b[at:]
            break
        elif kind == 4:  # drop or duplicate a stretch
            n = rng.randrange(1, 64)
            b[at:at] = b[at:at + n] if rng.random() < 0.5 else b""
            if rng.random() < 0.5:
                del b[at:at + n]
        else:  # a value type id swapped for another
            b[at:at + 4] = struct.pack("<I", rng.randrange(14))
    return bytes(b)


def test_fuzzed_files_give_a_verdict_or_a_gguf_error(tmp_path, smol_tokenizer):
    seed = _seed_file(tmp_path, smol_tokenizer)
    main = read_model_info(seed)
    data = seed.read_bytes()
    header_end = read_header(seed).data_offset
    rng = random.Random(SEED)
    outcomes = {"ok": 0, "error": 0}
    worst_s, worst_mb = 0.0, 0.0
    tracemalloc.start()
    try:
        for i in range(N_FILES):
            path = tmp_path / f"f{i}.gguf"
            path.write_bytes(_mutate(data, header_end, rng))
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            t0 = time.perf_counter()
            try:
                read_header(path)
                info = read_model_info(path)
                check_compatibility(main, info)
                check_compatibility(info, main)
                outcomes["ok"] += 1
            except GGUFError:
                outcomes["error"] += 1
            except Exception as e:  # noqa: BLE001 - the failure this test exists to find
                pytest.fail(f"mutation {i} (seed {SEED}) raised {type(e).__name__}: {e}")
            elapsed = time.perf_counter() - t0
            peak_mb = (tracemalloc.get_traced_memory()[1] - base) / 2**20
            assert elapsed < 1.0, f"mutation {i} took {elapsed:.2f} s"
            assert peak_mb < 100, f"mutation {i} allocated {peak_mb:.0f} MB"
            worst_s, worst_mb = max(worst_s, elapsed), max(worst_mb, peak_mb)
            path.unlink()
    finally:
        tracemalloc.stop()
    assert outcomes["ok"] > 50 and outcomes["error"] > 500, outcomes  # the mutations reach both verdicts
    print(f"fuzz: {outcomes}, slowest {worst_s * 1e3:.0f} ms, largest {worst_mb:.1f} MB")
