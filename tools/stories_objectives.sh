#!/usr/bin/env bash
# Fine-tunes stories260K (../shared) on GSM8K with NLL, -p and OnlyTopLogP-0.2 for STEPS
# steps each and prints, per objective, the first and last steps' NLL and mean target p and a
# greedy sample of the saved model: the real-input check of the trainer.
# usage: tools/stories_objectives.sh [OUT_DIR] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/stories-objectives}
steps=${2:-200}
shared=../shared
bin=${PRIORFT_BIN:-./build/priorft}
[ -x "$bin" ] || { echo "build first: ./scripts/test.sh (or cmake --build build)"; exit 1; }
mkdir -p "$out"
for objective in nll p OnlyTopLogP-0.2; do
  "$bin" train --model "$shared/models/stories260K/stories260K.bin" \
    --data "$shared/data/gsm8k/train.jsonl" --prompt-key question --response-key answer \
    --chat-template raw --max-length 320 --truncation right --skip-bad-rows \
    --global-batch 8 --micro-batch 8 --max-steps "$steps" --lr 1e-3 --warmup-ratio 0.05 \
    --objective "$objective" --log-every 50 --out "$out/$objective" 2> "$out/$objective.log"
done
printf '\n| objective | first nll | last nll | first mean p | last mean p | last kept |\n'
printf '|---|---|---|---|---|---|\n'
for objective in nll p OnlyTopLogP-0.2; do
  python3 - "$out/$objective/metrics.jsonl" "$objective" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"split"' not in l]
def avg(key, part):
    return sum(r[key] for r in part) / len(part)
head, tail = rows[:10], rows[-10:]
print(f"| {sys.argv[2]} | {avg('nll_response', head):.3f} | {avg('nll_response', tail):.3f} | "
      f"{avg('mean_p', head):.3f} | {avg('mean_p', tail):.3f} | {avg('kept_fraction', tail):.3f} |")
PY
done
echo "(first/last = mean over the first/last 10 steps; nll over all response tokens)"
for objective in nll p OnlyTopLogP-0.2; do
  echo "--- $objective: greedy sample"
  "$bin" generate --model "$out/$objective/$(cat "$out/$objective/latest")" \
    --tokenizer "$shared/models/stories260K/tok512.bin" --prompt "Natalia sold clips" \
    --max-new-tokens 60 --temperature 0 2>/dev/null || echo "(generate failed)"
done
