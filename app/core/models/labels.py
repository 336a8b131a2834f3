"""How a model is named wherever a person reads it: the pickers, the loaded-model line, footers, lists.

One name per file, built here only: the model's own name with its size and quantization added when the name does
not already say them ("Smollm2 135M 8k Lc100K Mix1 Ep2" + "135M" must not read "... Ep2 135M"); in a list, labels
that would read the same for two different files get what tells them apart (the file name, then its folder).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.core.models.library import LibraryEntry
    from app.core.models.model_info import ModelInfo

SEP = " · "


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


def model_title(name: str, size_label: str = "", file_type: str = "") -> str:
    """"SmolLM2 135M Instruct Q4_1": the name, then the size and quantization it does not already say."""
    parts = [name.strip()]
    parts += [w for w in (size_label.strip(), file_type.strip()) if w and w.lower() != "unknown"
              and not _says(name, w)]
    return " ".join(p for p in parts if p)


def info_title(info: ModelInfo) -> str:
    return model_title(info.name, info.size_label, info.file_type)


def _file_size(n: int) -> str:
    from app.core.models.model_info import format_bytes  # here: model_info imports this module at its top

    return format_bytes(n)


def entry_label(entry: LibraryEntry) -> str:
    """One entry on its own: "SmolLM2 135M Instruct Q4_1 · 93.9 MiB"; a file that is not offered: its file name
    and why ("part.gguf · incomplete download")."""
    problem = entry.problem
    if entry.info is None or problem is not None:
        return f"{os.path.basename(entry.path)}{SEP}{problem.short if problem else 'cannot be read'}"
    return f"{info_title(entry.info)}{SEP}{_file_size(entry.info.file_size)}"


def entry_labels(entries: Sequence[LibraryEntry]) -> list[str]:
    """The labels of a list, each distinct: where two files would read the same (a copy, the same model in two
    folders), the file name is added, then its folder, then the whole path."""
    labels = [entry_label(e) for e in entries]
    for extra in (lambda p: os.path.basename(p),
                  lambda p: os.path.join(os.path.basename(os.path.dirname(p)), os.path.basename(p)),
                  lambda p: p):
        counts = Counter(labels)
        if all(c == 1 for c in counts.values()):
            break
        base = [entry_label(e) for e in entries]
        labels = [f"{b}{SEP}{extra(e.path)}" if counts[lab] > 1 and extra(e.path) not in b else lab
                  for b, lab, e in zip(base, labels, entries)]
    return labels


def count_phrase(n: int, singular: str, plural: str | None = None) -> str:
    """ "1 other model", "2 other models" (`plural` for nouns that do not take an s)."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def others_dont_fit(n: int) -> str:
    """The draft section's disclosure: "1 other model doesn't fit", "3 other models don't fit"."""
    verb = "doesn't fit" if n == 1 else "don't fit"
    return f"{count_phrase(n, 'other model')} {verb}"
