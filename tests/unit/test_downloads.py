"""Downloads against a local hub server with real GGUF bytes and injected faults: dropped and stalled
connections, wrong bytes, 404, 401 for a gated repo, 5xx, a full disk; pause, resume, cancel, restart."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core.hub.downloads import DownloadJob, DownloadManager, RetryPolicy, State, destination, safe_component
from app.core.models.gguf_reader import GGUFError
from app.core.hub.client import HubClient, HubError
from app.core.models.importer import ImportError_, import_gguf
from app.core.models.library import ModelLibrary
from app.core.infra.paths import app_paths
from app.core.hub.transfer import PartSpec
from tests.fixtures.fake_hub import TOKEN, FakeHub

REPO = "t/Tiny-GGUF"
FILE = "tiny-Q8_0.gguf"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hub(fixtures: dict[str, Path]) -> Iterator[FakeHub]:
    with FakeHub() as h:
        h.add(REPO, {FILE: fixtures["base"], "README.md": b"# tiny"})
        yield h


@pytest.fixture
def make_manager(hub: FakeHub) -> Iterator[Callable[..., DownloadManager]]:
    made: list[DownloadManager] = []

    def make(token: str = "", **kw: object) -> DownloadManager:
        paths = app_paths().ensure()
        kw.setdefault("retry", RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.2))
        kw.setdefault("stall_timeout", 1.0)
        m = DownloadManager(paths.models, paths.downloads, lambda: HubClient(hub.url, token=token), **kw)  # type: ignore[arg-type]
        made.append(m)
        return m

    yield make
    for m in made:
        m.shutdown()


def library_paths() -> list[str]:
    paths = app_paths()
    return [e.path for e in ModelLibrary([paths.models], paths.database).scan()]


def finished(m: DownloadManager, job: DownloadJob, timeout: float = 30) -> DownloadJob:
    job = m.wait(job.id, timeout)
    assert job.state.finished or job.state == State.PAUSED, job
    return job


def test_download_lands_verified_in_the_library(make_manager: Callable[..., DownloadManager], hub: FakeHub,
                                                fixtures: dict[str, Path]) -> None:
    events: list[DownloadJob] = []
    m = make_manager(listener=events.append)
    job = finished(m, m.enqueue_file(REPO, FILE))
    assert job.state == State.DONE, job.error
    path = job.model_path(app_paths().models)
    assert path == app_paths().models / "t" / "Tiny-GGUF" / FILE
    assert path.read_bytes() == fixtures["base"].read_bytes()
    assert library_paths() == [str(path)]
    assert not (app_paths().downloads / job.id).exists()  # no partial left behind
    states = [e.state for e in events]
    assert states[0] == State.QUEUED and State.RUNNING in states and states[-1] == State.DONE
    assert events[-1].done_bytes == events[-1].total_bytes == fixtures["base"].stat().st_size
    again = m.enqueue_file(REPO, FILE)  # already there: nothing is fetched twice
    assert again.state == State.DONE and "already" in again.error
    assert len(hub.ranges(FILE)) == 1


def test_dropped_connection_resumes_with_range(make_manager: Callable[..., DownloadManager], hub: FakeHub,
                                               fixtures: dict[str, Path]) -> None:
    hub.fault(REPO, FILE).drop_after = [1_500_000, 2_500_000]
    m = make_manager()
    job = finished(m, m.enqueue_file(REPO, FILE))
    assert job.state == State.DONE, job.error
    ranges = hub.ranges(FILE)
    assert len(ranges) == 3 and ranges[0] == "" and ranges[1].startswith("bytes=") and ranges[2].startswith("bytes=")
    assert 0 < int(ranges[1][6:-1]) <= 1_500_000 < int(ranges[2][6:-1])  # each attempt resumed, none restarted
    assert job.model_path(app_paths().models).read_bytes() == fixtures["base"].read_bytes()


def test_stalled_connection_is_detected_and_retried(make_manager: Callable[..., DownloadManager],
                                                    hub: FakeHub) -> None:
    hub.fault(REPO, FILE).stall_after = [(1_000_000, 3.0)]
    events: list[DownloadJob] = []
    m = make_manager(listener=events.append, stall_timeout=0.5)
    started = time.monotonic()
    job = finished(m, m.enqueue_file(REPO, FILE))
    assert job.state == State.DONE, job.error
    assert time.monotonic() - started < 3.0  # it did not wait for the stalled server to give up
    assert any(e.state == State.RETRYING and "stalled" in e.error for e in events)


def test_server_errors_are_retried_with_backoff(make_manager: Callable[..., DownloadManager], hub: FakeHub) -> None:
    hub.fault(REPO, FILE).status = [503, 502]
    events: list[DownloadJob] = []
    m = make_manager(listener=events.append)
    job = finished(m, m.enqueue_file(REPO, FILE))
    assert job.state == State.DONE, job.error
    retries = [e.error for e in events if e.state == State.RETRYING]
    assert len(retries) == 2 and "503" in retries[0] and "attempt 2 of 4" in retries[0]


def test_wrong_bytes_never_reach_the_library(make_manager: Callable[..., DownloadManager], hub: FakeHub) -> None:
    hub.fault(REPO, FILE).corrupt = True
    m = make_manager()
    job = finished(m, m.enqueue_file(REPO, FILE))
    assert job.state == State.FAILED
    assert "do not match the hub's checksum" in job.error and "2 times" in job.error
    assert library_paths() == []
    assert not any(app_paths().downloads.rglob("*.part")) and not any(app_paths().downloads.rglob("*.ok"))
    assert len(hub.ranges(FILE)) == 2  # one whole re-download, then it stops


def test_only_a_checksum_mismatch_counts_as_one(make_manager: Callable[..., DownloadManager], hub: FakeHub,
                                               fixtures: dict[str, Path]) -> None:
    """Dropped connections of a file whose name says "checksum" are network errors: resumed, not counted as
    damaged downloads (the retry was once chosen by looking for the word in the message)."""
    name = "checksum-Q8_0.gguf"
    hub.add("t/Checksum-GGUF", {name: fixtures["base"]})
    hub.fault("t/Checksum-GGUF", name).drop_after = [1_000_000, 2_000_000, 3_000_000]
    m = make_manager()
    job = finished(m, m.enqueue_file("t/Checksum-GGUF", name))
    assert job.state == State.DONE, job.error
    assert job.model_path(app_paths().models).read_bytes() == fixtures["base"].read_bytes()


def test_missing_file_names_what_the_repo_has(make_manager: Callable[..., DownloadManager]) -> None:
    m = make_manager()
    with pytest.raises(HubError, match=r"t/Tiny-GGUF has no file 'nope.gguf'; it has tiny-Q8_0.gguf"):
        m.enqueue_file(REPO, "nope.gguf")
    with pytest.raises(HubError, match="README.md is not a GGUF model file"):
        m.enqueue_file(REPO, "README.md")
    with pytest.raises(HubError, match="was not found"):
        m.enqueue_file("t/nothing-here", FILE)


def test_file_gone_from_the_cdn_fails_without_retrying(make_manager: Callable[..., DownloadManager],
                                                      hub: FakeHub) -> None:
    hub.fault(REPO, FILE).status = [404]
    m = make_manager()
    job = finished(m, m.enqueue_file(REPO, FILE))
    assert job.state == State.FAILED and "does not exist" in job.error and job.attempt == 0


def test_gated_repo_needs_a_token(make_manager: Callable[..., DownloadManager], hub: FakeHub,
                                  fixtures: dict[str, Path]) -> None:
    hub.add("meta/Gated-GGUF", {FILE: fixtures["base"]}, gated=True)
    m = make_manager()
    job = finished(m, m.enqueue_file("meta/Gated-GGUF", FILE))
    assert job.state == State.FAILED
    assert "meta/Gated-GGUF is gated" in job.error and "token" in job.error and job.attempt == 0
    hf_requests = [h for meth, p, h in hub.requests if "resolve" in p]
    assert all("authorization" not in h for h in hf_requests)
    m.shutdown()
    m2 = make_manager(token=TOKEN)  # the next start (with a token saved): the failed job is still listed
    assert m2.job(job.id).state == State.FAILED
    m2.resume(job.id)  # "Resume / retry"
    job2 = finished(m2, m2.job(job.id))
    assert job2.state == State.DONE, job2.error


def test_not_enough_free_space_is_refused_before_downloading(make_manager: Callable[..., DownloadManager],
                                                             hub: FakeHub) -> None:
    m = make_manager(reserve_bytes=1 << 60)
    job = finished(m, m.enqueue_file(REPO, FILE))
    assert job.state == State.FAILED
    assert re.match(r"not enough disk space: it needs 0\.0\d GiB more and .* has [\d.]+ GiB free", job.error)
    assert hub.ranges(FILE) == []


def test_disk_full_mid_download_keeps_what_it_has(make_manager: Callable[..., DownloadManager],
                                                  hub: FakeHub) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    hub.fault(REPO, FILE).chunk_delay = 0.03
    m = make_manager()
    job = m.enqueue_file(REPO, FILE)
    m.pause(job.id)
    assert m.wait(job.id, 10).state == State.PAUSED
    part = app_paths().downloads / job.id / (FILE + ".part")
    part.unlink(missing_ok=True)
    part.symlink_to("/dev/full")  # every write there fails with ENOSPC
    m.resume(job.id)
    job = finished(m, job)
    assert job.state == State.FAILED and job.error.startswith("the disk is full")
    assert library_paths() == []


def test_pause_resume_and_cancel(make_manager: Callable[..., DownloadManager], hub: FakeHub,
                                 fixtures: dict[str, Path]) -> None:
    hub.fault(REPO, FILE).chunk_delay = 0.03
    m = make_manager()
    job = m.enqueue_file(REPO, FILE)
    _wait_for(lambda: m.job(job.id).done_bytes > 500_000)
    m.pause(job.id)
    paused = finished(m, job)
    assert paused.state == State.PAUSED and 0 < paused.done_bytes < paused.total_bytes
    held = (app_paths().downloads / job.id / (FILE + ".part")).stat().st_size
    assert held >= 500_000
    hub.fault(REPO, FILE).chunk_delay = 0
    m.resume(job.id)
    done = finished(m, job)
    assert done.state == State.DONE, done.error
    assert hub.ranges(FILE)[-1] == f"bytes={held}-"
    assert done.model_path(app_paths().models).read_bytes() == fixtures["base"].read_bytes()

    hub.add("t/Other-GGUF", {FILE: fixtures["base_draft"]})
    hub.fault("t/Other-GGUF", FILE).chunk_delay = 0.03
    other = m.enqueue_file("t/Other-GGUF", FILE)
    _wait_for(lambda: m.job(other.id).done_bytes > 200_000)
    m.cancel(other.id)
    assert finished(m, other).state == State.CANCELLED
    assert not (app_paths().downloads / other.id).exists()
    assert library_paths() == [str(done.model_path(app_paths().models))]


def test_a_restart_resumes_interrupted_downloads(make_manager: Callable[..., DownloadManager], hub: FakeHub,
                                                 fixtures: dict[str, Path]) -> None:
    hub.fault(REPO, FILE).chunk_delay = 0.03
    first = make_manager()
    job = first.enqueue_file(REPO, FILE)
    _wait_for(lambda: first.job(job.id).done_bytes > 300_000)
    first.shutdown()  # the app quits mid-download
    saved = json.loads((app_paths().downloads / "queue.json").read_text())
    assert saved["jobs"][0]["state"] == "running" or saved["jobs"][0]["state"] == "queued"
    hub.fault(REPO, FILE).chunk_delay = 0
    second = make_manager()  # the next start picks it up by itself
    done = finished(second, second.job(job.id))
    assert done.state == State.DONE, done.error
    assert hub.ranges(FILE)[-1].startswith("bytes=") and hub.ranges(FILE)[-1] != "bytes=0-"
    assert done.model_path(app_paths().models).read_bytes() == fixtures["base"].read_bytes()


def test_parallel_limit(make_manager: Callable[..., DownloadManager], hub: FakeHub, fixtures: dict[str, Path]) -> None:
    for i in range(3):
        hub.add(f"t/M{i}-GGUF", {FILE: fixtures["base_draft"]})
        hub.fault(f"t/M{i}-GGUF", FILE).chunk_delay = 0.02
    most = [0]
    m = make_manager(max_parallel=2,
                     listener=lambda j: most.__setitem__(0, max(most[0], sum(x.state == State.RUNNING
                                                                          for x in m.jobs()))))
    jobs = [m.enqueue_file(f"t/M{i}-GGUF", FILE) for i in range(3)]
    assert all(finished(m, j).state == State.DONE for j in jobs)
    assert most[0] == 2


def test_split_model_appears_all_at_once(make_manager: Callable[..., DownloadManager], hub: FakeHub,
                                         fixtures: dict[str, Path]) -> None:
    hub.add("t/Split-GGUF", {"Q8_0/big-Q8_0-00001-of-00002.gguf": fixtures["base"],
                             "Q8_0/big-Q8_0-00002-of-00002.gguf": fixtures["base_draft"]})
    m = make_manager()
    job = finished(m, m.enqueue_file("t/Split-GGUF", "Q8_0/big-Q8_0-00002-of-00002.gguf"))  # any part names it
    assert job.state == State.DONE and len(job.parts) == 2
    first = job.model_path(app_paths().models)
    assert first == app_paths().models / "t" / "Split-GGUF" / "Q8_0" / "big-Q8_0" / "big-Q8_0-00001-of-00002.gguf"
    assert sorted(p.name for p in first.parent.iterdir()) == ["big-Q8_0-00001-of-00002.gguf",
                                                              "big-Q8_0-00002-of-00002.gguf"]
    assert library_paths() == [str(first)]


def test_hub_names_cannot_escape_the_models_dir() -> None:
    assert safe_component("a/b").startswith("a_b-") and safe_component("..hidden").startswith("hidden-")
    assert safe_component("m.gguf") == "m.gguf"  # a clean name stays as it is
    # names that clean alike get distinct files; long and dotted names keep .gguf
    assert safe_component("a?b.gguf") != safe_component("a*b.gguf")
    assert all(safe_component(n).endswith(".gguf") and len(safe_component(n)) <= 150
               for n in ("x" * 300 + ".gguf", "model.gguf.", "model.GGUF ", "..m.gguf"))
    with pytest.raises(HubError):
        safe_component("..")
    with pytest.raises(HubError, match="cannot be used as a file name"):
        destination("o/r", [PartSpec("../../../etc/evil.gguf", 1, "")])
    assert destination("o/r", [PartSpec("sub/dir/m.gguf", 1, "")]).as_posix() == "o/r/sub/dir/m.gguf"
    with pytest.raises(HubError, match="not a hub repo id"):
        destination("../x", [PartSpec("m.gguf", 1, "")])


def test_cli_download(hub: FakeHub, fixtures: dict[str, Path], specchat_home: Path) -> None:
    env = {**os.environ, "SPECCHAT_HOME": str(specchat_home)}
    run = subprocess.run([sys.executable, "-m", "app", "download", REPO, FILE, "--endpoint", hub.url, "--json"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert Path(out["path"]).read_bytes() == fixtures["base"].read_bytes()
    assert out["sha256"] == [hub.sha256(REPO, FILE)]
    bad = subprocess.run([sys.executable, "-m", "app", "download", REPO, "nope.gguf", "--endpoint", hub.url],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert bad.returncode == 1  # the command ran and failed (README: exit codes)
    assert bad.stderr.strip().splitlines()[-1].startswith("error: t/Tiny-GGUF has no file 'nope.gguf'")


def test_import_copy_move_link_and_refuse_broken(fixtures: dict[str, Path], tmp_path: Path) -> None:
    models = app_paths().ensure().models
    src = tmp_path / "mine.gguf"
    src.write_bytes(fixtures["base"].read_bytes())
    copied = import_gguf(src, models, "copy")
    assert copied == models / "imported" / "mine.gguf" and src.exists()
    assert import_gguf(src, models, "copy") == copied  # the same file again: nothing new
    linked_src = tmp_path / "linked.gguf"
    linked_src.write_bytes(fixtures["base_draft"].read_bytes())
    linked = import_gguf(linked_src, models, "link")
    assert linked.is_symlink() and linked.resolve() == linked_src.resolve()
    moved_src = tmp_path / "moved.gguf"
    moved_src.write_bytes(fixtures["base_draft"].read_bytes())
    moved = import_gguf(moved_src, models, "move")
    assert moved.exists() and not moved_src.exists()
    assert sorted(library_paths()) == sorted(str(p) for p in (copied, linked, moved))
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(fixtures["base"].read_bytes()[:100_000])
    with pytest.raises(GGUFError, match="truncated"):
        import_gguf(broken, models, "copy")
    other = tmp_path / "x" / "mine.gguf"
    other.parent.mkdir()
    other.write_bytes(fixtures["base_draft"].read_bytes())
    with pytest.raises(ImportError_, match="already exists with other content"):
        import_gguf(other, models, "copy")
    assert not any(p.name.startswith(".") for p in (models / "imported").iterdir())


def _wait_for(cond: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
