"""Words and numbers as people read them, for every model name and size shown: the one leaf of app/core/models
(it imports none of its siblings, so the data types, verdicts and the library can all use it).

One name per file is built from these: the model's own name with its size and quantization added when the name
does not already say them ("Smollm2 135M 8k Lc100K Mix1 Ep2" + "135M" must not read "... Ep2 135M"); labels.py
makes the list labels of library entries from them.
"""

from __future__ import annotations

import re

def _says(name: str, word: str) -> bool:
    """Whether `name` already contains `word` as a whole token (case-insensitive; "135M" in "SmolLM2-135M",
    "Q4_K_M" in "x.Q4_K_M", but "5B" not in "1.5B" and "Q4_1" not in "Q4_1_X")."""
    if not word:
        return True
    return re.search(rf"(?<![0-9a-z.]){re.escape(word.lower())}(?![0-9a-z_])", name.lower()) is not None


def _squash(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


_QUANT_SUFFIX = re.compile(r"[.\-_](?:i?q\d\w*|f16|f32|bf16|fp16|fp32)$", re.IGNORECASE)


def readable_name(name: str, basename: str, size_label: str, finetune: str, file_name: str) -> str:
    """The model's name, or its file's when the name is one llama.cpp's converter made up from the parts.

    convert_hf_to_gguf writes general.name from basename, size and finetune when the model card gives none:
    SmolLM2-135M-Instruct's reads "Smollm2 135M 8k Lc100K Mix1 Ep2" (a training-run id, casing lost), while its
    publisher named the file "SmolLM2-135M-Instruct.Q4_1.gguf". Only then, and only when the file name starts with
    the model's basename (so it is the model's name, not "model.gguf"), the file name is used: "SmolLM2 135M
    Instruct"."""
    if not basename or _squash(name) != _squash(basename + size_label + finetune):
        return name
    stem = file_name[:-5] if file_name.lower().endswith(".gguf") else file_name
    stem = re.sub(r"-\d{5}-of-\d{5}$", "", stem)  # a split model's part number
    stem = _QUANT_SUFFIX.sub("", stem)
    if not _squash(stem).startswith(_squash(basename)):
        return name
    return re.sub(r"[-_]+", " ", stem).strip() or name


GENERIC_NAMES = {"", "model", "models", "llama", "gguf", "unknown", "untitled"}


def is_generic_name(name: str, basename: str, size_label: str, finetune: str) -> bool:
    """A name that does not tell one model from another: none at all, a placeholder ("model"), or one llama.cpp's
    converter made up from the parts ("Smollm2 135M 8k Lc100K Mix1 Ep2": a training-run id). The file's name
    says more then, and labels add it (labels.entry_label)."""
    if _squash(name) in GENERIC_NAMES:
        return True
    return bool(basename) and _squash(name) == _squash(basename + size_label + finetune)


def model_title(name: str, size_label: str = "", file_type: str = "") -> str:
    """"SmolLM2 135M Instruct Q4_1": the name, then the size and quantization it does not already say."""
    parts = [name.strip()]
    parts += [w for w in (size_label.strip(), file_type.strip()) if w and w.lower() != "unknown"
              and not _says(name, w)]
    return " ".join(p for p in parts if p)


def format_parameter_count(n: int) -> str:
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            v = n / div
            return f"{v:.0f}{suffix}" if v >= 10 else f"{v:.1f}{suffix}".replace(".0", "")
    return str(n)


def format_bytes(n: float) -> str:
    """Sizes and speeds as people read them: 1.9 MiB, 4.4 GiB."""
    for unit, div in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n:.0f} B"


def count_phrase(n: int, singular: str, plural: str | None = None) -> str:
    """ "1 other model", "2 other models" (`plural` for nouns that do not take an s)."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def tokens_phrase(tokens: int) -> str:
    """ "1 token", "1,234 tokens": a file's or a prompt's size in a model's tokens."""
    return f"{tokens:,} token{'' if tokens == 1 else 's'}"


def others_dont_fit(n: int) -> str:
    """The draft section's disclosure: "1 other model doesn't fit", "3 other models don't fit"."""
    verb = "doesn't fit" if n == 1 else "don't fit"
    return f"{count_phrase(n, 'other model')} {verb}"
