"""Hostile and broken inputs (issue 15): each file judged alone, no crash, hang or lock-out of the app."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import gguf
import pytest

from app.core.inference.chat_format import choose_chat_format
from app.core.models.gguf_reader import GGUFError, read_header
from app.core.models.library import ModelLibrary
from app.core.inference.load_guard import LoadGuard
from app.core.models.model_info import read_model_info
from app.core.infra.paths import app_paths
from tests.fixtures.model_factory import write_tiny_model

V = gguf.GGUFValueType
ROOT = Path(__file__).resolve().parents[2]

# files our reader used to accept and llama.cpp aborts on (GGML_ASSERT -> SIGABRT), or our code tripped over
ABORTING = {
    "block_count_0": dict(n_layer=0),
    "block_count_600": dict(extra_kv={"llama.block_count": (600, V.UINT32)}),
    "expert_count_2000": dict(extra_kv={"llama.expert_count": (2000, V.UINT32),
                                        "llama.expert_used_count": (2, V.UINT32)}),
    "experts_used_without_experts": dict(extra_kv={"llama.expert_used_count": (2, V.UINT32)}),
    "bad_rope_scaling": dict(extra_kv={"llama.rope.scaling.type": ("sideways", V.STRING)}),
}


def _write(tmp_path: Path, name: str, smol, **kw) -> Path:
    kw.setdefault("tokenizer", smol)
    extra = kw.pop("extra_kv", None)
    if extra and "llama.block_count" in extra:  # GGUFWriter refuses a key twice: write it our own way
        kw["n_layer"] = 2
        path = write_tiny_model(tmp_path / f"{name}.gguf", **kw)
        data = path.read_bytes()
        key = b"llama.block_count"
        i = data.index(struct.pack("<Q", len(key)) + key) + 8 + len(key)
        return _patch(path, data, i + 4, struct.pack("<I", extra["llama.block_count"][0]))
    return write_tiny_model(tmp_path / f"{name}.gguf", extra_kv=extra, **kw)


def _patch(path: Path, data: bytes, at: int, new: bytes) -> Path:
    path.write_bytes(data[:at] + new + data[at + len(new):])
    return path


@pytest.mark.parametrize("case", sorted(ABORTING))
def test_what_llama_cpp_aborts_on_is_the_models_error(tmp_path, smol_tokenizer, case):
    path = _write(tmp_path, case, smol_tokenizer, **ABORTING[case])
    with pytest.raises(GGUFError, match="llama.cpp cannot load"):
        read_model_info(path)


def test_duplicate_token_text_is_the_models_error(tmp_path, smol_tokenizer):
    path = write_tiny_model(tmp_path / "dup.gguf", smol_tokenizer.with_token(100, smol_tokenizer.tokens[101]))
    with pytest.raises(GGUFError, match="tokens 100 and 101 have the same text"):
        read_model_info(path)
    # an empty text is not: llama.cpp renames it [EMPTY_i] and loads the model (checked on 0.3.36)
    read_model_info(write_tiny_model(tmp_path / "empty.gguf", smol_tokenizer.with_token(100, "")))


@pytest.mark.parametrize("key,value,vtype", [
    ("llama.context_length", "4096", V.STRING),
    ("tokenizer.ggml.pre", ["a", "b"], V.ARRAY),
    ("llama.rope.freq_base", float("nan"), V.FLOAT32),
    ("general.file_type", [1, 2], V.ARRAY),
])
def test_odd_value_types_are_one_bad_file(tmp_path, smol_tokenizer, key, value, vtype):
    tok = smol_tokenizer.with_keys(pre=None) if key == "tokenizer.ggml.pre" else smol_tokenizer
    path = write_tiny_model(tmp_path / "odd.gguf", tok, extra_kv={key: (value, vtype)})
    with pytest.raises(GGUFError):
        read_model_info(path)


def test_huge_string_length_and_nested_arrays_are_gguf_errors(tmp_path):
    key = b"general.name"
    huge = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key + \
        struct.pack("<IQ", 8, 2**63 + 5) + b"\0" * 64
    p = tmp_path / "huge.gguf"
    p.write_bytes(huge)
    with pytest.raises(GGUFError):  # was OverflowError
        read_header(p)
    nested = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key + \
        struct.pack("<I", 9) + struct.pack("<IQ", 9, 1) * 900 + b"\0" * 64
    p.write_bytes(nested)
    with pytest.raises(GGUFError, match="array of arrays"):  # was RecursionError
        read_header(p)


def test_a_long_corrupt_length_inside_the_file_is_refused_before_reading(tmp_path):
    key = b"general.name"
    p = tmp_path / "long.gguf"
    with open(p, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key +
                struct.pack("<IQ", 8, 1_500_000_000))
        f.truncate(2_000_000_000)  # sparse: costs no disk
    t0 = time.monotonic()
    with pytest.raises(GGUFError, match="plausible"):
        read_header(p)
    assert time.monotonic() - t0 < 0.5


def test_split_name_with_99999_parts_gives_a_short_message(tmp_path, fixtures):
    p = tmp_path / "m-00001-of-99999.gguf"
    p.write_bytes(fixtures["base"].read_bytes())
    with pytest.raises(GGUFError) as e:
        read_model_info(p)
    assert len(str(e.value)) < 300


def test_one_bad_file_never_empties_the_library(tmp_path, fixtures, smol_tokenizer):
    lib = tmp_path / "models"
    lib.mkdir()
    (lib / "good.gguf").write_bytes(fixtures["base"].read_bytes())
    _write(lib, "experts", smol_tokenizer, **ABORTING["expert_count_2000"])
    (lib / "garbage.gguf").write_bytes(b"GGUF" + os.urandom(300))
    os.mkfifo(lib / "pipe-00001-of-00002.gguf")  # would block the first read for ever
    os.mkfifo(lib / "fifo.gguf")
    os.symlink("/", lib / "root-link")  # would walk the whole filesystem
    os.symlink("/proc/self", lib / "proc-link")
    t0 = time.monotonic()
    entries = ModelLibrary([lib], tmp_path / "cache.sqlite3").scan()
    assert time.monotonic() - t0 < 10
    by_name = {Path(e.path).name: e for e in entries}
    assert by_name["good.gguf"].usable
    assert by_name["experts.gguf"].info is None and "expert" in by_name["experts.gguf"].error
    assert by_name["garbage.gguf"].info is None
    assert "fifo.gguf" not in by_name and not any("root-link" in e.path for e in entries)


def test_a_garbage_library_cache_is_set_aside(tmp_path, fixtures):
    lib = tmp_path / "models"
    lib.mkdir()
    (lib / "good.gguf").write_bytes(fixtures["base"].read_bytes())
    db = tmp_path / "cache.sqlite3"
    db.write_bytes(b"garbage" * 500)
    assert [e.usable for e in ModelLibrary([lib], db).scan()] == [True]
    assert list(tmp_path.glob("cache.sqlite3.bad-*"))


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ}
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_cli_models_list_and_compat_judge_each_file(tmp_path, fixtures, smol_tokenizer, specchat_home):
    lib = tmp_path / "models"
    lib.mkdir()
    (lib / "good.gguf").write_bytes(fixtures["base_draft"].read_bytes())
    bad = write_tiny_model(lib / "ctx-string.gguf", smol_tokenizer,
                           extra_kv={"llama.context_length": ("4096", V.STRING)})
    r = _cli("models", "list", "--dir", str(lib), "--json")
    assert r.returncode == 0, r.stderr
    models = {Path(m["path"]).name: m for m in json.loads(r.stdout)["models"]}
    assert "name" in models["good.gguf"] and "error" in models["ctx-string.gguf"]
    r = _cli("models", "compat", str(fixtures["base"]), str(bad), str(lib / "good.gguf"), "--json")
    assert r.returncode == 0, r.stderr
    verdicts = [c["compatible"] for c in json.loads(r.stdout)["candidates"]]
    assert verdicts == [False, True]
    assert (app_paths().logs / "specchat.log").is_file()  # the log file exists from the first line


def test_load_guard_marker_reports_a_crash_once_and_forgets_the_file(tmp_path, fixtures):
    state = tmp_path / "load-state.json"
    g = LoadGuard(state)
    g.begin(str(fixtures["base"]), "main")
    g.succeeded(str(fixtures["base"]))
    assert g.has_loaded(str(fixtures["base"])) and not g.has_loaded(str(fixtures["tok5"]))
    g.begin(str(fixtures["base"]), "main")  # ... and the process dies here
    again = LoadGuard(state)
    assert again.crash_message() == "base.gguf crashed while loading; it was not reloaded."
    assert not again.has_loaded(str(fixtures["base"]))
    assert LoadGuard(state).crash_message() == ""  # said once
    state.write_text("[]")
    assert not LoadGuard(state).has_loaded(str(fixtures["base"])) and list(tmp_path.glob("load-state.json.bad-*"))


HOSTILE_TEMPLATES = {
    "nested_range": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "quadratic": "{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
                 "{{ ns.s }}",
    "big_range": "{% for i in range(10**9) %}{% endfor %}",
    "include": "{% include 'other.j2' %}",
    "tojson_undefined": "{{ nothing | tojson }}",
    "recursive_macro": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "huge_multiply": "{{ 'x' * 10**10 }}",
    "huge_output": "{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_TEMPLATES))
def test_hostile_templates_fall_back_within_bounds(name):
    t0 = time.monotonic()
    fmt = choose_chat_format(HOSTILE_TEMPLATES[name], "<s>", "</s>", lambda t: t in ("<|im_start|>", "<|im_end|>"))
    assert time.monotonic() - t0 < 5
    assert fmt.source.startswith("ChatML (fallback: the model's chat template failed")
    assert "<|im_start|>user\nhi" in fmt.render([{"role": "user", "content": "hi"}])


def test_a_template_that_fails_only_on_a_real_chat_falls_back_with_a_note():
    tpl = "{% if messages | length > 2 %}{{ nothing | tojson }}{% endif %}{% for m in messages %}{{ m.content }}" \
          "{% endfor %}"
    fmt = choose_chat_format(tpl, "", "", lambda t: False)
    assert fmt.source == "the model's template"
    chat = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    assert "User: c" in fmt.render(chat)
    assert "fallback: the model's chat template failed" in fmt.source and fmt.stop


def test_queue_json_that_is_not_a_queue_or_climbs_out(tmp_path):
    from app.core.hub.downloads import DownloadManager
    from app.core.hub.client import HubClient

    dl, models = tmp_path / "downloads", tmp_path / "models"
    dl.mkdir()
    (dl / "queue.json").write_text("[]")
    assert DownloadManager(models, dl, HubClient, autostart=False).jobs() == []
    assert list(dl.glob("queue.json.bad-*"))
    victim = tmp_path / "victim"
    victim.mkdir()
    job = {"id": "../victim", "repo_id": "o/r", "revision": "a" * 40, "name": "m.gguf", "dest": "o/r/m.gguf",
           "state": "paused", "parts": [{"path": "m.gguf", "size": 10, "sha256": "", "blob_id": ""}]}
    (dl / "queue.json").write_text(json.dumps({"version": 1, "jobs": [job]}))
    manager = DownloadManager(models, dl, HubClient, autostart=False)
    assert manager.jobs() == [] and victim.is_dir()


def test_token_is_never_written_through_a_planted_symlink(tmp_path):
    from app.core.hub.client import save_token, saved_token
    from app.core.infra.paths import app_paths

    token_file = app_paths().hf_token

    target = tmp_path / "elsewhere"
    target.write_text("keep me")
    token_file.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, token_file)
    save_token(token_file, "hf_secret")
    assert target.read_text() == "keep me" and not token_file.is_symlink()
    assert saved_token(token_file) == "hf_secret" and (token_file.stat().st_mode & 0o777) == 0o600


def test_remote_header_cache_dir_ignores_a_hostile_sha256():
    from app.core.hub.client import RemoteFile
    from app.core.hub.remote_gguf import _cache_path
    from app.core.infra.paths import app_paths

    f = RemoteFile("m.gguf", 100, "../../../../tmp/evil", "")
    cache = app_paths().header_cache
    p = _cache_path(cache, "o/r", "main", f)
    assert p.resolve().is_relative_to(cache.resolve()) and p.name == "m.gguf"
