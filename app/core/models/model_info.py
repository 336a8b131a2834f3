"""What the app knows about one model: read from the GGUF header(s), cheap to cache as JSON."""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.core.models.formatting import format_parameter_count, is_generic_name, model_title, readable_name
from app.core.models.ggml_types import FILE_TYPES, tensor_nbytes
from app.core.models.gguf_reader import GGUFError, GGUFHeader, GGUFTruncated, read_header
from app.core.models.memory_estimate import MemoryFacts, memory_facts
from app.core.models.model_checks import check_loadable, check_metadata_types
from app.core.models.tokenizer_facts import TOKENS_KEY, VOCAB_NONE, TokenizerFacts, tokenizer_facts

log = logging.getLogger("specchat.models")

SPLIT_RE = re.compile(r"^(?P<stem>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)

# Roles: only "generative" models may be offered as main or draft.
ROLE_GENERATIVE, ROLE_EMBEDDING, ROLE_RERANKER, ROLE_PROJECTOR, ROLE_NO_VOCAB = (
    "generative", "embedding", "reranker", "projector", "no-vocab",
)
# encoder-only architectures: they embed text, they cannot generate it
_ENCODER_ARCHS = {
    "bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "jina-bert-v3", "neo-bert", "modern-bert",
    "eurobert", "t5encoder", "roberta",
}
_ANY_LENGTH = 1 << 62
MAX_SPLIT_PARTS = 1024  # llama.cpp's gguf-split writes a few dozen at most; 99999 names help nobody
_POOLING_RANK = 4  # enum llama_pooling_type: NONE=0, MEAN=1, CLS=2, LAST=3, RANK=4


@dataclass(frozen=True)
class ModelInfo:
    path: str
    shards: tuple[str, ...]  # every file of a split model, in order; just `path` otherwise
    file_size: int  # all shards together
    architecture: str
    name: str
    size_label: str
    parameter_count: int
    file_type: str  # quantization, e.g. "Q4_K_M"
    context_length: int
    block_count: int  # layers ({arch}.block_count); 0 if the header does not say
    has_chat_template: bool
    general_type: str  # general.type ("model", "mmproj", "adapter"...) or ""
    role: str
    tokenizer: TokenizerFacts | None
    memory: MemoryFacts | None = None  # layer sizes and KV widths, for the estimate before loading
    generic_name: bool = False  # `name` tells this model from no other (formatting.is_generic_name): show the file
    # the author's recommended sampler settings written in the file (general.sampling.*), as SamplerParams fields
    recommended_sampling: tuple[tuple[str, float], ...] = ()

    @property
    def is_generative(self) -> bool:
        return self.role == ROLE_GENERATIVE

    @property
    def display_name(self) -> str:
        """The model as people read it: name, size and quantization, none said twice (formatting.model_title)."""
        return model_title(self.name, self.size_label, self.file_type)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["memory"] = self.memory.to_json() if self.memory is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        data = dict(data)
        data["shards"] = tuple(data["shards"])
        tok = data.get("tokenizer")
        if tok is not None:
            tok = dict(tok)
            tok["tail_digests"] = tuple(tok["tail_digests"])
            data["tokenizer"] = TokenizerFacts(**tok)
        memory = data.get("memory")
        data["memory"] = MemoryFacts.from_json(memory) if memory else None
        data["recommended_sampling"] = tuple((str(k), float(v)) for k, v in data.get("recommended_sampling", ()))
        return cls(**data)


def split_parts(path: Path) -> tuple[str, int, int] | None:
    """(stem, part number, part count) for a split GGUF name like model-00001-of-00003.gguf."""
    m = SPLIT_RE.match(path.name)
    if not m:
        return None
    return m["stem"], int(m["no"]), int(m["count"])


def shard_paths(first: Path) -> list[Path]:
    """All files of a split model given its first part; raises if any is missing."""
    parts = split_parts(first)
    if parts is None:
        return [first]
    stem, no, count = parts
    if no != 1:
        raise GGUFError(f"{first.name}: part {no} of a split model; open part 1 instead")
    if count > MAX_SPLIT_PARTS:
        raise GGUFError(f"{first.name}: claims {count} parts; no real split model has more than {MAX_SPLIT_PARTS}")
    paths = [first.with_name(f"{stem}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]
    missing = [p.name for p in paths if not p.is_file()]  # is_file: a pipe or folder named like a part is no part
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise GGUFError(f"{first.name}: split model is incomplete, missing {shown} ({len(missing)} of {count} parts)")
    return paths


def _guess_file_type(header: GGUFHeader) -> str:
    """Quantization from the tensors when general.file_type is missing: the type holding the most bytes."""
    weight: Counter[str] = Counter()
    for t in header.tensors:
        if len(t.shape) >= 2:
            weight[t.type_name] += tensor_nbytes(t.ggml_type, t.n_elements) or 0
    return weight.most_common(1)[0][0] if weight else "unknown"


def _role(header: GGUFHeader, arch: str, tok: TokenizerFacts | None, name: str) -> str:
    gtype = str(header.get("general.type") or "")
    if gtype == "mmproj" or arch == "clip" or any(k.startswith("clip.") for k in header.metadata):
        return ROLE_PROJECTOR
    pooling = header.get(f"{arch}.pooling_type")
    lowered = name.lower()
    if pooling == _POOLING_RANK or "rerank" in lowered:
        return ROLE_RERANKER
    if arch in _ENCODER_ARCHS or (isinstance(pooling, int) and pooling > 0) or "embedding" in lowered:
        return ROLE_EMBEDDING
    if tok is None or tok.n_tokens == 0 or tok.vocab_type == VOCAB_NONE:
        return ROLE_NO_VOCAB  # a "none" tokenizer cannot tokenize: llama.cpp asserts on it
    return ROLE_GENERATIVE


def read_model_info(path: str | os.PathLike[str]) -> ModelInfo:
    """Read a model's facts from its header (and, for split models, every shard's tensor infos)."""
    first = Path(path).absolute()
    shards = shard_paths(first)
    header = read_header(first, frozenset({TOKENS_KEY}))
    return model_info_from_headers(first, [header] + [read_header(extra) for extra in shards[1:]])


def read_truncated_model_info(path: str | os.PathLike[str], truncated: GGUFTruncated) -> ModelInfo:
    """What a file cut short would be, from its header alone (whole when the cut lies past it): for saying
    whether the rest of the download is worth having, never for loading. Raises GGUFError when the header itself
    is cut or corrupt."""
    first = Path(path).absolute()
    header = read_header(first, frozenset({TOKENS_KEY}), declared_size=truncated.needed)
    return model_info_from_headers(first, [header])


def model_info_from_headers(first: Path, headers: list[GGUFHeader]) -> ModelInfo:
    """The facts from the headers of every shard, in order (the first read with TOKENS_KEY offsets kept).

    Shared by local files and remote headers fetched with range requests (where `first` is the local prefix).
    Every problem is a GGUFError: values llama.cpp would abort on (model_checks), and whatever else goes wrong
    on a file no test imagined."""
    try:
        return _model_info(first, headers)
    except GGUFError:
        raise
    except OSError as e:
        raise GGUFError(f"{first.name}: cannot read: {e}") from None
    except Exception as e:  # noqa: BLE001 - one strange file must stay one bad entry, never a crashed scan
        log.warning("%s: unexpected %s reading its metadata: %s", first.name, type(e).__name__, e)
        raise GGUFError(f"{first.name}: unusable metadata ({type(e).__name__}: {e})") from None


def _int_value(header: GGUFHeader, key: str) -> int:
    v = header.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


# llama.cpp's LLAMA_MODEL_META_KEY_SAMPLING_* keys (convert_hf_to_gguf writes them from generation_config.json)
SAMPLING_KEYS = {"general.sampling.temp": "temperature", "general.sampling.top_k": "top_k",
                 "general.sampling.top_p": "top_p", "general.sampling.min_p": "min_p",
                 "general.sampling.penalty_repeat": "repeat_penalty", "general.sampling.penalty_last_n": "repeat_last_n"}


def recommended_sampling(header: GGUFHeader) -> tuple[tuple[str, float], ...]:
    """The sampler settings the file recommends, as (SamplerParams field, value); a value of the wrong type or out
    of range is left out (a top-k of -1 means "off" to some converters: 0 here)."""
    found: list[tuple[str, float]] = []
    for key, name in SAMPLING_KEYS.items():
        value = header.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN
            continue
        if name in ("top_k", "repeat_last_n"):
            value = max(0, int(value)) if name == "top_k" else max(-1, int(value))
        elif name in ("top_p", "min_p") and not 0.0 <= value <= 1.0:
            continue
        elif name == "temperature" and not 0.0 <= value <= 5.0:
            continue
        elif name == "repeat_penalty" and not 0.0 < value <= 5.0:
            continue
        found.append((name, float(value)))
    return tuple(found)


def _model_info(first: Path, headers: list[GGUFHeader]) -> ModelInfo:
    header = headers[0]
    check_metadata_types(header)
    n_params = sum(t.n_elements for h in headers for t in h.tensors)
    total = sum(h.file_size for h in headers)
    arch = str(header.get("general.architecture") or "unknown")
    name = str(header.get("general.name") or "").strip()
    if not name:
        parts = split_parts(first)
        name = parts[0] if parts else first.stem
    parts_of_name = (str(header.get("general.basename") or ""), str(header.get("general.size_label") or ""),
                     str(header.get("general.finetune") or ""))
    name = readable_name(name, *parts_of_name, first.name)
    generic = is_generic_name(name, *parts_of_name)
    ftype = header.get("general.file_type")
    file_type = FILE_TYPES.get(ftype, "") if isinstance(ftype, int) else ""
    if not file_type:
        file_type = _guess_file_type(header)
    tok = tokenizer_facts(header)
    check_loadable(header, arch, tok)
    template = header.get("tokenizer.chat_template")
    return ModelInfo(
        path=str(first),
        shards=tuple(str(h.path) for h in headers),
        file_size=total,
        architecture=arch,
        name=name,
        size_label=str(header.get("general.size_label") or format_parameter_count(n_params)),
        parameter_count=n_params,
        file_type=file_type,
        context_length=_int_value(header, f"{arch}.context_length"),
        block_count=_int_value(header, f"{arch}.block_count"),
        has_chat_template=isinstance(template, str) and bool(template.strip()),
        general_type=str(header.get("general.type") or ""),
        role=_role(header, arch, tok, name),
        tokenizer=tok,
        memory=memory_facts(headers, arch, tok.n_tokens if tok is not None else 0),
        generic_name=generic,
        recommended_sampling=recommended_sampling(header),
    )


def read_token_texts(path: str | Path) -> list[str]:
    """All token texts of a model: only for explaining a token mismatch, never on a hot path.

    Only the metadata matters here, so the file is read as the prefix of a file of any length: that also serves
    a remote header's local prefix (see remote_gguf), whose tensor data was never fetched."""
    header = read_header(Path(path), declared_size=_ANY_LENGTH)
    return header.array_values(TOKENS_KEY) if TOKENS_KEY in header.metadata else []
