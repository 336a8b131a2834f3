"""The one settings schema: typed dataclasses with defaults, a version field, upgrades between versions.

Stored as JSON in the config dir. Loading never fails the app: an unreadable file is set aside (settings.json.bad-<time>)
and defaults are used; a value of the wrong type falls back to its default with a warning; unknown keys are
dropped. Saving is atomic (write a temp file, then rename), so a crash mid-save keeps the old settings.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.infra.damaged_files import set_aside
from app.core.infra.paths import app_paths

log = logging.getLogger("specchat.settings")

SETTINGS_VERSION = 1


@dataclass
class LibrarySettings:
    extra_model_dirs: list[str] = field(default_factory=list)  # scanned besides the data dir's models/


@dataclass
class RuntimeSettings:
    n_gpu_layers: int = -1  # -1: all layers when llama.cpp has a GPU backend, else CPU
    n_threads: int = 0  # 0: physical cores (llama-cpp-python's default of cpu_count//2 halves speed on 2 cores)
    n_ctx: int = 4096
    rpc_servers: list[str] = field(default_factory=list)  # host:port of rpc-servers for the main model's layers
    rpc_split: str = ""  # "" = by free memory; else weights "here,server1,.." (app/core/inference/rpc.py)


@dataclass
class GenerationSettings:
    temperature: float = 0.7
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    max_tokens: int = 1024
    seed: int = -1  # -1: a new seed per answer


@dataclass
class SpeculativeSettings:
    mode: str = "draft"  # "off" | "draft" | "ngram" (never both)
    draft_tokens: int = 4
    auto_draft_tokens: bool = True  # adapt k to measured acceptance and cost
    min_draft_tokens: int = 0
    p_min: float = 0.0  # stop drafting when the draft's top probability falls below this
    ngram_size: int = 3
    draft_gpu_layers: int = -1
    visualize_accepted: bool = True
    default_drafter: bool = True  # attach the best compatible draft when the user never chose one
    draft_for_main: dict[str, str] = field(default_factory=dict)  # main model path -> chosen draft path ("" = none)


@dataclass
class UISettings:
    window_geometry: str = ""  # base64 of QWidget.saveGeometry()
    last_main_model: str = ""
    reload_last_model: bool = True  # load last_main_model (and its chosen draft) when the app starts
    theme: str = "system"  # "system" | "light" | "dark" (View > Theme)


@dataclass
class Settings:
    version: int = SETTINGS_VERSION
    library: LibrarySettings = field(default_factory=LibrarySettings)
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    speculative: SpeculativeSettings = field(default_factory=SpeculativeSettings)
    ui: UISettings = field(default_factory=UISettings)


# MIGRATIONS[n] turns a version-n dict into a version-(n+1) dict. Add one whenever a field is renamed or its
# meaning changes, and bump SETTINGS_VERSION.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def _coerce(value: Any, tp: Any, default: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    ok: bool
    if dataclasses.is_dataclass(tp):
        return _from_dict(tp, value if isinstance(value, dict) else {}, where)
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif origin is list:
        (item,) = typing.get_args(tp)
        ok = isinstance(value, list) and all(isinstance(v, item) for v in value)
    elif origin is dict:
        k, v = typing.get_args(tp)
        ok = isinstance(value, dict) and all(isinstance(a, k) and isinstance(b, v) for a, b in value.items())
    else:
        ok = isinstance(value, tp)
    if ok:
        return value
    log.warning("settings: %s = %r is not a %s; using the default %r", where, value, tp, default)
    return default


def _from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        kwargs[f.name] = _coerce(data[f.name], hints[f.name], default, f"{where}{f.name}")
    unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        log.warning("settings: ignoring unknown keys %s", sorted(f"{where}{k}" for k in unknown))
    return cls(**kwargs)


def settings_from_dict(data: dict[str, Any]) -> Settings:
    version = data.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        version = 0  # a negative version would run the upgrade loop for ever (-10**12 steps)
    if version > SETTINGS_VERSION:
        log.warning("settings: written by a newer SpecChat (version %d > %d); reading what this version knows",
                    version, SETTINGS_VERSION)
    while version < SETTINGS_VERSION:
        if version in MIGRATIONS:
            data = MIGRATIONS[version](dict(data))
            log.info("settings: upgraded from version %d to %d", version, version + 1)
        version += 1
    data = {**data, "version": SETTINGS_VERSION}
    return _from_dict(Settings, data)


MAX_SETTINGS_BYTES = 4 << 20  # a real settings file is a few KB; anything near this is not ours


def load_settings(path: Path | None = None) -> Settings:
    """The settings; a file that cannot be read as settings (not UTF-8, not JSON, nested thousands deep, a folder,
    huge) is set aside as settings.json.bad-<time> and the defaults are used."""
    path = path or app_paths().settings_file
    try:
        if path.is_file() and path.stat().st_size > MAX_SETTINGS_BYTES:
            raise ValueError(f"{path.stat().st_size} bytes")
        raw = path.read_text(encoding="utf-8")
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("top level is not an object")
        return settings_from_dict(data)
    except FileNotFoundError:
        return Settings()
    except (ValueError, RecursionError, OSError, TypeError) as e:  # UnicodeDecodeError is a ValueError
        try:
            set_aside(path, f"settings file {path.name} was unreadable ({type(e).__name__}: {str(e)[:120]})")
        except OSError as err:
            log.error("settings: %s is unreadable (%s) and cannot be moved aside (%s)", path, e, err)
        return Settings()


def save_settings(settings: Settings, path: Path | None = None) -> None:
    path = path or app_paths().settings_file
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(dataclasses.asdict(settings), f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
