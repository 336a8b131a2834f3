"""Directories via platformdirs with SPECCHAT_HOME, and the typed, versioned settings schema."""

from __future__ import annotations

import json

import pytest

from app.core.infra import settings as settings_mod
from app.core.infra.paths import app_paths
from app.core.infra.settings import Settings, load_settings, save_settings, settings_from_dict


def test_everything_under_specchat_home(specchat_home):
    p = app_paths().ensure()
    for d in (p.data, p.config, p.cache, p.logs, p.models, p.database, p.settings_file, p.downloads):
        assert d.is_relative_to(specchat_home)


def test_platformdirs_without_home(monkeypatch):
    monkeypatch.delenv("SPECCHAT_HOME")
    p = app_paths()
    assert "SpecChat" in str(p.data) and "SpecChat" in str(p.config)


def test_defaults_and_round_trip():
    s = load_settings()
    assert s == Settings() and s.version == settings_mod.SETTINGS_VERSION
    s.generation.temperature = 0.2
    s.library.extra_model_dirs = ["/models"]
    s.speculative.draft_for_main["/m.gguf"] = "/d.gguf"
    save_settings(s)
    assert load_settings() == s


def test_bad_values_fall_back_to_defaults(caplog):
    s = settings_from_dict({"version": 1, "generation": {"temperature": "hot", "top_k": 5, "max_tokens": True},
                            "runtime": {"n_ctx": 2048.5}, "nonsense": 1, "library": {"extra_model_dirs": [1]}})
    assert s.generation.temperature == 0.7 and s.generation.top_k == 5 and s.generation.max_tokens == 1024
    assert s.runtime.n_ctx == 4096 and s.library.extra_model_dirs == []
    assert "nonsense" in caplog.text and "hot" in caplog.text


def test_int_accepted_for_float():
    assert settings_from_dict({"generation": {"temperature": 1}}).generation.temperature == 1.0


def test_corrupt_file_is_set_aside():
    path = app_paths().settings_file
    path.parent.mkdir(parents=True)
    path.write_text("{ not json")
    assert load_settings() == Settings()
    (bad,) = path.parent.glob("settings.json.bad-*")
    assert bad.read_text() == "{ not json" and not path.exists()


@pytest.mark.parametrize("content", [
    b"\xff\xfe{}",  # not UTF-8
    b"[" * 100_000 + b"]" * 100_000,  # nested deeper than json's recursion limit
    b"[]",  # not an object
])
def test_any_unreadable_settings_file_gives_defaults_and_is_set_aside(content):
    from app.core.infra.damaged_files import take_notices

    take_notices()  # what earlier tests left
    path = app_paths().settings_file
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert load_settings() == Settings()
    (bad,) = path.parent.glob("settings.json.bad-*")
    assert bad.read_bytes() == content
    notices = take_notices()
    assert len(notices) == 1 and "settings.json" in notices[0] and take_notices() == []


def test_settings_path_taken_by_a_folder():
    path = app_paths().settings_file
    path.mkdir(parents=True)
    assert load_settings() == Settings()
    assert not path.exists() and list(path.parent.glob("settings.json.bad-*"))


def test_absurd_version_does_not_loop():
    import time

    path = app_paths().settings_file
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": -10**12, "runtime": {"n_ctx": 2048}}))
    t0 = time.monotonic()
    assert load_settings().runtime.n_ctx == 2048
    assert time.monotonic() - t0 < 1


def test_migrations_run_in_order(monkeypatch):
    monkeypatch.setattr(settings_mod, "SETTINGS_VERSION", 3)
    monkeypatch.setattr(settings_mod, "MIGRATIONS", {
        1: lambda d: {**d, "generation": {"temp": d["generation"].get("t")}},
        2: lambda d: {**d, "generation": {"temperature": d["generation"]["temp"]}},
    })
    s = settings_from_dict({"version": 1, "generation": {"t": 0.3}})
    assert s.generation.temperature == 0.3 and s.version == 3


def test_save_is_atomic(monkeypatch):
    save_settings(Settings())
    before = app_paths().settings_file.read_text()
    s = Settings()
    s.generation.seed = 42

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(json, "dump", boom)
    with pytest.raises(OSError):
        save_settings(s)
    assert app_paths().settings_file.read_text() == before
    assert list(app_paths().config.iterdir()) == [app_paths().settings_file]
