"""Directories via platformdirs with SPECCHAT_HOME, and the typed, versioned settings schema."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from app.core.infra import settings as settings_mod
from app.core.infra.paths import app_paths
from app.core.infra.requests import CHAT_SAMPLING, CHAT_SPECULATION, LoadOptions, SamplerParams, SpeculationConfig
from app.core.infra.settings import DraftSettings, Settings, load_settings, save_settings, settings_from_dict


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
    s.sampling = replace(s.sampling, temperature=0.2)
    s.library.extra_model_dirs = ["/models"]
    s.drafts.draft_for_main["/m.gguf"] = "/d.gguf"
    save_settings(s)
    assert load_settings() == s


def test_bad_values_fall_back_to_defaults(caplog):
    s = settings_from_dict({"version": 1, "generation": {"temperature": "hot", "top_k": 5, "max_tokens": True},
                            "runtime": {"n_ctx": 2048.5}, "nonsense": 1, "library": {"extra_model_dirs": [1]}})
    assert s.sampling.temperature == 0.7 and s.sampling.top_k == 5 and s.generation.max_tokens == 1024
    assert s.runtime.n_ctx == 4096 and s.library.extra_model_dirs == []
    assert "nonsense" in caplog.text and "hot" in caplog.text


def test_int_accepted_for_float():
    assert settings_from_dict({"version": 2, "sampling": {"temperature": 1}}).sampling.temperature == 1.0


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
        2: lambda d: {**d, "sampling": {"temperature": d["generation"].pop("temp")}},
    })
    s = settings_from_dict({"version": 1, "generation": {"t": 0.3}})
    assert s.sampling.temperature == 0.3 and s.version == 3


def test_version_1_files_keep_every_value_in_the_engines_dataclasses():
    """Version 1 had copies of the engine's fields under other names; each value lands where it is used now."""
    s = settings_from_dict({"version": 1, "runtime": {"n_ctx": 2048, "n_gpu_layers": 5},
                            "generation": {"temperature": 0.2, "top_k": 7, "repeat_penalty": 1.1, "max_tokens": 50},
                            "speculative": {"mode": "ngram", "auto_draft_tokens": False, "min_draft_tokens": 2,
                                            "draft_gpu_layers": 3, "visualize_accepted": False,
                                            "default_drafter": False, "draft_for_main": {"/m": "/d"}},
                            "ui": {"last_main_model": "/m"}})
    assert s.version == 2 and s.runtime == LoadOptions(n_ctx=2048, n_gpu_layers=5)
    assert s.sampling == SamplerParams(temperature=0.2, top_k=7, repeat_penalty=1.1)  # the rest: defaults
    assert s.generation.max_tokens == 50
    assert s.speculation == SpeculationConfig(mode="ngram", auto=False, min_draft=2)
    assert s.drafts == DraftSettings(gpu_layers=3, default_drafter=False, draft_for_main={"/m": "/d"})
    assert s.ui.last_main_model == "/m" and not s.ui.visualize_accepted
    assert s.draft_load_options() == LoadOptions(n_ctx=2048, n_gpu_layers=3)


def test_a_section_its_dataclass_refuses_falls_back_to_its_defaults(caplog):
    s = settings_from_dict({"version": 2, "speculation": {"mode": "both", "ngram_size": 5},
                            "sampling": {"top_k": 3}})
    assert s.speculation == CHAT_SPECULATION and "both" in caplog.text
    assert s.sampling == replace(CHAT_SAMPLING, top_k=3)  # a section's missing fields keep the chat's defaults


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


def test_one_parser_for_draft_lengths():
    from app.core.infra.requests import AUTO, parse_draft_token_list, parse_draft_tokens

    assert parse_draft_tokens("4") == 4 and parse_draft_tokens(" Auto ") == AUTO and parse_draft_tokens("0") == 0
    assert parse_draft_token_list("1, 2,auto,") == [1, 2, AUTO]
    for bad in ("-1", "four", ""):
        with pytest.raises(ValueError, match="draft tokens"):
            parse_draft_tokens(bad)
    assert SpeculationConfig(draft_tokens=8).with_length(AUTO).length == AUTO
    assert SpeculationConfig(auto=True).with_length(3) == SpeculationConfig(draft_tokens=3)


def test_model_presets_round_trip_and_a_damaged_one_falls_back_alone(tmp_path):
    import json

    from app.core.infra.settings import ModelPreset, load_settings, save_settings

    path = tmp_path / "settings.json"
    st = load_settings(path)
    st.presets["/m/a.gguf"] = ModelPreset(max_tokens=77, n_ctx=2048, system_prompt="Be terse.")
    save_settings(st, path)
    data = json.loads(path.read_text())
    data["presets"]["/m/b.gguf"] = {"max_tokens": "lots", "n_ctx": 8192}
    data["presets"]["/m/c.gguf"] = "not a section"
    path.write_text(json.dumps(data))
    back = load_settings(path).presets
    assert back["/m/a.gguf"] == ModelPreset(max_tokens=77, n_ctx=2048, system_prompt="Be terse.")
    assert back["/m/b.gguf"].max_tokens == 1024 and back["/m/b.gguf"].n_ctx == 8192  # the bad field only
    assert back["/m/c.gguf"] == ModelPreset()


def test_recommended_sampling_from_a_header_keeps_only_sane_values():
    from app.core.models.model_info import recommended_sampling

    class Header:
        def __init__(self, kv):
            self.kv = kv

        def get(self, key):
            return self.kv.get(key)

    got = dict(recommended_sampling(Header({
        "general.sampling.temp": 0.6, "general.sampling.top_k": -1, "general.sampling.top_p": 1.7,
        "general.sampling.min_p": float("nan"), "general.sampling.penalty_repeat": "1.1",
        "general.sampling.penalty_last_n": 64})))
    assert got == {"temperature": 0.6, "top_k": 0.0, "repeat_last_n": 64.0}
