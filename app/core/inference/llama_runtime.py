"""One loaded model and its context on llama.cpp's low-level C API (via llama-cpp-python's ctypes bindings).

Why the low-level API: llama-cpp-python's high-level `Llama` keeps logits for every row it decodes and its
`draft_model=` hook copies n_ctx x n_vocab floats (DESIGN.md). The speculative loop needs exactly: a batch with
logits on chosen rows only, `llama_decode`, a greedy pick per row (numpy argmax over the row, no copy), and
KV-cache truncation with the result checked. This module offers those and nothing more; the loop itself lives
in the engine.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import llama_cpp
import numpy as np

from app.core.models.gguf_reader import GGUFError
from app.core.infra.machine import total_ram
from app.core.infra.requests import LoadOptions  # noqa: F401  (the one load-options dataclass; re-exported)
from app.core.models.model_info import ModelInfo, read_model_info
from app.core.models.usability import not_a_chat_model
from app.core.inference import rpc
from app.core.inference.device_picks import DeviceGreedy
from app.core.inference.device_picks import wanted as device_picks_wanted
from app.core.inference.free_cores import FreeCores
from app.core.inference.llama_backend import backend_name, gpu_offload_supported, init_backend, physical_cores
from app.core.inference.rpc_protocol import RpcError
# the errors a load or a decode raises, named here too (where callers have always imported them)
from app.core.inference.runtime_errors import (ContextFull, DecodeCancelled, DecodeError,  # noqa: F401
                                               ModelLoadError, RpcServerLost)

log = logging.getLogger("specchat.runtime")


FLASH_ATTN_TYPES = {"auto": -1, "off": 0, "on": 1}  # llama_flash_attn_type: AUTO, DISABLED, ENABLED


def flash_attn_type(choice: str) -> int:
    """llama.cpp's flash attention setting for LoadOptions.flash_attn. "auto" is llama.cpp's own choice, and the
    default everywhere: on the CPU, "off" makes multi-row verify batches ~25% cheaper at depth, but the batched
    and single-row attention kernels then round differently, so greedy speculation no longer reproduces plain
    decoding at near ties (SmolLM2-135M: tests/unit/test_speculative_greedy.py failed with it off)."""
    if choice not in FLASH_ATTN_TYPES:  # a hand-edited settings file: said, and the default taken
        log.warning("flash attention %r is none of %s: auto", choice, ", ".join(FLASH_ATTN_TYPES))
        choice = "auto"
    return FLASH_ATTN_TYPES[choice]


def read_info(path: str | Path) -> ModelInfo:
    """The model's facts, read before llama.cpp sees the file, so a broken file gets a clear error."""
    try:
        return read_model_info(path)
    except (GGUFError, OSError) as e:
        raise ModelLoadError(str(e)) from e


def preflight(path: str | Path, options: LoadOptions) -> ModelInfo:
    """What can be refused before anything is unloaded: a header that does not read, a file that is no chat
    model, an RPC server that is down, busy or of another version (each a ModelLoadError naming it)."""
    info = read_info(path)
    problem = not_a_chat_model(info)
    if problem is not None:
        raise ModelLoadError(f"{Path(path).name}: {problem.reason}")
    try:
        rpc.check_split(options.rpc)
    except ValueError as e:
        raise ModelLoadError(str(e)) from e
    down = [s for s in rpc.check_servers(options.rpc) if not s.ok] if options.rpc.endpoints else []
    if down:
        raise ModelLoadError("; ".join(s.error for s in down))
    return info


class LoadedModel:
    """A llama_model + llama_context + one reusable batch. Not thread-safe: one engine thread owns it."""

    def __init__(self, path: str | Path, options: LoadOptions = LoadOptions(),
                 progress: Callable[[float], bool] | None = None, info: ModelInfo | None = None,
                 free_cores: FreeCores | None = None) -> None:
        """`progress(fraction)` is called while the weights load; returning False stops the load.
        `info`: the file's ModelInfo when the caller already read it (else it is read here).
        `free_cores`: with threads left to the app (n_threads 0) and every layer on this machine's CPU, the
        thread count follows it as decoding goes (free_cores.py: another process holding a core)."""
        buffers = init_backend()
        self.path = str(Path(path).absolute())
        self.info: ModelInfo = info if info is not None else read_info(self.path)
        problem = not_a_chat_model(self.info)  # checked before llama.cpp sees it (and before anything unloads)
        if problem is not None:
            raise ModelLoadError(f"{Path(self.path).name}: {problem.reason}")
        self.n_gpu_layers = options.n_gpu_layers
        if self.n_gpu_layers < 0:
            self.n_gpu_layers = 10**6 if gpu_offload_supported() else 0
        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = self.n_gpu_layers
        mparams.use_extra_bufts = buffers.use_extra_bufts
        self.placement: rpc.Placement | None = None
        if options.rpc.endpoints:
            try:
                self.placement = rpc.place(options.rpc, self.info.block_count, options.n_gpu_layers)
            except (RpcError, ValueError) as e:
                raise ModelLoadError(str(e)) from e
            self.n_gpu_layers = mparams.n_gpu_layers = self.placement.n_gpu_layers
            if self.placement.devices is not None:  # None: the default devices (none of them an RPC server)
                mparams.devices = ctypes.cast(self.placement.devices, ctypes.c_void_p)
            mparams.tensor_split = self.placement.tensor_split
        stopped = False
        if progress is not None:
            def on_progress(fraction: float, _data: ctypes.c_void_p) -> bool:
                nonlocal stopped
                try:
                    stopped = progress(fraction) is False
                except Exception:  # an exception must not cross the C boundary
                    log.exception("load progress callback failed")
                return not stopped

            progress_cb = llama_cpp.llama_progress_callback(on_progress)  # kept alive until the load returns
            mparams.progress_callback = progress_cb
        self._check_fits_in_memory()
        self.model = llama_cpp.llama_model_load_from_file(self.path.encode(), mparams)
        if not self.model:
            if stopped:
                raise ModelLoadError(f"loading {Path(self.path).name} was cancelled")
            on_gpu = bool(self.n_gpu_layers) and gpu_offload_supported()
            retry = None
            if on_gpu:
                retry = min(self.n_gpu_layers, self.info.block_count + 1) // 2
            hint = (f" Try fewer GPU layers (e.g. {retry} instead of {self.info_layers_hint()}), or a smaller "
                    "quantization." if on_gpu else "")
            raise ModelLoadError(f"llama.cpp could not load {Path(self.path).name} "
                                 f"(out of memory, or a file it does not support).{hint}", retry)
        self.n_layer = llama_cpp.llama_model_n_layer(self.model)
        self.offloaded_layers = min(self.n_gpu_layers, self.n_layer + 1) if gpu_offload_supported() else 0
        self.backend = backend_name() if self.offloaded_layers else "CPU"
        # where the layers went: [(device, layers)] over n_layer + 1 (the output layer counts as one)
        self.layout: list[tuple[str, int]] = [(self.backend, self.offloaded_layers)] if self.offloaded_layers else []
        if self.n_layer + 1 - self.offloaded_layers:
            self.layout.insert(0, ("CPU", self.n_layer + 1 - self.offloaded_layers))
        if self.placement is not None:
            self.layout = self.placement.layout
            self.offloaded_layers = sum(n for name, n in self.layout if name != "CPU")
            self.backend = "RPC" if not gpu_offload_supported() else f"{backend_name()}+RPC"
            self._check_rpc("loading")  # a server lost while the weights went up: nothing usable was loaded
        threads = options.n_threads or physical_cores()
        on_cpu_only = not self.offloaded_layers and self.placement is None
        if free_cores is not None and not on_cpu_only:
            free_cores.enabled = False  # one model waits on a device: the process's CPU share says nothing
        self._free_cores = free_cores if free_cores is not None and not options.n_threads and on_cpu_only else None
        if self._free_cores is not None:
            threads = self._free_cores.threads
        self.threads = threads
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = options.n_ctx
        cparams.n_batch = options.n_batch
        cparams.n_ubatch = options.n_batch
        cparams.n_threads = threads
        cparams.n_threads_batch = threads
        cparams.flash_attn_type = flash_attn_type(options.flash_attn)
        cparams.n_outputs_max_per_seq = 0  # greedy picks on the device for every verify row (default: 1 row)
        self.ctx = llama_cpp.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            llama_cpp.llama_model_free(self.model)
            self.placement = None
            raise ModelLoadError(f"could not create a {options.n_ctx}-token context for {Path(self.path).name} "
                                 "(out of memory?). Try a smaller context or fewer GPU layers.")
        self.n_ctx = llama_cpp.llama_n_ctx(self.ctx)
        self.n_batch = options.n_batch
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.batch = llama_cpp.llama_batch_init(options.n_batch, 0, 1)
        self._pieces: dict[int, bytes] = {}
        self._cancel: threading.Event | None = None
        self._abort_cb = llama_cpp.ggml_abort_callback(self._should_abort)
        self.n_past = 0  # tokens in the KV cache (sequence 0, positions 0..n_past-1)
        self.cached: list[int] = []  # the tokens behind those positions: reused across turns
        self._out_from = self._n_out = 0  # the last decode's rows with logits (see logits_np)
        self._view_key: tuple[int | None, int] | None = None
        self._view: np.ndarray | None = None
        self._picks = DeviceGreedy(self.ctx)  # greedy picks made in the decode graph (device_picks.py)
        log.info("loaded %s: %d layers, %d offloaded, ctx %d, %d threads, flash attention %s", Path(self.path).name,
                 self.n_layer, self.offloaded_layers, self.n_ctx, threads,
                 {v: k for k, v in FLASH_ATTN_TYPES.items()}[cparams.flash_attn_type])

    def rpc_lost(self) -> tuple[str, str] | None:
        """(server, message) when an RPC server of this model went away, else None."""
        for relay in self.placement.relays if self.placement else ():
            if relay.lost:
                return str(relay.upstream), relay.lost
        return None

    def _check_rpc(self, during: str) -> None:
        lost = self.rpc_lost()
        if lost is None:
            return
        if during == "loading":
            llama_cpp.llama_model_free(self.model)
            raise ModelLoadError(f"{lost[1]} while loading {Path(self.path).name}")
        raise RpcServerLost(f"{lost[1]}: reload the model without {lost[0]} (the answer so far is kept)", lost[0])

    def _check_fits_in_memory(self) -> None:
        """A CPU model larger than RAM would page for minutes: refuse with numbers instead."""
        if self.n_gpu_layers and gpu_offload_supported():
            return  # llama.cpp reports GPU out-of-memory itself (load returns NULL)
        ram = total_ram()
        if ram is not None and self.info.file_size > ram:
            raise ModelLoadError(f"{Path(self.path).name} needs {self.info.file_size / 2**30:.1f} GiB but this "
                                 f"machine has {ram / 2**30:.1f} GiB of RAM; choose a smaller quantization")

    def info_layers_hint(self) -> str:
        return "all" if self.n_gpu_layers >= 10**6 else str(self.n_gpu_layers)

    # ---- tokens ---------------------------------------------------------------------------------------------
    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = True) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 16
        buf = (llama_cpp.llama_token * cap)()
        n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special, parse_special)
        if n < 0:
            cap = -n
            buf = (llama_cpp.llama_token * cap)()
            n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special, parse_special)
        return list(buf[:n])

    def piece(self, token: int) -> bytes:
        """The token's bytes (cached: the token loop asks for every emitted token)."""
        cached = self._pieces.get(token)
        if cached is None:
            cached = self._pieces[token] = self._piece(token)
        return cached

    def _piece(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, 64, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
        return buf.raw[:n]

    def token_text(self, token: int) -> str:
        """The vocabulary's text for a token id ("" for none), e.g. "<s>" for BOS."""
        if token < 0:
            return ""
        raw = llama_cpp.llama_vocab_get_text(self.vocab, token)
        return raw.decode("utf-8", "replace") if raw else ""

    def chat_template(self) -> str | None:
        raw = llama_cpp.llama_model_chat_template(self.model, None)
        return raw.decode("utf-8", "replace") if raw else None

    @property
    def bos(self) -> int:
        return llama_cpp.llama_vocab_bos(self.vocab)

    @property
    def eos(self) -> int:
        return llama_cpp.llama_vocab_eos(self.vocab)

    def is_eog(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    # ---- decoding -------------------------------------------------------------------------------------------
    def _should_abort(self, _data: ctypes.c_void_p) -> bool:
        return self._cancel is not None and self._cancel.is_set()

    def decode(self, tokens: list[int], logits_from: int, cancel: threading.Event | None = None,
               progress: Callable[[int, int], None] | None = None) -> None:
        """Append tokens at n_past; logits are computed for rows index >= logits_from only.

        Long inputs go in n_batch chunks; only the last chunk can carry logits rows. With `cancel`, llama.cpp
        checks the flag between graph nodes (for long prompts; it costs a Python call per node, so the token
        loop's short decodes go without). `progress(done, total)` is called after each chunk of a long input.
        """
        if self.n_past + len(tokens) > self.n_ctx:
            raise ContextFull("context full")
        if cancel is not None:
            self._cancel = cancel
            llama_cpp.llama_set_abort_callback(self.ctx, self._abort_cb, None)
            try:
                self._decode(tokens, logits_from, progress)
            finally:
                llama_cpp.llama_set_abort_callback(self.ctx, llama_cpp.ggml_abort_callback(), None)
                self._cancel = None
        else:
            self._decode(tokens, logits_from, progress)

    def _follow_free_cores(self) -> None:
        assert self._free_cores is not None
        threads = self._free_cores.before_decode()
        if threads != self.threads:
            llama_cpp.llama_set_n_threads(self.ctx, threads, threads)
            self.threads = threads

    def _decode(self, tokens: list[int], logits_from: int,
                progress: Callable[[int, int], None] | None = None) -> None:
        start = 0
        while start < len(tokens):
            chunk = tokens[start : start + self.n_batch]
            b = self.batch
            for i, tok in enumerate(chunk):
                b.token[i] = tok
                b.pos[i] = self.n_past + i
                b.n_seq_id[i] = 1
                b.seq_id[i][0] = 0
                b.logits[i] = start + i >= logits_from
            b.n_tokens = len(chunk)
            if self._free_cores is not None:
                self._follow_free_cores()
            rc = llama_cpp.llama_decode(self.ctx, b)
            if self.placement is not None:
                # the relay answers for a lost server with zeros: wait for this decode's results, then look
                llama_cpp.llama_synchronize(self.ctx)
                self._check_rpc("decoding")
            if rc == 2:  # aborted: drop whatever part of this chunk reached the cache
                self._drop_tail(self.n_past)
                raise DecodeCancelled("cancelled")
            if rc != 0:
                self._drop_tail(self.n_past)
                raise DecodeError(f"llama_decode failed ({rc})" +
                                  (": no room in the KV cache" if rc == 1 else ""))
            self.n_past += len(chunk)
            self.cached.extend(chunk)
            # the last chunk's output rows: batch rows out_from.. (what logits_np maps a row index through)
            self._out_from = max(0, logits_from - start)
            self._n_out = max(0, len(chunk) - self._out_from)
            start += len(chunk)
            if progress is not None and len(tokens) > self.n_batch:
                progress(start, len(tokens))

    def argmax(self, row: int) -> int:
        """The greedy token from logits row `row` of the last decode.

        numpy's argmax over the row view takes ~6 us; llama_sampler_sample with a greedy sampler ~57 us (it
        builds an n_vocab candidate array per call), which is 5% of a token on a GPU. Both take the first
        maximum on ties. With device_greedy the pick was made in the graph: only the token id is read back.
        """
        if self.device_greedy:
            token = self._picks.token(self._output_index(row) - self._n_out)
            if token < 0:
                raise DecodeError(f"llama.cpp made no greedy pick for row {row}")
            return int(token)
        return int(self.logits_np(row).argmax())

    @property
    def device_greedy(self) -> bool:
        return self._picks.on

    def set_device_greedy(self, on: bool) -> bool:
        """Greedy picks on the device (device_picks.py); logits_np() is unavailable while they are. Returns
        whether they are on."""
        on = self._picks.set(on)
        self._view_key = None  # the output buffer is laid out anew
        log.debug("%s: greedy picks %s", Path(self.path).name, "on the device" if on else "from the logits")
        return on

    def greedy_picks(self, greedy: bool) -> bool:
        """An answer begins whose picks are greedy (argmax only) or not: on the device where that pays."""
        return self.set_device_greedy(greedy and device_picks_wanted(self.offloaded_layers))

    def _output_index(self, row: int) -> int:
        out = row - self._out_from if row >= 0 else self._n_out + row
        if not 0 <= out < self._n_out:
            raise IndexError(f"row {row} has no logits in the last decode")
        return out

    def logits_np(self, row: int) -> np.ndarray:
        """Logits row `row` of the last decode's batch (negative: from the end) as a float32 view, valid until
        the next decode.

        The view of the whole output buffer is kept while llama.cpp keeps the buffer where it was and the
        number of output rows stays the same: building one with numpy's ctypes bridge costs ~30 us, 3% of a
        GPU token, where this costs ~2 us. llama_get_logits synchronizes with the device and puts the outputs in
        batch order, like llama_get_logits_ith."""
        if self.device_greedy:
            raise RuntimeError("the logits stay on the device while greedy picks are made there")
        out = self._output_index(row)
        ptr = llama_cpp.llama_get_logits(self.ctx)
        key = (ctypes.cast(ptr, ctypes.c_void_p).value, self._n_out)
        view = self._view
        if key != self._view_key or view is None:
            view = self._view = np.ctypeslib.as_array(ptr, shape=(self._n_out, self.n_vocab))
            self._view_key = key
        return view[out]

    def _drop_tail(self, n: int) -> None:
        llama_cpp.llama_memory_seq_rm(self.memory, 0, n, -1)

    def truncate(self, n: int) -> None:
        """Drop KV-cache positions >= n (rejected draft rows, or a prompt that diverges from the cache)."""
        if n >= self.n_past:
            return
        if not llama_cpp.llama_memory_seq_rm(self.memory, 0, n, -1):
            # recurrent/hybrid caches cannot drop a tail: start the sequence over
            llama_cpp.llama_memory_clear(self.memory, True)
            self.n_past = 0
            self.cached = []
            raise DecodeError("this model's cache cannot drop tokens; it was cleared")
        self.n_past = n
        del self.cached[n:]

    def reuse_prefix(self, tokens: list[int]) -> int:
        """Keep the cached prefix shared with `tokens` (the conversation so far); returns how many are reused.

        At least the last token is always re-decoded so its logits are fresh.
        """
        common = 0
        for a, b in zip(self.cached, tokens):
            if a != b:
                break
            common += 1
        common = max(0, min(common, len(tokens) - 1))
        try:
            self.truncate(common)
        except DecodeError:
            common = 0
        return common

    def close(self) -> None:
        if getattr(self, "ctx", None):
            llama_cpp.llama_batch_free(self.batch)
            llama_cpp.llama_free(self.ctx)
            self._picks.close()
            llama_cpp.llama_model_free(self.model)
            self.ctx = None

    def __enter__(self) -> LoadedModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
