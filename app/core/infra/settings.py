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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.core.infra.damaged_files import set_aside
from app.core.infra.paths import app_paths
from app.core.infra.requests import (CHAT_SAMPLING, CHAT_SPECULATION, OVERFLOW_POLICIES, LoadOptions, SamplerParams,
                                    SpeculationConfig)

log = logging.getLogger("specchat.settings")

SETTINGS_VERSION = 2


@dataclass
class LibrarySettings:
    extra_model_dirs: list[str] = field(default_factory=list)  # scanned besides the data dir's models/


@dataclass
class GenerationSettings:
    max_tokens: int = 1024  # the answer's length limit (sampling has its own section: SamplerParams)
    # a chat longer than the context: "stop" | "truncate_middle" | "rolling_window" (app/core/inference/context_fit)
    overflow: str = "stop"
    default_system_prompt: str = ""  # what a new chat's system prompt starts as (Settings window)

    def __post_init__(self) -> None:
        if self.overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"overflow must be one of {', '.join(OVERFLOW_POLICIES)}, not {self.overflow!r}")


@dataclass
class DraftSettings:
    """The window's draft-model choices (how drafts speculate is the `speculation` section)."""

    gpu_layers: int = -1  # the draft's n_gpu_layers; its other load options are the main model's
    default_drafter: bool = True  # attach the best compatible draft when the user never chose one
    draft_for_main: dict[str, str] = field(default_factory=dict)  # main model path -> chosen draft path ("" = none)


@dataclass
class UISettings:
    window_geometry: str = ""  # base64 of QWidget.saveGeometry()
    last_main_model: str = ""
    last_chat_id: int = 0  # the chat shown at exit, opened again at start (0: none)
    reload_last_model: bool = True  # load last_main_model (and its chosen draft) when the app starts
    visualize_accepted: bool = True  # accepted draft tokens highlighted in answers
    theme: str = "system"  # "system" | "light" | "dark" (View > Theme)
    show_sidebar: bool = True  # the model sidebar on the right (View > Sidebar, Ctrl+B)
    show_chat_list: bool = True  # the chat list on the left (View > Chat list, Ctrl+Shift+B)
    font_size: int = 0  # points of the window's text (0: the system's; Settings window)


@dataclass
class ServerSettings:
    """The window's local OpenAI-compatible server (app/core/server): where it listens and whether it runs."""

    host: str = "127.0.0.1"  # this machine only; another address makes the server window warn without a key
    port: int = 1234  # LM Studio's
    api_key: str = ""  # "": none asked for
    enabled: bool = False  # on at the next start when it was on at the last one


@dataclass
class ModelPreset:
    """What the sidebar holds for one main model (LM Studio's per-model settings): saved as it is edited while the
    model is loaded, and put back when that model loads again."""

    sampling: SamplerParams = CHAT_SAMPLING
    speculation: SpeculationConfig = CHAT_SPECULATION
    max_tokens: int = 1024
    n_ctx: int = 4096
    system_prompt: str = ""  # a new chat's system prompt while this model is loaded ("": Settings' default)


@dataclass
class Settings:
    """Sections that are engine requests are the engine's own dataclasses (app/core/infra/requests.py)."""

    version: int = SETTINGS_VERSION
    library: LibrarySettings = field(default_factory=LibrarySettings)
    runtime: LoadOptions = field(default_factory=LoadOptions)  # the main model's; the draft's differ in GPU layers
    sampling: SamplerParams = CHAT_SAMPLING
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    speculation: SpeculationConfig = CHAT_SPECULATION
    drafts: DraftSettings = field(default_factory=DraftSettings)
    ui: UISettings = field(default_factory=UISettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    presets: dict[str, ModelPreset] = field(default_factory=dict)  # main model path -> its settings

    def draft_load_options(self) -> LoadOptions:
        return replace(self.runtime, n_gpu_layers=self.drafts.gpu_layers)  # Engine.load_draft keeps it local


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had its own copies of the engine's fields (generation.* with max_tokens, speculative.* with
    auto_draft_tokens / min_draft_tokens / draft_gpu_layers): each moves to the section that now holds it."""
    def section(name: str) -> dict[str, Any]:
        value = data.pop(name, {})
        return value if isinstance(value, dict) else {}

    gen, spec, ui = section("generation"), section("speculative"), section("ui")
    for name in ("sampling", "speculation", "drafts"):
        if name in data:
            data[f"_{name}"] = data.pop(name)
    data["sampling"] = {k: v for k, v in gen.items() if k != "max_tokens"}
    data["generation"] = {k: v for k, v in gen.items() if k == "max_tokens"}
    renamed = {"auto_draft_tokens": "auto", "min_draft_tokens": "min_draft"}
    data["speculation"] = {renamed.get(k, k): v for k, v in spec.items()
                           if k in ("mode", "draft_tokens", "auto_draft_tokens", "min_draft_tokens", "p_min",
                                    "ngram_size")}
    data["drafts"] = {("gpu_layers" if k == "draft_gpu_layers" else k): v for k, v in spec.items()
                      if k in ("draft_gpu_layers", "default_drafter", "draft_for_main")}
    if "visualize_accepted" in spec:
        ui["visualize_accepted"] = spec["visualize_accepted"]
    data["ui"] = ui
    for name in ("sampling", "speculation", "drafts"):  # a hand-written file may have used the new names already
        if isinstance(data.get(f"_{name}"), dict):
            data[name] = {**data[name], **data.pop(f"_{name}")}
    return data


# MIGRATIONS[n] turns a version-n dict into a version-(n+1) dict. Add one whenever a field is renamed or its
# meaning changes, and bump SETTINGS_VERSION.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def _coerce(value: Any, tp: Any, default: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    ok: bool
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        try:
            return _from_dict(tp, value if isinstance(value, dict) else {}, f"{where}.", default)
        except ValueError as e:  # each field had its type, but together they are refused (SpeculationConfig)
            log.warning("settings: %s: %s; using the defaults of that section", where, e)
            return default
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif origin is tuple:  # JSON has lists: tuple[X, ...] fields come back as tuples
        (item, *_rest) = typing.get_args(tp)
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, item) or item is float and
                                                      isinstance(v, int) and not isinstance(v, bool) for v in value)
        value = tuple(float(v) if item is float else v for v in value) if ok else value
    elif origin is list:
        (item,) = typing.get_args(tp)
        ok = isinstance(value, list) and all(isinstance(v, item) for v in value)
    elif origin is dict and dataclasses.is_dataclass(typing.get_args(tp)[1]):  # a section per key (presets)
        k, v = typing.get_args(tp)
        ok = isinstance(value, dict)
        if ok:
            value = {a: _coerce(b, v, v(), f"{where}[{a!r}]") for a, b in value.items() if isinstance(a, k)}
    elif origin is dict:
        k, v = typing.get_args(tp)
        ok = isinstance(value, dict) and all(isinstance(a, k) and isinstance(b, v) for a, b in value.items())
    else:
        ok = isinstance(value, tp)
    if ok:
        return value
    log.warning("settings: %s = %r is not a %s; using the default %r", where, value, tp, default)
    return default


def _from_dict(cls: type, data: dict[str, Any], where: str = "", base: Any = None) -> Any:
    """`base`: the instance whose values stand where the file says nothing (a section's own default)."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        if base is not None:
            default = getattr(base, f.name)
        elif f.default is not dataclasses.MISSING:
            default = f.default
        else:  # every field of a settings section has a default or a factory
            default = f.default_factory() if callable(f.default_factory) else None
        kwargs[f.name] = _coerce(data[f.name], hints[f.name], default, f"{where}{f.name}")
    unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        log.warning("settings: ignoring unknown keys %s", sorted(f"{where}{k}" for k in unknown))
    return replace(base, **kwargs) if base is not None else cls(**kwargs)


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
