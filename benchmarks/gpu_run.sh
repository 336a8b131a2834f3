#!/usr/bin/env bash
# The GPU benchmark, run ON the lent H100 after `bash .gpu/build.sh && bash .gpu/native.sh` (../shared/tools/gpu/).
# Expects the Q4_1 SmolLM2 at $M/SmolLM2-135M-Instruct.Q4_1.gguf (copied over in pieces); writes to $OUT.
# Every figure is compared with llama.cpp's own tools run here, on the same GPU, in the same session.
set -uo pipefail
export PYTHONPATH=/tmp/site:$PWD
M=${M:-/tmp/m}; OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
NAT=/root/nat/bin
python3 -m benchmarks.testbed --out "$M" > "$OUT/testbed.json" || exit 1
F32=$M/SmolLM2-135M-Instruct.F32.gguf; F16=$M/SmolLM2-135M-Instruct.F16.gguf
DEEP=$M/SmolLM2-135M-Instruct.F32-plus60.gguf; Q4=$M/SmolLM2-135M-Instruct.Q4_1.gguf
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/gpu.txt"
$NAT/llama-bench -m $F32 -m $F16 -m $Q4 -m $DEEP -ngl 99 -p 0 -n 200 -r 5 -o json > "$OUT/llama-bench-tg.json" 2>/dev/null
$NAT/llama-bench -m $F32 -ngl 99 -p 1,5,9,17 -n 0 -r 5 -o json > "$OUT/llama-bench-pp.json" 2>/dev/null
P="<|im_start|>user
$(cat benchmarks/prompts/code.txt)<|im_end|>
<|im_start|>assistant
"
for main in F32:$F32 F16:$F16 DEEP:$DEEP; do
  for k in 4 8 16; do
    $NAT/llama-speculative-simple -m ${main#*:} -md $Q4 --spec-type draft-simple -ngl 99 -ngld 99 -p "$P" -n 200 \
      --spec-draft-n-max $k --temp 0 -c 2048 2>&1 | grep -E "decoded|accept  " | tr '\n' ' ' \
      | sed "s/^/${main%%:*} k=$k: /" >> "$OUT/llama-speculative-simple.txt"; echo >> "$OUT/llama-speculative-simple.txt"
  done
done
run() { local name=$1; shift; python3 -m app bench --max-tokens 200 --rounds 3 --json "$@" > "$OUT/$name.json" 2> "$OUT/$name.log"; }
run f32-draft --model $F32 --draft $Q4 --draft-tokens 4,8,auto --prompt-file benchmarks/prompts/code.txt
run f16-draft --model $F16 --draft $Q4 --draft-tokens 4,auto --prompt-file benchmarks/prompts/code.txt
run deep-draft --model $DEEP --draft $Q4 --draft-tokens 4,8,16,auto --prompt-file benchmarks/prompts/code.txt
run f16-ngram --model $F16 --ngram 3 --draft-tokens 4,8,auto --prompt-file benchmarks/prompts/rename.txt
python3 -m app -v generate --model $F16 --draft $Q4 --draft-tokens auto --prompt-file benchmarks/prompts/code.txt \
  --json -v > "$OUT/generate-f16-auto.json" 2> "$OUT/generate-f16-auto.log"
grep -h "offloaded\|layers on the GPU" "$OUT"/*.log | sort | uniq -c | head > "$OUT/offload.txt"
echo done
