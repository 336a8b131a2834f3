"""Logging for every subsystem: one `specchat.<subsystem>` logger each, configured here once."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

ROOT = "specchat"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbose: bool = False, log_dir: Path | None = None) -> None:
    """stderr gets warnings (everything with -v or SPECCHAT_DEBUG=1); log_dir gets a rotating file at INFO."""
    root = logging.getLogger(ROOT)
    if getattr(root, "_specchat_configured", False):
        return
    root.setLevel(logging.DEBUG)
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if verbose or os.environ.get("SPECCHAT_DEBUG") else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(console)
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        fh = logging.handlers.RotatingFileHandler(log_dir / "specchat.log", maxBytes=2_000_000, backupCount=3,
                                                  encoding="utf-8")
        fh.setLevel(logging.INFO)
        fh.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(fh)
    root._specchat_configured = True  # type: ignore[attr-defined]
