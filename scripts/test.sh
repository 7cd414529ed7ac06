#!/usr/bin/env bash
# Runs every check and test of the workspace. Installs what it needs on Debian (run as root).
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v protoc >/dev/null || need_pkgs+=(protobuf-compiler)
command -v etcd >/dev/null || need_pkgs+=(etcd-server)
command -v etcdctl >/dev/null || need_pkgs+=(etcd-client)
command -v bird >/dev/null || need_pkgs+=(bird2)
command -v gobgpd >/dev/null || need_pkgs+=(gobgpd)
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v openssl >/dev/null || need_pkgs+=(openssl)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "==> installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
# The Debian packages start system daemons we do not want holding port 179 or 2379.
for svc in bird gobgpd etcd; do
  systemctl stop "$svc" >/dev/null 2>&1 || true
done
pkill -x bird >/dev/null 2>&1 || true

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> layering: rr-core must not depend on tokio"
if cargo tree -p rr-core -e normal | grep -q tokio; then
  echo "rr-core depends on tokio" >&2; exit 1
fi
echo "==> cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
echo "==> cargo bench --no-run"
cargo bench -p benches --no-run --quiet
echo "==> fuzz crate builds"
cargo build --manifest-path fuzz/Cargo.toml --quiet
echo "==> cargo test"
cargo test --workspace --all-targets
cargo test --workspace --doc
