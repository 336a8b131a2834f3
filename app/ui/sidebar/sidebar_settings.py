"""The sidebar's fields typed in and typed out: the settings file's sections, a model's preset, the sampler and
speculation settings, the request and the load options the fields say. Mixed into Sidebar (sidebar.py), which
builds the fields; the names declared below are its."""

from __future__ import annotations

import html
from dataclasses import replace
from typing import Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLabel, QPushButton, QSpinBox, QWidget

from app.core.infra.requests import DraftTokens, GenerateRequest, LoadOptions, SamplerParams, SpeculationConfig
from app.core.infra.settings import ModelPreset, Settings
from app.ui.sidebar.rpc_servers import RpcServersBox
from app.ui.sidebar.sidebar_fields import set_value, value


class SidebarSettings(QWidget):
    # the sidebar's fields (sidebar.py builds them)
    _settings: Settings | None
    _sampling: SamplerParams
    sampling_fields: dict[str, QWidget]
    max_tokens: QSpinBox
    n_ctx: QSpinBox
    mode: QComboBox
    draft_tokens: QSpinBox
    auto_k: QCheckBox
    min_draft: QSpinBox
    p_min: QDoubleSpinBox
    ngram_size: QSpinBox
    draft_gpu_layers: QSpinBox
    visualize: QCheckBox
    default_drafter: QCheckBox
    rpc_servers: RpcServersBox
    preset_state: QLabel
    preset_reset: QPushButton

    def _update_memory_hint(self) -> None:
        raise NotImplementedError

    # ---- settings: typed in, typed out ---------------------------------------------------------------------
    def apply_settings(self, st: Settings) -> None:
        self._settings = st
        self.set_sampling(st.sampling)
        self.set_speculation(st.speculation)
        self.max_tokens.setValue(st.generation.max_tokens)
        self.n_ctx.setValue(st.runtime.n_ctx)
        self.draft_gpu_layers.setValue(st.drafts.gpu_layers)
        self.visualize.setChecked(st.ui.visualize_accepted)
        self.default_drafter.setChecked(st.drafts.default_drafter)
        rpc = st.runtime.rpc
        self.rpc_servers.set_servers(list(rpc.endpoints), ",".join(f"{w:g}" for w in rpc.split))
        self._update_memory_hint()

    def apply_preset(self, preset: ModelPreset) -> None:
        """A main model's own settings into the fields (before it loads: its context is a load option)."""
        self.set_sampling(preset.sampling)
        self.set_speculation(preset.speculation)
        self.max_tokens.setValue(preset.max_tokens)
        self.n_ctx.setValue(preset.n_ctx)

    def preset(self, base: ModelPreset) -> ModelPreset:
        """The fields as the loaded model's settings (`base`: its saved ones, for what the sidebar does not hold)."""
        return replace(base, sampling=self.sampling(), speculation=self.speculation(),
                       max_tokens=self.max_tokens.value(), n_ctx=self.n_ctx.value())

    def set_preset_state(self, text: str) -> None:
        """What the fields are for the loaded model ("" with none loaded: the line and the reset hide)."""
        self.preset_state.setText(f"<small>{html.escape(text, quote=False)}</small>")
        self.preset_state.setVisible(bool(text))
        self.preset_reset.setVisible(bool(text))

    def collect_settings(self, st: Settings) -> None:
        st.sampling = self.sampling()
        st.speculation = self.speculation()
        st.generation.max_tokens = self.max_tokens.value()
        st.runtime = replace(st.runtime, n_ctx=self.n_ctx.value(), rpc=self.rpc_servers.servers())
        st.drafts.gpu_layers = self.draft_gpu_layers.value()
        st.ui.visualize_accepted = self.visualize.isChecked()
        st.drafts.default_drafter = self.default_drafter.isChecked()

    def set_sampling(self, params: SamplerParams) -> None:
        self._sampling = params
        for name, w in self.sampling_fields.items():
            set_value(w, getattr(params, name))

    def sampling(self) -> SamplerParams:
        values: dict[str, Any] = {name: value(w) for name, w in self.sampling_fields.items()}  # each row's type
        return replace(self._sampling, **values)

    def set_speculation(self, spec: SpeculationConfig) -> None:
        self.mode.setCurrentIndex(max(0, self.mode.findData(spec.mode)))
        self.draft_tokens.setValue(spec.draft_tokens)
        self.auto_k.setChecked(spec.auto)
        self.min_draft.setValue(spec.min_draft)
        self.p_min.setValue(spec.p_min)
        self.ngram_size.setValue(spec.ngram_size)

    def speculation(self) -> SpeculationConfig:
        return SpeculationConfig(mode=self.mode.currentData(), draft_tokens=self.draft_tokens.value(),
                                 auto=self.auto_k.isChecked(), min_draft=self.min_draft.value(),
                                 p_min=self.p_min.value(), ngram_size=self.ngram_size.value())

    def apply_draft_length(self, k: DraftTokens) -> None:
        """A benchmark's best: 0 turns speculation off, else the length (or auto) in the current mode."""
        if k == 0:
            self.mode.setCurrentIndex(self.mode.findData("off"))
        else:
            self.set_speculation(self.speculation().with_length(k))

    def request(self, messages: list[dict[str, str]]) -> GenerateRequest:
        """What the sidebar says to generate for these messages."""
        return GenerateRequest(messages=tuple(messages), max_tokens=self.max_tokens.value(),
                               sampling=self.sampling(), speculation=self.speculation())

    def load_options(self, base: LoadOptions, without_rpc: str = "") -> LoadOptions:
        """The main model's load options: the settings' with the sidebar's context length and RPC servers
        (`without_rpc`: one to leave out this time, after it was lost)."""
        return replace(base, n_ctx=self.n_ctx.value(), rpc=self.rpc_servers.servers().without(without_rpc))

    def draft_load_options(self, base: LoadOptions) -> LoadOptions:
        return replace(base, n_ctx=self.n_ctx.value(), n_gpu_layers=self.draft_gpu_layers.value())

    def set_draft_gpu_layers(self, layers: int) -> None:
        self.draft_gpu_layers.setValue(layers)

    def default_drafter_on(self) -> bool:
        return self.default_drafter.isChecked()
