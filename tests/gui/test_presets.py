"""Per-model settings (issue 24.2) on a real window and real tiny models: edits are saved for the loaded model and
come back when it loads again, another model keeps its own, Reset puts back the model's defaults, and a file's
recommended sampling (general.sampling.*) is what that model starts with."""

from __future__ import annotations

import gguf

from app.core.infra.paths import app_paths
from app.core.infra.settings import load_settings
from tests.fixtures.model_factory import write_tiny_model
from tests.gui.test_main_window import library, open_window  # noqa: F401  (library: a fixture)

LONG = 30_000


def load(qtbot, w, file_name: str) -> None:
    qtbot.waitUntil(lambda: w.sidebar.main_models.rowCount() > 0, timeout=10_000)
    row = w.sidebar.main_models.row_of(str(app_paths().models / file_name))
    assert row >= 0
    w.sidebar.main_combo.setCurrentIndex(row)
    with qtbot.waitSignal(w.host.modelLoaded, timeout=LONG, check_params_cb=lambda role, _s: role == "main"):
        w.sidebar.load_button.click()
    qtbot.waitUntil(lambda: w.models.main is not None and w.models.main.path.endswith(file_name), timeout=LONG)


def test_settings_follow_the_model_and_reset_to_its_defaults(qtbot, library):
    w = open_window(qtbot)
    sb = w.sidebar
    load(qtbot, w, "main.gguf")
    assert "SpecChat's defaults" in sb.preset_state.text()
    sb.temperature.setValue(0.3)
    sb.max_tokens.setValue(77)
    main_path = w.models.main.path
    assert w.settings.presets[main_path].sampling.temperature == 0.3 and "Saved for" in sb.preset_state.text()

    load(qtbot, w, "same-weights.gguf")  # no settings of its own: the fields stay; an edit is its own
    sb.temperature.setValue(0.9)
    other = w.models.main.path
    assert w.settings.presets[other].sampling.temperature == 0.9
    load(qtbot, w, "main.gguf")  # its own come back
    assert sb.temperature.value() == 0.3 and sb.max_tokens.value() == 77
    qtbot.waitUntil(lambda: main_path in load_settings().presets, timeout=5_000)  # saved, not only at close
    assert load_settings().presets[main_path].max_tokens == 77

    sb.preset_reset.click()
    assert sb.temperature.value() == 0.7 and sb.max_tokens.value() == 1024 and main_path not in w.settings.presets
    assert "SpecChat's defaults" in sb.preset_state.text()
    load(qtbot, w, "same-weights.gguf")
    assert sb.temperature.value() == 0.9


def test_a_files_recommended_sampling_is_what_the_model_starts_with(qtbot, smol_tokenizer):
    models = app_paths().ensure().models
    recommended = {"general.sampling.temp": (0.6, gguf.GGUFValueType.FLOAT32),
                   "general.sampling.top_k": (20, gguf.GGUFValueType.INT32),
                   "general.sampling.top_p": (0.8, gguf.GGUFValueType.FLOAT32)}
    write_tiny_model(models / "thinker.gguf", smol_tokenizer, name="Tiny Thinker", extra_kv=recommended)
    w = open_window(qtbot)
    w.sidebar.temperature.setValue(1.2)
    load(qtbot, w, "thinker.gguf")
    sb = w.sidebar
    assert abs(sb.temperature.value() - 0.6) < 1e-6 and sb.sampling_fields["top_k"].value() == 20
    assert abs(sb.sampling_fields["top_p"].value() - 0.8) < 1e-6
    assert "from its file: temperature 0.6, top-k 20, top-p 0.8" in sb.preset_state.text()
    sb.temperature.setValue(0.2)
    sb.preset_reset.click()
    assert abs(sb.temperature.value() - 0.6) < 1e-6
