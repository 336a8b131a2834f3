"""What a chat session does with its models, decided without Qt: which main model opens at start, which draft
goes with a main model, and whether that draft loads by itself.

The session controller (app/session/model_session.py) asks these and does what they say; the rules live here so
that they are tested as plain functions, not through a window. The one safety rule in both: a file that never
loaded successfully here (or crashed doing so) is never loaded without the user asking, because a bad file can
abort llama.cpp, and an app that crashes at every start locks its user out.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.core.models.library import DraftCandidate, LibraryEntry

HasLoaded = Callable[[str], bool]  # LoadGuard.has_loaded: this very file loaded successfully here before


def _same_file(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


@dataclass(frozen=True)
class StartupChoice:
    path: str  # the main model to load now, "" for none
    reason: str  # why not, for the log ("" when one loads or nothing was asked)


def startup_main_model(usable: Sequence[LibraryEntry], last: str, reload_last: bool,
                       has_loaded: HasLoaded) -> StartupChoice:
    """At the first scan: the last main model comes back (when the setting says so and the file is still here and
    has loaded here before); on a first run with exactly one usable model (`make run` installed the starter) that
    one loads, so the window ends ready to chat."""
    if last:
        listed = next((e.path for e in usable if _same_file(e.path, last)), "")
        if not reload_last or not listed:
            return StartupChoice("", "")
        if not has_loaded(listed):
            return StartupChoice("", f"not reloading {last}: it has not loaded successfully here")
        return StartupChoice(listed, "")
    if len(usable) == 1:
        return StartupChoice(usable[0].path, "")
    return StartupChoice("", "")


@dataclass(frozen=True)
class DraftChoice:
    current: str  # the draft the dropdown shows as chosen ("" for none)
    note: str  # said under the dropdown ("" for nothing to say)
    load: bool  # load `current` now (it is not loaded yet and may be loaded without asking)
    advice: str = ""  # said in the advice box: why a remembered draft did not load by itself


def draft_for_main(remembered: str | None, default: DraftCandidate | None, fits: Sequence[DraftCandidate],
                   default_drafter_on: bool, has_loaded: HasLoaded, loaded_draft: str = "",
                   asked_this_session: str = "") -> DraftChoice:
    """The draft for the main model just loaded (or whose candidates were just checked).

    remembered: the user's choice for this main model from settings (None: never chose; "": chose none).
    default: pick_default_drafter(fits). loaded_draft: the draft the engine holds now. asked_this_session: a draft
    the user picked in this session (loaded even when it never loaded here before: they asked)."""
    chosen = remembered
    note = ""
    if chosen is None and default_drafter_on and default is not None:
        if has_loaded(default.entry.path):
            chosen = default.entry.path
            note = "Attached automatically: the smallest compatible draft that fits the size advice."
        else:  # a file that never loaded here is loaded only when the user asks (it may crash llama.cpp)
            note = (f"Compatible draft in the library: {os.path.basename(default.entry.path)}. Choose it to load it "
                    "(drafts that never loaded here are not attached automatically).")
    elif chosen is None and not fits:
        note = "No compatible draft in the library."
    elif chosen is None and default_drafter_on:  # compatible ones, each with advice against it: the user's call
        names = ", ".join(os.path.basename(c.entry.path) for c in fits[:2]) + (", …" if len(fits) > 2 else "")
        note = (f"Compatible draft{'s' if len(fits) > 1 else ''} in the library: {names}. Not attached "
                "automatically (see the advice when chosen); choose one to try it.")
    current = chosen or ""
    if current and not any(_same_file(c.entry.path, current) for c in fits):
        return DraftChoice("", "The chosen draft is no longer in the library.", False)
    wanted = bool(current) and not (loaded_draft and _same_file(current, loaded_draft))
    if wanted and current != asked_this_session and not has_loaded(current):
        # remembered from an earlier session but never loaded here (or it crashed): wait for the user
        return DraftChoice(current, note, False, f"{os.path.basename(current)} was not loaded automatically: it "
                                                 "has not loaded successfully here. Choose it again to try.")
    return DraftChoice(current, note, wanted)
