"""The Hugging Face hub, through huggingface-hub: search, repo file listings, file URLs, the user's token.

We use the library for everything it does well (API calls, auth headers, error classes, redirects) and keep our
own HTTP only where we need control it does not give: ranged reads of a remote header (remote_gguf) and
pausable, resumable transfers (transfer). Both share the library's HTTP client, configured once here with
timeouts: its default client has none, and a stalled hub would hang a search forever.

The endpoint is read per call (HF_ENDPOINT, or what the caller passes), so tests point everything at a local
server speaking the hub's API. The token is never logged and never stored in the database.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx2
from huggingface_hub import HfApi, get_session, hf_hub_url, set_client_factory
from huggingface_hub import errors as hf_errors
from huggingface_hub.utils import get_token as hf_stored_token

from app.core.hub import reachability
from app.core.infra.paths import AppPaths

log = logging.getLogger("specchat.hub")

DEFAULT_ENDPOINT = "https://huggingface.co"
API_TIMEOUT = httpx2.Timeout(30.0, connect=10.0)
SORTS = {"downloads": "downloads", "likes": "likes", "recent": "last_modified", "trending": "trending_score"}
REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")

T = TypeVar("T")
_session_lock = threading.Lock()
_session_configured = False


def _client_with_timeouts() -> httpx2.Client:
    try:  # the library's request hook adds its user agent and debug logging; keep it when it exists
        from huggingface_hub.utils._http import hf_request_event_hook
        hooks: dict[str, list[Callable[..., Any]]] = {"request": [hf_request_event_hook]}
    except ImportError:
        hooks = {}
    return httpx2.Client(event_hooks=hooks, follow_redirects=True, timeout=API_TIMEOUT)


def session() -> httpx2.Client:
    """huggingface-hub's shared HTTP client, with timeouts."""
    global _session_configured
    with _session_lock:
        if not _session_configured:
            set_client_factory(_client_with_timeouts)
            _session_configured = True
    return get_session()


class HubError(Exception):
    """A hub request failed; the message says what to do, in the user's words. `retryable`: a network hiccup
    or a server error, worth trying again; otherwise (not found, no access) retrying cannot help."""

    def __init__(self, message: str, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class HubUnreachable(HubError):
    """No connection to the hub could be made (refused, no such host, a proxy that would not connect, no answer
    in time): the hub is not there for us, and every other hub call would fail the same way. The window shows its
    offline state for it; the exception's own class and text went to the log."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(f"Can't reach the Hugging Face hub at {endpoint}", retryable=True)
        self.endpoint = endpoint


def endpoint_url(endpoint: str | None = None) -> str:
    return (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


# --- the user's token ---------------------------------------------------------------------------------------

def saved_token(token_file: Path) -> str:
    """The token entered in SpecChat (AppPaths.hf_token), "" for none."""
    try:
        return token_file.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def save_token(token_file: Path, token: str) -> None:
    """Kept in its own file, readable by the user only: not in settings.json, the database or any log.

    Written to a new file of ours (O_EXCL, O_NOFOLLOW) that replaces the old one by rename: a symlink or a
    file of someone else's planted at that path is replaced, never written through."""
    path = token_file
    path.parent.mkdir(parents=True, exist_ok=True)
    token = token.strip()
    if not token:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                 stat.S_IRUSR | stat.S_IWUSR)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
            raise OSError(f"{tmp} is not a file of this user")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fd = -1
            f.write(token)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # a symlink at `path` is replaced itself, its target untouched
    finally:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)


_UNSAFE = re.compile(r"[^A-Za-z0-9._+ -]+")
MAX_NAME = 150


def safe_filename(text: str) -> str:
    """One path component from hub-supplied text that cannot climb out of, or hide in, a directory.

    When cleaning changed the text, a short hash of the original is added, so two names that clean alike get
    distinct files; a .gguf name keeps its extension however long or dotted it was."""
    cleaned = _UNSAFE.sub("_", text).strip(" .")
    if not cleaned or cleaned in (".", ".."):
        raise HubError(f"{text!r} cannot be used as a file name")
    suffix = ".gguf" if text.lower().rstrip(" .").endswith(".gguf") else ""
    stem = cleaned[: -len(suffix)] if suffix and cleaned.lower().endswith(suffix) else cleaned
    if cleaned != text or len(cleaned) > MAX_NAME:
        stem = f"{stem[: MAX_NAME - 9 - len(suffix)]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    return stem + suffix


def resolve_token(token_file: Path | None) -> str | None:
    """The token entered in SpecChat's settings, else the one huggingface-hub stores (HF_TOKEN or `hf auth
    login`), else none."""
    return (saved_token(token_file) if token_file is not None else "") or hf_stored_token() or None


def auth_headers(token: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"} if token else {}


# --- errors -------------------------------------------------------------------------------------------------

def explain(e: Exception, repo_id: str, endpoint: str, what: str = "", has_token: bool = True) -> HubError:
    """Turn a library or network exception into a HubError a user can act on."""
    if isinstance(e, HubError):
        return e
    subject = f"{repo_id}/{what}" if what else repo_id
    page = f"{endpoint}/{repo_id}"
    status = getattr(getattr(e, "response", None), "status_code", None)
    if isinstance(e, hf_errors.GatedRepoError):
        return HubError(
            f"{repo_id} is gated: open {page}, accept its terms with your account, then give SpecChat a token "
            f"with read access (Downloads → Hugging Face token, or `hf auth login`)", status=status)
    if isinstance(e, hf_errors.RepositoryNotFoundError):
        hint = "" if has_token else " If it is private, give SpecChat a token that can read it."
        return HubError(f"{repo_id} was not found on {endpoint}.{hint}", status=status)
    if isinstance(e, (hf_errors.RemoteEntryNotFoundError, hf_errors.EntryNotFoundError)):
        return HubError(f"{subject} does not exist (the repo has no such file)", status=status)
    if isinstance(e, hf_errors.RevisionNotFoundError):
        return HubError(f"{repo_id}: that revision does not exist", status=status)
    if isinstance(e, hf_errors.HfHubHTTPError):
        if status in (401, 403):
            return HubError(f"{subject}: access denied ({status}). Check that your Hugging Face token can read "
                            f"{page}", status=status)
        retry = status is None or status == 429 or status >= 500
        return HubError(f"{subject}: the hub answered {status}", retryable=retry, status=status)
    # the user reads what happened and what to do; the exception's class and text are for the log
    if isinstance(e, (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.ProxyError)):
        log.warning("%s: cannot connect to %s (%s: %s)", subject, endpoint, type(e).__name__, e)
        reachability.forget(endpoint)
        return HubUnreachable(endpoint)
    if isinstance(e, httpx2.TimeoutException):
        log.warning("%s: %s timed out (%s: %s)", subject, endpoint, type(e).__name__, e)
        return HubError(f"{subject}: {endpoint} did not answer in time", retryable=True)
    if isinstance(e, httpx2.TransportError):  # connected, then lost: a dropped connection, a broken answer
        log.warning("%s: connection to %s failed (%s: %s)", subject, endpoint, type(e).__name__, e)
        return HubError(f"{subject}: the connection to {endpoint} was lost", retryable=True)
    raise e


# --- search and listings ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RepoSummary:
    repo_id: str
    downloads: int
    likes: int
    last_modified: datetime | None
    gated: bool


@dataclass(frozen=True)
class RemoteFile:
    path: str  # in the repo, "/"-separated
    size: int
    sha256: str  # LFS files (every GGUF worth the name); "" when the hub did not say
    blob_id: str  # git object id


@dataclass(frozen=True)
class RepoFiles:
    repo_id: str
    revision: str  # the commit the listing describes: downloads pin it so all parts come from one commit
    gated: bool
    files: tuple[RemoteFile, ...]


class HubClient:
    def __init__(self, endpoint: str | None = None, token: str | None = None,
                 header_cache: Path | None = None) -> None:
        """token: None for huggingface-hub's own (HF_TOKEN, `hf auth login`); the app passes
        resolve_token(paths.hf_token). header_cache: where remote GGUF headers are kept (AppPaths.header_cache;
        a folder under the system's temp dir when not given)."""
        self.endpoint = endpoint_url(endpoint)
        self.token = token if token is not None else resolve_token(None)
        self.header_cache = header_cache or Path(tempfile.gettempdir()) / "specchat-remote-headers"
        session()
        self.api = HfApi(endpoint=self.endpoint, token=self.token or False)

    @classmethod
    def for_app(cls, paths: AppPaths, endpoint: str | None = None) -> HubClient:
        """A client with the app's token (entered in SpecChat, else huggingface-hub's) and its header cache. Made
        anew for each use, so a token saved meanwhile takes effect."""
        return cls(endpoint, resolve_token(paths.hf_token), paths.header_cache)

    def ensure_reachable(self) -> None:
        """Raise HubUnreachable within seconds when the hub cannot be reached (reachability's probe), instead of
        letting huggingface-hub retry a dead connection for 23 s."""
        if not reachability.is_reachable(session, self.endpoint):
            raise HubUnreachable(self.endpoint)

    def _call(self, fn: Callable[[], T], repo_id: str, what: str = "") -> T:
        self.ensure_reachable()
        try:
            value = fn()
        except (hf_errors.HfHubHTTPError, httpx2.HTTPError) as e:
            if isinstance(e, hf_errors.HfHubHTTPError) and getattr(e, "response", None) is not None:
                reachability.mark_reachable(self.endpoint)  # it answered, if only with an error
            raise explain(e, repo_id, self.endpoint, what, bool(self.token)) from e
        reachability.mark_reachable(self.endpoint)
        return value

    def search(self, query: str = "", sort: str = "downloads", limit: int = 40) -> list[RepoSummary]:
        """Model repos with GGUF files, most downloaded / liked / recent first."""
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}")

        def run() -> list[RepoSummary]:
            found = self.api.list_models(search=query.strip() or None, filter="gguf", sort=SORTS[sort],  # type: ignore[arg-type]
                                         limit=limit, expand=["downloads", "likes", "lastModified", "gated"])
            return [RepoSummary(m.id, m.downloads or 0, m.likes or 0, m.last_modified, bool(m.gated))
                    for m in found]

        results = self._call(run, f"search {query!r}")
        log.info("search %r by %s: %d repos", query, sort, len(results))
        return results

    def repo_files(self, repo_id: str, revision: str | None = None) -> RepoFiles:
        check_repo_id(repo_id)

        def run() -> RepoFiles:
            info = self.api.model_info(repo_id, revision=revision, files_metadata=True, timeout=30)
            files = tuple(
                RemoteFile(s.rfilename, (s.lfs.size if s.lfs else s.size) or 0, s.lfs.sha256 if s.lfs else "",
                           s.blob_id or "")
                for s in info.siblings or ())
            return RepoFiles(info.id, info.sha or revision or "main", bool(info.gated), files)

        return self._call(run, repo_id)

    def file_url(self, repo_id: str, path: str, revision: str = "main") -> str:
        return hf_hub_url(repo_id, path, revision=revision, endpoint=self.endpoint)

    @property
    def headers(self) -> dict[str, str]:
        return auth_headers(self.token)


def check_repo_id(repo_id: str) -> str:
    if not REPO_ID_RE.match(repo_id) or ".." in repo_id:
        raise HubError(f"{repo_id!r} is not a hub repo id (expected owner/name)")
    return repo_id
