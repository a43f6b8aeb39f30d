#!/usr/bin/env bash
# Builds priorft and runs its test suite with CTest. With --sanitize, builds into
# build-sanitize with AddressSanitizer + UndefinedBehaviorSanitizer and runs the tests labelled
# for it (the file parsers and tokenizers, which read untrusted input).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

if [ "${1:-}" = "--sanitize" ]; then
  cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPRIORFT_SANITIZE=ON >/dev/null
  cmake --build build-sanitize -j "$jobs"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-sanitize --output-on-failure -L sanitize -j "$jobs"
else
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j "$jobs"
  ctest --test-dir build --output-on-failure -j "$jobs"
fi
