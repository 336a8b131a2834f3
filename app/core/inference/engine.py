"""The engine: a loaded main model, an optional draft model or n-gram drafter, and generation from either
chat messages or raw text. The UI's worker, the CLI and the benchmarks all drive this one object.

Not thread-safe: one thread owns an Engine (the UI keeps it on its engine worker thread).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from collections.abc import Callable, Iterator
from pathlib import Path

from app.core.models.reasoning import ReasoningFormat, StreamSplit
from app.core.inference.chat_format import ChatFormat, choose_chat_format
from app.core.inference.reasoning_markers import find_reasoning_format
from app.core.inference.context_fit import OVERFLOW_POLICIES, answer_room, fit_messages
from app.core.models.compat import check_compatibility
from app.core.inference.draft_length import DraftLength, MeasuredArms
from app.core.inference.drafting import Drafter, ModelDrafter, NgramDrafter
from app.core.inference.free_cores import FreeCores
from app.core.inference.llama_backend import physical_cores
from app.core.inference.llama_runtime import LoadedModel, LoadOptions, ModelLoadError, preflight
from app.core.inference.sampling import SamplerParams
from app.core.inference.prediction import PredictionDrafter
from app.core.infra.requests import GenerateRequest, RequestRejected, SpeculationConfig  # noqa: F401 (re-exported)
from app.core.inference.speculative import GenerationRequest, GenerationStats, TokenEvent, generate

log = logging.getLogger("specchat.engine")

class Engine:
    def __init__(self) -> None:
        self.main: LoadedModel | None = None
        self.draft: LoadedModel | None = None
        self._format: ChatFormat | None = None
        self._reasoning: ReasoningFormat | None = None  # found with the chat format (reasoning_markers.py)
        # one auto controller per (drafter kind, k): what it learned carries over to the next answer
        self._lengths: dict[tuple[str, str, int, bool], DraftLength] = {}
        # what each draft length measured, per (drafter kind, greedy or sampled): shared by the pair's controllers
        # whatever k they were set to (sampling adds Python work per row, so the two regimes cost differently)
        self._costs: dict[tuple[str, str, bool], MeasuredArms] = {}
        # the cores main and draft decode on, one count for both (they take turns on the same cores): made anew
        # with each main model, so what a model on a device turned off comes back
        self._free_cores: FreeCores | None = None

    # ---- models ---------------------------------------------------------------------------------------------
    def load_main(self, path: str | Path, options: LoadOptions = LoadOptions(),
                  progress: Callable[[float], bool] | None = None) -> LoadedModel:
        """Unload first, then load: two mains (and the old draft) in memory at once double the peak, and on a GPU
        the switch runs out of memory where it fits after unloading. What preflight refuses (a header that does
        not read, a file that is no chat model, an RPC server that is down) leaves the old pair loaded; any later
        failure leaves none."""
        info = preflight(path, options)
        self.unload_main()
        self._free_cores = FreeCores(physical_cores())
        self.main = LoadedModel(path, options, progress, info, self._free_cores)
        return self.main

    def load_draft(self, path: str | Path, options: LoadOptions = LoadOptions(),
                   progress: Callable[[float], bool] | None = None) -> LoadedModel:
        if self.main is None:
            raise ModelLoadError("load a main model before its draft model")
        info = preflight(path, options.local())  # checked before any weights load, then handed to the loader
        verdict = check_compatibility(self.main.info, info)
        if not verdict.compatible:
            raise ModelLoadError(f"{Path(path).name} cannot draft for {self.main.info.display_name}: "
                                 + "; ".join(verdict.reasons))
        self.unload_draft()  # the same reason as load_main: never two drafts in memory at once
        self.draft = LoadedModel(path, options.local(), progress, info, self._free_cores)  # the draft stays on this machine
        return self.draft

    def unload_draft(self) -> None:
        if self.draft is not None:
            self.draft.close()
            self.draft = None
            # a reloaded draft (other GPU layers, other threads) has other costs: learn them anew
            self._lengths = {s: c for s, c in self._lengths.items() if s[0] != "draft"}
            self._costs = {s: c for s, c in self._costs.items() if s[0] != "draft"}

    def unload_main(self) -> None:
        self.unload_draft()
        if self.main is not None:
            self.main.close()
            self.main = None
        self._format = self._reasoning = None
        self._lengths.clear()
        self._costs.clear()

    def close(self) -> None:
        self.unload_main()

    def _require_main(self) -> LoadedModel:
        if self.main is None:
            raise ModelLoadError("no model is loaded")
        return self.main

    # ---- prompts --------------------------------------------------------------------------------------------
    def chat_format(self) -> ChatFormat:
        main = self._require_main()
        if self._format is None:
            def single(text: str) -> bool:
                return len(main.tokenize(text, add_special=False, parse_special=True)) == 1

            self._format = choose_chat_format(main.chat_template(), main.token_text(main.bos),
                                              main.token_text(main.eos), single)
            log.info("chat format for %s: %s", main.info.display_name, self._format.source)
            self._reasoning = self._find_reasoning(self._format, single)
        return self._format

    def reasoning_format(self) -> ReasoningFormat | None:
        """The markers the loaded model thinks between (None: it does not, or not in text it writes)."""
        self.chat_format()
        return self._reasoning

    def _find_reasoning(self, fmt: ChatFormat, single: Callable[[str], bool]) -> ReasoningFormat | None:
        main = self._require_main()

        def writes_as_text(text: str) -> bool:
            tokens = main.tokenize(text, add_special=False, parse_special=True)
            return b"".join(main.piece(t) for t in tokens) == text.encode()

        def generation_prompt(text: str) -> str:
            return fmt.render([{"role": "user", "content": text}])

        vocabulary = (main.token_text(i) for i in range(main.n_vocab))  # read only if the template says nothing
        # the format's own template: a fallback's (no markers in it) says nothing, the model's says what it does
        return find_reasoning_format(fmt.template, generation_prompt, single, writes_as_text, vocabulary)

    def chat_prompt(self, messages: list[dict[str, str]]) -> tuple[list[int], tuple[str, ...]]:
        """Tokens for a conversation (ending with the assistant's turn to speak) and the format's stops."""
        main = self._require_main()
        fmt = self.chat_format()
        tokens = main.tokenize(fmt.render(messages), add_special=True, parse_special=True)
        if len(tokens) >= 2 and tokens[0] == tokens[1] == main.bos:
            tokens = tokens[1:]  # the template wrote BOS and the tokenizer added one
        return tokens, fmt.stop

    def raw_prompt(self, text: str) -> list[int]:
        return self._require_main().tokenize(text, add_special=True, parse_special=False)

    def prompt(self, request: GenerateRequest, chat: tuple[list[int], tuple[str, ...]] | None = None
               ) -> tuple[list[int], tuple[str, ...]]:
        """Tokens and stop strings for the request's raw text (as it is) or its messages (the chat format).
        `chat`: chat_prompt of the messages, when it was made already (the overflow policy counted them)."""
        if request.raw is not None:
            return self.raw_prompt(request.raw), request.stop
        tokens, stop = chat or self.chat_prompt(list(request.messages))
        if request.answer_prefix:  # continue an answer: its text follows the template's "assistant speaks" part
            tokens = tokens + self._require_main().tokenize(request.answer_prefix, add_special=False,
                                                            parse_special=False)
        return tokens, stop + request.stop

    def answer(self, request: GenerateRequest, stats: GenerationStats, cancel: threading.Event | None = None,
               prompt_progress: Callable[[int, int], None] | None = None) -> Iterator[TokenEvent]:
        """The whole request: its prompt, sampling and speculation (what the window and `generate` run).
        prompt_progress(done, total): after each n_batch chunk of the prompt is evaluated."""
        request, stats.dropped, chat = self._fit(request)
        tokens, stop = self.prompt(request, chat)
        events = self.generate(tokens, stats, max_tokens=request.max_tokens, sampling=request.sampling,
                               spec=request.speculation, stop=stop, cancel=cancel, prompt_progress=prompt_progress,
                               prediction=self.prediction_tokens(request.prediction))
        reasoning = self.reasoning_format() if request.raw is None and request.read_reasoning else None
        return events if reasoning is None else _count_reasoning(events, stats, reasoning, request.answer_prefix)

    def fit(self, request: GenerateRequest) -> tuple[GenerateRequest, tuple[int, int]]:
        """The request with the turns its overflow policy leaves out taken out, and which ([start, end) of its
        messages; (0, 0): none). A raw prompt, or the "stop" policy, goes as it is."""
        fitted, dropped, _chat = self._fit(request)
        return fitted, dropped

    def _fit(self, request: GenerateRequest
             ) -> tuple[GenerateRequest, tuple[int, int], tuple[list[int], tuple[str, ...]] | None]:
        """fit(), and the chat prompt of what is sent when the counting made it (so it is not tokenized twice)."""
        policy = request.overflow
        if request.raw is not None or policy == "stop" or not request.messages:
            return request, (0, 0), None
        if policy not in OVERFLOW_POLICIES:
            raise RequestRejected(f"unknown overflow policy {policy!r}: one of {', '.join(OVERFLOW_POLICIES)}",
                                  "invalid_overflow")
        main = self._require_main()
        prefix = len(main.tokenize(request.answer_prefix, add_special=False, parse_special=False)) \
            if request.answer_prefix else 0
        counted: dict[tuple[int, ...], tuple[list[int], tuple[str, ...]]] = {}  # by the messages' identities

        def count(messages: list[dict[str, str]]) -> int:
            key = tuple(map(id, messages))
            if key not in counted:
                counted[key] = self.chat_prompt(messages)
            return len(counted[key][0]) + prefix

        fitted = fit_messages(request.messages, count, main.n_ctx, answer_room(main.n_ctx, request.max_tokens), policy)
        if fitted.dropped_count:
            log.info("overflow (%s): %d of %d messages left out of the prompt", policy, fitted.dropped_count,
                     len(request.messages))
        return (replace(request, messages=tuple(fitted.messages)), fitted.dropped,
                counted.get(tuple(map(id, fitted.messages))))

    def prediction_tokens(self, text: str) -> list[int]:
        """A predicted output as tokens (as the answer would spell it: no BOS, special tokens as text)."""
        if not text:
            return []
        main = self._require_main()
        tokens = main.tokenize(text, add_special=False, parse_special=False)
        if len(tokens) > main.n_ctx:
            raise RequestRejected(f"the prediction is {len(tokens):,} tokens, more than the model's context of "
                                  f"{main.n_ctx:,}", "prediction_too_long")
        return tokens

    # ---- generation -----------------------------------------------------------------------------------------
    def drafter(self, spec: SpeculationConfig, greedy: bool = True) -> tuple[Drafter | None, DraftLength | None]:
        if spec.mode == "off" or spec.draft_tokens == 0 and not spec.auto:
            return None, None
        drafter: Drafter
        if spec.mode == "draft":
            if self.draft is None:
                raise ModelLoadError("speculation is set to a draft model, but none is loaded")
            drafter, key = ModelDrafter(self.draft), self.draft.path
        else:
            drafter, key = NgramDrafter(spec.ngram_size), str(spec.ngram_size)
        slot = (spec.mode, key, spec.draft_tokens, spec.auto)
        if slot not in self._lengths:
            self._lengths[slot] = DraftLength(k=spec.draft_tokens, auto=spec.auto)
        length = self._lengths[slot]
        length.costs = self._costs.setdefault((spec.mode, key, greedy), MeasuredArms())
        return drafter, length

    def generate(self, prompt_tokens: list[int], stats: GenerationStats, *, max_tokens: int = 256,
                 sampling: SamplerParams = SamplerParams(), spec: SpeculationConfig = SpeculationConfig(),
                 stop: tuple[str, ...] = (), cancel: threading.Event | None = None,
                 prompt_progress: Callable[[int, int], None] | None = None,
                 prediction: list[int] | None = None) -> Iterator[TokenEvent]:
        """prediction: a predicted output's tokens, proposed first wherever the answer follows them."""
        main = self._require_main()
        drafter, length = self.drafter(spec, sampling.greedy)
        predictor = PredictionDrafter(prediction, len(prompt_tokens)) if prediction else None
        req = GenerationRequest(prompt_tokens, max_tokens, sampling, spec.min_draft, spec.p_min, stop,
                                cancel or threading.Event(), prompt_progress, predictor)
        return generate(main, drafter, length, req, stats)


def _count_reasoning(events: Iterator[TokenEvent], stats: GenerationStats, fmt: ReasoningFormat,
                     prefix: str) -> Iterator[TokenEvent]:
    """The events as they come, counting into `stats` the tokens of the reasoning block (up to and with its
    closing marker) and the time from the first token to that marker. `prefix`: a continued answer's text."""
    split = StreamSplit(fmt)
    split.feed([(prefix, False)])
    counting = split.phase != "answer"  # not past the block yet
    undecided = 0  # tokens before the opening marker is certain (blanks, half a marker)
    for event in events:
        if counting:
            split.feed([(event.text, event.from_draft)])
            if split.had_block:
                stats.reasoning_tokens += undecided + 1
                undecided = 0
            elif split.phase == "start":
                undecided += 1
            if split.closed or (split.phase == "answer" and not split.had_block):
                counting = False
                if split.closed and stats.started_at:
                    stats.reasoning_s = max(time.perf_counter() - stats.started_at - stats.ttft_s, 0.001)
        yield event
