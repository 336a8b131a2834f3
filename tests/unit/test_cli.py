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
