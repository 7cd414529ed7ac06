//! HTTP endpoints: Prometheus `/metrics`, `/healthz`, `/readyz` on a TCP address, and the JSON control API
//! for `rr-cli` on a unix socket (optionally TCP too):
//! - `GET /status`;
//! - `GET /peers?limit=N&after=A`: one page of the configured peers in the order of their address as text,
//!   up to N (default 1000, at most 10000) after the address A;
//! - `GET /routes?prefix=P`, or `GET /routes?limit=N&after=P`: one page of the Loc-RIB in prefix order, up to
//!   N routes (default 1000, at most 10000) after prefix P;
//! - `GET /rib` (pages of MRT-encoded paths), `POST /peers/{name}/reset`, `POST /peers/{name}/refresh`, and
//!   `POST /log-level` ([`crate::logging`]).
//!
//! Every list is paged so that no request holds the engine task (and its keepalives) for a whole table: the
//! next page starts after the last key of this one, and a page shorter than its limit is the last. The
//! requests and answers are the typed structs of the `control-api` crate, which `rr-cli` decodes; a refusal
//! is a 4xx with a [`control_api::ApiError`] body.
//!
//! Access control:
//! - The unix socket is created mode 0600 whatever the umask (the permissions are set before `listen(2)`,
//!   so nobody can connect in between): only the daemon's user can use it. An existing file at the path is
//!   replaced only when it is a stale socket (a connect is refused); a regular file is never removed and a
//!   socket a live daemon answers on is never taken over: start-up fails instead.
//! - The TCP control API always requires a bearer token (`Authorization: Bearer T`): the full token
//!   (`--control-token-file`) for everything, the read-only one (`--control-read-token-file`) for GETs only.
//!   Missing or unknown token: 401; a read-only token on a POST: 403.

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use control_api::{ApiError, PeersQuery, RibQuery, RoutesQuery, path};
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, oneshot, watch};

use crate::tasks::{ControlReq, EngineCmd, Health};

/// A refusal: `status` with an [`ApiError`] body.
pub(crate) fn refuse(status: StatusCode, error: impl Into<String>) -> Response {
    (status, axum::Json(ApiError::new(error))).into_response()
}

/// A query string that does not parse, as a refusal naming the problem (not the request path).
fn bad_query(e: &QueryRejection) -> Response {
    refuse(StatusCode::BAD_REQUEST, format!("bad request: {}", e.body_text()))
}

#[derive(Clone)]
struct MetricsState {
    registry: Arc<Registry>,
    health: watch::Receiver<Health>,
}

/// The metrics and health router.
pub(crate) fn metrics_router(registry: Arc<Registry>, health: watch::Receiver<Health>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(MetricsState { registry, health })
}

async fn metrics(State(s): State<MetricsState>) -> Response {
    let mut out = String::new();
    match prometheus_client::encoding::text::encode(&mut out, &s.registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            out,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Ready once the datastore has been read and the BGP listener is bound. A later datastore outage does not
/// make the reflector unready: its sessions and routes carry on.
async fn readyz(State(s): State<MetricsState>) -> Response {
    let h = s.health.borrow().clone();
    if h.datastore_seen && h.listening {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let why = if h.datastore_seen {
            "BGP listener not bound\n"
        } else {
            "datastore not read yet\n"
        };
        (StatusCode::SERVICE_UNAVAILABLE, why).into_response()
    }
}

type Engine = State<mpsc::Sender<EngineCmd>>;

/// The control API router.
pub(crate) fn control_router(tx: mpsc::Sender<EngineCmd>) -> Router {
    Router::new()
        .route(path::STATUS, get(|s: Engine| ask(s, ControlReq::Status)))
        .route(path::PEERS, get(peers))
        .route(path::ROUTES, get(routes))
        .route(path::RIB, get(rib))
        .route(
            path::RESET_ROUTE,
            post(|s: Engine, UrlPath(name): UrlPath<String>| ask(s, ControlReq::Reset { name })),
        )
        .route(
            path::REFRESH_ROUTE,
            post(|s: Engine, UrlPath(name): UrlPath<String>| ask(s, ControlReq::Refresh { name })),
        )
        .with_state(tx)
}

/// `GET /peers?limit=N&after=ADDRESS`.
async fn peers(s: Engine, q: Result<Query<PeersQuery>, QueryRejection>) -> Response {
    match q {
        Ok(Query(q)) => ask(s, ControlReq::Peers(q)).await,
        Err(e) => bad_query(&e),
    }
}

/// `GET /routes?prefix=P` or `GET /routes?limit=N&after=P`.
async fn routes(s: Engine, q: Result<Query<RoutesQuery>, QueryRejection>) -> Response {
    match q {
        Ok(Query(q)) => ask(s, ControlReq::Routes(q)).await,
        Err(e) => bad_query(&e),
    }
}

/// `GET /rib?view=loc|adj-in&after=PREFIX&limit=N`: one page of the RIB with MRT-encoded attributes
/// (`crate::tasks::rib_dump`), for `rr-cli dump --mrt`.
async fn rib(s: Engine, q: Result<Query<RibQuery>, QueryRejection>) -> Response {
    match q {
        Ok(Query(q)) => ask(s, ControlReq::Rib(q)).await,
        Err(e) => bad_query(&e),
    }
}

async fn ask(State(tx): Engine, req: ControlReq) -> Response {
    let (otx, orx) = oneshot::channel();
    if tx.send(EngineCmd::Control(req, otx)).await.is_err() {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "the reflector is shutting down");
    }
    match orx.await {
        Ok(Ok(v)) => axum::Json(v).into_response(),
        Ok(Err(e)) => refuse(StatusCode::BAD_REQUEST, e),
        Err(_) => refuse(StatusCode::SERVICE_UNAVAILABLE, "the reflector is shutting down"),
    }
}

/// The bearer tokens of the TCP control API.
#[derive(Clone)]
pub(crate) struct Tokens {
    /// Accepted for every request.
    pub(crate) full: String,
    /// Accepted for GET requests only.
    pub(crate) read_only: Option<String>,
}

impl Tokens {
    /// Reads the token files (whitespace around a token is ignored; an empty token is an error).
    pub(crate) fn read(full: &Path, read_only: Option<&Path>) -> anyhow::Result<Tokens> {
        fn one(p: &Path) -> anyhow::Result<String> {
            let t = std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("reading the control token file {}: {e}", p.display()))?;
            let t = t.trim().to_string();
            anyhow::ensure!(!t.is_empty(), "the control token file {} is empty", p.display());
            Ok(t)
        }
        Ok(Tokens {
            full: one(full)?,
            read_only: read_only.map(one).transpose()?,
        })
    }
}

/// Compares without an early exit on the first differing byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authorize(State(t): State<Arc<Tokens>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    match given {
        Some(g) if same(g, &t.full) => next.run(req).await,
        Some(g) if t.read_only.as_deref().is_some_and(|r| same(g, r)) => {
            if read {
                next.run(req).await
            } else {
                refuse(
                    StatusCode::FORBIDDEN,
                    "the read-only control token cannot change anything",
                )
            }
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(ApiError::new(
                "a valid bearer token is required (rr-cli --control-token-file)",
            )),
        )
            .into_response(),
    }
}

/// The control API router behind bearer-token authentication (for TCP).
pub(crate) fn authenticated(router: Router, tokens: Tokens) -> Router {
    router.layer(axum::middleware::from_fn_with_state(Arc::new(tokens), authorize))
}

/// The identity (device, inode) of the socket file this process created, to remove only that one.
pub(crate) type SocketId = (u64, u64);

/// Serves `router` on a unix socket at `path`, created mode 0600 whatever the umask. A stale socket file is
/// replaced; a live daemon's socket or any other kind of file at the path is refused.
pub(crate) async fn serve_unix(path: &Path, router: Router) -> std::io::Result<SocketId> {
    use std::io::{Error, ErrorKind};
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::AddrInUse,
                    "a running daemon answers on this socket: refusing to take it over (another \
                     --control-socket for a second daemon)",
                ));
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                tracing::info!(socket = %path.display(), "removing a stale control socket");
                std::fs::remove_file(path)?;
            }
            Err(e) => return Err(e),
        },
        Ok(_) => {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                "the path exists and is not a socket: refusing to replace it",
            ));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let sock = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    sock.bind(&socket2::SockAddr::unix(path)?)?;
    // Not listening yet: a connect is refused until the mode is right.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let meta = std::fs::symlink_metadata(path)?;
    sock.listen(1024)?;
    sock.set_nonblocking(true)?;
    let l = tokio::net::UnixListener::from_std(std::os::unix::net::UnixListener::from(sock))?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(l, router).await {
            tracing::error!(error = %e, "control API stopped");
        }
    });
    Ok((meta.dev(), meta.ino()))
}

/// Removes the control socket at `path` if it is still the one this process created.
pub(crate) fn remove_unix(path: &Path, id: SocketId) {
    if let Ok(m) = std::fs::symlink_metadata(path)
        && (m.dev(), m.ino()) == id
    {
        let _ = std::fs::remove_file(path);
    }
}

/// Serves `router` on a TCP address; returns the bound address.
pub(crate) async fn serve_tcp(
    addr: std::net::SocketAddr,
    router: Router,
) -> std::io::Result<std::net::SocketAddr> {
    let l = tokio::net::TcpListener::bind(addr).await?;
    let bound = l.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(l, router).await {
            tracing::error!(error = %e, "HTTP endpoint stopped");
        }
    });
    Ok(bound)
}
