
from __future__ import annotations

import errno
import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import errors as hf_errors
from huggingface_hub.utils import hf_raise_for_status

from app.core.models.gguf_reader import GGUFError, read_header
from app.core.hub.client import HubClient, explain, session

log = logging.getLogger("specchat.downloads")

CHUNK = 1 << 20
DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class TransferError(Exception):
    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable

class PartSpec:
    path: str  # in the repo
    size: int
    sha256: str  # "" when the hub gave none (small non-LFS files): the git blob id is checked instead
    blob_id: str = ""


def _hasher(spec: PartSpec) -> hashlib._Hash:
    if spec.sha256:
        return hashlib.sha256()
    h = hashlib.sha1()  # git's blob id: sha1 of "blob <size>\0" + content
    h.update(b"blob %d\0" % spec.size)
    return h


def _expected_digest(spec: PartSpec) -> str:
    return spec.sha256 or spec.blob_id


def _disk_error(e: OSError, part: Path) -> TransferError:
    if e.errno in DISK_FULL_ERRNOS:
        kept = part.stat().st_size if part.exists() else 0
        return TransferError(f"the disk is full (writing {part.parent}); free some space and resume: the "
                             f"{kept / 2**20:.0f} MB already downloaded are kept", retryable=False)
    return TransferError(f"cannot write {part}: {e.strerror or e}", retryable=False)


def fetch_part(client: HubClient, repo_id: str, revision: str, spec: PartSpec, part: Path,
               should_stop: Callable[[], bool], on_bytes: Callable[[int], None], stall_timeout: float) -> None:
    """Bring `part` to the full, verified content of `spec`, resuming from what it already holds.

    `on_bytes(n)` reports the bytes the part file holds now; `should_stop()` is polled per chunk."""
    part.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if have > spec.size:
        part.unlink()
        have = 0
    hasher = _hasher(spec)
    if have:  # the bytes from an earlier session: hash them again (the hash state itself cannot be saved)
        with open(part, "rb") as f:
            while chunk := f.read(CHUNK):
                hasher.update(chunk)
                if should_stop():
                    raise TransferStopped()
    on_bytes(have)
    if have < spec.size:
        have = _stream(client, repo_id, revision, spec, part, have, hasher, should_stop, on_bytes, stall_timeout)
    if have != spec.size:
        raise TransferError(f"{spec.path}: the connection closed at {have:,} of {spec.size:,} bytes", True)
    got = hasher.hexdigest()
    if got != _expected_digest(spec):
        part.unlink(missing_ok=True)
        raise ChecksumMismatch(f"{spec.path}: the bytes received do not match the hub's checksum "
                               f"(sha256 {_expected_digest(spec)[:12]}…, got {got[:12]}…); the bad download was "
                               f"deleted")
    if spec.path.lower().endswith(".gguf"):
        try:
            read_header(part)
        except GGUFError as e:
            part.unlink(missing_ok=True)
            raise TransferError(f"{spec.path}: not a usable GGUF file ({e})", retryable=False) from None


def _stream(client: HubClient, repo_id: str, revision: str, spec: PartSpec, part: Path, have: int,
            hasher: hashlib._Hash, should_stop: Callable[[], bool], on_bytes: Callable[[int], None],
            stall_timeout: float) -> int:
    url = client.file_url(repo_id, spec.path, revision)
    headers = {**client.headers, "accept-encoding": "identity"}
    if have:
        headers["range"] = f"bytes={have}-"
    timeout = httpx2.Timeout(stall_timeout, connect=min(stall_timeout, 15.0))
    try:
        with session().stream("GET", url, headers=headers, timeout=timeout) as r:
            if r.status_code >= 400:
                r.read()
                hf_raise_for_status(r)
            if have and r.status_code == 200:  # the server ignored Range: start over rather than corrupt
                log.warning("%s: server ignored the Range request; restarting the file", spec.path)
                have, hasher = 0, _hasher(spec)
                mode = "wb"
            else:
                mode = "ab"
                if have and not r.headers.get("content-range", "").startswith(f"bytes {have}-"):
                    raise TransferError(f"{spec.path}: the server resumed at the wrong offset "
                                        f"({r.headers.get('content-range')!r})", retryable=True)
            try:
                out = open(part, mode)
            except OSError as e:
                raise _disk_error(e, part) from e
            with out:
                last_report = 0.0
                for chunk in r.iter_bytes():  # as it arrives: progress and pause stay prompt on slow links
                    try:
                        out.write(chunk)
                    except OSError as e:
                        raise _disk_error(e, part) from e
                    hasher.update(chunk)
                    have += len(chunk)
                    now = time.monotonic()
                    if now - last_report > 0.1:
                        on_bytes(have)
                        last_report = now
                    if should_stop():
                        out.flush()
                        on_bytes(have)
                        raise TransferStopped()
                    if have > spec.size:
                        raise TransferError(f"{spec.path}: the server sent more bytes than the file has", True)
                try:
                    out.flush()
                    os.fsync(out.fileno())
                except OSError as e:
                    raise _disk_error(e, part) from e
    except httpx2.TimeoutException:
        raise TransferError(f"{spec.path}: the download stalled (no data for {stall_timeout:.0f} s)", True) from None
    except (httpx2.TransportError, httpx2.StreamError) as e:
        raise TransferError(f"{spec.path}: the connection was lost ({type(e).__name__})", True) from None
    except (hf_errors.HfHubHTTPError, httpx2.HTTPError) as e:
        err = explain(e, repo_id, client.endpoint, spec.path, bool(client.token))
        raise TransferError(str(err), err.retryable) from None
    on_bytes(have)
    return have
