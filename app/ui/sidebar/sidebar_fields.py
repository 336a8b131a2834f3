"""The sidebar's editors: the sampler rows (one line per SamplerParams field) and the small helpers that make and
read spin boxes, check boxes and combos, so the sidebar itself only lays them out and wires them."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox, QWidget


def sampling_rows() -> list[tuple[str, str, QWidget]]:
    """(SamplerParams field, label, editor): one row per sampler setting the window shows. A new sampler field
    is one line here; apply_settings, sampling() and the settings file follow from the field name."""
    seed = spin(-1, 2**31 - 1)
    seed.setSpecialValueText("random")
    return [("temperature", "Temperature", dspin(0.0, 2.0, 0.05)), ("top_k", "Top-k", spin(0, 1000)),
            ("top_p", "Top-p", dspin(0.0, 1.0, 0.01)), ("min_p", "Min-p", dspin(0.0, 1.0, 0.01)),
            ("repeat_penalty", "Repeat penalty", dspin(1.0, 2.0, 0.05)), ("seed", "Seed", seed)]


def value(w: QWidget) -> object:
    if isinstance(w, QCheckBox):
        return w.isChecked()
    if isinstance(w, QComboBox):
        return w.currentData()
    assert isinstance(w, (QSpinBox, QDoubleSpinBox)), type(w).__name__  # the sampler rows make nothing else
    return w.value()


def set_value(w: QWidget, value: object) -> None:
    if isinstance(w, QCheckBox):
        w.setChecked(bool(value))
    elif isinstance(w, QComboBox):
        w.setCurrentIndex(max(0, w.findData(value)))
    else:
        w.setValue(value)  # type: ignore[attr-defined]


def spin(lo: int, hi: int, step: int = 1) -> QSpinBox:
    w = QSpinBox()
    w.setRange(lo, hi)
    w.setSingleStep(step)
    return w


def dspin(lo: float, hi: float, step: float) -> QDoubleSpinBox:
    w = QDoubleSpinBox()
    w.setRange(lo, hi)
    w.setSingleStep(step)
    w.setDecimals(2)
    return w
