"""What this machine has: RAM and NVIDIA VRAM, read in one place for the loader's RAM check and the download
manager's recommendation."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess

log = logging.getLogger("specchat.machine")


def total_ram() -> int | None:
    """Physical memory in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def total_vram() -> int:
    """NVIDIA VRAM from nvidia-smi (the driver ships it); 0 without one. Apple GPUs share the RAM."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return 0
    try:
        out = subprocess.run([smi, "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=5, check=True).stdout
        return max(int(line.strip()) for line in out.splitlines() if line.strip()) << 20
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        log.info("nvidia-smi did not report memory: %s", e)
        return 0


def available_ram() -> int | None:
    """Memory a new allocation can get without swapping, in bytes: Linux's MemAvailable (free memory plus the
    page cache it can drop, which includes an mmapped model's pages), else the OS's free pages; None where the
    OS does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
