"""Every directory and file the app writes, resolved in one place.

platformdirs gives the per-OS locations (XDG on Linux, ~/Library on macOS, AppData on Windows). When SPECCHAT_HOME
is set, everything goes under it instead: tests (each gets its own), portable installs, and side-by-side profiles.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "SpecChat"
HOME_ENV = "SPECCHAT_HOME"


@dataclass(frozen=True)
class AppPaths:
    data: Path  # database, models
    config: Path  # settings.json
    cache: Path  # throwaway caches (starter-model download)
    logs: Path

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.json"

    @property
    def hf_token(self) -> Path:
        """The Hugging Face token entered in SpecChat (its own file, mode 0600: not in settings.json)."""
        return self.config / "hf_token"

    @property
    def header_cache(self) -> Path:
        """Headers of GGUF files still on the hub, fetched to check a draft or a main model before download."""
        return self.cache / "remote-headers"

    @property
    def database(self) -> Path:
        """The model library's metadata cache."""
        return self.data / "specchat.sqlite3"

    @property
    def chats(self) -> Path:
        """Conversations. Its own file: each SQLite file versions its schema in PRAGMA user_version, and the
        library cache rebuilds itself by bumping that number, which must never touch the chats."""
        return self.data / "chats.sqlite3"

    @property
    def models(self) -> Path:
        return self.data / "models"

    @property
    def wheels(self) -> Path:
        """PyPI wheels the starter model came from: kept, so fetching it again needs no network."""
        return self.cache / "wheels"

    @property
    def downloads(self) -> Path:
        # partial downloads live beside the models dir (same filesystem) so the final move is atomic
        return self.data / "downloads"

    def ensure(self) -> AppPaths:
        for d in (self.data, self.config, self.cache, self.logs, self.models):
            d.mkdir(parents=True, exist_ok=True)
        return self


def app_paths() -> AppPaths:
    """Resolved anew on each call so a changed SPECCHAT_HOME (as in tests) takes effect."""
    home = os.environ.get(HOME_ENV)
    if home:
        root = Path(home).expanduser().absolute()
        return AppPaths(root / "data", root / "config", root / "cache", root / "logs")
    return AppPaths(
        platformdirs.user_data_path(APP_NAME, appauthor=False),
        platformdirs.user_config_path(APP_NAME, appauthor=False),
        platformdirs.user_cache_path(APP_NAME, appauthor=False),
        platformdirs.user_log_path(APP_NAME, appauthor=False),
    )
