"""A main model's own defaults: the app's chat defaults with the sampler settings its file recommends
(general.sampling.*, read into ModelInfo.recommended_sampling). What "Reset to the model's defaults" puts back, and
what a model with such settings starts with the first time it loads (LM Studio's per-model defaults)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from app.core.infra.settings import ModelPreset
from app.core.models.model_info import ModelInfo

INT_FIELDS = ("top_k", "repeat_last_n")


def model_defaults(info: ModelInfo | None) -> ModelPreset:
    base = ModelPreset()
    if info is None or not info.recommended_sampling:
        return base
    fields: dict[str, Any] = {name: int(value) if name in INT_FIELDS else value for name, value in info.recommended_sampling}
    return replace(base, sampling=replace(base.sampling, **fields))


def describe_recommended(info: ModelInfo | None) -> str:
    """"temperature 0.6, top-k 20, top-p 0.95" from the file, or ""."""
    if info is None:
        return ""
    words = {"temperature": "temperature", "top_k": "top-k", "top_p": "top-p", "min_p": "min-p",
             "repeat_penalty": "repeat penalty", "repeat_last_n": "repeat window"}
    return ", ".join(f"{words[n]} {int(v) if n in INT_FIELDS else f'{v:g}'}" for n, v in info.recommended_sampling)
