#!/usr/bin/env bash
# The RPC backend on a GPU, run ON the lent GPU machine after `bash benchmarks/gpu_rpc_build.sh` (CUDA + RPC).
# Expects the PyPI Q4_1 SmolLM2 at $M/SmolLM2-135M-Instruct.Q4_1.gguf. One `python -m app rpc-server` on
# 127.0.0.1 serves this machine's GPU; `generate --rpc ... --rpc-split 0,1` puts every main-model layer on it
# (the server is the "other machine"; the draft stays local, on the same GPU here). Each run is one `generate`
# (a fresh load), greedy, 200 tokens, the code prompt; the texts are compared with the local run's.
# Writes $OUT/*.json and prints a table.
set -uo pipefail
export PYTHONPATH=/tmp/site:$PWD
M=${M:-/tmp/m}; OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
N=${N:-200}; PORT=${PORT:-50152}
python3 -m benchmarks.testbed --out "$M" --for gpu > "$OUT/testbed.json" || exit 1
DEEP=$M/SmolLM2-135M-Instruct.F16-plus270.gguf; Q4=$M/SmolLM2-135M-Instruct.Q4_1.gguf
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/gpu.txt" 2>&1
python3 -m app rpc-server --port $PORT > "$OUT/rpc-server.log" 2>&1 &
SERVER=$!
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.2; done
run() {  # name, extra args...
  local name=$1; shift
  timeout 240 python3 -m app generate --model "$DEEP" --prompt-file benchmarks/prompts/code.txt --max-tokens $N \
    --temp 0 --n-gpu-layers -1 --draft-gpu-layers -1 --ctx 1024 --json "$@" > "$OUT/$name.json" 2> "$OUT/$name.err"
  echo "$name rc=$?"
}
run local-plain
run local-k8 --draft "$Q4" --draft-tokens 8
run local-auto --draft "$Q4" --draft-tokens auto
run rpc-plain --rpc 127.0.0.1:$PORT --rpc-split 0,1
run rpc-k8 --rpc 127.0.0.1:$PORT --rpc-split 0,1 --draft "$Q4" --draft-tokens 8
run rpc-auto --rpc 127.0.0.1:$PORT --rpc-split 0,1 --draft "$Q4" --draft-tokens auto
kill $SERVER 2>/dev/null
python3 - "$OUT" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
rows = {}
for name in ("local-plain", "local-k8", "local-auto", "rpc-plain", "rpc-k8", "rpc-auto"):
    try:
        rows[name] = json.loads((out / f"{name}.json").read_text())
    except Exception as e:  # noqa: BLE001
        print(f"{name}: no result ({e})")
ref = rows.get("local-plain", {}).get("text")
print(f"{'run':12} {'tok/s':>8} {'vs plain':>9} {'accepted':>12}  same text  devices")
for name, r in rows.items():
    s = r["stats"]
    plain = rows.get(name.split("-")[0] + "-plain", {}).get("stats", {}).get("tokens_per_second") or 0
    acc = f"{s['accepted']}/{s['drafted']}" if s["drafted"] else "-"
    devs = " ".join(f"{d['name']}:{d['layers']}" for d in r.get("devices", []))
    print(f"{name:12} {s['tokens_per_second']:8.1f} {s['tokens_per_second'] / plain if plain else 0:8.2f}x "
          f"{acc:>12}  {r['text'] == ref!s:9}  {devs}")
(out / "summary.json").write_text(json.dumps({k: {"stats": v["stats"], "devices": v.get("devices"),
                                                 "same_text": v["text"] == ref} for k, v in rows.items()}, indent=1))
PY
