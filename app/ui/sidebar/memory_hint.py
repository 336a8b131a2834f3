"""The line under the model dropdown: what the selected model will need once loaded, against what is free here
("Needs about 1.2 GiB RAM (+ 90.0 MiB for the context at n_ctx 4096) · this machine has 10.3 GiB free"), and a
warning in the warning colour when it will not fit. It informs; it never blocks a load (the estimate is an
estimate, and the OS may free more).

The numbers come from app/core/models/memory_estimate.py; this module only reads what is free and shows it."""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from app.core.infra.machine import available_ram
from app.core.infra.requests import LoadOptions
from app.core.models.formatting import count_phrase
from app.core.models.library import LibraryEntry
from app.core.models.memory_estimate import MemoryVerdict, estimate_memory, judge_memory

log = logging.getLogger("specchat.ui")

ALL_LAYERS = 10**6  # what n_gpu_layers -1 means where there is a GPU (as the engine resolves it)
_GPU_CACHE_S = 5.0  # the GPU's free memory, asked at most this often (every dropdown change asks)
WARN_COLOR = "#b26b00"  # the sidebar's advice colour


class _GpuMemory:
    """Free VRAM as llama.cpp's device registry reports it (0 without a GPU llama.cpp can use)."""

    def __init__(self) -> None:
        self._at = -1e9
        self._free = 0

    def free(self) -> int:
        if time.monotonic() - self._at > _GPU_CACHE_S:
            try:  # the engine thread loaded llama.cpp already; its device registry is a cheap C call
                from app.core.inference.ggml_devices import local_gpu_memory

                self._free = local_gpu_memory()[0]
            except (OSError, RuntimeError) as e:
                log.info("GPU memory unknown: %s", e)
                self._free = 0
            self._at = time.monotonic()
        return self._free


class MemoryHint(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.gpu = _GpuMemory()
        self.verdict: MemoryVerdict | None = None
        self.hide()

    def show_for(self, entry: LibraryEntry | None, options: LoadOptions, releasing: LibraryEntry | None = None,
                 ) -> MemoryVerdict | None:
        """The estimate for `entry` loaded with `options` (hidden for None, or for a file without memory facts).
        `releasing`: the model loaded now, which the engine unloads first: its memory counts as free."""
        facts = entry.info.memory if entry is not None and entry.info is not None else None
        if facts is None:
            self.verdict = None
            self.hide()
            return None
        free_vram = self.gpu.free()
        layers = options.n_gpu_layers if options.n_gpu_layers >= 0 else ALL_LAYERS
        layers = layers if free_vram else 0  # no GPU llama.cpp can use: everything runs on the CPU
        est = estimate_memory(facts, options.n_ctx, options.n_batch, layers)
        free_ram = available_ram()
        if releasing is not None and releasing.info is not None and releasing.info.memory is not None:
            old = estimate_memory(releasing.info.memory, options.n_ctx, options.n_batch, layers)
            # the old model's KV cache and compute buffers are freed; its weights are mmapped file pages that
            # MemAvailable counts as free already
            free_ram = None if free_ram is None else free_ram + old.context_ram + old.compute_ram
            free_vram += old.vram
        verdict = judge_memory(est, free_ram, free_vram)
        text = verdict.text
        if options.rpc.endpoints:
            text += f" · some layers may go to the {count_phrase(len(options.rpc.endpoints), 'RPC server')} instead"
        if verdict.warning:
            text += "\n⚠ " + verdict.warning
        self.setText(text)
        self.setStyleSheet(f"color: {WARN_COLOR}" if verdict.warning else "")
        self.setToolTip("Estimated from the file's header: its weights, the KV cache for this context length "
                        "(f16) and llama.cpp's compute buffers for one batch. Loading is not blocked.")
        self.show()
        self.verdict = verdict
        return verdict
