#!/usr/bin/env bash
# The GPU benchmark, run ON the lent GPU machine after `bash .gpu/build.sh && bash .gpu/native.sh`
# (../shared/tools/gpu/). Expects the PyPI Q4_1 SmolLM2 at $M/SmolLM2-135M-Instruct.Q4_1.gguf (the machine cannot
# download: copy it over in pieces); writes every result to $OUT and prints the summary table at the end.
# Every figure is compared with llama.cpp's own tools built from the same source, on the same GPU, in this run.
#
# Testbed (benchmarks/testbed.py --for gpu): F32 and F16 mains dequantized from the Q4_1 (a pair where drafting
# cannot pay on a GPU: a 135M model is launch-bound, the draft costs as much as the main) and F16+270, the F16 with
# 270 zero-output layers (300 layers, same tokens, 2.2 GB): the cost ratio of a 32B main with a 0.5B draft.
# All layers offloaded everywhere: -ngl 999 / -ngld 999 for the anchors (-ngl 99 left 201 of 300 layers on the CPU).
set -uo pipefail
export PYTHONPATH=/tmp/site:$PWD
M=${M:-/tmp/m}; OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
NAT=${NAT:-/root/nat/bin}
N=${N:-200}  # tokens per run
python3 -m benchmarks.testbed --out "$M" --for gpu > "$OUT/testbed.json" || exit 1
F32=$M/SmolLM2-135M-Instruct.F32.gguf; F16=$M/SmolLM2-135M-Instruct.F16.gguf
DEEP=$M/SmolLM2-135M-Instruct.F16-plus270.gguf; Q4=$M/SmolLM2-135M-Instruct.Q4_1.gguf
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/gpu.txt" 2>&1

# the chat prompt exactly as our engine renders it (SmolLM2's template adds its system line), for the native tools
# and its length in tokens, the depth llama-bench's plain anchor generates at (-d): attention over the prompt is
# part of every token's cost, and llama-bench's default depth 0 leaves it out
python3 - "$Q4" "$OUT/prompt-tokens.txt" > "$OUT/prompt-code.txt" <<'EOF'
import sys
import llama_cpp  # noqa: F401  (before numpy)
from app.core.inference.engine import Engine
from app.core.inference.llama_runtime import LoadOptions
e = Engine()
e.load_main(sys.argv[1], LoadOptions(n_ctx=512, n_gpu_layers=0))
messages = [{"role": "user", "content": open("benchmarks/prompts/code.txt").read()}]
sys.stdout.write(e.chat_format().render(messages))
open(sys.argv[2], "w").write(str(len(e.chat_prompt(messages)[0])))
EOF
P=$(cat "$OUT/prompt-tokens.txt" 2>/dev/null || echo 0)

if [ -x "$NAT/llama-bench" ]; then
  timeout 240 $NAT/llama-bench -m $F32 -m $F16 -m $Q4 -m $DEEP -ngl 999 -p 0 -n $N -d 0,$P -r 3 -o json \
    > "$OUT/llama-bench-tg.json" 2> "$OUT/llama-bench.log"
  for spec in "0 4" "0 8" "0 16" "0.7 4" "0.7 8" "0.7 16"; do
    set -- $spec
    timeout 120 $NAT/llama-speculative-simple -m $DEEP -md $Q4 --spec-type draft-simple -ngl 999 -ngld 999 \
      -f "$OUT/prompt-code.txt" -n $N --spec-draft-n-max $2 --temp $1 -s 1 -c 2048 > "$OUT/native-t$1-k$2.log" 2>&1
    echo "T=$1 k=$2: $(grep -E 'decoded|accept  ' "$OUT/native-t$1-k$2.log" | tr '\n' ' ')" >> "$OUT/native.txt"
  done
fi

run() { local name=$1; shift; timeout 300 python3 -m app bench --max-tokens $N --json "$@" \
          > "$OUT/$name.json" 2> "$OUT/$name.log"; }
CODE=benchmarks/prompts/code.txt
# k = 1 and 2 too: the shapes auto tries first (2 and 3 rows), checked for identity on their own
run deep-t0 --model $DEEP --draft $Q4 --draft-tokens 1,2,4,8,16,auto --rounds 3 --prompt-file $CODE
run deep-t07 --model $DEEP --draft $Q4 --draft-tokens 4,8,16,auto --rounds 1 --seeds 3 --temp 0.7 --prompt-file $CODE
# the same at T = 0 with the greedy picks read from the logits on the host (before issue 25, item 2): the
# default makes them on the GPU (llama.cpp's backend sampler), so only token ids come back
SPECCHAT_DEVICE_GREEDY=off run deep-t0-host --model $DEEP --draft $Q4 --draft-tokens 8,auto --rounds 3 \
  --prompt-file $CODE
# per emitted token: main and draft decodes and picks, and the loop's own share, host picks against device picks
timeout 120 python3 -m benchmarks.token_costs --model $DEEP --draft $Q4 --k 8 --max-tokens $N --rounds 2 \
  > "$OUT/token-costs.txt" 2> "$OUT/token-costs.log"
run f16-t0 --model $F16 --draft $Q4 --draft-tokens 4,auto --rounds 5 --prompt-file $CODE
run f16-t07 --model $F16 --draft $Q4 --draft-tokens 4,auto --rounds 2 --seeds 3 --temp 0.7 --prompt-file $CODE
run f32-t0 --model $F32 --draft $Q4 --draft-tokens 4,auto --rounds 5 --prompt-file $CODE
# what auto decided, round by round, in one answer each way (its debug log)
timeout 120 python3 -m app -v generate --model $DEEP --draft $Q4 --draft-tokens auto --prompt-file $CODE \
  --max-tokens $N --json > "$OUT/generate-deep-auto.json" 2> "$OUT/generate-deep-auto.log"
timeout 120 python3 -m app -v generate --model $DEEP --draft $Q4 --draft-tokens auto --prompt-file $CODE \
  --max-tokens $N --temp 0.7 --seed 1 --json > "$OUT/generate-deep-auto-t07.json" 2> "$OUT/generate-deep-auto-t07.log"
timeout 120 python3 -m app -v generate --model $F16 --draft $Q4 --draft-tokens auto --prompt-file $CODE \
  --max-tokens $N --json > "$OUT/generate-f16-auto.json" 2> "$OUT/generate-f16-auto.log"
# the closest calls of the plain answer, and the gaps where a greedy run left it (see benchmarks/near_ties.py)
AT=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['runs']; print(','.join(sorted({str(x['first_difference']['position']) for x in r if 'first_difference' in x})))" "$OUT/deep-t0.json" 2>/dev/null)
timeout 120 python3 -m benchmarks.near_ties --model $DEEP --prompt-file $CODE --max-tokens $N --at "$AT" \
  > "$OUT/near-ties.json" 2> "$OUT/near-ties.log"
grep -h "offloaded" "$OUT"/*.log | sort | uniq -c > "$OUT/offload.txt"
python3 -m benchmarks.gpu_summary "$OUT" | tee "$OUT/summary.md"
