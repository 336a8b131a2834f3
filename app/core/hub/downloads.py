"""The download queue: jobs, a parallel limit, pause/resume/cancel, retries with backoff, resume after restarts.

A job is one model: a GGUF file, or every part of a split one. Its parts are fetched into the downloads dir
(beside the models dir, so the final move is a rename on the same filesystem), verified, and only then moved into
the models dir: a single file with one os.replace, a split model as one directory rename. The library never sees
a partial or unverified file.

The queue is saved to downloads/queue.json on every state change. Jobs that were running when the app stopped
come back queued and resume from their partial files (the revision is pinned to a commit, so the bytes cannot
change under a resumed download).

Threads: one per running job; the listener is called from them (and from timers) with a snapshot of the job, so a
Qt adapter can re-emit it as a signal and the CLI can print it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from app.core.infra.damaged_files import set_aside
from app.core.infra.disk import free_space_error
# the job model lives in download_jobs; its names are imported from here by the UI, the CLI and the tests
from app.core.hub.download_jobs import (DownloadJob, RetryPolicy, State, destination, installed_file, is_inside,
                                        safe_component)
from app.core.hub.gguf_files import GgufChoice, group_gguf_files
from app.core.hub.client import HubClient, HubError
from app.core.hub.transfer import ChecksumMismatch, PartSpec, TransferError, TransferStopped, fetch_part

log = logging.getLogger("specchat.downloads")

QUEUE_FILE = "queue.json"
_JOB_ID = re.compile(r"[0-9a-f]{12}")  # uuid4().hex[:12], as enqueue() makes them


class DownloadManager:
    def __init__(self, models_dir: Path, downloads_dir: Path, client_factory: Callable[[], HubClient],
                 max_parallel: int = 2, listener: Callable[[DownloadJob], None] | None = None,
                 retry: RetryPolicy | None = None, stall_timeout: float = 30.0, reserve_bytes: int = 256 << 20,
                 autostart: bool = True) -> None:
        """autostart: resume the restored queue now; else the owner calls start() when it is ready (the window
        does once its event loop runs, so building a window, as the self-test does, starts no transfer)."""
        self.models_dir = models_dir
        self.downloads_dir = downloads_dir
        self.client_factory = client_factory
        self.max_parallel = max_parallel
        self.listener = listener
        self.retry = retry or RetryPolicy()
        self.stall_timeout = stall_timeout
        self.reserve_bytes = reserve_bytes
        self._lock = threading.RLock()
        self._jobs: dict[str, DownloadJob] = {}
        self._stop: dict[str, str] = {}  # job id -> "pause" | "cancel" for running jobs
        self._threads: dict[str, threading.Thread] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._closed = False
        self._changed = threading.Condition(self._lock)
        downloads_dir.mkdir(parents=True, exist_ok=True)
        self._load()
        if autostart:
            self.start()

    # --- queue file ---
    def _queue_path(self) -> Path:
        return self.downloads_dir / QUEUE_FILE

    def _load(self) -> None:
        path = self._queue_path()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("jobs", []), list):
                raise ValueError("not a download queue")
            raw_jobs = data.get("jobs", [])
        except FileNotFoundError:
            return
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError, OSError, HubError) as e:
            try:
                set_aside(path, f"the download queue {path.name} was unreadable ({type(e).__name__}: {str(e)[:120]})")
            except OSError as err:
                log.error("download queue unreadable (%s) and cannot be moved aside (%s)", e, err)
            return
        jobs = []
        for d in raw_jobs:  # one bad job is dropped with a word; the others still resume
            try:
                job = DownloadJob.from_json(d)
                self._check_restored(job)
                jobs.append(job)
            except (ValueError, TypeError, KeyError, AttributeError, HubError) as e:
                log.error("download queue: dropped a job that cannot be restored (%s: %s)", type(e).__name__, e)
        for job in jobs:
            if job.state in (State.RUNNING, State.RETRYING):
                job.state = State.QUEUED  # interrupted by the last exit: carry on from the partial files
            job.speed = 0.0
            self._jobs[job.id] = job
        log.info("download queue: %d jobs restored", len(jobs))

    def _check_restored(self, job: DownloadJob) -> None:
        """queue.json is a file anyone can edit: its ids and paths must not lead out of our folders (Cancel
        deletes downloads/<id>/, installing writes models/<dest>)."""
        if not isinstance(job.id, str) or not _JOB_ID.fullmatch(job.id):
            raise ValueError(f"job id {str(job.id)[:40]!r} is not one SpecChat made")
        if not isinstance(job.dest, str) or not job.dest or PurePosixPath(job.dest).is_absolute() or \
                ".." in PurePosixPath(job.dest).parts or not is_inside(self.models_dir, self.models_dir / job.dest):
            raise ValueError(f"job {job.id} has a destination outside the models folder")
        for p in job.parts:
            safe_component(PurePosixPath(p.path).name)
            if not isinstance(p.size, int) or p.size < 0:
                raise ValueError(f"job {job.id} has a part of size {p.size!r}")

    def _save(self) -> None:
        jobs = [j.to_json() for j in self._jobs.values() if j.state != State.CANCELLED]
        tmp = self._queue_path().with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"version": 1, "jobs": jobs}, indent=1), encoding="utf-8")
            os.replace(tmp, self._queue_path())
        except OSError as e:  # a full disk must not take the queue down with it: the jobs live on in memory
            log.error("cannot save the download queue: %s", e)
            tmp.unlink(missing_ok=True)

    # --- notifications ---
    def _emit(self, job: DownloadJob, save: bool = True) -> None:
        with self._lock:
            if save:
                self._save()
            snapshot = dataclasses.replace(job, parts=list(job.parts))
            self._changed.notify_all()
        if self.listener:
            try:
                self.listener(snapshot)
            except Exception:  # noqa: BLE001 - a broken listener must not kill a download
                log.exception("download listener failed")

    # --- public API ---
    def start(self) -> None:
        """Run queued jobs (up to the parallel limit); enqueue() and resume() do this by themselves."""
        self._pump()

    def jobs(self) -> list[DownloadJob]:
        with self._lock:
            return [dataclasses.replace(j, parts=list(j.parts)) for j in
                    sorted(self._jobs.values(), key=lambda j: j.created)]

    def job(self, job_id: str) -> DownloadJob:
        with self._lock:
            j = self._jobs[job_id]
            return dataclasses.replace(j, parts=list(j.parts))

    def enqueue(self, repo_id: str, revision: str, choice: GgufChoice, group: str = "") -> DownloadJob:
        parts = [PartSpec(p.path, p.size, p.sha256, p.blob_id) for p in choice.parts]
        if not choice.complete:
            raise HubError(f"{repo_id}: {choice.name} is a split model whose parts are not all in the repo")
        dest = destination(repo_id, parts)
        if not is_inside(self.models_dir, self.models_dir / dest):
            raise HubError(f"{repo_id}/{choice.name}: refusing a destination outside the models folder")
        with self._lock:
            for j in self._jobs.values():
                if j.dest == str(dest) and not j.state.finished:
                    return dataclasses.replace(j)  # already queued, running or paused: one job per file
            job = DownloadJob(uuid.uuid4().hex[:12], repo_id, revision, choice.name, parts, str(dest), group=group)
            self._jobs[job.id] = job
            if installed_file(self.models_dir, repo_id, parts):
                job.state, job.done_bytes = State.DONE, job.total_bytes
                job.error = "already in the library"
            log.info("queued %s/%s (%d parts, %d bytes) -> %s", repo_id, choice.name, len(parts),
                     job.total_bytes, dest)
        self._emit(job)
        self._pump()
        return self.job(job.id)

    def enqueue_file(self, repo_id: str, filename: str, revision: str | None = None, group: str = "") -> DownloadJob:
        """Look the file up on the hub (size, sha256, the other parts of a split model) and queue it."""
        client = self.client_factory()
        listing = client.repo_files(repo_id, revision)
        choices = group_gguf_files(listing.files)
        for choice in choices:
            if any(p.path == filename for p in choice.parts) or choice.name == filename:
                return self.enqueue(repo_id, listing.revision, choice, group)
        if any(f.path == filename for f in listing.files):
            raise HubError(f"{repo_id}/{filename} is not a GGUF model file")
        ggufs = [c.name for c in choices if not c.is_projector]
        hint = f"; it has {', '.join(ggufs[:6])}{'…' if len(ggufs) > 6 else ''}" if ggufs else "; it has no GGUF files"
        raise HubError(f"{repo_id} has no file {filename!r}{hint}")

    def pause(self, job_id: str) -> None:
        self._interrupt(job_id, "pause", State.PAUSED)

    def cancel(self, job_id: str) -> None:
        self._interrupt(job_id, "cancel", State.CANCELLED)

    def resume(self, job_id: str) -> None:
        """Also the retry of a failed job (attempt counters start over)."""
        with self._lock:
            job = self._jobs[job_id]
            if job.state not in (State.PAUSED, State.FAILED):
                return
            job.state, job.error, job.attempt, job.checksum_failures = State.QUEUED, "", 0, 0
        self._emit(job)
        self._pump()

    def remove(self, job_id: str) -> None:
        """Forget a finished job (the downloaded model stays in the library)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or not job.state.finished:
                return
            del self._jobs[job_id]
            self._save()

    def wait(self, job_id: str, timeout: float | None = None) -> DownloadJob:
        """Block until the job is finished or paused (or the timeout passes); for the CLI and tests."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                job = self._jobs[job_id]
                if job.state.finished or job.state == State.PAUSED:
                    return dataclasses.replace(job)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return dataclasses.replace(job)
                self._changed.wait(left if left is not None else 1.0)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every transfer, keeping partial files; running jobs resume at the next start."""
        with self._lock:
            self._closed = True
            for timer in self._timers.values():
                timer.cancel()
            for job_id in list(self._threads):
                self._stop[job_id] = "shutdown"
            threads = list(self._threads.values())
        for t in threads:
            t.join(timeout)
        with self._lock:
            self._save()

    # --- scheduling ---
    def _interrupt(self, job_id: str, how: str, state: State) -> None:
        with self._lock:
            job = self._jobs[job_id]
            if job.state.finished:
                return
            if job_id in self._threads:
                self._stop[job_id] = how  # the transfer thread sees it within one chunk and settles the state
                return
            timer = self._timers.pop(job_id, None)
            if timer:
                timer.cancel()
            if state == State.PAUSED and job.state == State.PAUSED:
                return
            job.state, job.speed = state, 0.0
            if state == State.CANCELLED:
                self._delete_partials(job)
        self._emit(job)
        self._pump()

    def _pump(self) -> None:
        with self._lock:
            if self._closed:
                return
            running = len(self._threads)
            for job in sorted(self._jobs.values(), key=lambda j: j.created):
                if running >= self.max_parallel:
                    break
                if job.state == State.QUEUED and job.id not in self._threads:
                    job.state = State.RUNNING
                    t = threading.Thread(target=self._run, args=(job,), name=f"download-{job.id}", daemon=True)
                    self._threads[job.id] = t
                    running += 1
                    t.start()

    def _work_dir(self, job: DownloadJob) -> Path:
        return self.downloads_dir / job.id

    def _delete_partials(self, job: DownloadJob) -> None:
        work = self._work_dir(job)
        if _JOB_ID.fullmatch(job.id) and is_inside(self.downloads_dir, work):  # never a folder outside downloads/
            shutil.rmtree(work, ignore_errors=True)

    def _run(self, job: DownloadJob) -> None:
        self._emit(job)
        outcome: tuple[State, str] = (State.FAILED, "")
        try:
            outcome = self._transfer(job)
        except TransferStopped:
            how = self._stop.get(job.id, "pause")
            outcome = (State.CANCELLED, "") if how == "cancel" else \
                (State.QUEUED, "") if how == "shutdown" else (State.PAUSED, "")
        except TransferError as e:
            outcome = self._after_error(job, e)
        except HubError as e:
            outcome = self._after_error(job, TransferError(str(e), e.retryable))
        except Exception as e:  # noqa: BLE001 - a bug must fail the job, not the app
            log.exception("download %s failed", job.name)
            outcome = (State.FAILED, f"unexpected error: {type(e).__name__}: {e}")
        with self._lock:
            self._threads.pop(job.id, None)
            self._stop.pop(job.id, None)
            job.state, job.error, job.speed = outcome[0], outcome[1], 0.0
            if job.state == State.CANCELLED:
                self._delete_partials(job)
            if job.state == State.RETRYING and not self._closed:
                delay = max(0.0, job.retry_at - time.time())
                timer = threading.Timer(delay, self._retry_now, args=(job.id,))
                timer.daemon = True
                self._timers[job.id] = timer
                timer.start()
        log.info("%s: %s %s", job.name, job.state.value, job.error)
        self._emit(job)
        self._pump()

    def _after_error(self, job: DownloadJob, e: TransferError) -> tuple[State, str]:
        if isinstance(e, ChecksumMismatch):
            job.checksum_failures += 1
            if job.checksum_failures >= self.retry.checksum_attempts:
                return State.FAILED, f"{e} ({job.checksum_failures} times: the file on the hub may be damaged)"
        if not e.retryable:
            return State.FAILED, str(e)
        job.attempt += 1
        if job.attempt >= self.retry.attempts:
            return State.FAILED, f"{e} (gave up after {job.attempt} attempts)"
        delay = self.retry.delay(job.attempt)
        job.retry_at = time.time() + delay
        return State.RETRYING, f"{e}; retrying in {delay:g} s (attempt {job.attempt + 1} of {self.retry.attempts})"

    def _retry_now(self, job_id: str) -> None:
        with self._lock:
            self._timers.pop(job_id, None)
            job = self._jobs.get(job_id)
            if job is None or job.state != State.RETRYING:
                return
            job.state = State.QUEUED
        self._pump()

    def _transfer(self, job: DownloadJob) -> tuple[State, str]:
        work = self._work_dir(job)
        work.mkdir(parents=True, exist_ok=True)
        files = [work / (safe_component(PurePosixPath(p.path).name) + ".part") for p in job.parts]
        held = sum(f.stat().st_size for f in files if f.exists())
        problem = free_space_error(work, job.total_bytes - held, self.reserve_bytes)
        if problem:
            return State.FAILED, problem
        client = self.client_factory()
        base = 0
        window = [time.monotonic(), held]

        def stopping() -> bool:
            return job.id in self._stop

        for spec, part in zip(job.parts, files):
            done_file = part.with_suffix(".ok")
            if done_file.exists():
                base += spec.size
                continue

            def on_bytes(n: int, base: int = base) -> None:
                now = time.monotonic()
                job.done_bytes = base + n
                if now - window[0] >= 0.5:  # speed over half-second windows, smoothed
                    rate = (job.done_bytes - window[1]) / (now - window[0])
                    job.speed = rate if job.speed == 0 else 0.6 * job.speed + 0.4 * rate
                    window[:] = [now, job.done_bytes]
                    if rate > 0:
                        job.attempt = 0  # progress: the retry budget starts over
                self._emit(job, save=False)

            fetch_part(client, job.repo_id, job.revision, spec, part, stopping, on_bytes, self.stall_timeout)
            os.replace(part, done_file)  # verified: a later resume skips it
            base += spec.size
        self._install(job, files)
        return State.DONE, ""

    def _install(self, job: DownloadJob, files: list[Path]) -> None:
        final = self.models_dir / job.dest
        final.parent.mkdir(parents=True, exist_ok=True)
        oks = [f.with_suffix(".ok") for f in files]
        if len(oks) == 1:
            os.replace(oks[0], final)
        else:  # a split model appears all at once: its parts go into a hidden dir that is renamed into place
            staging = final.parent / f".{final.name}.incoming-{job.id}"
            staging.mkdir(exist_ok=True)
            for spec, ok in zip(job.parts, oks):
                os.replace(ok, staging / PurePosixPath(spec.path).name)
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
        shutil.rmtree(self._work_dir(job), ignore_errors=True)
        job.done_bytes = job.total_bytes
        log.info("installed %s -> %s", job.name, final)
