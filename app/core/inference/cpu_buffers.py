"""Which CPU "extra" buffer types llama.cpp may put weights in, decided once per process from llama.cpp's own list.

llama.cpp's CPU backend offers extra weight buffer types besides plain memory: AMX (Intel Xeons from Sapphire
Rapids on, when the build saw AMX) and CPU_REPACK (weights re-laid for the AVX2/AVX-512 kernels). With
`use_extra_bufts` (the default) the model loader takes the first of them that supports each weight, AMX first.
On AMX CPUs the bundled llama.cpp then segfaults in `ggml_backend_amx_mul_mat` as soon as a Q4 model decodes a
batch of 3 or more tokens (llama.cpp #20824, closed without a fix; Ollama #17006): the first answer kills the
process. Turning every extra buffer type off (`use_extra_bufts = False`) avoids it but also drops CPU_REPACK,
which is worth +27% per decoded token on Q4_K here (docs/benchmarks.md).

So AMX alone is taken out of the list the loader reads. The loader asks the CPU backend's
`ggml_backend_dev_get_extra_bufts` for a NULL-terminated array of buffer types, and that array is a process-wide
static: removing AMX from it (shifting the rest down) leaves CPU_REPACK in use and no weight in an AMX buffer,
so the AMX kernel never runs (its compute path only takes weights that live in an AMX buffer). If the array does
not look as expected, or the functions are missing, every load falls back to `use_extra_bufts = False`.

SPECCHAT_CPU_REPACK=0 turns the extra buffer types off altogether (prompt-heavy work, where repacked weights
are slower: see docs/benchmarks.md); SPECCHAT_CPU_AMX=1 leaves AMX in (to check whether a llama.cpp fixed it);
SPECCHAT_CPU_BUFT_SKIP leaves out others by name (tests and diagnosis).
"""

from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import llama_cpp

log = logging.getLogger("specchat.cpu")

_CPU_DEVICE = 0  # GGML_BACKEND_DEVICE_TYPE_CPU
_MAX_BUFTS = 16  # the array is a handful of entries; more means we are not reading what we think


@dataclass(frozen=True)
class CpuBuffers:
    features: tuple[str, ...]  # CPU features llama.cpp reports as in use (AVX2, AVX512, AMX_INT8, ...)
    offered: tuple[str, ...]  # the extra buffer types this build offers, in the loader's order
    in_use: tuple[str, ...]  # those the loader may still choose
    use_extra_bufts: bool  # what every llama_model_params gets
    reason: str  # why in_use differs from offered ("" when it does not)

    @property
    def amx_cpu(self) -> bool:
        return "AMX_INT8" in self.features

    def summary(self) -> str:
        """The startup log line's text."""
        used = ", ".join(self.in_use) or "none (plain CPU buffers)"
        note = f" ({self.reason})" if self.reason else ""
        return f"CPU features: {' '.join(self.features) or 'baseline'}; weight buffer types: {used}{note}"


def system_features() -> tuple[str, ...]:
    """The `NAME = 1` entries of llama_print_system_info(): what the CPU backend was built for and found."""
    text = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    found: list[str] = []
    for part in text.replace("|", "\n").splitlines():
        name, sep, value = part.partition("=")
        name = name.rpartition(" : ")[2].strip()  # the first entry of a backend reads "CPU : SSE3 = 1"
        if sep and value.strip() == "1" and name and name not in found:
            found.append(name)
    return tuple(found)


def _ggml_lib() -> ctypes.CDLL | None:
    """libggml as llama-cpp-python loaded it (the same handle: the loader's array lives in this process)."""
    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    for name in ("libggml.so", "libggml.dylib", "ggml.dll"):
        if (lib_dir / name).exists():
            try:
                lib = ctypes.CDLL(str(lib_dir / name))
                # these are in libggml (the registry) and libggml-base (names), which libggml links
                lib.ggml_backend_dev_by_type.restype = ctypes.c_void_p
                lib.ggml_backend_dev_by_type.argtypes = [ctypes.c_int]
                lib.ggml_backend_dev_backend_reg.restype = ctypes.c_void_p
                lib.ggml_backend_dev_backend_reg.argtypes = [ctypes.c_void_p]
                lib.ggml_backend_reg_get_proc_address.restype = ctypes.c_void_p
                lib.ggml_backend_reg_get_proc_address.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
                lib.ggml_backend_buft_name.restype = ctypes.c_char_p
                lib.ggml_backend_buft_name.argtypes = [ctypes.c_void_p]
                return lib
            except (OSError, AttributeError) as e:
                log.warning("cannot read llama.cpp's buffer types from %s: %s", name, e)
    return None


def _extra_bufts_array(lib: ctypes.CDLL) -> ctypes.Array[ctypes.c_void_p] | None:
    """The loader's NULL-terminated array of extra buffer types (a view of llama.cpp's own memory), or None."""
    dev = lib.ggml_backend_dev_by_type(_CPU_DEVICE)
    if not dev:
        return None
    reg = lib.ggml_backend_dev_backend_reg(dev)
    fn_ptr = lib.ggml_backend_reg_get_proc_address(reg, b"ggml_backend_dev_get_extra_bufts") if reg else None
    if not fn_ptr:
        return None
    fn = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)(fn_ptr)
    arr_ptr = fn(dev)
    if not arr_ptr:
        return None
    arr = (ctypes.c_void_p * _MAX_BUFTS).from_address(arr_ptr)
    if not any(arr[i] is None for i in range(_MAX_BUFTS)):
        return None  # no terminator where one must be: not the array we know
    return arr


def _names(lib: ctypes.CDLL, arr: ctypes.Array[ctypes.c_void_p]) -> list[str]:
    names: list[str] = []
    for i in range(_MAX_BUFTS):
        if arr[i] is None:
            break
        names.append((lib.ggml_backend_buft_name(arr[i]) or b"?").decode("utf-8", "replace"))
    return names


def _skipped_prefixes() -> tuple[str, ...]:
    """Buffer types (by name prefix) the loader must not use: AMX, unless SPECCHAT_CPU_AMX=1; and any named in
    SPECCHAT_CPU_BUFT_SKIP (comma-separated: for diagnosis, and for the tests, which exercise this rewrite on
    CPUs without AMX by leaving out CPU_REPACK)."""
    skip = [] if os.environ.get("SPECCHAT_CPU_AMX") == "1" else ["AMX"]
    skip += [p.strip().upper() for p in os.environ.get("SPECCHAT_CPU_BUFT_SKIP", "").split(",") if p.strip()]
    return tuple(skip)


_decided: CpuBuffers | None = None


def decide() -> CpuBuffers:
    """Once per process, before the first model loads (llama_backend_init must have run): take AMX out of the
    loader's list on AMX CPUs and say what is left. Later calls return the same decision."""
    global _decided
    if _decided is not None:
        return _decided
    features = system_features()
    if os.environ.get("SPECCHAT_CPU_REPACK", "1") == "0":
        _decided = CpuBuffers(features, (), (), False, "SPECCHAT_CPU_REPACK=0")
        log.info(_decided.summary())
        return _decided
    lib = _ggml_lib()
    arr = _extra_bufts_array(lib) if lib is not None else None
    if lib is None or arr is None:
        # we cannot see the list: on an AMX CPU the only safe choice is no extra buffers at all
        amx = "AMX_INT8" in features
        _decided = CpuBuffers(features, (), (), not amx,
                              "extra buffer types unreadable; all off on this AMX CPU" if amx else "")
        log.info(_decided.summary())
        return _decided
    offered = _names(lib, arr)
    skip = _skipped_prefixes()
    keep = [i for i, name in enumerate(offered) if not name.upper().startswith(skip)]
    left_out = [name for i, name in enumerate(offered) if i not in keep]
    reason = ""
    if left_out:
        kept = [arr[i] for i in keep]
        for i in range(len(offered)):
            arr[i] = kept[i] if i < len(kept) else None
        # each left out for its own reason: on an AMX CPU with SPECCHAT_CPU_BUFT_SKIP=cpu_repack both are said
        amx_names = [name for name in left_out if name.upper().startswith("AMX")]
        named = [name for name in left_out if name not in amx_names]
        reasons = []
        if amx_names:
            reasons.append(f"{', '.join(amx_names)} left out: llama.cpp's AMX kernel crashes on batches of 3+ tokens "
                           "(llama.cpp #20824)")
        if named:
            reasons.append(f"{', '.join(named)} left out: SPECCHAT_CPU_BUFT_SKIP")
        reason = "; ".join(reasons)
    elif any(name.upper().startswith("AMX") for name in offered):
        reason = "AMX kept: SPECCHAT_CPU_AMX=1"
    in_use = tuple(_names(lib, arr))
    _decided = CpuBuffers(features, tuple(offered), in_use, True, reason)
    log.info(_decided.summary())
    return _decided
