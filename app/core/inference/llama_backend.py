"""llama.cpp's process-wide side, before any model: its backends started once with its log routed into ours, the
CPU weight buffer types made safe, and what this build and machine offer (backend, GPU offload, physical cores,
the facts Help > About shows). llama_runtime.py loads models on top of it."""

from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path

import llama_cpp

from app.core.inference import cpu_buffers
from app.core.inference.ggml_devices import local_gpus

log = logging.getLogger("specchat.runtime")


def physical_cores() -> int:
    """Physical cores this process may use (hyperthreads share one core's arithmetic units and slow decoding).

    llama-cpp-python's default is cpu_count//2, a guess at the same number that halves speed on a machine
    without hyperthreading (2 cores here: 1 thread). Linux's topology files give the real count.
    """
    try:
        allowed = os.sched_getaffinity(0)
        cores = set()
        for cpu in allowed:
            topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
            cores.add(((topo / "physical_package_id").read_text().strip(), (topo / "core_id").read_text().strip()))
        return max(1, len(cores))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def backend_name() -> str:
    """The compute backend llama.cpp was built with, for the UI's "GPU: n/m layers" line."""
    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace").upper()
    for name in ("CUDA", "Metal", "Vulkan", "ROCm", "SYCL", "HIP"):
        if f"{name.upper()} :" in info or f"{name.upper()} =" in info:
            return name
    return "GPU" if gpu_offload_supported() else "CPU"


def build_facts() -> dict[str, str]:
    """What this llama.cpp build is, for Help > About: the binding's version, the backend, the CPU features."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        binding = version("llama-cpp-python")
    except PackageNotFoundError:  # a bundle without dist-info
        binding = getattr(llama_cpp, "__version__", "unknown")
    system = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
    return {"llama_cpp_python": binding, "backend": backend_name(),
            "gpu_offload": "yes" if gpu_offload_supported() else "no", "system_info": system}


def gpu_offload_supported() -> bool:
    """This machine has a GPU llama.cpp can use (llama_supports_gpu_offload() counts RPC servers too)."""
    return bool(local_gpus())


_backend_ready = False


@llama_cpp.llama_log_callback
def _llama_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    # llama.cpp's chatter goes to our log file (DEBUG), not the terminal
    log.debug("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())


def init_backend() -> cpu_buffers.CpuBuffers:
    """Once per process: llama.cpp's backends, its log routed into ours, and the CPU weight buffer types made safe
    (AMX left out: cpu_buffers.py). Returns that decision; it is logged once."""
    global _backend_ready
    if not _backend_ready:
        llama_cpp.llama_log_set(_llama_log, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
        _backend_ready = True
    return cpu_buffers.decide()
