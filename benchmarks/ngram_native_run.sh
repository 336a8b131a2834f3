#!/usr/bin/env bash
# Issue 25 item 3 on this machine: our n-gram lookup against llama.cpp's own draftless types, in one run, on the
# same model and the same rendered prompt. llama.cpp's tools built from the binding's own source (see
# docs/benchmarks.md "Real model" for the cmake line), in $NAT. Run from the project root, machine otherwise idle:
#   NAT=/tmp/nat/bin [FA=off] bash benchmarks/ngram_native_run.sh
# FA: our --flash-attn (default llama.cpp's choice; docs/benchmarks.md's table was made with FA=off)
# The edit task is benchmarks/predicted_outputs.py's (a 152-line module, the answer repeats it); the novel task
# is benchmarks/prompts/code.txt (new code: little to look up), to see that lookup costs nothing where it finds
# nothing. Both sides without extra CPU weight buffers (ours SPECCHAT_CPU_REPACK=0, llama.cpp -nr): on an AMX Xeon
# llama.cpp's tools would put weights in its AMX buffers, whose kernel crashes on batches of 3+ rows (llama.cpp
# #20824), and -nr is the only switch that leaves AMX out; ours with CPU_REPACK (the default) is run too.
set -uo pipefail
PY=${PY:-.venv/bin/python}; OUT=${OUT:-.cache/bench-ngram}; NAT=${NAT:-/tmp/nat/bin}; N=${N:-2048}
Q=${Q:-.cache/test-models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf}
mkdir -p "$OUT"
# the edit's message, and both prompts rendered exactly as our engine renders them (for the native tools)
$PY - "$Q" "$OUT" <<'EOF2' || exit 1
import sys
import llama_cpp  # noqa: F401  before numpy
from app.core.inference.engine import Engine
from app.core.inference.llama_runtime import LoadOptions
from benchmarks.predicted_outputs import SOURCE, edit_request
from app.core.infra.requests import SamplerParams
model, out = sys.argv[1], sys.argv[2]
edit = edit_request(SOURCE.read_text(), 16, SamplerParams()).messages[0]["content"]
open(f"{out}/edit-message.txt", "w").write(edit)
e = Engine()
e.load_main(model, LoadOptions(n_ctx=8192))
for name, text in (("edit", edit), ("novel", open("benchmarks/prompts/code.txt").read())):
    open(f"{out}/{name}-rendered.txt", "w").write(e.chat_format().render([{"role": "user", "content": text}]))
EOF2
cp benchmarks/prompts/code.txt "$OUT/novel-message.txt"
for task in edit novel; do
  n=$N; [ $task = novel ] && n=${NOVEL_N:-512}  # the edit's answer is 1,553 tokens; new code needs no more
  for repack in 0 1; do
    SPECCHAT_CPU_REPACK=$repack $PY -m app bench --model "$Q" --ngram 3 --draft-tokens 8,16,auto --rounds 2 ${FA:+--flash-attn $FA} \
      --max-tokens $n --ctx 8192 --prompt-file "$OUT/$task-message.txt" --json > "$OUT/ours-$task-repack$repack.json" \
      2> "$OUT/ours-$task-repack$repack.log"
    $PY -c "import json,sys; r=json.load(open(sys.argv[1])); print(sys.argv[2], 'ours plain', r['plain']['tokens_per_second'], *[(x['draft_tokens'], x['tokens_per_second'], x['speedup'], x['acceptance_rate']) for x in r['runs']])" "$OUT/ours-$task-repack$repack.json" "$task repack=$repack"
  done
  for type in ngram-simple ngram-mod; do
    for k in 8 16; do
      "$NAT"/llama-speculative-simple -m "$Q" --spec-type $type --spec-draft-n-max $k -f "$OUT/$task-rendered.txt" \
        -n $n --temp 0 -c 8192 -t 2 -nr > "$OUT/native-$task-$type-k$k.log" 2>&1
      echo "$task native $type k=$k: $(grep -E 'decoded|accept  |n_drafted' "$OUT/native-$task-$type-k$k.log" | tr -s ' ' | tr '\n' ' ')"
    done
  done
done
"$NAT"/llama-bench -m "$Q" -t 2 -p 0 -n 128 -r 3 --repack 0 -o json > "$OUT/llama-bench.json" 2> "$OUT/llama-bench.log" &&
  $PY -c "import json,sys; [print('llama-bench tg128', round(x['avg_ts'], 1), 'tok/s') for x in json.load(open(sys.argv[1]))]" "$OUT/llama-bench.json"
