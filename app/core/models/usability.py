"""Which library files can be offered as a chat (main) model, and why the others cannot, in words.

Two kinds of "no": a broken file (truncated, not a GGUF, metadata llama.cpp would abort on; its reader error
says what) and a valid GGUF that is not a chat model: a tokenizer-only file (0 weights), an embedding model, a
reranker, a vision projector, a LoRA adapter. Both are listed (greyed, with the reason) rather than hidden, and
neither is ever loaded as a main: llama.cpp would fail with "out of memory, or a file it does not support" after
the previous model had already been unloaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.models.model_info import (ROLE_EMBEDDING, ROLE_GENERATIVE, ROLE_NO_VOCAB, ROLE_PROJECTOR,
                                        ROLE_RERANKER, ModelInfo)


@dataclass(frozen=True)
class Unusable:
    short: str  # a few words for a list row: "incomplete download", "tokenizer only"
    reason: str  # the whole explanation, for a tooltip or a dialog
    broken: bool  # the file is damaged (removing or re-downloading it is the fix), not a file of another kind


# (words in a reader error, short label): the first match names the problem, the error itself is the reason
_ERROR_KINDS = (
    ("incomplete download", "incomplete download"),
    ("truncated", "truncated file"),
    ("split model is incomplete", "split model: parts missing"),
    ("part 1 is missing", "split model: part 1 missing"),
    ("not a gguf model file", "not a GGUF file"),
    ("not a regular file", "not a regular file"),
    ("permission denied", "cannot be read (permission)"),
    ("too old", "too old a GGUF version"),
    ("big-endian", "big-endian GGUF"),
    ("unknown gguf version", "unknown GGUF version"),
    ("llama.cpp cannot load", "unsupported by llama.cpp"),
    ("unknown tokenizer", "unsupported tokenizer"),
    ("corrupt", "corrupt file"),
)


def unreadable(error: str) -> Unusable:
    lowered = error.lower()
    short = next((label for words, label in _ERROR_KINDS if words in lowered), "cannot be read")
    return Unusable(short, error, broken=True)


def not_a_chat_model(info: ModelInfo) -> Unusable | None:
    """Why a readable GGUF cannot chat (None when it can)."""
    if info.general_type == "adapter":
        return Unusable("LoRA adapter", "A LoRA adapter: it modifies a base model and cannot run on its own.", False)
    if info.role == ROLE_PROJECTOR:
        return Unusable("vision projector", "A vision projector (mmproj): it goes with a vision model and "
                        "cannot generate text on its own.", False)
    if info.role == ROLE_EMBEDDING:
        return Unusable("embedding model", "An embedding model: it turns text into vectors and cannot generate "
                        "text.", False)
    if info.role == ROLE_RERANKER:
        return Unusable("reranker", "A reranker: it scores text against a query and cannot generate text.", False)
    if info.role == ROLE_NO_VOCAB:
        return Unusable("no tokenizer", "The file has no usable tokenizer (its vocabulary is empty or of type "
                        "\"none\"), so llama.cpp cannot tokenize a chat for it.", False)
    if info.parameter_count == 0:  # ggml-vocab-*.gguf and friends: tensors none, hyperparameters intact
        return Unusable("tokenizer only", "The file holds only a tokenizer (vocabulary) and no weights "
                        f"({info.parameter_count} parameters): it cannot generate text.", False)
    if info.role != ROLE_GENERATIVE:  # a role added later and not named here
        return Unusable(info.role, f"A {info.role} model: it cannot generate text.", False)
    return None


def main_model_problem(info: ModelInfo | None, error: str | None) -> Unusable | None:
    """Why a library file (its info, or the error that kept it from being read) cannot be a main (chat) model or a
    draft, or None when it can."""
    if info is None:
        return unreadable(error or "cannot be read")
    return not_a_chat_model(info)
