"""Hub search, file listings, remote headers and the draft finder, against a local server speaking the hub API."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from app.core.hub.catalog import CatalogModel, load_catalog, pair_fit, resolve, sort_by_fit
from app.core.models.compat import check_compatibility
from app.core.hub import reachability
from app.core.hub.draft_families import family_of
from app.core.hub.draft_finder import find_drafts, search_queries, size_from_name
from app.core.hub.gguf_files import MemoryBudget, group_gguf_files, quantization, recommend
from app.core.hub.client import (HubClient, HubError, HubUnreachable, RemoteFile, explain, resolve_token,
                                 save_token, session)
from app.core.models.model_info import read_model_info
from app.core.hub.remote_gguf import remote_model_info
from app.core.infra.paths import app_paths
from app.core.infra.settings import load_settings
from tests.fixtures.fake_hub import TOKEN, FakeHub, closed_port
from tests.fixtures.model_factory import Tokenizer, sdist_vocab, write_tiny_model

SMOL_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as h:
        yield h


def client(hub: FakeHub, token: str = "") -> HubClient:
    return HubClient(hub.url, token=token, header_cache=app_paths().header_cache)


def test_search_lists_gguf_repos_sorted(hub: FakeHub, fixtures: dict[str, Path]) -> None:
    hub.add("a/Popular-GGUF", {"p-Q8_0.gguf": fixtures["base"]}, downloads=900, likes=1,
            last_modified="2026-01-01T00:00:00.000Z")
    hub.add("b/Liked-GGUF", {"l-Q8_0.gguf": fixtures["base"]}, downloads=10, likes=99,
            last_modified="2026-02-01T00:00:00.000Z")
    hub.add("c/Fresh-GGUF", {"f-Q8_0.gguf": fixtures["base"]}, downloads=1, likes=0,
            last_modified="2026-03-01T00:00:00.000Z")
    hub.add("d/safetensors-only", {"model.safetensors": b"x"}, downloads=10_000)
    c = client(hub)
    assert [r.repo_id for r in c.search("", "downloads")] == ["a/Popular-GGUF", "b/Liked-GGUF", "c/Fresh-GGUF"]
    assert [r.repo_id for r in c.search("", "likes")][0] == "b/Liked-GGUF"
    assert [r.repo_id for r in c.search("", "recent")][0] == "c/Fresh-GGUF"
    assert [r.repo_id for r in c.search("liked")] == ["b/Liked-GGUF"]
    query = [p for m, p, h in hub.requests if p == "/api/models"]
    assert query, "the search went through the hub's /api/models"


def test_repo_files_grouped_with_quant_and_recommendation(hub: FakeHub, fixtures: dict[str, Path]) -> None:
    f = fixtures["base"]
    hub.add("o/Big-GGUF", {
        "Big-Q2_K.gguf": f, "Big-Q4_K_M.gguf": f, "Big-Q8_0.gguf": f, "Big-F16.gguf": f, "mmproj-Big-F16.gguf": f,
        "Q6_K/Big-Q6_K-00001-of-00002.gguf": f, "Q6_K/Big-Q6_K-00002-of-00002.gguf": f, "README.md": b"# Big",
    })
    listing = client(hub).repo_files("o/Big-GGUF")
    assert listing.revision and all(x.sha256 for x in listing.files if x.path.endswith(".gguf"))
    choices = group_gguf_files(listing.files)
    by_name = {c.name: c for c in choices}
    split = by_name["Q6_K/Big-Q6_K"]
    assert [p.path for p in split.parts] == ["Q6_K/Big-Q6_K-00001-of-00002.gguf", "Q6_K/Big-Q6_K-00002-of-00002.gguf"]
    assert split.quant == "Q6_K" and split.size == 2 * f.stat().st_size and split.complete
    assert by_name["mmproj-Big-F16.gguf"].is_projector
    assert "README.md" not in by_name
    size = f.stat().st_size
    # plenty of memory: the best quality short of F16; a budget for one file only: not the split Q6_K
    assert recommend(choices, 10 << 30).quant == "Q8_0"
    assert recommend(choices, int(size * 1.2) + (512 << 20) + 1).quant == "Q8_0"
    assert recommend(choices, 1000) is None


@pytest.mark.parametrize("name,quant", [
    ("Qwen2.5-0.5B-Instruct-Q8_0.gguf", "Q8_0"), ("qwen2.5-7b-instruct-q4_k_m-00001-of-00002.gguf", "Q4_K_M"),
    ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"), ("x-IQ4_XS.gguf", "IQ4_XS"), ("gemma-3-270m-it-BF16.gguf", "BF16"),
    ("model.gguf", ""),
])
def test_quantization_from_file_name(name: str, quant: str) -> None:
    assert quantization(name) == quant


def test_unknown_repo_and_gated_repo_say_what_to_do(hub: FakeHub, fixtures: dict[str, Path]) -> None:
    hub.add("meta/Gated-GGUF", {"g-Q8_0.gguf": fixtures["base"]}, gated=True)
    with pytest.raises(HubError, match="nobody/nothing was not found"):
        client(hub).repo_files("nobody/nothing")
    listing = client(hub).repo_files("meta/Gated-GGUF")  # the listing is public, the bytes are not
    choice = group_gguf_files(listing.files)[0]
    with pytest.raises(HubError, match=r"meta/Gated-GGUF is gated: open .*/meta/Gated-GGUF, accept its terms.*token"):
        remote_model_info(client(hub), listing.repo_id, listing.revision, choice)
    info = remote_model_info(client(hub, TOKEN), listing.repo_id, listing.revision, choice)
    assert info.tokenizer is not None
    with pytest.raises(HubError, match="not a hub repo id"):
        client(hub).repo_files("../../etc")


def test_unreachable_hub_is_said_in_seconds_without_exception_names(caplog: pytest.LogCaptureFixture) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"  # refuses connections, as a firewall that rejects does
    c = HubClient(endpoint, token="")
    for call in (lambda: c.search("qwen"), lambda: c.repo_files("a/b")):
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, "specchat.hub"), pytest.raises(HubUnreachable) as e:
            call()
        # huggingface-hub alone retried this connection for 23 s; the probe answers first
        assert time.monotonic() - started < 5
        assert str(e.value) == f"Can't reach the Hugging Face hub at {endpoint}"
        assert e.value.retryable and e.value.endpoint == endpoint and isinstance(e.value, HubError)
    assert "ConnectError" in caplog.text  # the cause is logged, never shown


def test_unreachable_then_back(fixtures: dict[str, Path]) -> None:
    """Failures are never remembered: once a hub listens on the endpoint, the next call goes through."""
    port = closed_port()
    c = HubClient(f"http://127.0.0.1:{port}", token="")
    with pytest.raises(HubUnreachable):
        c.search("tiny")
    with FakeHub(port) as h:
        h.add("t/Tiny-GGUF", {"tiny-Q8_0.gguf": fixtures["base"]})
        assert [r.repo_id for r in c.search("tiny")] == ["t/Tiny-GGUF"]
        assert h.searches == ["tiny"]  # the probe is a HEAD, not a search


def test_the_probe_gives_up_on_an_endpoint_that_never_answers() -> None:
    """A server that takes the connection and never answers (a proxy or firewall swallowing it) is unreachable
    within the probe's timeout, not after the hub client's 30 s read timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # connections complete in the backlog; nobody ever reads or answers
        endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        reason = reachability.probe(session, endpoint, timeout=0.5, deadline=2.0)
        assert reason is not None and "Timeout" in reason
        assert time.monotonic() - started < 2.5
        assert not reachability.recently_reachable(endpoint)


def test_the_probe_goes_through_the_given_client() -> None:
    """The probe goes through the client it is given (the hub's, with its proxy settings): behind a proxy that
    refuses, a hub that is up is unreachable, as every hub call would find it."""
    with FakeHub() as h:
        c = HubClient(h.url, token="")
        proxy_client = httpx2.Client(proxy=f"http://127.0.0.1:{closed_port()}")
        try:
            assert reachability.probe(lambda: proxy_client, h.url) is not None
        finally:
            proxy_client.close()
        assert reachability.probe(session, h.url) is None
        c.ensure_reachable()


def test_connection_errors_read_as_sentences(caplog: pytest.LogCaptureFixture) -> None:
    req = httpx2.Request("GET", "http://hub.example/api/models")
    refused = explain(httpx2.ConnectError("[Errno 111] Connection refused", request=req), "a/b", "http://hub.example")
    assert isinstance(refused, HubUnreachable) and str(refused) == "Can't reach the Hugging Face hub at http://hub.example"
    with caplog.at_level(logging.WARNING, "specchat.hub"):
        lost = explain(httpx2.RemoteProtocolError("Server disconnected", request=req), "a/b", "http://hub.example",
                       "f.gguf")
    assert str(lost) == "a/b/f.gguf: the connection to http://hub.example was lost" and lost.retryable
    assert not isinstance(lost, HubUnreachable)
    assert "RemoteProtocolError" in caplog.text and "Error" not in str(lost)


def test_remote_header_gives_the_local_verdict_from_a_few_mb(hub: FakeHub, smollm2_path: Path,
                                                              fixtures: dict[str, Path]) -> None:
    hub.add(SMOL_REPO, {SMOL_FILE: smollm2_path})
    listing = client(hub).repo_files(SMOL_REPO)
    choice = group_gguf_files(listing.files)[0]
    remote = remote_model_info(client(hub), SMOL_REPO, listing.revision, choice)
    local = read_model_info(smollm2_path)
    assert remote.tokenizer == local.tokenizer
    assert (remote.parameter_count, remote.file_size, remote.file_type) == \
           (local.parameter_count, local.file_size, local.file_type)
    fetched = sum(int(r.split("-")[1]) - int(r[6:].split("-")[0]) + 1 for r in hub.ranges(SMOL_FILE))
    assert fetched <= 4 << 20 < smollm2_path.stat().st_size // 20
    for name in ("base", "pad200", "tok100"):  # the same verdict and reasons as with the local file
        main = read_model_info(fixtures[name])
        assert check_compatibility(main, remote) == check_compatibility(main, local)
    remote_model_info(client(hub), SMOL_REPO, listing.revision, choice)  # a second look is served from the cache
    assert len(hub.ranges(SMOL_FILE)) == 1


def test_remote_header_larger_than_the_first_fetch(hub: FakeHub, gemma_path: Path) -> None:
    hub.add("google/gemma-3-270m-GGUF", {gemma_path.name: gemma_path})
    listing = client(hub).repo_files("google/gemma-3-270m-GGUF")
    remote = remote_model_info(client(hub), listing.repo_id, listing.revision, group_gguf_files(listing.files)[0])
    assert remote.tokenizer == read_model_info(gemma_path).tokenizer
    assert len(hub.ranges(gemma_path.name)) >= 2  # 262k tokens: the header is longer than the first 2 MB


def test_find_drafts_checks_tokenizers_not_names(hub: FakeHub, fixtures: dict[str, Path], tmp_path: Path,
                                                smol_tokenizer: Tokenizer) -> None:
    hub.add("t/Tiny-Draft-GGUF", {"tiny-draft-Q8_0.gguf": fixtures["base_draft"],
                                  "tiny-draft-Q4_K_M.gguf": fixtures["base_draft"]}, downloads=50)
    hub.add("t/Tiny-Renamed-Vocab-GGUF", {"tiny-Q8_0.gguf": fixtures["tok100"]}, downloads=40)
    hub.add("t/Tiny-SPM-GGUF", {"tiny-spm-Q8_0.gguf": fixtures["spm"]}, downloads=30)
    hub.add("t/Tiny-Gated-GGUF", {"tiny-Q8_0.gguf": fixtures["base_draft"]}, downloads=20, gated=True)
    hub.add("t/Tiny-70B-GGUF", {"tiny-Q8_0.gguf": fixtures["base_draft"]}, downloads=10)
    # another architecture name, the same tokenizer; wider than every candidate, so all of them are smaller
    main = read_model_info(write_tiny_model(tmp_path / "main.gguf", smol_tokenizer, arch="qwen2", n_embd=128,
                                            name="Tiny Qwen-arch Main"))
    seen: list[str] = []
    found = find_drafts(client(hub), main, extra_queries=["Tiny"], on_result=lambda s: seen.append(s.repo_id))
    verdict = {s.repo_id: s for s in found}
    assert set(seen) == set(verdict)
    assert "t/Tiny-70B-GGUF" not in verdict  # its name says it is bigger than the main: never fetched
    assert not hub.ranges("t/Tiny-70B-GGUF/tiny-Q8_0.gguf")
    assert found[0].repo_id == "t/Tiny-Draft-GGUF" and found[0].compatible
    assert found[0].choice is not None and found[0].choice.quant == "Q8_0"
    assert verdict["t/Tiny-Renamed-Vocab-GGUF"].reasons[0].startswith("token 100 differs: ")
    assert any("tokenizer types differ" in r for r in verdict["t/Tiny-SPM-GGUF"].reasons)
    assert "gated" in verdict["t/Tiny-Gated-GGUF"].reasons[0]


def test_draft_search_terms() -> None:
    assert size_from_name("bartowski/Qwen2.5-0.5B-Instruct-GGUF") == 0.5e9
    assert size_from_name("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF") == 135e6
    assert size_from_name("org/model-GGUF") is None


def test_search_queries_follow_the_tokenizer_not_the_architecture(fixtures: dict[str, Path], smollm2_path: Path,
                                                                   model_cache: Path) -> None:
    # the qwen2 architecture with SmolLM2's tokenizer: Qwen's drafts cannot fit it, so they are not searched for
    qs = search_queries(read_model_info(fixtures["qwen2_arch"]), ["mine"])
    assert qs[0] == "mine" and not any("Qwen" in q for q in qs)
    # the issue's case: a 135M SmolLM2 main ("llama" architecture) once searched Llama-3.2-1B-Instruct
    smol = read_model_info(smollm2_path)
    assert smol.architecture == "llama" and family_of(smol.tokenizer).name == "SmolLM2"
    qs = search_queries(smol)
    assert not any("Llama" in q for q in qs)
    assert qs == ["SmolLM2"]  # 135M, 360M and 1.7B are not smaller than a 135M main: only the family's name
    # a Qwen tokenizer, at 1.5B (a label, as its file gives it): the family's members below 1.5B
    qwen_vocab = read_model_info(sdist_vocab(model_cache, "qwen2"))
    qwen = dataclasses.replace(qwen_vocab, size_label="1.5B", parameter_count=1_777_088_000)
    qs = search_queries(qwen)
    assert {"Qwen2.5-0.5B-Instruct", "Qwen2.5-Coder-0.5B-Instruct", "Qwen3-0.6B"} <= set(qs)
    assert "Qwen2.5-1.5B-Instruct" not in qs and "Qwen3-1.7B" not in qs and not any("Llama" in q for q in qs)
    assert family_of(read_model_info(fixtures["spm"]).tokenizer).name == "Llama 2 / Phi-3"


def test_find_drafts_offers_only_smaller_models_of_the_mains_tokenizer(hub: FakeHub, fixtures: dict[str, Path],
                                                                       smollm2_path: Path, tmp_path: Path,
                                                                       smol_tokenizer: Tokenizer) -> None:
    hub.add("bartowski/Llama-3.2-1B-Instruct-GGUF", {"Llama-3.2-1B-Instruct-Q8_0.gguf": fixtures["spm"]},
            downloads=9000)
    hub.add("HuggingFaceTB/SmolLM2-360M-Instruct-GGUF", {"smollm2-360m-Q8_0.gguf": fixtures["base_draft"]},
            downloads=800)
    hub.add("t/SmolLM2-Tiny-GGUF", {"smollm2-tiny-Q8_0.gguf": fixtures["base_draft"]}, downloads=50)
    found = find_drafts(client(hub), read_model_info(smollm2_path))
    assert [(s.repo_id, s.compatible) for s in found] == [("t/SmolLM2-Tiny-GGUF", True)]
    assert not any("llama" in q.lower() for q in hub.searches)  # another tokenizer family: never searched
    assert not any("Llama-3.2" in p or "360M" in p for m, p, h in hub.requests)  # nor listed, nor read

    # a repo whose name gives no size is read, and dropped when its header says it is not smaller
    wide = write_tiny_model(tmp_path / "wide.gguf", smol_tokenizer, n_embd=128, name="Tiny Wide")
    hub.add("t/Tiny-Wide-GGUF", {"tiny-wide-Q8_0.gguf": wide}, downloads=40)
    hub.add("t/Tiny-Same-GGUF", {"tiny-same-Q8_0.gguf": fixtures["tok100"]}, downloads=30)  # as big as the main
    hub.add("t/Tiny-Draft-GGUF", {"tiny-draft-Q8_0.gguf": fixtures["base_draft"]}, downloads=20)
    found = find_drafts(client(hub), read_model_info(fixtures["base"]), extra_queries=["Tiny"])
    assert {s.repo_id for s in found} == {"t/Tiny-Draft-GGUF", "t/SmolLM2-Tiny-GGUF"}  # the family search too
    assert hub.ranges("tiny-wide-Q8_0.gguf")  # checked by its header, then not offered


def test_an_unreachable_hub_ends_a_draft_search(fixtures: dict[str, Path]) -> None:
    c = HubClient(f"http://127.0.0.1:{closed_port()}", token="")
    started = time.monotonic()
    with pytest.raises(HubUnreachable):
        find_drafts(c, read_model_info(fixtures["base"]), extra_queries=["Tiny"])
    assert time.monotonic() - started < 5


def test_catalog_pairs_and_resolution(hub: FakeHub, fixtures: dict[str, Path]) -> None:
    pairs = load_catalog()
    ids = {p.id for p in pairs}
    assert {"qwen2.5-7b", "qwen2.5-14b", "qwen2.5-32b", "llama-3.1-8b", "llama-3.3-70b"} <= ids
    assert all(p.draft.repo != p.main.repo for p in pairs)
    # a file renamed since the catalog was written is found by its quantization
    hub.add("o/M-GGUF", {"M-renamed-Q4_K_M.gguf": fixtures["base"], "M-Q8_0.gguf": fixtures["base"]})
    listing = client(hub).repo_files("o/M-GGUF")
    assert resolve(listing, CatalogModel("o/M-GGUF", "Q4_K_M", "M-Q4_K_M.gguf")).name == "M-renamed-Q4_K_M.gguf"
    with pytest.raises(HubError, match="no longer has a Q2_K file"):
        resolve(listing, CatalogModel("o/M-GGUF", "Q2_K", "M-Q2_K.gguf"))


def test_catalog_pairs_are_rated_against_the_machine() -> None:
    pairs = load_catalog()
    assert all(p.main.size > p.draft.size > 0 for p in pairs)  # every pair carries its sizes
    by_id = {p.id: p for p in pairs}
    laptop = MemoryBudget(ram_bytes=16 << 30, vram_bytes=0)  # 60% of 16 GiB for models
    assert pair_fit(by_id["qwen2.5-7b"], laptop).placement == "fits"
    assert pair_fit(by_id["llama-3.3-70b"], laptop).placement == "too_big"
    rated = sort_by_fit(pairs, laptop)
    ranks = [f.rank for _, f in rated]
    assert ranks == sorted(ranks) and rated[0][1].placement == "fits" and rated[-1][0].id == "llama-3.3-70b"
    # a 12 GiB GPU with 64 GiB RAM: the 32B pair runs with part of its layers on the CPU; the 70B does not fit
    gpu = MemoryBudget(ram_bytes=64 << 30, vram_bytes=12 << 30)
    assert pair_fit(by_id["qwen2.5-32b"], gpu).placement == "partial"
    assert pair_fit(by_id["llama-3.3-70b"], gpu).placement == "too_big"
    assert pair_fit(by_id["qwen2.5-7b"], gpu).where == "12 GiB VRAM"


def test_catalog_sizes_must_be_numbers(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.toml"
    bad.write_text('[[pair]]\nid = "x"\ntitle = "X"\nmain = { repo = "a/b", quant = "Q4_K_M", size_gb = "big" }\n'
                   'draft = { repo = "a/c", quant = "Q8_0" }\n')
    assert load_catalog(bad) == []
    bad.write_text(bad.read_text().replace('"big"', "4.5"))
    (pair,) = load_catalog(bad)
    assert pair.main.size == 4_500_000_000 and pair.size == 0  # the draft's size unknown: the pair's too
    assert pair_fit(pair, MemoryBudget(16 << 30, 0)).placement == "unknown"


def test_a_broken_catalog_is_an_empty_one(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.toml"
    bad.write_text("[[pair]]\nid = 1\nmain = 'x'\n")
    assert load_catalog(bad) == []


def test_token_is_kept_private(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    token_file = app_paths().hf_token
    save_token(token_file, "hf_secret_value_123456789012345")
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    assert resolve_token(token_file) == "hf_secret_value_123456789012345"
    assert "hf_secret" not in str(load_settings())
    save_token(token_file, "")
    assert not token_file.exists()


def test_remote_files_are_dataclasses() -> None:
    f = RemoteFile("a.gguf", 1, "", "")
    assert group_gguf_files([f])[0].first is f


def test_cli_search_files_and_find_drafts_for_a_hub_model(hub: FakeHub, fixtures: dict[str, Path]) -> None:
    import json
    import subprocess
    import sys

    hub.add("t/Tiny-Main-GGUF", {"tiny-main-Q8_0.gguf": fixtures["base"], "tiny-main-Q4_K_M.gguf": fixtures["base"]},
            downloads=9)
    hub.add("t/Tiny-Draft-GGUF", {"tiny-draft-Q8_0.gguf": fixtures["base_draft"]}, downloads=5)
    root = Path(__file__).resolve().parents[2]

    def cli(*args: str) -> object:
        out = subprocess.run([sys.executable, "-m", "app", *args, "--endpoint", hub.url, "--json"], cwd=root,
                             capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    assert [r["repo_id"] for r in cli("search", "tiny")] == ["t/Tiny-Main-GGUF", "t/Tiny-Draft-GGUF"]
    files = cli("files", "t/Tiny-Main-GGUF")
    assert [f["quantization"] for f in files["files"]] == ["Q8_0", "Q4_K_M"] and files["files"][0]["recommended"]
    found = cli("find-drafts", "--repo", "t/Tiny-Main-GGUF", "--file", "tiny-main-Q8_0.gguf", "--query", "Tiny")
    assert [(s["repo_id"], s["compatible"]) for s in found] == [("t/Tiny-Draft-GGUF", True)]
