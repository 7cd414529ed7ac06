#!/usr/bin/env bash
# Runs every check and test of the workspace. Installs what it needs on Debian (run as root).
# Touches no service or process it did not start.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
# Tools the tests start themselves (each test runs its own etcd, BIRD and GoBGP on free loopback ports and in its
# own temporary directory); nothing here stops or touches a service or process it did not start.
need_packages protoc:protobuf-compiler etcd:etcd-server etcdctl:etcd-client bird:bird2 gobgpd:gobgpd \
  ip:iproute2 openssl:openssl yamllint:yamllint

echo "==> deploy/: yamllint, and kubectl kustomize of the base and overlays where kubectl has it"
yamllint -s -c deploy/.yamllint deploy
if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  for k in deploy/kubernetes deploy/kustomize/*/; do
    kubectl kustomize "$k" >/dev/null || { echo "kubectl kustomize $k failed" >&2; exit 1; }
  done
else
  echo "kubectl not installed: kustomize rendering skipped (datastore/tests/kube_manifests.rs still checks deploy/)"
fi
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> layering: rr-core must not depend on tokio"
if cargo tree -p rr-core -e normal | grep -q tokio; then
  echo "rr-core depends on tokio" >&2; exit 1
fi
echo "==> unused dependencies (cargo machete, over the workspace and fuzz/)"
if ! cargo machete --version >/dev/null 2>&1; then
  cargo install cargo-machete --locked
fi
cargo machete
echo "==> cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
echo "==> cargo bench --no-run"
cargo bench -p benches --no-run --quiet
echo "==> cargo test"
cargo test --workspace --all-targets
cargo test --workspace --doc
echo "==> the README's run command without protoc on PATH"
scripts/check-run.sh
echo "==> fuzz smoke run (every target, ${FUZZ_SECONDS:-20} s each)"
scripts/fuzz-smoke.sh
