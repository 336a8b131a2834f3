"""ggml's device registry and its RPC backend, through ctypes on the libraries llama-cpp-python ships.

llama-cpp-python binds llama.h only; ggml-backend.h (devices: name, type, free memory) and ggml-rpc.h (register
a server's devices, serve this machine's) live in libggml*.so beside libllama in llama_cpp/lib. The RPC library
is there when llama-cpp-python was built with -DGGML_RPC=ON (the Makefile does).

Why not llama_supports_gpu_offload(): with the RPC backend built it is true on every machine ("layers could be
offloaded to an RPC server"), so it no longer tells whether this machine has a GPU.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass
from pathlib import Path

import llama_cpp

DEV_CPU, DEV_GPU, DEV_IGPU = 0, 1, 2
_dev_t = ctypes.c_void_p
_reg_t = ctypes.c_void_p


def _lib_dir() -> Path:
    return Path(llama_cpp.__file__).parent / "lib"


def _find(stem: str) -> Path | None:
    for name in (f"lib{stem}.so", f"lib{stem}.dylib", f"{stem}.dll"):
        path = _lib_dir() / name
        if path.exists():
            return path
    return None


@dataclass(frozen=True)
class _Ggml:
    lib: ctypes.CDLL  # libggml: the registry
    base: ctypes.CDLL  # libggml-base: the device calls


@functools.cache
def _ggml() -> _Ggml:
    """libggml (the registry) and libggml-base (the device calls): already loaded by libllama, same handles."""
    lib = ctypes.CDLL(str(_find("ggml") or "libggml.so"))
    base = ctypes.CDLL(str(_find("ggml-base") or "libggml-base.so"))
    lib.ggml_backend_dev_count.restype = ctypes.c_size_t
    lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    lib.ggml_backend_dev_get.restype = _dev_t
    lib.ggml_backend_dev_by_type.argtypes = [ctypes.c_int]
    lib.ggml_backend_dev_by_type.restype = _dev_t
    for name in ("ggml_backend_dev_name", "ggml_backend_dev_description"):
        getattr(base, name).argtypes = [_dev_t]
        getattr(base, name).restype = ctypes.c_char_p
    base.ggml_backend_dev_type.argtypes = [_dev_t]
    base.ggml_backend_dev_type.restype = ctypes.c_int
    base.ggml_backend_dev_memory.argtypes = [_dev_t, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)]
    base.ggml_backend_dev_memory.restype = None
    base.ggml_backend_reg_dev_count.argtypes = [_reg_t]
    base.ggml_backend_reg_dev_count.restype = ctypes.c_size_t
    base.ggml_backend_reg_dev_get.argtypes = [_reg_t, ctypes.c_size_t]
    base.ggml_backend_reg_dev_get.restype = _dev_t
    return _Ggml(lib, base)


@functools.cache
def _rpc() -> ctypes.CDLL | None:
    path = _find("ggml-rpc")
    if path is None:
        return None
    lib = ctypes.CDLL(str(path))
    lib.ggml_backend_rpc_add_server.argtypes = [ctypes.c_char_p]
    lib.ggml_backend_rpc_add_server.restype = _reg_t
    lib.ggml_backend_rpc_start_server.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t,
                                                  ctypes.c_size_t, ctypes.POINTER(_dev_t)]
    lib.ggml_backend_rpc_start_server.restype = None
    return lib


def rpc_supported() -> bool:
    """This llama-cpp-python was built with the RPC backend."""
    return _rpc() is not None


@dataclass(frozen=True)
class Device:
    handle: int  # ggml_backend_dev_t
    name: str  # "CPU", "CUDA0", "RPC0"
    description: str
    type: int

    def memory(self) -> tuple[int, int]:
        """(free, total) bytes, as llama.cpp's split by free memory sees them."""
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        _ggml().base.ggml_backend_dev_memory(self.handle, ctypes.byref(free), ctypes.byref(total))
        return free.value, total.value


def _device(handle: int) -> Device:
    base = _ggml().base
    return Device(handle, (base.ggml_backend_dev_name(handle) or b"").decode(),
                  (base.ggml_backend_dev_description(handle) or b"").decode(), base.ggml_backend_dev_type(handle))


def devices() -> list[Device]:
    """This machine's devices in ggml's registry (RPC servers are not registered there: see add_rpc_server)."""
    lib = _ggml().lib
    return [_device(lib.ggml_backend_dev_get(i)) for i in range(lib.ggml_backend_dev_count())]


def local_gpus() -> list[Device]:
    return [d for d in devices() if d.type in (DEV_GPU, DEV_IGPU)]


def cpu_device() -> Device:
    handle = _ggml().lib.ggml_backend_dev_by_type(DEV_CPU)
    if not handle:
        raise RuntimeError("llama.cpp has no CPU backend")
    return _device(handle)


def add_rpc_server(address: str) -> list[Device]:
    """ggml-rpc's devices for a server at `address` (it connects, and ABORTS the process when it cannot: call it
    only with a relay's address whose server was just probed). Registered once per address per process."""
    lib = _rpc()
    if lib is None:
        raise RuntimeError("llama-cpp-python was built without the RPC backend")
    reg = lib.ggml_backend_rpc_add_server(address.encode())
    if not reg:
        return []
    base = _ggml().base
    return [_device(base.ggml_backend_reg_dev_get(reg, i)) for i in range(base.ggml_backend_reg_dev_count(reg))]


def start_rpc_server(endpoint: str, cache_dir: str | None, threads: int, serve: list[Device]) -> None:
    """Serve `serve` at `endpoint` until the process ends (ggml-rpc's loop never returns once listening)."""
    lib = _rpc()
    if lib is None:
        raise RuntimeError("llama-cpp-python was built without the RPC backend")
    handles = (_dev_t * len(serve))(*[d.handle for d in serve])
    lib.ggml_backend_rpc_start_server(endpoint.encode(), cache_dir.encode() if cache_dir else None, threads,
                                      len(serve), handles)


def local_gpu_memory() -> tuple[int, int]:
    """(free, total) bytes over this machine's GPUs, as llama.cpp's split by free memory sees them: a model's
    layers spread over all of them. (0, 0) without a GPU."""
    free = total = 0
    for d in local_gpus():
        f, t = d.memory()
        free, total = free + f, total + t
    return free, total
