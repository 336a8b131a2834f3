"""What llama.cpp would abort on, checked from the header before the file ever reaches it.

llama.cpp reports most bad metadata as an error (a wrong key type, a missing key, a tensor of the wrong shape):
the load returns NULL and we say so. But some checks are GGML_ASSERTs, and a failed assert aborts the whole
process (SIGABRT): the window, the CLI, the self-test. Those are repeated here, from llama-cpp-python 0.3.36's
sources (src/llama-model.cpp `load_hparams`, src/llama-vocab.cpp `load` and the tokenizer sessions, the per-arch
graph builders in src/models/), so such a file is reported as the model's error and never loaded. Values of the
wrong type are reported too: llama.cpp would refuse them anyway, and our own code must not trip over them.
"""

from __future__ import annotations

import math
from typing import Any

from app.core.models.gguf_reader import (T_ARRAY, T_BOOL, T_STRING, T_UINT32, GGUFArray, GGUFError, GGUFHeader)
from app.core.models.tokenizer_facts import TOKENS_KEY, VOCAB_NONE, TokenizerFacts

LLAMA_MAX_LAYERS = 512  # src/llama-hparams.h
LLAMA_MAX_EXPERTS = 1024
ROPE_SCALING_TYPES = ("none", "linear", "yarn", "longrope")  # anything else: GGML_ASSERT(!= UNSPECIFIED)
# architectures whose graph asserts head size == rotary dimensions (GGML_ASSERT(n_embd_head == n_rot) in
# src/models/<arch>.cpp); llama itself throws a clean error, the others abort
_ROT_EQUALS_HEAD = frozenset("""
apertus arcee arctic baichuan chameleon codeshell cogvlm cohere2moe dbrx deci deepseek dots1 dream ernie4_5_moe
ernie4_5 exaone_moe exaone exaone4 falcon granite_swa granite_switch granite grok grovemoe hunyuan_moe hunyuan_vl
hy_v3 internlm2 jais2 llada_moe llada llama llama4 maincoder mellum minimax_01 minimax_m2 mistral3 nemotron olmo
olmo2 olmoe orion paddleocr pangu_embed plamo pockettts qwen2 qwen2moe qwen2vl qwen3 qwen3moe qwen3vl qwen3vlmoe
rnd1 seed_oss smallthinker smollm3 starcoder2 talkie xverse
""".split())
_U32_MAX = (1 << 32) - 1

# keys whose type llama.cpp (or our own code) relies on, when present
_GENERAL_TYPES: dict[str, int] = {
    "general.architecture": T_STRING, "general.name": T_STRING, "general.type": T_STRING,
    "general.size_label": T_STRING, "general.file_type": T_UINT32, "tokenizer.ggml.model": T_STRING,
    "tokenizer.ggml.pre": T_STRING, "tokenizer.chat_template": T_STRING,
    "tokenizer.ggml.bos_token_id": T_UINT32, "tokenizer.ggml.eos_token_id": T_UINT32,
    "tokenizer.ggml.add_bos_token": T_BOOL, "tokenizer.ggml.add_eos_token": T_BOOL,
}
_TYPE_WORDS = {T_STRING: "a string", T_UINT32: "a 32-bit unsigned integer", T_BOOL: "a boolean",
               T_ARRAY: "an array"}


class _Problem(Exception):
    pass


def check_loadable(header: GGUFHeader, arch: str, tok: TokenizerFacts | None) -> None:
    """Raise GGUFError naming the first value llama.cpp would abort on (or refuse); return if none."""
    try:
        if arch != "clip" and header.tensors:
            _check_hparams(header, arch)
        if tok is not None:
            _check_vocab(header, tok)
    except _Problem as p:
        raise GGUFError(f"{header.path.name}: {p} — llama.cpp cannot load this file safely") from None


def check_metadata_types(header: GGUFHeader) -> None:
    """Raise GGUFError when a key our code and llama.cpp rely on has the wrong type (run before reading them)."""
    try:
        _check_types(header)
    except _Problem as p:
        raise GGUFError(f"{header.path.name}: {p} — llama.cpp cannot load this file") from None


def _type_word(vtype: int | None) -> str:
    return _TYPE_WORDS.get(vtype or -1, "a number" if vtype is not None else "missing")


def _check_types(header: GGUFHeader) -> None:
    for key, want in _GENERAL_TYPES.items():
        have = header.value_types.get(key)
        if have is not None and have != want:
            raise _Problem(f"{key} is {_type_word(have)}, not {_TYPE_WORDS[want]}")
    tokens = header.get(TOKENS_KEY)
    if tokens is not None and not (isinstance(tokens, GGUFArray) and tokens.item_type == T_STRING
                                   or isinstance(tokens, list) and all(isinstance(t, str) for t in tokens)):
        raise _Problem(f"{TOKENS_KEY} is not a list of strings")


def _u32(header: GGUFHeader, key: str, default: int | None = None) -> int | None:
    """A scalar uint32 hyperparameter (None when absent)."""
    if key not in header.metadata:
        return default
    if header.value_types.get(key) != T_UINT32:
        raise _Problem(f"{key} is {_type_word(header.value_types.get(key))}, not {_TYPE_WORDS[T_UINT32]}")
    return int(header.metadata[key])


def _u32_per_layer(header: GGUFHeader, key: str, n_layer: int) -> list[int] | None:
    """A uint32 or one uint32 per layer (llama.cpp's get_key_or_arr)."""
    if key not in header.metadata:
        return None
    if header.value_types.get(key) != T_ARRAY:
        v = _u32(header, key)
        assert v is not None
        return [v] * n_layer
    value = header.metadata[key]
    items = header.array_values(key) if isinstance(value, GGUFArray) else value
    if len(items) != n_layer or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= _U32_MAX
                                        for x in items):
        raise _Problem(f"{key} must be one integer per layer ({n_layer})")
    return [int(x) for x in items]


def _check_hparams(header: GGUFHeader, arch: str) -> None:
    p = f"{arch}."
    n_layer = _u32(header, p + "block_count")
    if n_layer is None:
        raise _Problem(f"{p}block_count is missing")
    if not 0 < n_layer <= LLAMA_MAX_LAYERS:
        raise _Problem(f"{p}block_count is {n_layer}; llama.cpp supports 1 to {LLAMA_MAX_LAYERS} layers")
    _u32(header, p + "context_length")
    n_embd = _u32(header, p + "embedding_length")
    if n_embd == 0:
        raise _Problem(f"{p}embedding_length is 0")
    nextn = _u32(header, p + "nextn_predict_layers", 0) or 0
    if nextn > n_layer:
        raise _Problem(f"{p}nextn_predict_layers ({nextn}) exceeds the {n_layer} layers")

    n_expert = _u32(header, p + "expert_count", 0) or 0
    used = _u32_per_layer(header, p + "expert_used_count", n_layer) or [0]
    groups = _u32(header, p + "expert_group_count", 0) or 0
    group_used = _u32(header, p + "expert_group_used_count", 0) or 0
    if arch in ("hunyuan-vl", "hunyuan-dense") and n_expert <= 1:
        n_expert, used, groups = 0, [0], groups  # llama.cpp resets these for those two
    if n_expert > LLAMA_MAX_EXPERTS:
        raise _Problem(f"{p}expert_count is {n_expert}; llama.cpp supports at most {LLAMA_MAX_EXPERTS} experts")
    if max(used) > n_expert:
        raise _Problem(f"{p}expert_used_count ({max(used)}) exceeds {p}expert_count ({n_expert})")
    if n_expert > 0:
        if max(used) == 0:
            raise _Problem(f"{p}expert_count is {n_expert} but no expert is used per token")
        if groups >= n_expert:
            raise _Problem(f"{p}expert_group_count ({groups}) must be below expert_count ({n_expert})")
        if groups > 1 and (n_expert % groups or not 0 < group_used < groups):
            raise _Problem(f"{p}expert groups are inconsistent ({n_expert} experts, {groups} groups, "
                           f"{group_used} used)")
    elif groups:
        raise _Problem(f"{p}expert_group_count is {groups} in a model without experts")

    heads = _u32_per_layer(header, p + "attention.head_count", n_layer)
    heads_kv = _u32_per_layer(header, p + "attention.head_count_kv", n_layer) or heads
    if heads and heads_kv:
        for h, hkv in zip(heads, heads_kv):
            if h and hkv and h % hkv:
                raise _Problem(f"{p}attention.head_count ({h}) is not a multiple of head_count_kv ({hkv})")
    scaling = header.get(p + "rope.scaling.type")
    if scaling is not None and scaling not in ROPE_SCALING_TYPES:
        raise _Problem(f"{p}rope.scaling.type is {str(scaling)[:40]!r}, not one of {', '.join(ROPE_SCALING_TYPES)}")
    if heads and heads[0] and n_embd and arch.replace("-", "_") in _ROT_EQUALS_HEAD:
        head_dim = _u32(header, p + "attention.key_length", n_embd // heads[0])
        n_rot = _u32(header, p + "rope.dimension_count", head_dim)
        if n_rot != head_dim:
            raise _Problem(f"{p}rope.dimension_count ({n_rot}) differs from the head size ({head_dim})")
    for key in (p + "rope.freq_base", p + "attention.layer_norm_rms_epsilon"):
        v = header.get(key)
        if isinstance(v, float) and not math.isfinite(v):
            raise _Problem(f"{key} is {v}")


def _check_vocab(header: GGUFHeader, tok: TokenizerFacts) -> None:
    if tok.vocab_type != VOCAB_NONE:
        if tok.n_tokens == 0:
            raise _Problem(f"{TOKENS_KEY} is empty")
        if tok.add_bos and tok.bos_id < 0:
            raise _Problem("the tokenizer adds a BOS token but has none")  # GGML_ASSERT in every tokenize
        if tok.add_eos and tok.eos_id < 0:
            raise _Problem("the tokenizer adds an EOS token but has none")
    texts = _raw_token_texts(header)
    if texts is None:
        return
    seen: dict[bytes, int] = {}
    for i, t in enumerate(texts):
        if not t:  # llama.cpp renames it "[EMPTY_i]"; a real "[EMPTY_i]" then collides
            t = f"[EMPTY_{i}]".encode()
        j = seen.setdefault(t, i)
        if j != i:  # llama.cpp: GGML_ASSERT(id_to_token.size() == token_to_id.size())
            raise _Problem(f"tokens {j} and {i} have the same text {_show(t)}")


def _raw_token_texts(header: GGUFHeader) -> list[bytes] | None:
    tokens = header.get(TOKENS_KEY)
    if tokens is None:
        return None
    if isinstance(tokens, list):
        return [t.encode("utf-8", "surrogatepass") for t in tokens]
    offsets = header.string_offsets.get(TOKENS_KEY)
    if offsets is None:
        return [t.encode("utf-8", "surrogatepass") for t in header.array_values(TOKENS_KEY)]
    raw = header.read_bytes(tokens.offset, tokens.end)  # one read, then slices: ~30 ms for 262k tokens
    base = tokens.offset
    ends = list(offsets[1:]) + [tokens.end]
    return [raw[s - base + 8 : e - base] for s, e in zip(offsets, ends)]


def _show(text: Any) -> str:
    shown = repr(text.decode("utf-8", "replace") if isinstance(text, bytes) else text)
    return shown if len(shown) <= 40 else shown[:37] + "..."
