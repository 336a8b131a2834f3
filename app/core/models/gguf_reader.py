"""A streaming reader for the header of a GGUF file: key/value metadata and tensor descriptions.

Why our own: `gguf.GGUFReader` builds a numpy view for every element of every array, which takes ~12 s on a
262 144-token vocabulary. This reader walks the same bytes with `struct`, decodes scalars and short
arrays, and leaves long arrays (token texts, scores, merges) as lazy `GGUFArray` references that can be decoded on
demand. Tensor data is never touched: we read the header through bounded `os.pread` windows and stop at the end of
the tensor infos.

Every length read from the file is checked against the bytes the file actually holds *before* anything is
allocated, so a corrupt or hostile file gives a `GGUFError` naming the problem, never a MemoryError or a hang.
"""

from __future__ import annotations

import logging
import os
import stat
import struct
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.models.ggml_types import GGML_TYPES, tensor_nbytes

log = logging.getLogger("specchat.gguf")

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)  # v1 used 32-bit lengths and predates every model a user can still download
DEFAULT_ALIGNMENT = 32
MAX_TENSOR_DIMS = 4  # GGML_MAX_DIMS
EAGER_ARRAY_LIMIT = 64  # arrays up to this many items are decoded; longer ones stay lazy
WINDOW = 1 << 20  # bytes read per pread while walking the header
# Bounds on lengths read from the file, checked before anything is read or allocated. Real keys are short dotted
# names; the longest real string values are chat templates of some hundred KB; ggml names are < GGML_MAX_NAME.
MAX_KEY_BYTES = 1 << 16
MAX_STRING_BYTES = 16 << 20
MAX_TENSOR_NAME_BYTES = 63

# GGUF value types
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL = range(8)
T_STRING, T_ARRAY, T_UINT64, T_INT64, T_FLOAT64 = 8, 9, 10, 11, 12

_SCALAR_FORMATS = {
    T_UINT8: "B", T_INT8: "b", T_UINT16: "H", T_INT16: "h", T_UINT32: "I", T_INT32: "i",
    T_FLOAT32: "f", T_BOOL: "?", T_UINT64: "Q", T_INT64: "q", T_FLOAT64: "d",
}
_SCALAR_SIZES = {t: struct.calcsize("<" + f) for t, f in _SCALAR_FORMATS.items()}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class GGUFError(ValueError):
    """The file is not a GGUF file we can read; the message says why in words a user understands."""


class GGUFHeaderIncomplete(GGUFError):
    """Only a prefix of the file is at hand (a ranged download of a remote header) and the header goes on past it.

    `needed` is a lower bound for the prefix length that lets parsing get further."""

    def __init__(self, message: str, needed: int) -> None:
        super().__init__(message)
        self.needed = needed


class GGUFTruncated(GGUFError):
    """A whole header whose tensor data runs past the end of the file (a download cut short, one part of a split
    upload): it cannot load, but its header still says what the file is. `needed`: the bytes its tensors need."""

    def __init__(self, message: str, needed: int, size: int) -> None:
        super().__init__(message)
        self.needed, self.size = needed, size


@dataclass(frozen=True)
class GGUFArray:
    """A long array left undecoded: where it lies in the file, so it can be decoded later on demand."""

    item_type: int
    count: int
    offset: int  # file offset of the first item
    end: int  # file offset just past the last item


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int  # relative to the start of the tensor data section

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def type_name(self) -> str:
        info = GGML_TYPES.get(self.ggml_type)
        return info[0] if info else f"type{self.ggml_type}"


@dataclass
class GGUFHeader:
    path: Path
    version: int
    file_size: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo]
    data_offset: int
    # start offset of every string in the arrays named in read_header(string_offsets_for=...)
    string_offsets: dict[str, array] = field(default_factory=dict)
    value_types: dict[str, int] = field(default_factory=dict)  # key -> GGUF value type (T_ARRAY for arrays)

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    def read_bytes(self, start: int, end: int) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(start)
            data = f.read(end - start)
        if len(data) != end - start:
            raise GGUFError(f"{self.path.name}: file changed while reading")
        return data

    def array_values(self, key: str) -> list[Any]:
        """Decode an array value, lazy or not (strings as str, numbers as int/float/bool)."""
        value = self.metadata.get(key)
        if value is None:
            raise KeyError(key)
        if not isinstance(value, GGUFArray):
            return list(value)
        data = self.read_bytes(value.offset, value.end)
        return _decode_array_items(data, value.item_type, value.count, self.path.name)


def _decode_array_items(data: bytes, item_type: int, count: int, name: str) -> list[Any]:
    if item_type in _SCALAR_FORMATS:
        return list(struct.unpack_from(f"<{count}{_SCALAR_FORMATS[item_type]}", data, 0))
    if item_type == T_STRING:
        out: list[str] = []
        pos = 0
        unpack = _U64.unpack_from
        for _ in range(count):
            (n,) = unpack(data, pos)
            pos += 8
            out.append(data[pos : pos + n].decode("utf-8", "replace"))
            pos += n
        return out
    raise GGUFError(f"{name}: cannot decode an array of GGUF type {item_type}")


class _Cursor:
    """Bounds-checked reads of the file through `os.pread` windows.

    Not an mmap: a writer that truncates the file while we read it would kill the process with SIGBUS through a
    mapping; with pread it only shortens a read, which we report as "the file changed while reading"."""

    def __init__(self, fd: int, size: int, name: str, declared_size: int) -> None:
        self.fd = fd
        self.size = size  # bytes at hand
        self.declared_size = declared_size  # bytes the whole file has (more than `size` for a remote prefix)
        self.pos = 0
        self.name = name
        self._base = 0  # file offset of self._win[0]
        self._win = b""

    def need(self, n: int, what: str) -> None:
        if n >= 0 and self.size < self.pos + n <= self.declared_size:
            raise GGUFHeaderIncomplete(f"{self.name}: {what} lies past the {self.size} bytes fetched", self.pos + n)
        if n < 0 or self.pos + n > self.size:
            raise GGUFError(
                f"{self.name}: file is truncated or corrupt: {what} needs {n} bytes at offset {self.pos}, "
                f"but the file has only {self.size} bytes"
            )

    def _pread(self, n: int, at: int) -> bytes:
        data = os.pread(self.fd, n, at)
        if len(data) < n:
            raise GGUFError(f"{self.name}: the file changed while it was being read (it is shorter now)")
        return data

    def view(self, n: int) -> tuple[bytes, int]:
        """(buffer, index) such that buffer[index:index + n] are the n bytes at the cursor (checked with need)."""
        start = self.pos - self._base
        if start < 0 or start + n > len(self._win):
            self._base = self.pos
            self._win = self._pread(min(max(n, WINDOW), self.size - self.pos), self.pos)
            start = 0
        return self._win, start

    def take(self, n: int, what: str) -> bytes:
        self.need(n, what)
        buf, i = self.view(n)
        self.pos += n
        return buf[i : i + n]

    def u32(self, what: str) -> int:
        self.need(4, what)
        buf, i = self.view(4)
        self.pos += 4
        return _U32.unpack_from(buf, i)[0]

    def u64(self, what: str) -> int:
        self.need(8, what)
        buf, i = self.view(8)
        self.pos += 8
        return _U64.unpack_from(buf, i)[0]

    def string(self, what: str, limit: int = MAX_STRING_BYTES) -> str:
        n = self.u64(f"length of {what}")
        if n > limit:  # checked before reading: a corrupt length must not make us read (or fetch) gigabytes
            raise GGUFError(f"{self.name}: corrupt header: {what} claims {n:,} bytes (at most {limit:,} are "
                            f"plausible)")
        return self.take(n, what).decode("utf-8", "replace")

    def scalar(self, vtype: int, what: str) -> Any:
        size = _SCALAR_SIZES[vtype]
        self.need(size, what)
        buf, i = self.view(size)
        (v,) = struct.unpack_from("<" + _SCALAR_FORMATS[vtype], buf, i)
        self.pos += size
        return v

    def skip_strings(self, count: int, what: str, offsets: array | None) -> None:
        """Walk `count` length-prefixed strings; the hot loop for token and merge arrays."""
        self.need(count * 8, what)  # every string has at least its 8-byte length: rejects absurd counts early
        pos, size = self.pos, self.size
        win, base = self._win, self._base
        win_end = base + len(win)
        unpack = _U64.unpack_from
        append = offsets.append if offsets is not None else None
        for _ in range(count):
            if pos < base or pos + 8 > win_end:  # the next length prefix is not in the window: read on
                if pos + 8 > size:
                    break
                base, win = pos, self._pread(min(WINDOW, size - pos), pos)
                win_end = base + len(win)
            if append is not None:
                append(pos)
            pos += 8 + unpack(win, pos - base)[0]
        else:
            if pos <= size:
                self.pos = pos
                return
        if self.declared_size > size:
            raise GGUFHeaderIncomplete(f"{self.name}: {what} runs past the {size} bytes fetched", size * 2)
        raise GGUFError(f"{self.name}: file is truncated or corrupt: {what} runs past the end of the file")


def _value(cur: _Cursor, vtype: int, key: str, keep_offsets: bool) -> tuple[Any, array | None]:
    if vtype in _SCALAR_FORMATS:
        return cur.scalar(vtype, f"value of {key}"), None
    if vtype == T_STRING:
        return cur.string(f"value of {key}"), None
    if vtype != T_ARRAY:
        raise GGUFError(f"{cur.name}: corrupt metadata: key {key!r} has unknown value type {vtype}")
    item_type = cur.u32(f"item type of {key}")
    count = cur.u64(f"item count of {key}")
    start = cur.pos
    if item_type in _SCALAR_FORMATS:
        nbytes = count * _SCALAR_SIZES[item_type]
        cur.need(nbytes, f"array {key} ({count} items)")
        if count <= EAGER_ARRAY_LIMIT:
            buf, i = cur.view(nbytes)
            cur.pos += nbytes
            return list(struct.unpack_from(f"<{count}{_SCALAR_FORMATS[item_type]}", buf, i)), None
        cur.pos += nbytes  # long numeric arrays (scores, token types) are never read while scanning
        return GGUFArray(item_type, count, start, cur.pos), None
    if item_type == T_STRING:
        offsets = array("Q") if keep_offsets else None
        cur.skip_strings(count, f"array {key} ({count} strings)", offsets)
        if count <= EAGER_ARRAY_LIMIT and not keep_offsets:
            end = cur.pos
            cur.pos = start
            data = cur.take(end - start, f"array {key}")
            return _decode_array_items(data, T_STRING, count, cur.name), None
        return GGUFArray(item_type, count, start, cur.pos), offsets
    if item_type == T_ARRAY:  # gguf.cpp rejects them ("invalid GGUF type"): no real model has one
        raise GGUFError(f"{cur.name}: corrupt metadata: {key!r} is an array of arrays, which llama.cpp cannot read")
    raise GGUFError(f"{cur.name}: corrupt metadata: array {key!r} has unknown item type {item_type}")


def read_header(path: str | os.PathLike[str], string_offsets_for: frozenset[str] = frozenset(),
                declared_size: int | None = None) -> GGUFHeader:
    """Read the metadata and tensor infos of a GGUF file without reading tensor data.

    `string_offsets_for` names string arrays whose per-item file offsets should be kept (the tokenizer uses
    them to hash ranges of token texts straight from the file bytes).
    `declared_size`: the file at `path` is only the first bytes of a file this long (a remote header fetched
    with a range request). Running past the prefix raises GGUFHeaderIncomplete; the tensor-data check uses the
    declared size. Without it, the file is taken as whole.

    Every failure is a GGUFError: whatever bytes the file holds, the caller sees no other exception.
    """
    path = Path(path)
    name = path.name
    try:
        # O_NONBLOCK: opening a FIFO named like a model must not wait for a writer (regular files ignore it)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise GGUFError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise GGUFError(f"{path}: is a directory, not a GGUF file") from None
    except PermissionError:
        raise GGUFError(f"{path}: permission denied") from None
    except (OSError, ValueError) as e:  # ValueError: a path with a NUL byte
        raise GGUFError(f"{path}: cannot open: {e}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise GGUFError(f"{path}: is a directory, not a GGUF file")
        if not stat.S_ISREG(st.st_mode):
            raise GGUFError(f"{path}: not a regular file (a pipe or device named like a model?)")
        size = st.st_size
        declared = max(size, declared_size or 0)
        if declared < 24:
            raise GGUFError(f"{name}: not a GGUF model file (only {size} bytes)")
        if size < 24:
            raise GGUFHeaderIncomplete(f"{name}: only {size} bytes fetched", 24)
        return _parse(_Cursor(fd, size, name, declared), path, string_offsets_for)
    except GGUFError:
        raise
    except OSError as e:
        raise GGUFError(f"{name}: cannot read: {e}") from None
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError, RecursionError,
            MemoryError, struct.error) as e:
        # a bug of ours meeting bytes no test imagined: still one bad file, never a crash of the scan
        log.warning("%s: unexpected %s while parsing the header: %s", name, type(e).__name__, e)
        raise GGUFError(f"{name}: corrupt header ({type(e).__name__}: {e})") from None
    finally:
        os.close(fd)


def _parse(cur: _Cursor, path: Path, keep: frozenset[str]) -> GGUFHeader:
    name = path.name
    declared = cur.declared_size
    magic = cur.take(4, "magic")
    if magic != GGUF_MAGIC:
        raise GGUFError(f"{name}: not a GGUF model file (it starts with {magic!r}, not b'GGUF')")
    version = cur.u32("version")
    if version not in SUPPORTED_VERSIONS:
        swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
        if swapped in SUPPORTED_VERSIONS:
            raise GGUFError(f"{name}: big-endian GGUF files are not supported by llama.cpp on this machine")
        if version == 1:
            raise GGUFError(f"{name}: GGUF version 1 is too old for llama.cpp; download a newer conversion")
        raise GGUFError(f"{name}: unknown GGUF version {version} (this app reads versions 2 and 3)")
    n_tensors = cur.u64("tensor count")
    n_kv = cur.u64("metadata count")
    # the smallest possible key/value takes 8+1+4+1 bytes and the smallest tensor info 8+1+4+8+4+8
    if n_kv * 14 + n_tensors * 33 > declared - cur.pos:
        raise GGUFError(
            f"{name}: corrupt header: it claims {n_kv} metadata entries and {n_tensors} tensors, "
            f"more than a {declared}-byte file can hold"
        )
    metadata: dict[str, Any] = {}
    value_types: dict[str, int] = {}
    string_offsets: dict[str, array] = {}
    for _ in range(n_kv):
        key = cur.string("metadata key", MAX_KEY_BYTES)
        if key in metadata:  # gguf.cpp refuses the file; silently keeping one of them would hide that
            raise GGUFError(f"{name}: corrupt metadata: the key {_short(key)!r} appears twice")
        vtype = cur.u32(f"value type of {_short(key)}")
        value, offsets = _value(cur, vtype, key, key in keep)
        metadata[key] = value
        value_types[key] = vtype
        if offsets is not None:
            string_offsets[key] = offsets

    tensors: list[TensorInfo] = []
    seen: set[str] = set()
    for _ in range(n_tensors):
        tname = cur.string("tensor name", MAX_TENSOR_NAME_BYTES)
        if tname in seen:
            raise GGUFError(f"{name}: corrupt tensor info: the tensor {tname!r} appears twice")
        seen.add(tname)
        n_dims = cur.u32(f"dimension count of tensor {tname}")
        if n_dims > MAX_TENSOR_DIMS:
            raise GGUFError(f"{name}: corrupt tensor info: {tname} has {n_dims} dimensions (max {MAX_TENSOR_DIMS})")
        shape = tuple(cur.u64(f"shape of tensor {tname}") for _ in range(n_dims))
        n_elements = 1
        for d in shape:
            n_elements *= d
        if n_elements >= 1 << 63:  # llama.cpp keeps element counts in int64
            raise GGUFError(f"{name}: corrupt tensor info: {tname} has shape {shape}, too large for any tensor")
        ggml_type = cur.u32(f"type of tensor {tname}")
        if ggml_type not in GGML_TYPES:
            raise GGUFError(f"{name}: corrupt tensor info: {tname} has ggml type {ggml_type}, "
                            f"which llama.cpp does not know")
        offset = cur.u64(f"offset of tensor {tname}")
        tensors.append(TensorInfo(tname, shape, ggml_type, offset))

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if "general.alignment" in metadata and value_types["general.alignment"] != T_UINT32:
        raise GGUFError(f"{name}: corrupt header: general.alignment is not a 32-bit unsigned integer")
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise GGUFError(f"{name}: corrupt header: general.alignment is {alignment!r}, not a power of two")
    data_offset = (cur.pos + alignment - 1) // alignment * alignment
    _check_tensor_data_fits(name, tensors, data_offset, declared)
    log.debug("%s: v%d, %d keys, %d tensors, header %d bytes", name, version, n_kv, n_tensors, cur.pos)
    return GGUFHeader(path, version, declared, metadata, tensors, data_offset, string_offsets, value_types)


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def _check_tensor_data_fits(name: str, tensors: list[TensorInfo], data_offset: int, size: int) -> None:
    """A download cut short keeps a valid header; catch it here instead of inside llama.cpp's loader."""
    needed = 0  # a tokenizer-only file has no tensors and may end before the aligned data offset
    for t in tensors:
        nbytes = tensor_nbytes(t.ggml_type, t.n_elements)
        if nbytes is not None:
            needed = max(needed, data_offset + t.offset + nbytes)
    if needed > size:
        raise GGUFTruncated(
            f"{name}: file is truncated: its tensors need {needed:,} bytes but the file has {size:,} "
            f"(an incomplete download?)", needed, size
        )
