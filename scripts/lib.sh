# Shared by scripts/run.sh and scripts/test.sh (sourced, not run).

# need_packages CMD:PKG...: installs with apt-get the Debian package of every command that is not on PATH.
# Without apt-get, or not as root, it stops naming what to install.
need_packages() {
  local missing=() cmds=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || { missing+=("${pair#*:}"); cmds+=("${pair%%:*}"); }
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ]; then
    echo "missing ${cmds[*]}: install the Debian packages ${missing[*]} (apt-get install ${missing[*]}, as root)" >&2
    return 1
  fi
  echo "==> installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# need_protoc: the build of etcd-client compiles protobuf files with protoc. A PROTOC that names an executable
# is used as it is (as prost-build does); otherwise protoc must be on PATH, installed when it is not.
need_protoc() {
  if [ -n "${PROTOC:-}" ] && [ -x "$PROTOC" ]; then
    return 0
  fi
  need_packages protoc:protobuf-compiler
}
