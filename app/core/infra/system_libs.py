"""Before a window: are the system libraries that Qt's xcb platform plugin needs installed?

Without them Qt prints "could not load the Qt platform plugin xcb" and aborts, naming one library (often not the
one missing: it reports libxcb-cursor0 when libxcb-icccm4 is absent). `ldd` on the plugin lists every library it
needs, transitively, with "not found" beside the missing ones; each is mapped to its Debian/Ubuntu and Fedora
package, so the message is one command to copy. No Qt is imported here: the check runs before Qt can abort.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("specchat.startup")

# soname -> (Debian/Ubuntu package, Fedora package): what PySide6 6.11's libqxcb.so and QtGui/QtWidgets link
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libXau.so.6": ("libxau6", "libXau"),
    "libXdmcp.so.6": ("libxdmcp6", "libXdmcp"),
    "libSM.so.6": ("libsm6", "libSM"),
    "libICE.so.6": ("libice6", "libICE"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libGLdispatch.so.0": ("libglvnd0", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),  # libglib2.0-0t64 on Ubuntu 24.04: apt finds it either way
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2"),
}
# What the README tells a minimal desktop to install (Debian/Ubuntu), the same list as PACKAGES' xcb part.
README_PACKAGES = ("libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 "
                   "libxcb-xkb1 libxcb-randr0 libxkbcommon-x11-0 libx11-xcb1 libegl1 libgl1 libfontconfig1")

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$", re.MULTILINE)
_NON_XCB = {"offscreen", "minimal", "minimalegl", "wayland", "wayland-egl", "eglfs", "linuxfb", "vnc",
            "vkkhrdisplay", "cocoa", "windows", "direct2d"}


@dataclass(frozen=True)
class MissingLibraries:
    libraries: tuple[str, ...]  # sonames, as ldd names them

    @property
    def debian(self) -> list[str]:
        return _unique(PACKAGES.get(lib, (lib, lib))[0] for lib in self.libraries)

    @property
    def fedora(self) -> list[str]:
        return _unique(PACKAGES.get(lib, (lib, lib))[1] for lib in self.libraries)

    def message(self) -> str:
        unknown = [lib for lib in self.libraries if lib not in PACKAGES]
        lines = [
            "SpecChat cannot open its window: Qt's xcb platform plugin needs system libraries that are not "
            "installed: " + ", ".join(self.libraries) + ".",
            "",
            "Debian/Ubuntu:  sudo apt-get install " + " ".join(self.debian),
            "Fedora:         sudo dnf install " + " ".join(self.fedora),
        ]
        if unknown:
            lines.append(f"(for {', '.join(unknown)}: `apt-file search {unknown[0]}` or `dnf provides "
                         f"'*/{unknown[0]}'` names the package)")
        lines += ["", "The headless commands work without them (python -m app --help); so does the window on "
                      "Wayland (QT_QPA_PLATFORM=wayland)."]
        return "\n".join(lines)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def parse_ldd(output: str) -> list[str]:
    """The sonames ldd reported as "not found", in its order, each once."""
    return _unique(_NOT_FOUND.findall(output))


def uses_xcb(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether Qt would load the xcb plugin first: on Linux, unless QT_QPA_PLATFORM names another platform (its
    first entry of a "a;b" fallback list, before any ":options") or a Wayland session lets Qt pick wayland."""
    if not platform.startswith("linux"):
        return False
    chosen = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip().lower()
    if chosen:
        return chosen == "xcb" or chosen not in _NON_XCB
    # Qt 6 prefers wayland in a Wayland session and falls back to xcb only when that fails
    return not (env.get("XDG_SESSION_TYPE") == "wayland" and env.get("WAYLAND_DISPLAY"))


def qt_binaries() -> list[Path]:
    """The files whose libraries decide whether the window can open: the xcb plugin, QtGui and QtWidgets
    (in PySide6's package folder, located without importing it)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    found = [root / "Qt" / "plugins" / "platforms" / "libqxcb.so"]
    for module in ("QtGui", "QtWidgets"):
        found += sorted(root.glob(f"{module}.*.so"))[:1]
    return [p for p in found if p.is_file()]


def run_ldd(binary: Path) -> str:
    """ldd's report for one file ("" when ldd is missing or fails: the check then says nothing)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return ""
    try:
        return subprocess.run([ldd, str(binary)], capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError) as e:
        log.info("ldd %s failed: %s", binary, e)
        return ""


def missing_for_window(env: Mapping[str, str] | None = None,
                       binaries: list[Path] | None = None) -> MissingLibraries | None:
    """The libraries the window would lack on this machine, or None when nothing is missing (or no xcb).
    `binaries`: the files to check (default: PySide6's, qt_binaries())."""
    env = os.environ if env is None else env
    if not uses_xcb(env):
        return None
    missing: list[str] = []
    for binary in qt_binaries() if binaries is None else binaries:
        missing += parse_ldd(run_ldd(binary))
    missing = _unique(missing)
    if missing:
        log.info("the Qt xcb platform plugin lacks %s", ", ".join(missing))  # the caller prints the message
        return MissingLibraries(tuple(missing))
    return None


def display_problem(env: Mapping[str, str] | None = None) -> str:
    """A message when the xcb plugin would be used but there is no X display to connect to, else ""."""
    env = os.environ if env is None else env
    if uses_xcb(env) and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return ("SpecChat cannot open its window: no display (DISPLAY is not set). Start it from a desktop "
                "session, or over ssh with -X; the headless commands work anywhere (python -m app --help).")
    return ""


def startup_problem(env: Mapping[str, str] | None = None) -> str:
    """Why the window cannot open here (missing libraries, no display), or "". Shown on stderr, and in a
    dialog of the desktop's own (zenity, kdialog, xmessage) when started from a launcher, which has no terminal."""
    missing = missing_for_window(env)
    # both, when both apply: installing the libraries alone would still leave a window with nowhere to open
    message = "\n\n".join(m for m in (display_problem(env), missing.message() if missing else "") if m)
    if message:
        log.info("window not opened: %s", message)  # into the log file; stderr gets it once, from the caller
        env = os.environ if env is None else env
        if not sys.stderr.isatty() and (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
            _tell_the_desktop(message)
    return message


def _tell_the_desktop(message: str) -> None:
    """Best effort: the first desktop dialog tool found shows the message (none of them needs Qt)."""
    for tool, args in (("zenity", ["--error", "--no-markup", "--title=SpecChat", f"--text={message}"]),
                       ("kdialog", ["--title", "SpecChat", "--error", message]),
                       ("xmessage", ["-center", message])):
        exe = shutil.which(tool)
        if exe is None:
            continue
        try:
            subprocess.Popen([exe, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        except OSError as e:
            log.info("%s failed: %s", tool, e)
            continue
        return
