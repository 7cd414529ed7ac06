# syntax=docker/dockerfile:1
# The calico-rr image: rr-daemon and rr-cli, stripped, on a distroless base as the non-root user 65532.
#
#   docker build --build-arg RR_GIT_COMMIT=$(git rev-parse --short=12 HEAD) -t calico-rr:dev .
#
# Checked by rr-daemon/tests/release.rs (stages, paths and binaries match the workspace). The image runs
# `rr-daemon`; `kubectl exec POD -- rr-cli peers` reaches it on its control socket in /tmp.

# --- build: the release binaries, with the `dist` profile (no debug info, symbols stripped, thin LTO) ---
FROM rust:1-bookworm AS build
# etcd-client's build compiles protobuf files with protoc.
RUN apt-get update \
 && apt-get install -y --no-install-recommends protobuf-compiler \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The commit `rr-cli version` and calico_rr_build_info report (.git is not sent to the build).
ARG RR_GIT_COMMIT=unknown
ENV RR_GIT_COMMIT=${RR_GIT_COMMIT}
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --locked --profile dist -p rr-daemon -p rr-cli \
 && mkdir -p /out \
 && cp target/dist/rr-daemon target/dist/rr-cli /out/

# --- runtime: glibc, libgcc and CA certificates only; no shell, no package manager ---
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=build /out/rr-daemon /out/rr-cli /usr/local/bin/
# 65532 is distroless's `nonroot`. Port 179 needs NET_BIND_SERVICE, which a non-root process does not get
# from the container runtime: listen on a port >= 1024 (BGPConfiguration listenPort, e.g. node.<name>: 1790),
# see deploy/kubernetes/README.md.
USER 65532:65532
# BGP (the BGPConfiguration listenPort; 179 by default) and /metrics, /healthz, /readyz.
EXPOSE 179 1790 9179
ENTRYPOINT ["/usr/local/bin/rr-daemon"]
