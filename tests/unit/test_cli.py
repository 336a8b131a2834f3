"""The CLI as a user runs it: a real subprocess, JSON on stdout, one clear line on stderr for errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "app", *args], cwd=REPO, capture_output=True, text=True,
                          env=os.environ.copy(), stdin=subprocess.DEVNULL, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_help():
    out = run("--help").stdout
    assert "models" in out and "opens the window" in out
    assert "compat" in run("models", "--help").stdout


def test_models_list_json(tmp_path, fixtures):
    d = tmp_path / "lib"
    d.mkdir()
    shutil.copy(fixtures["base"], d / "a.gguf")
    (d / "junk.gguf").write_text("junk")
    data = json.loads(run("models", "list", "--dir", str(d), "--json").stdout)
    by_name = {Path(m["path"]).name: m for m in data["models"]}
    assert by_name["a.gguf"]["name"] == "Tiny Main" and by_name["a.gguf"]["vocab"]["size"] == 49152
    assert by_name["a.gguf"]["role"] == "generative" and by_name["a.gguf"]["quantization"] == "F16"
    assert "not a GGUF model file" in by_name["junk.gguf"]["error"]
    text = run("models", "list", "--dir", str(d)).stdout
    assert "Tiny Main" in text and "unreadable" in text


def test_models_list_defaults_to_data_dir(specchat_home):
    out = run("models", "list").stdout
    assert f"no models in {specchat_home}" in out


def test_models_compat_json(tmp_path, fixtures):
    missing = tmp_path / "missing.gguf"
    proc = run("models", "compat", str(fixtures["base"]), str(fixtures["base_draft"]), str(fixtures["pad200"]),
               str(missing), "--json")
    data = json.loads(proc.stdout)
    assert data["main"] == str(fixtures["base"])
    ok, bad, err = data["candidates"]
    assert ok["path"] == str(fixtures["base_draft"]) and ok["compatible"] and ok["reasons"] == []
    assert not bad["compatible"] and bad["reasons"][0].startswith("vocabulary sizes differ by 200, limit 128")
    assert err == {"path": str(missing), "compatible": False, "error": f"{missing}: no such file"}


def test_models_compat_unreadable_main(tmp_path, fixtures):
    bad = tmp_path / "main.gguf"
    bad.write_bytes(b"GGUF" + b"\xff" * 40)
    proc = run("models", "compat", str(bad), str(fixtures["base"]), check=False)
    assert proc.returncode != 0 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot read main model: main.gguf: unknown GGUF version")


# what each command may not load: the offline GPU machine has no hub client, a headless one may lack Qt
# uvicorn and Starlette: the server stack, which `generate` and `bench` must not need (the GPU machine lacks it)
HEAVY = ("llama_cpp", "huggingface_hub", "httpx2", "PySide6", "uvicorn", "starlette")


def loaded_by(*args: str) -> set[str]:
    """The heavy packages a CLI command imports, run in a fresh interpreter."""
    code = ("import sys; from app import cli; rc = cli.main(sys.argv[1:]); "
            f"print('LOADED', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                          env=os.environ.copy(), stdin=subprocess.DEVNULL, timeout=300)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("LOADED"))
    return set(eval(line[len("LOADED "):]))


def test_engine_and_model_commands_import_no_hub_client_and_no_qt(tmp_path, fixtures):
    assert loaded_by("models", "compat", str(fixtures["base"]), str(fixtures["base"])) == set()
    assert loaded_by("models", "list", "--dir", str(tmp_path)) == set()
    gen = ("generate", "--model", str(fixtures["base"]), "--prompt", "hi", "--raw", "--max-tokens", "4", "--json")
    assert loaded_by(*gen) == {"llama_cpp"}
    bench = ("bench", "--model", str(fixtures["base"]), "--ngram", "2", "--prompt-file", str(REPO / "benchmarks"
             / "prompts" / "code.txt"), "--raw", "--max-tokens", "8", "--rounds", "1", "--draft-tokens", "2,auto",
             "--temp", "0.7", "--seeds", "2", "--json")
    assert loaded_by(*bench) == {"llama_cpp"}


def test_help_loads_nothing_heavy():
    code = ("import sys; from app import cli\ntry: cli.main(['--help'])\nexcept SystemExit: pass\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60).stdout
    assert out.strip().endswith("[]"), out


def test_bench_at_a_temperature_runs_every_seed_and_reports_no_identity(fixtures):
    prompt = REPO / "benchmarks" / "prompts" / "code.txt"
    report = json.loads(run("bench", "--model", str(fixtures["base"]), "--ngram", "2", "--prompt-file", str(prompt),
                            "--raw", "--max-tokens", "6", "--rounds", "2", "--draft-tokens", "2,auto",
                            "--temp", "0.7", "--seeds", "3", "--json").stdout)
    assert report["temperature"] == 0.7 and report["seeds"] == [1, 2, 3]
    assert len(report["plain"]["tokens_per_second_all"]) == 6  # 2 rounds x 3 seeds
    for r in report["runs"]:
        assert len(r["tokens_per_second_all"]) == 6 and "identical" not in r
    greedy = json.loads(run("bench", "--model", str(fixtures["base"]), "--ngram", "2", "--prompt-file", str(prompt),
                            "--raw", "--max-tokens", "6", "--rounds", "1", "--draft-tokens", "2", "--json").stdout)
    assert greedy["runs"][0]["identical"] is True and greedy["seeds"] == []
