"""The session's rules as plain functions: which main model opens at start, which draft goes with a main model.

Real library scans of real tiny GGUFs give the entries and the compatible drafts; `has_loaded` is a set of the
files that loaded here before (the LoadGuard's answer)."""

from __future__ import annotations

import os

import pytest

from app.core.infra.paths import app_paths
from app.core.models.library import ModelLibrary, pick_default_drafter
from app.core.models.session_policy import draft_for_main, startup_main_model
from tests.fixtures.model_factory import write_tiny_model
from tests.unit.test_library import make_library


@pytest.fixture
def scanned(tmp_path, fixtures, smol_tokenizer):
    lib_dir = make_library(tmp_path, fixtures, ["base", "base_draft", "spm"])
    # smaller than the main by enough for the size advice: the default drafter's pick
    write_tiny_model(lib_dir / "small-draft.gguf", smol_tokenizer, name="Small Draft", n_embd=8, n_head=2,
                     n_ff=16, n_layer=1, seed=3)
    lib = ModelLibrary([lib_dir], app_paths().ensure().database)
    entries = lib.scan()
    main = lib.find(lib_dir / "base.gguf")
    fits, others = lib.draft_candidates(main.info)
    return lib_dir, entries, fits, others


def loaded(*paths):
    real = {os.path.realpath(p) for p in paths}
    return lambda p: os.path.realpath(p) in real


def test_startup_reopens_the_last_model_only_when_it_loaded_here(scanned):
    lib_dir, entries, _, _ = scanned
    last = str(lib_dir / "base.gguf")
    assert startup_main_model(entries, last, True, loaded(last)).path == last
    never = startup_main_model(entries, last, True, loaded())
    assert never.path == "" and "has not loaded successfully here" in never.reason
    assert startup_main_model(entries, last, False, loaded(last)).path == ""  # the setting says no
    gone = str(lib_dir / "deleted.gguf")
    assert startup_main_model(entries, gone, True, loaded(gone)) == startup_main_model(entries, gone, True, loaded())
    assert startup_main_model(entries, gone, True, loaded(gone)).path == ""
    # a symlink or another spelling of the same file is the same model
    assert startup_main_model(entries, str(lib_dir / "." / "base.gguf"), True, loaded(last)).path == last


def test_a_first_run_with_one_model_opens_it_and_with_several_waits(scanned):
    lib_dir, entries, _, _ = scanned
    only = [e for e in entries if e.path.endswith("/base.gguf")]
    assert startup_main_model(only, "", True, loaded()).path == only[0].path  # `make run`'s starter: ready to chat
    assert startup_main_model(entries, "", True, loaded()).path == ""  # which one? the user picks


def test_the_default_drafter_attaches_only_a_file_that_loaded_here(scanned):
    lib_dir, _, fits, _ = scanned
    default = pick_default_drafter(fits)
    assert default is not None and default.entry.path.endswith("small-draft.gguf")
    choice = draft_for_main(None, default, fits, True, loaded(default.entry.path))
    assert choice.current == default.entry.path and choice.load and "Attached automatically" in choice.note
    offered = draft_for_main(None, default, fits, True, loaded())
    assert offered.current == "" and not offered.load and "Choose it to load it" in offered.note
    off = draft_for_main(None, default, fits, False, loaded(default.entry.path))  # the default drafter is off
    assert off.current == "" and not off.load and off.note == ""


def test_a_remembered_draft_wins_and_loads_unless_it_never_loaded_here(scanned):
    lib_dir, _, fits, _ = scanned
    default = pick_default_drafter(fits)
    draft = default.entry.path
    assert draft_for_main(draft, default, fits, True, loaded(draft)).load
    waits = draft_for_main(draft, default, fits, True, loaded())
    assert waits.current == draft and not waits.load and "was not loaded automatically" in waits.advice
    asked = draft_for_main(draft, default, fits, True, loaded(), asked_this_session=draft)
    assert asked.load and not asked.advice  # the user picked it in this session: their call
    held = draft_for_main(draft, default, fits, True, loaded(draft), loaded_draft=draft)
    assert held.current == draft and not held.load  # already loaded: nothing to do
    none = draft_for_main("", default, fits, True, loaded(draft))  # they chose "no draft" for this main model
    assert none.current == "" and not none.load


def test_a_remembered_draft_that_left_the_library_is_said_so(scanned):
    lib_dir, _, fits, _ = scanned
    choice = draft_for_main(str(lib_dir / "gone.gguf"), pick_default_drafter(fits), fits, True, loaded())
    assert choice.current == "" and not choice.load and "no longer in the library" in choice.note


def test_no_compatible_draft_is_said(scanned):
    assert draft_for_main(None, None, [], True, loaded()).note == "No compatible draft in the library."


def test_compatible_drafts_none_attached_are_named(scanned):
    """Fits that each have size advice against them (a same-size Q4_1 for an F32 main) are not attached, and
    the note says they are there: an empty dropdown reading "No compatible draft" said the opposite."""
    lib_dir, _, fits, _ = scanned
    advised = [c for c in fits if c.result.advice]
    assert advised and pick_default_drafter(advised) is None
    choice = draft_for_main(None, None, advised, True, loaded())
    assert choice.current == "" and not choice.load
    assert choice.note.startswith("Compatible draft") and os.path.basename(advised[0].entry.path) in choice.note
    assert draft_for_main(None, None, advised, False, loaded()).note == ""  # the default drafter is off
