#!/usr/bin/env bash
# CI check of the README's run command (scripts/run.sh) on a machine without protoc: PATH is rebuilt without
# protoc, and apt-get is a stand-in that records its arguments and "installs" protobuf-compiler by putting the
# real protoc on that PATH. Passes when run.sh asks apt-get for protobuf-compiler and then builds and runs
# `rr-daemon --check-config` on the bundled example; and when, with no apt-get either, it stops with a message
# naming the package. Uses the dev profile (RR_PROFILE=dev) so it shares the test build.
set -euo pipefail
cd "$(dirname "$0")/.."
real_protoc=$(command -v protoc) || { echo "check-run: protoc must be installed to play the package" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  [ -d "$d" ] || continue
  for f in "$d"/*; do
    n=${f##*/}
    case "$n" in protoc | apt-get) continue ;; esac
    [ -x "$f" ] && [ ! -e "$tmp/bin/$n" ] && ln -s "$f" "$tmp/bin/$n"
  done
done
cat >"$tmp/apt-get" <<STUB
#!/bin/sh
echo "\$*" >>"$tmp/apt.log"
case "\$*" in *install*protobuf-compiler*) ln -sf "$real_protoc" "$tmp/bin/protoc" ;; esac
STUB
chmod +x "$tmp/apt-get"

# 1. No protoc, no apt-get: a clear message and a failure before cargo runs.
if out=$(env -u PROTOC PATH="$tmp/bin" RR_PROFILE=dev scripts/run.sh --check-config 2>&1); then
  echo "check-run: run.sh succeeded without protoc and apt-get: $out" >&2; exit 1
fi
grep -q "protobuf-compiler" <<<"$out" || { echo "check-run: no message naming protobuf-compiler: $out" >&2; exit 1; }

# 2. No protoc, apt-get present: installs protobuf-compiler, then the daemon builds and checks the example.
ln -s "$tmp/apt-get" "$tmp/bin/apt-get"
out=$(env -u PROTOC PATH="$tmp/bin" RR_PROFILE=dev NODENAME=rr1 \
  scripts/run.sh --check-config --datastore file --file examples/calico.yaml 2>&1) || {
  echo "check-run: run.sh failed: $out" >&2; exit 1; }
grep -q "install.*protobuf-compiler" "$tmp/apt.log" || { echo "check-run: apt-get was not asked for protobuf-compiler" >&2; exit 1; }
grep -q "rr1" <<<"$out" || { echo "check-run: --check-config did not print the node: $out" >&2; exit 1; }
echo "check-run: ok (protoc installed on demand; rr-daemon --check-config ran)"
