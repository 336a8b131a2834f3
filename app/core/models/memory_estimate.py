"""How much memory a model will take once llama.cpp loads it, from its GGUF header and the load options alone.

Shown under the model dropdown before anything is loaded (loading costs seconds and gigabytes, and a load that
does not fit pages for minutes or fails after the previous model was unloaded). Three parts, as llama.cpp
allocates them (its "model buffer", "KV buffer" and "compute buffer" log lines; tests/unit/test_memory_estimate.py
holds the estimate against those lines for real files):

- weights: the tensors' bytes. Layer i's go to the GPU when it is among the last `n_gpu_layers` layers; the
  output head counts as one more layer and is offloaded first; the token embeddings stay on the CPU.
- context (the KV cache): n_ctx x sum over layers of n_head_kv x (key_length + value_length) x 2 bytes (f16 K
  and V, llama.cpp's default type_k/type_v). llama-cpp-python's context default swa_full=True gives
  sliding-window layers a full-size cache too, so every attention layer counts in full. An offloaded layer's
  cache is on the GPU (offload_kqv defaults to on).
- compute: the buffers of one batch of n_ubatch tokens, dominated by the logits (n_ubatch x n_vocab floats:
  512 MiB for Gemma 3's 262k vocabulary at the default batch of 512), on the GPU when layers are offloaded.
  (With a GPU and 0 layers offloaded llama.cpp still runs large batches there, op_offload: not modelled.)

The split was checked against llama.cpp's CUDA buffer lines on an H200 (tests/unit/test_memory_estimate.py,
H200_BUFFERS): the offloaded weights and both KV parts match to 0.01 MiB.

Architectures whose cache is not K/V per head (recurrent Mamba/RWKV state) get no context part: their state is
small and fixed. MLA (DeepSeek-style kv_lora_rank) caches the compressed latent instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.core.models.formatting import format_bytes
from app.core.models.ggml_types import tensor_nbytes
from app.core.models.gguf_reader import GGUFArray

if TYPE_CHECKING:
    from app.core.models.gguf_reader import GGUFHeader

KV_BYTES_PER_ELEMENT = 2  # f16 K and V: llama.cpp's default cache type
_LAYER_RE = re.compile(r"^blk\.(\d+)\.")
_MAX_LAYERS = 4096  # a tensor named blk.99999 in a hostile file must not allocate a huge tuple


@dataclass(frozen=True)
class MemoryFacts:
    """What a header says about memory, kept in ModelInfo (cheap: two numbers per layer)."""
    layer_bytes: tuple[int, ...]  # weights of blk.i, per layer
    layer_kv_width: tuple[int, ...]  # K plus V elements cached per token, per layer (0: no KV cache)
    input_bytes: int  # token embeddings and whatever belongs to no layer: always on the CPU
    output_bytes: int  # the output norm and head: the "output layer", the first one offloaded
    tied_output: bool  # no output.weight: the head is the token embedding, copied to the GPU when offloaded
    n_embd: int
    n_vocab: int

    @property
    def n_layer(self) -> int:
        return len(self.layer_kv_width)

    @property
    def weight_bytes(self) -> int:
        return sum(self.layer_bytes) + self.input_bytes + self.output_bytes

    def to_json(self) -> dict[str, Any]:
        return {"layer_bytes": list(self.layer_bytes), "layer_kv_width": list(self.layer_kv_width),
                "input_bytes": self.input_bytes, "output_bytes": self.output_bytes, "tied_output": self.tied_output,
                "n_embd": self.n_embd, "n_vocab": self.n_vocab}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MemoryFacts:
        return cls(tuple(data["layer_bytes"]), tuple(data["layer_kv_width"]), int(data["input_bytes"]),
                   int(data["output_bytes"]), bool(data["tied_output"]), int(data["n_embd"]), int(data["n_vocab"]))


def _uint(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _per_layer(header: GGUFHeader, key: str, n_layer: int, default: int) -> list[int]:
    """A hyperparameter given once for all layers or as one value per layer (head_count_kv of OpenELM, of
    hybrid models whose recurrent layers have 0 KV heads)."""
    value = header.get(key)
    if isinstance(value, GGUFArray):
        items = [_uint(v) for v in header.array_values(key)]
        return (items + [items[-1] if items else default] * n_layer)[:n_layer]
    return [_uint(value) if value is not None else default] * n_layer


def memory_facts(headers: list[GGUFHeader], arch: str, n_vocab: int) -> MemoryFacts:
    """The facts from every shard's tensors and the first header's hyperparameters."""
    h = headers[0]
    p = f"{arch}."
    n_layer = min(_uint(h.get(p + "block_count")), _MAX_LAYERS)
    layer_bytes = [0] * n_layer
    input_bytes = output_bytes = 0
    has_output_head = False
    embd_bytes = 0
    for header in headers:
        for t in header.tensors:
            size = tensor_nbytes(t.ggml_type, t.n_elements) or 0
            m = _LAYER_RE.match(t.name)
            if m and int(m[1]) < _MAX_LAYERS:
                i = int(m[1])
                if i >= len(layer_bytes):  # next-token-prediction layers past block_count
                    layer_bytes += [0] * (i + 1 - len(layer_bytes))
                layer_bytes[i] += size
            elif t.name.startswith("output"):
                output_bytes += size
                has_output_head = has_output_head or t.name == "output.weight"
            else:
                input_bytes += size
                if t.name == "token_embd.weight":
                    embd_bytes = size
    n_embd = _uint(h.get(p + "embedding_length"))
    heads = _per_layer(h, p + "attention.head_count", n_layer, 0)
    # head_count_kv missing: as many KV heads as heads (no grouped-query attention)
    heads_kv = [q if kv < 0 else kv for kv, q in zip(_per_layer(h, p + "attention.head_count_kv", n_layer, -1),
                                                        heads)]
    lora_rank = _uint(h.get(p + "attention.kv_lora_rank"))
    widths = []
    for q, kv in zip(heads, heads_kv):
        head_k = _uint(h.get(p + "attention.key_length")) or (n_embd // q if q else 0)
        head_v = _uint(h.get(p + "attention.value_length")) or head_k
        if lora_rank and kv:  # MLA: one compressed latent plus the rope part per token, not per head
            rope = _uint(h.get(p + "rope.dimension_count"))
            widths.append(lora_rank + rope + lora_rank)
        else:
            widths.append(kv * (head_k + head_v))
    widths += [0] * (len(layer_bytes) - len(widths))
    return MemoryFacts(tuple(layer_bytes), tuple(widths), input_bytes, output_bytes,
                       tied_output=not has_output_head and embd_bytes > 0, n_embd=n_embd, n_vocab=n_vocab)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a load will take, where: weights, context (KV cache) and compute buffers, in RAM and in VRAM."""
    weights_ram: int
    weights_vram: int
    context_ram: int
    context_vram: int
    compute_ram: int
    compute_vram: int
    n_ctx: int
    gpu_layers: int  # layers offloaded, the output layer included (0: CPU only)
    n_layer: int

    @property
    def ram(self) -> int:
        return self.weights_ram + self.context_ram + self.compute_ram

    @property
    def vram(self) -> int:
        return self.weights_vram + self.context_vram + self.compute_vram

    @property
    def context(self) -> int:
        return self.context_ram + self.context_vram


def estimate_memory(facts: MemoryFacts, n_ctx: int, n_batch: int = 512, gpu_layers: int = 0) -> MemoryEstimate:
    """What llama.cpp will allocate for this model with these options. `gpu_layers`: layers to offload as
    llama.cpp counts them (n_layer + 1 with the output layer; larger means all), 0 for the CPU only."""
    n_layer = facts.n_layer
    offloaded = max(0, min(gpu_layers, n_layer + 1))
    on_gpu_from = n_layer - max(0, offloaded - 1)  # llama.cpp offloads the last layers; the output one first
    kv = [n_ctx * w * KV_BYTES_PER_ELEMENT for w in facts.layer_kv_width]
    blocks = list(facts.layer_bytes) + [0] * max(0, n_layer - len(facts.layer_bytes))
    extra_blocks = sum(blocks[n_layer:])  # next-token-prediction layers: with the output layer
    weights_vram = sum(blocks[on_gpu_from:n_layer])
    context_vram = sum(kv[on_gpu_from:])
    weights_ram = sum(blocks[:on_gpu_from]) + facts.input_bytes
    head = facts.output_bytes + extra_blocks
    if offloaded:
        weights_vram += head + (facts.input_bytes if facts.tied_output else 0)
    else:
        weights_ram += head
    n_ubatch = max(1, min(n_batch, n_ctx))
    # the logits of one ubatch, plus a few activations per token; llama.cpp's compute buffer was within 4% of
    # this on SmolLM2 (99.4 MiB) and Gemma 3 270M (514.5 MiB) at n_batch 512
    compute = n_ubatch * 4 * (facts.n_vocab + 4 * facts.n_embd)
    small = n_ubatch * 4 * 4 * facts.n_embd  # the CPU's share when the GPU computes (embedding lookups)
    return MemoryEstimate(
        weights_ram=weights_ram, weights_vram=weights_vram,
        context_ram=sum(kv) - context_vram, context_vram=context_vram,
        compute_ram=small if offloaded else compute, compute_vram=compute if offloaded else 0,
        n_ctx=n_ctx, gpu_layers=offloaded, n_layer=n_layer)


@dataclass(frozen=True)
class MemoryVerdict:
    text: str  # "Needs about 1.2 GiB RAM (+ 90.0 MiB for the context at n_ctx 4096) · this machine has ..."
    fits: bool
    warning: str  # why it will not fit, and what to change ("" when it fits)


def judge_memory(est: MemoryEstimate, free_ram: int | None, free_vram: int = 0) -> MemoryVerdict:
    """The estimate in words, against what is free here (None: the OS does not say)."""
    ctx_where = ""
    if est.gpu_layers:
        ctx_where = ", on the GPU" if not est.context_ram else (", split GPU/RAM" if est.context_vram else "")
        need = (f"Needs about {format_bytes(est.vram - est.context_vram)} VRAM + "
                f"{format_bytes(est.ram - est.context_ram)} RAM")
    else:
        need = f"Needs about {format_bytes(est.ram - est.context_ram)} RAM"
    text = f"{need} (+ {format_bytes(est.context)} for the context at n_ctx {est.n_ctx}{ctx_where})"
    have = []
    if est.gpu_layers:
        have.append(f"{format_bytes(free_vram)} VRAM")
    if free_ram is not None:
        have.append(f"{format_bytes(free_ram)}" + (" RAM" if est.gpu_layers else ""))
    if have:
        text += " · this machine has " + " and ".join(have) + " free"
    short = []
    if free_ram is not None and est.ram > free_ram:
        short.append(f"{format_bytes(est.ram - free_ram)} more RAM")
    if est.gpu_layers and est.vram > free_vram:
        short.append(f"{format_bytes(est.vram - free_vram)} more VRAM")
    if not short:
        return MemoryVerdict(text, True, "")
    fix = ("a smaller context, fewer GPU layers or a smaller quantization" if est.gpu_layers
           else "a smaller context or a smaller quantization")
    if est.context > est.ram + est.vram - est.context:  # the cache is the larger part: the context is the lever
        fix = f"a smaller context (the cache alone is {format_bytes(est.context)})"
    return MemoryVerdict(text, False, f"It will probably not fit: it needs {' and '.join(short)} than is free. "
                                      f"Try {fix}.")
