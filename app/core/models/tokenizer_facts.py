"""The tokenizer facts llama.cpp's draft-compatibility rule looks at, derived from GGUF metadata exactly as
llama.cpp's `llama_vocab::impl::load` derives them (src/llama-vocab.cpp, llama-cpp-python 0.3.36), defaults
included: a file without `tokenizer.ggml.add_bos_token` still has an add-BOS flag, decided by vocab type and
pre-tokenizer.

Token texts are not kept: for a 262k vocabulary they would be megabytes per model in the cache. Instead we keep
digests of the raw token bytes from id 5 (where llama.cpp starts comparing) up to each of the last 129 vocab
sizes. Two vocabularies whose sizes differ by at most 128 (the other rule) then compare in O(1): look up the
digest at the smaller size in both. Only a mismatch needs the texts, read from the files on demand.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from app.core.models.gguf_reader import GGUFArray, GGUFError, GGUFHeader

# llama.cpp common/speculative.cpp
SPEC_VOCAB_MAX_SIZE_DIFFERENCE = 128
SPEC_VOCAB_CHECK_START_TOKEN_ID = 5

TOKENS_KEY = "tokenizer.ggml.tokens"
TOKEN_NULL = -1

# enum llama_vocab_type
VOCAB_NONE, VOCAB_SPM, VOCAB_BPE, VOCAB_WPM, VOCAB_UGM, VOCAB_RWKV, VOCAB_PLAMO2, VOCAB_TEST = range(8)
VOCAB_TYPE_NAMES = {
    VOCAB_NONE: "none", VOCAB_SPM: "SPM (SentencePiece)", VOCAB_BPE: "BPE (byte-level)",
    VOCAB_WPM: "WPM (WordPiece)", VOCAB_UGM: "UGM (Unigram)", VOCAB_RWKV: "RWKV", VOCAB_PLAMO2: "PLaMo-2",
    VOCAB_TEST: "test",
}

# tokenizer.ggml.model -> (vocab type, default BOS id, default EOS id)
_MODEL_DEFAULTS: dict[str, tuple[int, int, int]] = {
    "no_vocab": (VOCAB_NONE, TOKEN_NULL, TOKEN_NULL),
    "none": (VOCAB_NONE, TOKEN_NULL, TOKEN_NULL),
    "llama": (VOCAB_SPM, 1, 2),
    "bert": (VOCAB_WPM, 101, TOKEN_NULL),
    "gpt2": (VOCAB_BPE, 11, 11),
    "hybriddna": (VOCAB_BPE, 11, 11),
    "whitespace": (VOCAB_BPE, 11, 11),
    "t5": (VOCAB_UGM, TOKEN_NULL, 1),
    "rwkv": (VOCAB_RWKV, TOKEN_NULL, TOKEN_NULL),
    "test": (VOCAB_TEST, TOKEN_NULL, TOKEN_NULL),
    "plamo2": (VOCAB_PLAMO2, 1, 2),
    "gemma4": (VOCAB_BPE, TOKEN_NULL, TOKEN_NULL),
}
# add-BOS/add-EOS defaults by vocab type, before the pre-tokenizer and the file's own keys
_ADD_DEFAULTS = {VOCAB_SPM: (True, False), VOCAB_WPM: (True, False), VOCAB_UGM: (False, True)}
# BPE pre-tokenizers for which llama.cpp turns add-BOS on, or drops the default BOS id
_BPE_PRE_ADD_BOS = {
    "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano",
    "tekken", "chameleon",
}
_BPE_PRE_NO_BOS = {"chatglm-bpe", "glm4", "glm5"}
_BPE_PRE_GEMMA4 = {"gemma4", "granite-embed-multi-311m"}  # llama.cpp forces add-BOS on for these


@dataclass(frozen=True)
class TokenizerFacts:
    model: str  # tokenizer.ggml.model
    pre: str  # tokenizer.ggml.pre
    vocab_type: int
    n_tokens: int
    bos_id: int
    eos_id: int
    add_bos: bool
    add_eos: bool
    tail_start: int  # the first vocab size for which tail_digests holds a digest
    tail_digests: tuple[str, ...]  # tail_digests[i]: digest of token bytes for ids [5, tail_start + i)

    @property
    def vocab_type_name(self) -> str:
        return VOCAB_TYPE_NAMES.get(self.vocab_type, f"type {self.vocab_type}")

    def digest_up_to(self, size: int) -> str | None:
        """Digest of token texts with ids in [5, size), if this vocabulary can say (size near its own)."""
        i = size - self.tail_start
        return self.tail_digests[i] if 0 <= i < len(self.tail_digests) else None


def _special_id(header: GGUFHeader, key: str, default: int, n_tokens: int) -> int:
    if default >= 0 and default >= n_tokens:
        default = TOKEN_NULL  # llama.cpp: "default special token out of vocab range, disabling"
    value = header.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < n_tokens:
        return value
    return default


def tokenizer_facts(header: GGUFHeader) -> TokenizerFacts | None:
    """The facts, or None for a file without a tokenizer (e.g. a vision projector)."""
    model = header.get("tokenizer.ggml.model")
    if not isinstance(model, str):
        return None
    if model not in _MODEL_DEFAULTS:
        raise GGUFError(f"{header.path.name}: unknown tokenizer model {model!r}; llama.cpp cannot load it")
    pre = header.get("tokenizer.ggml.pre")
    pre = pre if isinstance(pre, str) else ""
    if model == "gemma4":
        pre = "gemma4"
    vocab_type, bos, eos = _MODEL_DEFAULTS[model]
    tokens = header.get(TOKENS_KEY)
    if vocab_type == VOCAB_NONE:
        size = header.get(f"{header.get('general.architecture')}.vocab_size")
        n_tokens = size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else 0
    elif tokens is None:
        raise GGUFError(f"{header.path.name}: tokenizer {model!r} but no token list ({TOKENS_KEY})")
    else:
        n_tokens = tokens.count if isinstance(tokens, GGUFArray) else len(tokens)

    add_bos, add_eos = _ADD_DEFAULTS.get(vocab_type, (False, False))
    if vocab_type == VOCAB_BPE:
        if pre in _BPE_PRE_ADD_BOS:
            add_bos = True
        if pre in _BPE_PRE_NO_BOS:
            bos = TOKEN_NULL
    bos = _special_id(header, "tokenizer.ggml.bos_token_id", bos, n_tokens)
    eos = _special_id(header, "tokenizer.ggml.eos_token_id", eos, n_tokens)
    if isinstance(header.get("tokenizer.ggml.add_bos_token"), bool):
        add_bos = header.get("tokenizer.ggml.add_bos_token")
    if isinstance(header.get("tokenizer.ggml.add_eos_token"), bool):
        add_eos = header.get("tokenizer.ggml.add_eos_token")
    if vocab_type == VOCAB_BPE and pre in _BPE_PRE_GEMMA4:
        add_bos = True

    tail_start, digests = _tail_digests(header, n_tokens)
    return TokenizerFacts(model, pre, vocab_type, n_tokens, bos, eos, add_bos, add_eos, tail_start, digests)


def _tail_digests(header: GGUFHeader, n_tokens: int) -> tuple[int, tuple[str, ...]]:
    offsets = header.string_offsets.get(TOKENS_KEY)
    tokens = header.get(TOKENS_KEY)
    first = SPEC_VOCAB_CHECK_START_TOKEN_ID
    tail_start = max(first, n_tokens - SPEC_VOCAB_MAX_SIZE_DIFFERENCE)
    if offsets is None or not isinstance(tokens, GGUFArray) or n_tokens <= first:
        # tiny or token-less vocabularies: hash decoded texts (nothing to gain from raw bytes here)
        texts = header.array_values(TOKENS_KEY) if tokens is not None else []
        blobs = [t.encode() for t in texts]
        return tail_start, tuple(_digests_over(blobs, first, tail_start, n_tokens))
    ends = list(offsets[first:]) + [tokens.end]  # ends[i]: byte offset where token first+i starts
    raw = header.read_bytes(ends[0], tokens.end)
    base = ends[0]
    h = hashlib.blake2b(digest_size=16)
    h.update(raw[: ends[tail_start - first] - base])
    out = []
    for size in range(tail_start, n_tokens + 1):
        out.append(h.hexdigest())
        if size < n_tokens:
            h.update(raw[ends[size - first] - base : ends[size - first + 1] - base])
    return tail_start, tuple(out)


def _digests_over(blobs: list[bytes], first: int, tail_start: int, n_tokens: int) -> list[str]:
    # the same byte layout as the file (8-byte little-endian length, then the text) so both paths agree
    h = hashlib.blake2b(digest_size=16)
    out = []
    for size in range(first, n_tokens + 1):
        if size >= tail_start:
            out.append(h.hexdigest())
        if size < n_tokens:
            b = blobs[size]
            h.update(len(b).to_bytes(8, "little") + b)
    return out
