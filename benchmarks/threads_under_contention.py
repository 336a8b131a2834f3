"""Plain decoding on the CPU while another process comes and goes: fixed thread counts against `auto` (free_cores.py).

Each setting decodes for three phases of PHASE seconds: quiet, beside a busy loop (`python -c "while True: pass"`)
and quiet again. Prints tokens per second per phase, and for `auto` when its thread count changed.

    .venv/bin/python -m benchmarks.threads_under_contention [--model M] [--phase 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import llama_cpp  # noqa: F401  (before numpy)

from app.core.inference.free_cores import FreeCores
from app.core.inference.llama_backend import physical_cores
from app.core.inference.llama_runtime import LoadedModel, LoadOptions

DEFAULT_MODEL = ".cache/bench-models/SmolLM2-135M-Instruct.F16.gguf"


def run(model_path: str, threads: int, phase_s: float) -> dict[str, object]:
    """threads 0: auto."""
    free = FreeCores(physical_cores()) if threads == 0 else None
    with LoadedModel(model_path, LoadOptions(n_ctx=4096, n_threads=threads), free_cores=free) as model:
        model.decode(model.tokenize("Once upon a time"), logits_from=0)
        rates, changes, start = [], [], time.monotonic()
        for name in ("quiet", "busy core", "quiet again"):
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if name == "busy core" else None
            try:
                t0, n, seen = time.monotonic(), 0, model.threads
                while time.monotonic() - t0 < phase_s:
                    if model.n_past > model.n_ctx - 8:
                        model.truncate(8)
                    model.decode([model.argmax(-1)], logits_from=0)
                    n += 1
                    if model.threads != seen:
                        seen = model.threads
                        changes.append({"at_s": round(time.monotonic() - start, 2), "threads": seen, "phase": name})
                rates.append(round(n / (time.monotonic() - t0), 1))
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
    return {"threads": threads or "auto", "tok_s": dict(zip(("quiet", "busy core", "quiet again"), rates)),
            "changes": changes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--phase", type=float, default=5.0, help="seconds per phase")
    args = ap.parse_args()
    cores = physical_cores()
    for threads in sorted({cores, 1}, reverse=True) + [0]:
        print(json.dumps(run(args.model, threads, args.phase)))


if __name__ == "__main__":
    main()
