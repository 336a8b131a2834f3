"""How a library entry is named wherever a person reads it: the pickers, the loaded-model line, lists.

An entry's label is its model's title (formatting.model_title: the name, size and quantization, none said twice)
and its file size; in a list, labels that would read the same for two different files get what tells them apart
(the file name, then its folder). Above the library in app/core/models: it reads LibraryEntry.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence

from app.core.models.formatting import format_bytes, model_title
from app.core.models.library import LibraryEntry
from app.core.models.model_info import ModelInfo

SEP = " · "


def info_title(info: ModelInfo) -> str:
    return model_title(info.name, info.size_label, info.file_type)


def entry_label(entry: LibraryEntry) -> str:
    """One entry on its own: "SmolLM2 135M Instruct Q4_1 · 93.9 MiB"; a file that is not offered: its file name
    and why ("part.gguf · incomplete download")."""
    problem = entry.problem
    if entry.info is None or problem is not None:
        return f"{os.path.basename(entry.path)}{SEP}{problem.short if problem else 'cannot be read'}"
    title = info_title(entry.info)
    if entry.info.generic_name:  # "Smollm2 135M 8k Lc100K Mix1 Ep2 F16" names no file: its file name does
        title = f"{os.path.basename(entry.path)} ({title})" if title.strip() else os.path.basename(entry.path)
    return f"{title}{SEP}{format_bytes(entry.info.file_size)}"


def entry_labels(entries: Sequence[LibraryEntry]) -> list[str]:
    """The labels of a list, each distinct: where two files would read the same (a copy, the same model in two
    folders), the file name is added, then its folder, then the whole path."""
    labels = [entry_label(e) for e in entries]
    # two files of one model name (two quantizations, a copy renamed) read as their files, not only by a size
    titles = Counter(info_title(e.info) for e in entries if e.info is not None and e.problem is None)
    labels = [f"{lab}{SEP}{os.path.basename(e.path)}" if e.info is not None and e.problem is None and
              not e.info.generic_name and titles[info_title(e.info)] > 1 else lab for lab, e in zip(labels, entries)]
    first = list(labels)
    for extra in (lambda p: os.path.basename(p),
                  lambda p: os.path.join(os.path.basename(os.path.dirname(p)), os.path.basename(p)),
                  lambda p: p):
        counts = Counter(labels)
        if all(c == 1 for c in counts.values()):
            break
        base = first
        labels = [f"{b}{SEP}{extra(e.path)}" if counts[lab] > 1 and extra(e.path) not in b else lab
                  for b, lab, e in zip(base, labels, entries)]
    return labels
