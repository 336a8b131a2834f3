"""The summary tables of one benchmarks/gpu_run.sh run, as Markdown (what docs/benchmarks.md shows).

    python -m benchmarks.gpu_summary OUT_DIR

Every ratio is taken within the run: ours against our own plain decoding of the same round, and the native
anchors (llama-bench, llama-speculative-simple) against llama-bench's plain figure for the same file, generating
at the prompt's depth (`-d`, the rendered prompt's token count) where the run measured it. Speed-ups are ratios of
medians; "paired" is the median of each run over the plain run just before it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

DEEP, F16, F32, Q4 = "F16-plus270", "F16.gguf", "F32.gguf", "Q4_1"


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def llama_bench(out: Path, at_depth: bool = True) -> dict[str, float]:
    """File-name key -> llama-bench tg tok/s, generating after the prompt's tokens (else from an empty context,
    llama-bench's default; also the fallback when the run has no depth rows)."""
    rows = _json(out / "llama-bench-tg.json") or []
    depths = sorted({int(r.get("n_depth", 0)) for r in rows})
    want = depths[-1] if at_depth and depths else 0
    found: dict[str, float] = {}
    for r in rows:
        name = Path(r.get("model_filename", "")).name
        for key in (DEEP, F16, F32, Q4):
            if key in name and key not in found and int(r.get("n_depth", 0)) == want:
                found[key] = float(r["avg_ts"])
    return found


def depth(out: Path) -> int:
    rows = _json(out / "llama-bench-tg.json") or []
    return max((int(r.get("n_depth", 0)) for r in rows), default=0)


def native(out: Path, temp: str, k: int) -> tuple[float, float] | None:
    """llama-speculative-simple's tok/s and acceptance % for one run."""
    try:
        text = (out / f"native-t{temp}-k{k}.log").read_text(errors="replace")
    except OSError:
        return None
    speed = re.search(r"decoded\s+\d+ tokens in\s+[\d.]+ seconds, speed:\s+([\d.]+) t/s", text)
    accept = re.search(r"\baccept\s+=\s+([\d.]+)%", text)
    if not speed:
        return None
    return float(speed.group(1)), float(accept.group(1)) if accept else float("nan")


def ours(out: Path, name: str) -> tuple[float, dict[str, dict[str, Any]]] | None:
    report = _json(out / f"{name}.json")
    if not report:
        return None
    return report["plain"]["tokens_per_second"], {str(r["draft_tokens"]): r for r in report["runs"]}


def _run_cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return "—"
    cell = f"{r['tokens_per_second']:.1f} ({r['speedup']:.2f}×"
    if "paired_speedup" in r:
        cell += f", paired {r['paired_speedup']:.2f}×"
    cell += f", {r['acceptance_rate']:.0%} acc."
    if "identical" in r:
        diff = r.get("first_difference")
        cell += (", identical" if r["identical"] else
                 f", NOT identical: round {diff['round']} from token {diff['position']}" if diff else ", NOT identical")
    if r["draft_tokens"] == "auto":
        cell += f", last k {r.get('last_draft_tokens')}"
    return cell + ")"


def summary(out: Path) -> str:
    lines: list[str] = []
    gpu = (out / "gpu.txt").read_text().strip() if (out / "gpu.txt").exists() else "unknown GPU"
    lb, lb0, d = llama_bench(out), llama_bench(out, at_depth=False), depth(out)
    lines.append(f"GPU: {gpu}. llama-bench tg{f' at depth {d}' if d else ''}: "
                 + ", ".join(f"{k} {v:.1f}" for k, v in lb.items()) + " tok/s"
                 + (" (from an empty context: " + ", ".join(f"{k} {v:.1f}" for k, v in lb0.items()) + ")" if d else ""))
    lines.append("")
    base = lb.get(DEEP)
    lines.append("| F16+270 main + Q4_1 draft, code prompt | llama.cpp llama-speculative-simple | ours |")
    lines.append("|---|---|---|")
    t0, t07 = ours(out, "deep-t0"), ours(out, "deep-t07")
    plain0 = f"{t0[0]:.1f} ({t0[0] / base:.2f}× llama-bench)" if t0 and base else "—"
    lines.append(f"| plain | {base:.1f} (llama-bench) | {plain0} |" if base else f"| plain | — | {plain0} |")
    for temp, rep in (("0", t0), ("0.7", t07)):
        if temp == "0.7" and rep:
            lines.append(f"| T = 0.7, plain | — | {rep[0]:.1f} |")
        for k in (1, 2, 4, 8, 16):
            if (not rep or str(k) not in rep[1]) and k < 4:
                continue
            nat = native(out, temp, k)
            nat_cell = (f"{nat[0]:.1f} ({nat[0] / base:.2f}×, {nat[1]:.0f}% acc.)" if nat and base else
                        f"{nat[0]:.1f} ({nat[1]:.0f}% acc.)" if nat else "—")
            lines.append(f"| T = {temp}, k = {k} | {nat_cell} | {_run_cell(rep[1].get(str(k)) if rep else None)} |")
        lines.append(f"| T = {temp}, `auto` | — | {_run_cell(rep[1].get('auto') if rep else None)} |")
    lines.append("")
    lines.append("| pair where drafting cannot pay | plain (ours) | vs llama-bench | k = 4 | auto |")
    lines.append("|---|---|---|---|---|")
    for name, key in (("f16-t0", F16), ("f16-t07", F16), ("f32-t0", F32)):
        rep = ours(out, name)
        if not rep:
            continue
        vs = f"{rep[0] / lb[key]:.2f}×" if key in lb and not name.endswith("t07") else "—"
        label = f"{key.split('.')[0]} + Q4_1, T = {'0.7' if name.endswith('t07') else '0'}"
        lines.append(f"| {label} | {rep[0]:.1f} | {vs} | {_run_cell(rep[1].get('4'))} | "
                     f"{_run_cell(rep[1].get('auto'))} |")
    ties = _json(out / "near-ties.json")
    if ties:
        lines.append("")
        lines.append("Closest calls of the plain greedy answer (best minus second-best logit): "
                     + ", ".join(f"token {c['position']}: {c['gap']}" for c in ties["closest"][:5])
                     + f"; median gap {ties['median_gap']}"
                     + ("; where a greedy run first differed: "
                        + ", ".join(f"token {c['position']}: {c['gap']}" for c in ties["at"]) if ties["at"] else ""))
    lines.append("")
    lines.extend(targets(lb, t0, t07, out))
    return "\n".join(lines)


def targets(lb: dict[str, float], t0: Any, t07: Any, out: Path) -> list[str]:
    """Issue 25's targets (issue 11's comparisons with llama.cpp's own loop kept), each with its figure."""
    found: list[str] = []

    def check(label: str, value: float | None, goal: float) -> None:
        if value is None:
            found.append(f"- {label}: not measured")
        else:
            found.append(f"- {label}: {value:.2f} (target ≥ {goal:.2f}) {'met' if value >= goal else 'MISSED'}")

    for temp, rep in (("0", t0), ("0.7", t07)):
        if rep:
            fixed = max(r["tokens_per_second"] for k, r in rep[1].items() if k != "auto")
            if temp == "0":
                check("best fixed k / plain, T = 0", fixed / rep[0], 3.0)
            check(f"auto / best fixed k, T = {temp}", rep[1]["auto"]["tokens_per_second"] / fixed, 0.95)
    nat0 = [n[0] for k in (4, 8, 16) if (n := native(out, "0", k))]
    if t0 and nat0:
        best = max(rep["tokens_per_second"] for k, rep in t0[1].items() if k != "auto")
        check("ours best k / native best k, T = 0", best / max(nat0), 1.0)
    nat07 = native(out, "0.7", 8)
    if t07 and nat07:
        check("ours k = 8 / native k = 8, T = 0.7", t07[1]["8"]["tokens_per_second"] / nat07[0], 1.3)
        check("ours auto / native k = 8, T = 0.7", t07[1]["auto"]["tokens_per_second"] / nat07[0], 1.3)
    for name in ("f16-t0", "f16-t07", "f32-t0"):
        rep = ours(out, name)
        if rep:
            check(f"auto / plain, {name}", rep[1]["auto"]["tokens_per_second"] / rep[0], 0.98)
            if "paired_speedup" in rep[1]["auto"]:
                check(f"auto / plain, {name}, paired", rep[1]["auto"]["paired_speedup"], 0.98)
    for name, key in (("deep-t0", DEEP), ("f16-t0", F16), ("f32-t0", F32)):
        rep = ours(out, name)
        if rep and key in lb:
            check(f"plain / llama-bench, {key}", rep[0] / lb[key], 0.95)
    return found


if __name__ == "__main__":
    print(summary(Path(sys.argv[1])))
