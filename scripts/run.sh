#!/usr/bin/env bash
# Builds (release) and runs rr-daemon with the given arguments, installing the build's one system need, protoc
# (Debian protobuf-compiler, for etcd-client), with apt-get when it is missing (run as root then).
# Usage: scripts/run.sh --datastore file --file examples/calico.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_protoc
# RR_PROFILE picks the cargo profile (default release; the CI check uses dev to share the test build).
exec cargo run --profile "${RR_PROFILE:-release}" --quiet -p rr-daemon -- "$@"
