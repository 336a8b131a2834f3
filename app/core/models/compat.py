"""Can this model draft for that one? llama.cpp's rule, and the advice around it.

The rule is exactly `common_speculative_are_compatible` (llama.cpp common/speculative.cpp): same vocab type; same
add-BOS flag and, when BOS is added, the same BOS id; the same for EOS; vocab sizes within 128; identical token
text for every id from 5 up to the smaller size. It is decided from the tokenizer alone, never from the
architecture name, so qwen35 vs qwen35moe or a repackaged GGUF are judged by what actually matters.

llama.cpp stops at the first failing rule; we report every failing rule, as a sentence for the user.
Advice (draft too big, same file...) never makes a pair incompatible: llama.cpp would run it, just slowly.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field

from app.core.models.formatting import format_bytes, format_parameter_count
from app.core.models.gguf_reader import GGUFError, GGUFTruncated
from app.core.models.model_info import ModelInfo, read_model_info, read_token_texts, read_truncated_model_info
from app.core.models.tokenizer_facts import SPEC_VOCAB_CHECK_START_TOKEN_ID, SPEC_VOCAB_MAX_SIZE_DIFFERENCE

log = logging.getLogger("specchat.compat")

# LM Studio's guidance for draft sizes: main >= 32B -> draft <= 7B, >= 14B -> <= 3B, >= 7B -> <= 1B.
_DRAFT_SIZE_TABLE = ((32e9, 7e9), (14e9, 3e9), (7e9, 1e9))
_SMALL_MAIN_MAX_RATIO = 0.25  # below 7B a draft should cost at most a quarter of the main
_SIZE_SLACK = 1.15  # "7B" models are often 7.6B: don't nag about labels


@dataclass
class CompatResult:
    compatible: bool
    reasons: list[str] = field(default_factory=list)  # failing rules; empty when compatible
    advice: list[str] = field(default_factory=list)  # non-blocking warnings


def max_useful_draft_params(main_params: int) -> float:
    for main_at_least, draft_at_most in _DRAFT_SIZE_TABLE:
        if main_params >= main_at_least / _SIZE_SLACK:
            return draft_at_most * _SIZE_SLACK
    return main_params * _SMALL_MAIN_MAX_RATIO


def _show(text: str) -> str:
    return repr(text)[1:-1] if len(text) <= 40 else repr(text[:37])[1:-1] + "..."


@functools.lru_cache(maxsize=8)
def _texts(path: str, mtime_ns: int) -> tuple[str, ...]:
    return tuple(read_token_texts(path))


def _first_text_differences(main: ModelInfo, draft: ModelInfo, upto: int) -> tuple[int, str, str, int]:
    a = _texts(main.path, os.stat(main.path).st_mtime_ns)
    b = _texts(draft.path, os.stat(draft.path).st_mtime_ns)
    diffs = [i for i in range(SPEC_VOCAB_CHECK_START_TOKEN_ID, upto) if a[i] != b[i]]
    if not diffs:  # texts equal once decoded: the raw bytes differ (invalid UTF-8); report the first id anyway
        return SPEC_VOCAB_CHECK_START_TOKEN_ID, "?", "?", 1
    i = diffs[0]
    return i, a[i], b[i], len(diffs)


def vocab_rule_failures(main: ModelInfo, draft: ModelInfo) -> list[str]:
    """Every llama.cpp compatibility rule this pair fails, as sentences; empty when compatible."""
    t, d = main.tokenizer, draft.tokenizer
    if t is None or d is None:
        which = "main model" if t is None else "draft model"
        return [f"the {which} has no tokenizer"]
    reasons: list[str] = []
    if t.vocab_type != d.vocab_type:
        reasons.append(f"tokenizer types differ: {t.vocab_type_name} vs {d.vocab_type_name}")
    if t.add_bos != d.add_bos:
        reasons.append(f"add-BOS differs: the main model {'adds' if t.add_bos else 'does not add'} a BOS token, "
                       f"the draft {'does' if d.add_bos else 'does not'}")
    elif t.add_bos and t.bos_id != d.bos_id:
        reasons.append(f"BOS token ids differ: {t.bos_id} vs {d.bos_id}")
    if t.add_eos != d.add_eos:
        reasons.append(f"add-EOS differs: the main model {'adds' if t.add_eos else 'does not add'} an EOS token, "
                       f"the draft {'does' if d.add_eos else 'does not'}")
    elif t.add_eos and t.eos_id != d.eos_id:
        reasons.append(f"EOS token ids differ: {t.eos_id} vs {d.eos_id}")
    diff = abs(t.n_tokens - d.n_tokens)
    if diff > SPEC_VOCAB_MAX_SIZE_DIFFERENCE:
        reasons.append(f"vocabulary sizes differ by {diff}, limit {SPEC_VOCAB_MAX_SIZE_DIFFERENCE} "
                       f"({t.n_tokens} vs {d.n_tokens} tokens)")
    elif t.vocab_type == d.vocab_type:
        # texts are compared only when the cheaper rules leave it in question: comparing an SPM with a BPE
        # vocabulary token by token would say nothing new and cost a read of both files
        upto = min(t.n_tokens, d.n_tokens)
        if upto > SPEC_VOCAB_CHECK_START_TOKEN_ID and t.digest_up_to(upto) != d.digest_up_to(upto):
            i, x, y, n = _first_text_differences(main, draft, upto)
            more = f" (and {n - 1} more)" if n > 1 else ""
            reasons.append(f"token {i} differs: '{_show(x)}' vs '{_show(y)}'{more}")
    return reasons


def draft_advice(main: ModelInfo, draft: ModelInfo) -> list[str]:
    advice: list[str] = []
    if os.path.realpath(main.path) == os.path.realpath(draft.path):
        return ["this is the main model's own file: drafting with it can only be slower"]
    mp, dp = main.parameter_count, draft.parameter_count
    if dp >= mp and 0 < draft.file_size * 2 <= main.file_size:
        # as many weights, but a smaller quantization (a Q4_1 drafting for its F32): a decode step reads the
        # whole file, so it can pay (the testbed's pair: 1.4x measured on a CPU); "will be slower" was wrong
        advice.append(f"the draft ({format_parameter_count(dp)}) is not smaller than the main model "
                      f"({format_parameter_count(mp)}), only its file is ({format_bytes(draft.file_size)} vs "
                      f"{format_bytes(main.file_size)}): it may or may not pay off; the benchmark tells")
    elif dp >= mp:
        advice.append(f"the draft ({format_parameter_count(dp)}) is not smaller than the main model "
                      f"({format_parameter_count(mp)}): speculation will be slower than plain decoding")
    elif dp > max_useful_draft_params(mp):
        limit = format_parameter_count(int(max_useful_draft_params(mp)))
        advice.append(f"the draft ({format_parameter_count(dp)}) is large for a {format_parameter_count(mp)} main "
                      f"model; drafts up to about {limit} usually pay off")
    return advice


def check_compatibility(main: ModelInfo, draft: ModelInfo) -> CompatResult:
    reasons = vocab_rule_failures(main, draft)
    advice = draft_advice(main, draft)
    if not draft.is_generative:  # llama.cpp's rule does not look at this; the library never offers such drafts
        advice.insert(0, f"it is not a text-generation model ({draft.role}), so it is never offered as a draft")
    return CompatResult(compatible=not reasons, reasons=reasons, advice=advice)


def check_draft_file(main: ModelInfo, path: str | os.PathLike[str]) -> CompatResult:
    """The verdict on a file as a draft for `main`. A truncated file (a killed download, one part of an upload)
    is never compatible, since it cannot load, but its header is usually whole: the verdict then also says whether
    its vocabulary fits, so the user knows whether finishing the download is worth it. Raises GGUFError for a
    file whose header cannot be read."""
    try:
        return check_compatibility(main, read_model_info(path))
    except GGUFTruncated as cut:
        cut_reason = (f"the file is truncated ({format_bytes(cut.size)} of the {format_bytes(cut.needed)} its "
                      f"tensors need): it cannot load until the download is complete")
        try:
            whole = check_compatibility(main, read_truncated_model_info(path, cut))
        except GGUFError as e:  # the cut lies inside the header: nothing can be said about the vocabulary
            return CompatResult(False, [cut_reason, f"its header is cut too, so its vocabulary is unknown ({e})"])
        if whole.compatible:
            return CompatResult(False, [cut_reason], ["its vocabulary matches the main model's (the header is "
                                                      "whole): the complete file would draft for it"] + whole.advice)
        return CompatResult(False, [cut_reason] + [f"its vocabulary does not fit either: {r}" for r in whole.reasons],
                            whole.advice)
