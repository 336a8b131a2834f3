"""Is the hub there at all? One quick look before a hub call, so an unreachable hub is said in seconds.

huggingface-hub retries a refused or unresolvable connection five times with backoff (1+2+4+8+8 s): a search
against an unreachable hub took 23 s to fail, and then only as a raw ConnectError. One HEAD request with a short
timeout answers first: any HTTP answer (even 404 or 500) means the endpoint is reachable, and the real call goes
ahead; a connection that cannot be made means it is not, and nothing else is tried. The request goes through the
same HTTP client as every hub call, so HTTPS_PROXY / HTTP_PROXY / NO_PROXY apply to it exactly as to them.

A success is remembered for a short while per endpoint (SUCCESS_TTL): the draft finder's dozen calls cost one
probe, not twelve. A failure is never remembered: Retry must look again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import httpx2

log = logging.getLogger("specchat.hub")

PROBE_TIMEOUT = 3.0  # seconds for the connection and the answer's headers
# getaddrinfo is not bounded by httpx's connect timeout (a resolver that does not answer can take 10 s and more):
# the probe runs on a thread and is given up after this long
PROBE_DEADLINE = PROBE_TIMEOUT + 1.0
SUCCESS_TTL = 30.0

_lock = threading.Lock()
_reachable_at: dict[str, float] = {}  # endpoint -> monotonic time of its last answer


def mark_reachable(endpoint: str) -> None:
    """The endpoint answered a real call: no probe is needed for a while."""
    with _lock:
        _reachable_at[endpoint] = time.monotonic()


def recently_reachable(endpoint: str, ttl: float = SUCCESS_TTL) -> bool:
    with _lock:
        at = _reachable_at.get(endpoint)
    return at is not None and time.monotonic() - at < ttl


def forget(endpoint: str) -> None:
    """A real call could not connect: the next one probes again."""
    with _lock:
        _reachable_at.pop(endpoint, None)


def probe(client: Callable[[], httpx2.Client], endpoint: str, timeout: float = PROBE_TIMEOUT,
          deadline: float = PROBE_DEADLINE) -> str | None:
    """None when `endpoint` answers, else why not (for the log: it names exception classes, the user never sees
    it). `client`: the shared hub HTTP client's factory (its proxies and user agent)."""
    outcome: list[str | None] = []

    def look() -> None:
        try:
            # no redirects: a mirror's front page may redirect elsewhere, and any answer at all is enough
            client().head(f"{endpoint}/api/models", timeout=httpx2.Timeout(timeout), follow_redirects=False)
            outcome.append(None)
        except httpx2.HTTPError as e:
            outcome.append(f"{type(e).__name__}: {e}")
        except OSError as e:  # the socket layer below httpx, should it leak through
            outcome.append(f"{type(e).__name__}: {e}")

    started = time.monotonic()
    t = threading.Thread(target=look, name="hub-probe", daemon=True)
    t.start()
    t.join(deadline)
    reason = outcome[0] if outcome else f"no answer within {deadline:.0f} s (name resolution or connection hangs)"
    elapsed = time.monotonic() - started
    if reason is None:
        mark_reachable(endpoint)
        log.debug("hub %s reachable (%.2f s)", endpoint, elapsed)
    else:
        log.warning("hub %s unreachable after %.2f s: %s", endpoint, elapsed, reason)
    return reason


def is_reachable(client: Callable[[], httpx2.Client], endpoint: str) -> bool:
    """Recently answered, or answers a probe now."""
    return recently_reachable(endpoint) or probe(client, endpoint) is None
