"""The startup check for Qt's system libraries: ldd's report parsed, packages named, the real plugin checked."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.infra.system_libs import (PACKAGES, README_PACKAGES, MissingLibraries, missing_for_window, parse_ldd,
                                        qt_binaries, run_ldd, uses_xcb)

REPO = Path(__file__).resolve().parents[2]

# what ldd printed for PySide6 6.11's libqxcb.so on a minimal Debian without libxcb-icccm4 and libxkbcommon-x11-0
LDD_MISSING = """\
\tlinux-vdso.so.1 (0x00007ffd5c5f1000)
\tlibQt6XcbQpa.so.6 => /opt/venv/lib/python3.11/site-packages/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f1)
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f2)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-icccm.so.4 => not found
\tlibsomething-new.so.7 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f3)
"""


def test_ldd_report_names_exactly_the_missing_libraries_and_their_packages():
    missing = MissingLibraries(tuple(parse_ldd(LDD_MISSING)))
    assert missing.libraries == ("libxkbcommon-x11.so.0", "libxcb-icccm.so.4", "libsomething-new.so.7")
    assert missing.debian == ["libxkbcommon-x11-0", "libxcb-icccm4", "libsomething-new.so.7"]
    assert missing.fedora == ["libxkbcommon-x11", "xcb-util-wm", "libsomething-new.so.7"]
    text = missing.message()
    assert "sudo apt-get install libxkbcommon-x11-0 libxcb-icccm4" in text
    assert "sudo dnf install libxkbcommon-x11 xcb-util-wm" in text
    assert "libxcb-cursor0" not in text  # present: Qt's own message names it, we do not
    assert "apt-file search libsomething-new.so.7" in text  # an unknown soname still gets a way to its package


def test_nothing_missing_parses_to_nothing():
    assert parse_ldd("\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n\t/lib64/ld-linux-x86-64.so.2 (0x2)\n") == []


@pytest.mark.parametrize("env, platform, expected", [
    ({}, "linux", True),
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
    ({"QT_QPA_PLATFORM": "wayland"}, "linux", False),
    ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
    ({"QT_QPA_PLATFORM": "xcb:nograb"}, "linux", True),
    ({"QT_QPA_PLATFORM": "wayland;xcb"}, "linux", False),
    ({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
    ({"XDG_SESSION_TYPE": "wayland"}, "linux", True),  # no compositor to talk to: Qt falls back to xcb
    ({}, "darwin", False),
    ({}, "win32", False),
])
def test_check_runs_only_where_qt_would_load_xcb(env, platform, expected):
    assert uses_xcb(env, platform) is expected


def test_readme_lists_the_packages():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert README_PACKAGES in readme
    assert set(README_PACKAGES.split()) <= {deb for deb, _ in PACKAGES.values()}


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("ldd") is None, reason="Linux with ldd")
def test_the_real_plugin_check_agrees_with_the_dynamic_loader():
    """The verdict on PySide6's real plugin matches what dlopen says on this machine, whether or not its xcb
    libraries are installed here: nothing missing means the plugin loads; each library named is one the loader
    cannot find."""
    binaries = qt_binaries()
    plugin = next(b for b in binaries if b.name == "libqxcb.so")
    missing = missing_for_window({"QT_QPA_PLATFORM": "xcb"})
    if missing is None:
        ctypes.CDLL(str(plugin))  # every dependency resolves
        return
    with pytest.raises(OSError, match="|".join(re.escape(lib) for lib in missing.libraries)):
        ctypes.CDLL(str(plugin))
    for lib in missing.libraries:
        with pytest.raises(OSError):
            ctypes.CDLL(lib)
    assert set(missing.debian) <= set(README_PACKAGES.split())  # the README's list would have installed them


@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("ldd") is None, reason="needs gcc and ldd")
def test_a_real_library_whose_dependency_is_gone(tmp_path: Path):
    """A real ELF linked against a library that is then deleted: the real ldd reports it and the check names it.
    (Its name is made up: every xcb library is installed on this machine, and the system copy would be found.)"""
    soname = "libxcb-specchat-test.so.0"
    stub_dir = tmp_path / "stub"
    stub_dir.mkdir()
    (tmp_path / "stub.c").write_text("int specchat_stub(void) { return 4; }\n")
    (tmp_path / "plugin.c").write_text("int specchat_stub(void);\nint plugin(void) { return specchat_stub(); }\n")
    stub = stub_dir / soname
    subprocess.run(["gcc", "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", str(stub), str(tmp_path / "stub.c")],
                   check=True)
    plugin = tmp_path / "libqfake.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(plugin), str(tmp_path / "plugin.c"), str(stub),
                    f"-Wl,-rpath,{stub_dir}"], check=True)
    assert missing_for_window({"QT_QPA_PLATFORM": "xcb"}, [plugin]) is None  # found through the rpath
    stub.unlink()
    missing = missing_for_window({"QT_QPA_PLATFORM": "xcb"}, [plugin])
    assert missing is not None and missing.libraries == (soname,)
    assert f"apt-file search {soname}" in missing.message()
    assert missing_for_window({"QT_QPA_PLATFORM": "offscreen"}, [plugin]) is None  # no xcb, no check


def test_window_without_a_display_says_so_instead_of_aborting(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM="xcb", SPECCHAT_HOME=str(tmp_path / "home"))
    run = subprocess.run([sys.executable, "-m", "app"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 3, run.stderr
    assert "no display (DISPLAY is not set)" in run.stderr
    missing = missing_for_window({"QT_QPA_PLATFORM": "xcb"})
    if missing is not None:  # a machine without the xcb libraries: that is said too, after the display
        assert missing.message() in run.stderr
    assert "could not load the Qt platform plugin" not in run.stderr  # Qt never started
