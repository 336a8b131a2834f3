"""The CPU weight buffer types the loader may use (app/core/inference/cpu_buffers.py), checked the way a user
meets them: `python -m app generate` in a process of its own (the decision is made once per process), reading
llama.cpp's own load log for where the weights went. On an AMX Xeon the default run crashed with SIGSEGV in
ggml_backend_amx_mul_mat before the fix (issue 22); here it must answer, with no weight in an AMX buffer."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.inference import cpu_buffers

REPO = Path(__file__).resolve().parents[2]


def generate(model: Path, prompt: str = "Hello", max_tokens: int = 20, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SPECCHAT_CPU_")}
    full_env.update(env)
    return subprocess.run([sys.executable, "-m", "app", "-v", "generate", "--model", str(model), "--prompt", prompt,
                           "--max-tokens", str(max_tokens), "--temp", "0"],
                          cwd=REPO, env=full_env, capture_output=True, text=True, timeout=300)


def buffer_line(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if "CPU features:" in line)


def model_buffers(stderr: str) -> set[str]:
    """The buffer types llama.cpp put weights in ("CPU_REPACK model buffer size = ..." lines)."""
    return set(re.findall(r"(\S+) model buffer size", stderr))


def test_the_starter_model_answers_in_a_process_of_its_own(smollm2_path: Path):
    run = generate(smollm2_path)
    assert run.returncode == 0, run.stderr[-2000:]  # -11 (SIGSEGV) on an AMX Xeon before the fix
    assert run.stdout.strip()  # it said something
    assert "20 tokens" in run.stderr
    line = buffer_line(run.stderr)  # the startup line: which CPU features and buffer types are in use
    assert "weight buffer types:" in line
    assert not any(b.startswith("AMX") for b in model_buffers(run.stderr))


def test_repacked_weights_are_used_and_can_be_left_out_by_name(gemma_path: Path):
    """Q4_K weights go to CPU_REPACK by default (faster decoding, docs/benchmarks.md); SPECCHAT_CPU_BUFT_SKIP
    removes it from llama.cpp's list the same way AMX is removed on AMX CPUs, and the model still answers."""
    default = generate(gemma_path, max_tokens=8)
    assert default.returncode == 0, default.stderr[-2000:]
    features = buffer_line(default.stderr)
    if "REPACK" not in features:
        pytest.skip(f"this llama.cpp build has no CPU repack kernels: {features}")
    assert "CPU_REPACK" in model_buffers(default.stderr)
    assert not any(b.startswith("AMX") for b in model_buffers(default.stderr))

    skipped = generate(gemma_path, max_tokens=8, SPECCHAT_CPU_BUFT_SKIP="cpu_repack")
    assert skipped.returncode == 0, skipped.stderr[-2000:]
    assert "CPU_REPACK left out: SPECCHAT_CPU_BUFT_SKIP" in buffer_line(skipped.stderr)
    assert "CPU_REPACK" not in model_buffers(skipped.stderr) and skipped.stdout.strip()

    off = generate(gemma_path, max_tokens=8, SPECCHAT_CPU_REPACK="0")
    assert off.returncode == 0, off.stderr[-2000:]
    assert "weight buffer types: none (plain CPU buffers) (SPECCHAT_CPU_REPACK=0)" in buffer_line(off.stderr)
    assert model_buffers(off.stderr) <= {"CPU_Mapped", "CPU"}


def test_this_process_decided_once_and_never_kept_amx():
    """The tests' own process (the engine tests load models here): AMX is never among the buffer types in use,
    whatever the CPU, and the decision does not change between calls."""
    import llama_cpp

    llama_cpp.llama_backend_init()
    first = cpu_buffers.decide()
    assert cpu_buffers.decide() is first
    assert not any(name.upper().startswith("AMX") for name in first.in_use)
    if first.amx_cpu and os.environ.get("SPECCHAT_CPU_AMX") != "1":
        assert "AMX" in " ".join(first.offered) or not first.use_extra_bufts
    assert first.features == cpu_buffers.system_features()
