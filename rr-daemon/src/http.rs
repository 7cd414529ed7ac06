//! HTTP endpoints: Prometheus `/metrics`, `/healthz`, `/readyz` on a TCP address, and the JSON control API
//! for `rr-cli` on a unix socket (optionally TCP too): `GET /status`, `GET /peers`, `GET /routes?prefix=P`,
//! `POST /peers/{name}/reset`, `POST /peers/{name}/refresh`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prometheus_client::registry::Registry;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use crate::tasks::{ControlReq, EngineCmd, Health};

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

/// The control API router.
pub(crate) fn control_router(tx: mpsc::Sender<EngineCmd>) -> Router {
    Router::new()
        .route(
            "/status",
            get(|s: State<mpsc::Sender<EngineCmd>>| ask(s, ControlReq::Status)),
        )
        .route(
            "/peers",
            get(|s: State<mpsc::Sender<EngineCmd>>| ask(s, ControlReq::Peers)),
        )
        .route(
            "/routes",
            get(
                |s: State<mpsc::Sender<EngineCmd>>, Query(q): Query<HashMap<String, String>>| {
                    ask(
                        s,
                        ControlReq::Routes {
                            prefix: q.get("prefix").cloned().filter(|p| !p.is_empty()),
                        },
                    )
                },
            ),
        )
        .route(
            "/peers/{name}/reset",
            post(
                |s: State<mpsc::Sender<EngineCmd>>, UrlPath(name): UrlPath<String>| {
                    ask(s, ControlReq::Reset { name })
                },
            ),
        )
        .route(
            "/peers/{name}/refresh",
            post(
                |s: State<mpsc::Sender<EngineCmd>>, UrlPath(name): UrlPath<String>| {
                    ask(s, ControlReq::Refresh { name })
                },
            ),
        )
        .with_state(tx)
}

async fn ask(State(tx): State<mpsc::Sender<EngineCmd>>, req: ControlReq) -> Response {
    let (otx, orx) = oneshot::channel();
    if tx.send(EngineCmd::Control(req, otx)).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match orx.await {
        Ok(Ok(v)) => axum::Json::<Value>(v).into_response(),
        Ok(Err(e)) => (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"error": e})),
        )
            .into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
    }
}

/// Serves `router` on a unix socket at `path` (replacing a stale socket file).
pub(crate) async fn serve_unix(path: &Path, router: Router) -> std::io::Result<()> {
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let l = tokio::net::UnixListener::bind(path)?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(l, router).await {
            tracing::error!(error = %e, "control API stopped");
        }
    });
    Ok(())
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
