#!/usr/bin/env bash
# Issue 23's GPU figures: predicted outputs on the GPU testbed's heavy main (SmolLM2 F16 + 270 zero-output layers:
# the cost of a 7B-32B main beside a 0.5B draft) with the PyPI Q4_1 as the draft. Run ON the lent GPU machine,
# from the project root, after `bash .gpu/build.sh` (../shared/tools/gpu/), with the Q4_1 at
# $M/SmolLM2-135M-Instruct.Q4_1.gguf (the machine cannot download: copy it over in two pieces).
# SmolLM2-135M cannot do the code edit (it loops instead of copying the module), so the task is the synthetic
# one (benchmarks/predicted_outputs.py --task synthetic): the prediction is the model's own plain answer with 7
# lines changed. Every ratio is against plain in the same run on the same GPU.
set -uo pipefail
export PYTHONPATH=/tmp/site:$PWD
M=${M:-/tmp/m}; OUT=${OUT:-/tmp/out}; N=${N:-400}; mkdir -p "$OUT"
python3 -m benchmarks.testbed --out "$M" --for gpu > "$OUT/testbed.json" || exit 1
DEEP=$M/SmolLM2-135M-Instruct.F16-plus270.gguf; Q4=$M/SmolLM2-135M-Instruct.Q4_1.gguf
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/gpu.txt" 2>&1
for t in 0 0.7; do
  seeds=$([ "$t" = 0 ] && echo 1 || echo 2)
  python3 -m benchmarks.predicted_outputs --model "$DEEP" --draft "$Q4" --task synthetic --rounds 3 --temp $t \
    --seeds $seeds --max-tokens $N --json > "$OUT/gpu-t$t.json" 2> "$OUT/gpu-t$t.log"
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); [print(f\"T={r['temperature']} {c['name']:22s} {c['tokens_per_second']:7.1f} tok/s {c['speedup']:.2f}x accepted {c['accepted_share']:.0%} prediction +{c['accepted_prediction_tokens']}/-{c['rejected_prediction_tokens']} identical {c['identical_to_plain']}\") for c in r['configs']]" "$OUT/gpu-t$t.json"
done
