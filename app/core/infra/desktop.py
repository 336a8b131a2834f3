"""Desktop integration for the current user (freedesktop.org): SpecChat in the application menu, opened by
double-click. Installs the .desktop entry (Exec = this install's launcher, absolute), the icon into the hicolor
theme, and the AppStream metainfo, under $XDG_DATA_HOME (~/.local/share); `uninstall` removes exactly those."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from app import APP_ID
from app.core.infra.resources import resource_path

log = logging.getLogger("specchat.desktop")


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def launcher_command() -> str:
    """How to start this very install: the bundle's executable, the gui-script beside this Python (the
    README's .venv/bin/specchat), or this Python with -m app."""
    if getattr(sys, "frozen", False):
        return shlex.quote(sys.executable)
    script = Path(sys.executable).parent / "specchat"
    if script.is_file() and os.access(script, os.X_OK):
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m app"


def installed_files(root: Path) -> dict[str, Path]:
    return {
        "desktop": root / "applications" / f"{APP_ID}.desktop",
        "icon": root / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
        "metainfo": root / "metainfo" / f"{APP_ID}.metainfo.xml",
    }


def install(root: Path | None = None, command: str | None = None) -> dict[str, Path]:
    root = root or data_home()
    files = installed_files(root)
    template = resource_path(f"packaging/{APP_ID}.desktop").read_text(encoding="utf-8")
    entry = template.replace("@EXEC@", command or launcher_command())
    for p in files.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    tmp = files["desktop"].with_suffix(".tmp")
    tmp.write_text(entry, encoding="utf-8")
    os.chmod(tmp, 0o755)  # some file managers only launch executable .desktop files
    os.replace(tmp, files["desktop"])
    shutil.copyfile(resource_path("resources/specchat.svg"), files["icon"])
    shutil.copyfile(resource_path(f"packaging/{APP_ID}.metainfo.xml"), files["metainfo"])
    _refresh_caches(root)
    log.info("desktop entry installed: %s", files["desktop"])
    return files


def uninstall(root: Path | None = None) -> list[Path]:
    removed = [p for p in installed_files(root or data_home()).values() if p.exists()]
    for p in removed:
        p.unlink()
    _refresh_caches(root or data_home())
    return removed


def _refresh_caches(root: Path) -> None:
    """Menus pick new entries up by themselves on most desktops; these make it immediate where they exist."""
    for cmd in (["update-desktop-database", str(root / "applications")],
                ["gtk-update-icon-cache", "-q", "-t", str(root / "icons" / "hicolor")]):
        if shutil.which(cmd[0]):
            subprocess.run(cmd, capture_output=True, check=False, timeout=30)
