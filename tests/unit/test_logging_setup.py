"""The log file: written by every run from its first line, rotated, re-pointed when the data dir changes."""

from __future__ import annotations

import logging
import logging.handlers
import os
import subprocess
import sys
from pathlib import Path

from app.core.infra import logging_setup
from app.core.infra.logging_setup import LOG_NAME, log_file, setup_logging

REPO = Path(__file__).resolve().parents[2]


def test_a_command_writes_the_log_file(specchat_home: Path, tmp_path: Path):
    (tmp_path / "junk.gguf").write_bytes(b"not a model")
    run = subprocess.run([sys.executable, "-m", "app", "models", "list", "--dir", str(tmp_path)], cwd=REPO,
                         env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    text = (specchat_home / "logs" / LOG_NAME).read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert "INFO specchat.app: SpecChat" in first and "models list" in first  # the run's first line
    assert "cannot read" in text and "junk.gguf" in text  # the library's warning reached the file, not only stderr
    assert "scanned 1 models" in text


def test_file_follows_the_data_dir_and_rotates(tmp_path: Path, monkeypatch):
    root = logging.getLogger(logging_setup.ROOT)
    before = list(root.handlers)
    monkeypatch.setattr(logging_setup, "MAX_BYTES", 4000)
    try:
        assert setup_logging(log_dir=tmp_path / "a") == (tmp_path / "a" / LOG_NAME)
        assert setup_logging() == tmp_path / "a" / LOG_NAME  # a call without a folder keeps the file
        assert setup_logging(log_dir=tmp_path / "b") == tmp_path / "b" / LOG_NAME  # another profile
        assert log_file() == tmp_path / "b" / LOG_NAME
        files = [h for h in root.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]
        assert len(files) == 1
        log = logging.getLogger("specchat.test")
        for i in range(200):
            log.info("line %d of a long session %s", i, "x" * 40)
        names = sorted(p.name for p in (tmp_path / "b").iterdir())
        assert names == [LOG_NAME, f"{LOG_NAME}.1", f"{LOG_NAME}.2", f"{LOG_NAME}.3"]  # 3 backups, no more
        assert all(p.stat().st_size <= 4000 for p in (tmp_path / "b").iterdir())
        assert "line 199" in (tmp_path / "b" / LOG_NAME).read_text(encoding="utf-8")
    finally:
        for h in list(root.handlers):
            if h not in before:
                root.removeHandler(h)
                h.close()
        for h in before:
            if h not in root.handlers:
                root.addHandler(h)
