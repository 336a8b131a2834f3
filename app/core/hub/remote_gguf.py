"""A remote GGUF's header, fetched with HTTP range requests, so a draft's compatibility is known before anyone
downloads gigabytes.

The header (metadata with the whole vocabulary, then tensor infos) sits at the start of the file: a few MB even
for a 262k-token vocabulary. We fetch a prefix, let our own GGUF reader parse it as the start of a file of the
remote size, and fetch more only when the reader says the header goes on (GGUFHeaderIncomplete). The prefix is
kept in the cache dir, keyed by the file's sha256, so asking again costs nothing and compat can read the token
texts from it to explain a mismatch.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path, PurePosixPath

import httpx2
from huggingface_hub import errors as hf_errors
from huggingface_hub.utils import hf_raise_for_status

from app.core.models.gguf_reader import GGUFError, GGUFHeader, GGUFHeaderIncomplete, read_header
from app.core.hub.gguf_files import GgufChoice
from app.core.hub.client import HubClient, HubError, RemoteFile, explain, safe_filename, session
from app.core.models.model_info import ModelInfo, model_info_from_headers
from app.core.models.tokenizer_facts import TOKENS_KEY

log = logging.getLogger("specchat.hub")

FIRST_FETCH = 2 << 20
MAX_HEADER = 96 << 20  # the largest vocabularies with merges stay far below this; beyond it, something is wrong
HEADER_TIMEOUT = httpx2.Timeout(30.0, connect=10.0)


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _cache_path(cache_dir: Path, repo_id: str, revision: str, f: RemoteFile) -> Path:
    # the hub's lfs.sha256 names the folder only when it is one: a hostile endpoint's "../../x" must not
    key = f.sha256 if isinstance(f.sha256, str) and _SHA256.fullmatch(f.sha256) else \
        hashlib.sha256(f"{repo_id}@{revision}/{f.path}/{f.sha256}".encode()).hexdigest()
    # the file's own name at the end: messages about the header then name the file the user knows
    return cache_dir / key[:16] / safe_filename(PurePosixPath(f.path.replace("\\", "/")).name)


def _fetch_range(client: HubClient, repo_id: str, path: str, url: str, start: int, end: int, into: Path) -> None:
    """Append bytes [start, end) of `url` to `into`."""
    client.ensure_reachable()  # said in seconds, not after the connect timeout (a cached header needs no hub)
    headers = {**client.headers, "range": f"bytes={start}-{end - 1}", "accept-encoding": "identity"}
    try:
        with session().stream("GET", url, headers=headers, timeout=HEADER_TIMEOUT) as r:
            if r.status_code >= 400:
                r.read()
                hf_raise_for_status(r)
            skip = start if r.status_code == 200 else 0  # a server that ignores Range sends the whole file
            remaining = end - start
            with open(into, "ab") as out:
                for chunk in r.iter_bytes(1 << 16):
                    if skip:
                        drop = min(skip, len(chunk))
                        chunk, skip = chunk[drop:], skip - drop
                    part = chunk[:remaining]
                    out.write(part)
                    remaining -= len(part)
                    if remaining <= 0:
                        break
    except (hf_errors.HfHubHTTPError, httpx2.HTTPError) as e:
        raise explain(e, repo_id, client.endpoint, path, bool(client.token)) from e


def fetch_header(client: HubClient, repo_id: str, revision: str, f: RemoteFile, keep_tokens: bool) -> GGUFHeader:
    path = _cache_path(client.header_cache, repo_id, revision, f)
    path.parent.mkdir(parents=True, exist_ok=True)
    keep = frozenset({TOKENS_KEY}) if keep_tokens else frozenset()
    url = client.file_url(repo_id, f.path, revision)
    want = FIRST_FETCH
    while True:
        have = path.stat().st_size if path.exists() else 0
        if have < min(want, f.size):
            _fetch_range(client, repo_id, f.path, url, have, min(want, f.size), path)
            got = path.stat().st_size
            if got == have:
                raise HubError(f"{repo_id}/{f.path}: the server sent no bytes for the header", retryable=True)
        try:
            header = read_header(path, keep, declared_size=f.size)
            log.info("%s/%s: header read from %d bytes fetched", repo_id, f.path, path.stat().st_size)
            return header
        except GGUFHeaderIncomplete as e:
            want = max(e.needed + (1 << 20), path.stat().st_size * 2)
            if want > MAX_HEADER:
                raise HubError(f"{repo_id}/{f.path}: its header is larger than {MAX_HEADER >> 20} MB; "
                               f"not a model file SpecChat can check") from None


def remote_model_info(client: HubClient, repo_id: str, revision: str, choice: GgufChoice) -> ModelInfo:
    """The same ModelInfo a local file gives, read from the remote headers of every part. Its path is the
    local prefix of part 1 (in the cache dir), which compat reads token texts from."""
    try:
        headers = [fetch_header(client, repo_id, revision, p, keep_tokens=i == 0) for i, p in enumerate(choice.parts)]
    except GGUFError as e:
        raise HubError(f"{repo_id}/{choice.first.path}: {e}") from None
    return model_info_from_headers(Path(headers[0].path), headers)
