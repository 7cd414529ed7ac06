#!/usr/bin/env bash
# Runs every test of the workspace (`cargo test --workspace --all-targets` and the doc tests, as scripts/test.sh
# does after its checks) N times in a row and stops at the first failure: the flakiness check.
# Builds once first; each run's time and result go to stdout and to target/test-repeat/run-K.log.
# Usage: scripts/test-repeat.sh [N]   (default 10; run scripts/test.sh once first so the tools are installed)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10}"
logs="${CARGO_TARGET_DIR:-target}/test-repeat"
mkdir -p "$logs"
cargo test --workspace --all-targets --no-run --quiet
for k in $(seq 1 "$n"); do
  start=$(date +%s)
  if cargo test --workspace --all-targets >"$logs/run-$k.log" 2>&1 && cargo test --workspace --doc >>"$logs/run-$k.log" 2>&1; then
    passed=$(grep -o '[0-9]* passed' "$logs/run-$k.log" | awk '{s+=$1} END {print s}')
    failed=$(grep -o '[0-9]* failed' "$logs/run-$k.log" | awk '{s+=$1} END {print s}')
    echo "run $k/$n: pass, $(( $(date +%s) - start )) s, $passed tests passed, $failed failed ($(date -u +%H:%M))"
  else
    echo "run $k/$n: FAIL after $(( $(date +%s) - start )) s; log $logs/run-$k.log" >&2
    grep -E '^test .* FAILED|panicked|^failures:' "$logs/run-$k.log" | head -20 >&2
    exit 1
  fi
done
echo "all $n runs passed at $(git rev-parse --short HEAD)"
