#!/usr/bin/env bash
# Smoke run of every fuzz target (the test command calls it): installs cargo-fuzz on demand, builds the
# targets once and runs each for FUZZ_SECONDS (default 20) from its corpus under fuzz/corpus/ (the MRT
# target seeded with the repo's captures). Fails on the first crash; the input is left in
# fuzz/artifacts/TARGET/ (turn it into a test, then fix). Long runs: ROBUSTNESS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-20}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
cd fuzz
cargo fuzz build -s none
for t in $(cargo fuzz list); do
  mkdir -p "corpus/$t"
  if [ "$t" = mrt_decode ]; then cp ../bgp-wire/tests/data/mrt/*.mrt "corpus/$t/" 2>/dev/null || true; fi
  log="$(mktemp)"
  if ! cargo fuzz run -s none "$t" -- -max_total_time="$secs" -max_len=4096 >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz target $t failed: see fuzz/artifacts/$t/" >&2
    exit 1
  fi
  echo "fuzz $t: $(grep -E '^Done [0-9]+ runs' "$log" || tail -1 "$log")"
  rm -f "$log"
done
