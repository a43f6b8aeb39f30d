#!/bin/sh
# Encode throughput of priorft's tokenizer against Hugging Face tokenizers on the same text, one
# thread each, one encode call per line. Usage: tools/bench_tokenizer.sh [BUILD_DIR] [TOKENIZER]
# The text is GSM8K train (question, answer) and medical questions from ../shared, one record a
# line (about 5.7 MB), written to a temporary file.
set -e
build=${1:-build}
tok=${2:-../shared/tokenizers/llama3/tokenizer.json}
py=${PYTHON:-.venv/bin/python}
text=$(mktemp /tmp/priorft-tokbench-XXXXXX.txt)
trap 'rm -f "$text"' EXIT
"$py" - "$text" <<'PY'
import json, sys
out = []
for path, fields in [("../shared/data/gsm8k/train.jsonl", ["question", "answer"]),
                     ("../shared/data/medical/medqa_test.jsonl", ["question"]),
                     ("../shared/data/medical/pubmedqa_train.jsonl", ["question"]),
                     ("../shared/data/medical/medmcqa_test.jsonl", ["question"])]:
    for line in open(path, encoding="utf-8"):
        row = json.loads(line)
        out += [row[f].replace("\n", " ") for f in fields if isinstance(row.get(f), str)]
open(sys.argv[1], "w", encoding="utf-8").write("\n".join(out))
PY
echo "priorft:"
OMP_NUM_THREADS=1 "$build/priorft" tokenize --tokenizer "$tok" --bench "$text" --repeat 2
echo "Hugging Face tokenizers (RAYON_NUM_THREADS=1, loop of encode):"
RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false "$py" - "$text" "$tok" <<'PY'
import sys, time
from tokenizers import Tokenizer
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
mb = sum(len(l.encode()) for l in lines) / 1e6
tok = Tokenizer.from_file(sys.argv[2])
for name, run in [("encode loop", lambda: [tok.encode(l, add_special_tokens=False) for l in lines]),
                  ("encode_batch", lambda: tok.encode_batch(lines, add_special_tokens=False))]:
    t0 = time.time()
    out = run()
    dt = time.time() - t0
    n = sum(len(e.ids) for e in out)
    print(f"{name}: {mb:.2f} MB into {n} tokens in {dt:.3f} s: {mb / dt:.2f} MB/s")
PY
