"""Load a model the app has never loaded in a child process first, so an abort inside llama.cpp costs a message.

llama.cpp ends the whole process (GGML_ASSERT → SIGABRT) on some metadata; model_checks repeats the asserts we
know, but there are more in 150 architectures' graph builders. The child loads the file the way the app does
(CPU, memory-mapped: no weights are read), builds a small context (that runs the graph builder) and tokenizes
a line (the tokenizer's asserts). If it dies by a signal, the file is broken for this llama.cpp and the app says
so instead of dying; any other outcome lets the real load go ahead, which reports ordinary errors itself.
The probe runs once per file: LoadGuard remembers the files that loaded.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("specchat.probe")

PROBE_FLAG = "--probe-model"  # `python -m app --probe-model PATH`: how a frozen bundle runs the child
PROBE_TIMEOUT_S = 300.0  # a slow disk may take long to map a big file; past this we do not hold the user up
_OK, _LOAD_FAILED = 0, 3


@dataclass(frozen=True)
class ProbeResult:
    crashed: bool  # the child died by a signal: loading this file would kill the app
    message: str  # for the user when crashed; a note for the log otherwise


def _command(path: str) -> list[str]:
    if getattr(sys, "frozen", False):  # PyInstaller: sys.executable is the app itself
        return [sys.executable, PROBE_FLAG, path]
    return [sys.executable, "-m", "app.core.inference.load_probe", path]


def probe_model(path: str | Path, timeout_s: float = PROBE_TIMEOUT_S) -> ProbeResult:
    path = str(Path(path).absolute())
    name = Path(path).name
    env = {**os.environ, "GGML_NO_BACKTRACE": "1"}  # no gdb attach on abort: it takes seconds
    try:
        r = subprocess.run(_command(path), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        log.warning("probe of %s took longer than %.0f s; loading it without one", name, timeout_s)
        return ProbeResult(False, "probe timed out")
    except OSError as e:
        log.warning("cannot start the probe for %s: %s; loading it without one", name, e)
        return ProbeResult(False, f"no probe: {e}")
    if r.returncode < 0:
        sig = -r.returncode
        try:
            sig_name = signal.Signals(sig).name
        except ValueError:
            sig_name = f"signal {sig}"
        tail = _assert_line(r.stderr.decode("utf-8", "replace"))
        log.error("probe: llama.cpp died loading %s (%s)%s", name, sig_name, f": {tail}" if tail else "")
        return ProbeResult(True, f"llama.cpp crashed ({sig_name}) while loading {name}: the file is damaged or uses "
                                 f"metadata this llama.cpp cannot handle{f' ({tail})' if tail else ''}. "
                                 "It was not loaded.")
    log.info("probe of %s: exit %d %s", name, r.returncode, r.stdout.decode("utf-8", "replace").strip()[:200])
    return ProbeResult(False, "ok" if r.returncode == _OK else "llama.cpp refused it (the real load says why)")


def _assert_line(stderr: str) -> str:
    for line in stderr.splitlines():
        if "GGML_ASSERT" in line or "error:" in line.lower():
            return line.strip().rsplit(": ", 1)[-1][:200]
    return ""


def probe_main(argv: list[str]) -> int:
    """The child: load, make a small context, tokenize. Exit 0 when all of it worked, 3 when llama.cpp refused
    the file cleanly; an abort ends this process by SIGABRT, which the parent sees."""
    if len(argv) != 1:
        print(f"usage: {PROBE_FLAG} MODEL.gguf", file=sys.stderr)
        return 2
    import llama_cpp  # only here: the parent's import of this module must stay cheap

    llama_cpp.llama_backend_init()
    mparams = llama_cpp.llama_model_default_params()
    mparams.n_gpu_layers = 0  # the asserts are in metadata and graph code, not in a GPU backend
    model = llama_cpp.llama_model_load_from_file(argv[0].encode(), mparams)
    if not model:
        print("load failed")
        return _LOAD_FAILED
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx, cparams.n_batch, cparams.n_ubatch, cparams.n_threads, cparams.n_threads_batch = 64, 8, 8, 1, 1
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    if not ctx:
        llama_cpp.llama_model_free(model)
        print("context failed")
        return _LOAD_FAILED
    vocab = llama_cpp.llama_model_get_vocab(model)
    text = b"Hello\n"
    buf = (llama_cpp.llama_token * 64)()
    n = llama_cpp.llama_tokenize(vocab, text, len(text), buf, 64, True, True)
    llama_cpp.llama_free(ctx)
    llama_cpp.llama_model_free(model)
    print(f"ok ({n} tokens)")
    return _OK


if __name__ == "__main__":
    sys.exit(probe_main(sys.argv[1:]))
