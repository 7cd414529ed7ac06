//! Logging: a tracing subscriber whose filter can be changed at run time, by the control API
//! (`POST /log-level?level=L[&peer=NAME]`, `rr-cli log-level`) and by BGPConfiguration `logSeverityScreen`.
//!
//! The filter is `RUST_LOG` when set (it then wins over `logSeverityScreen`, which is ignored, but not over
//! an explicit `log-level` call), else `info`. A per-peer level adds the directive `[peer{name=NAME}]=LEVEL`:
//! events inside that peer's `peer` span (its connection tasks, and the engine task's session events for it)
//! are logged at that level, like `birdc debug PROTOCOL`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use control_api::{LogLevel, LogLevelQuery, path};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry, reload};

use crate::config::LogFormat;

/// Levels accepted from operators.
const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

#[derive(Debug)]
struct Levels {
    /// The base filter (`RUST_LOG`, a level, or `logSeverityScreen`'s).
    base: String,
    /// Per-peer levels by session name.
    peers: BTreeMap<String, String>,
    /// `logSeverityScreen` last applied, to apply only changes.
    calico: Option<String>,
}

/// The live filter.
pub(crate) struct LogControl {
    handle: reload::Handle<EnvFilter, Registry>,
    /// `RUST_LOG` was set: `logSeverityScreen` is not applied.
    env_set: bool,
    levels: Mutex<Levels>,
}

/// Installs the global subscriber (text or JSON on stderr) and returns its control.
pub(crate) fn init(format: LogFormat) -> Arc<LogControl> {
    let env = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty());
    let base = env.clone().unwrap_or_else(|| "info".to_string());
    let filter = EnvFilter::try_new(&base).unwrap_or_else(|_| EnvFilter::new("info"));
    let (layer, handle) = reload::Layer::new(filter);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(layer);
    match format {
        LogFormat::Json => registry.with(fmt.json()).init(),
        LogFormat::Text => registry.with(fmt).init(),
    }
    Arc::new(LogControl {
        handle,
        env_set: env.is_some(),
        levels: Mutex::new(Levels {
            base,
            peers: BTreeMap::new(),
            calico: None,
        }),
    })
}

/// Calico's `logSeverityScreen` (`Debug`, `Info`, `Warning`, `Error`, `Fatal`, `Panic`, `None`) as a level.
pub(crate) fn calico_level(severity: &str) -> Option<&'static str> {
    Some(match severity.trim().to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "info" => "info",
        "warning" | "warn" => "warn",
        "error" | "fatal" | "panic" => "error",
        "none" => "off",
        _ => return None,
    })
}

impl LogControl {
    fn reload(&self, l: &Levels) -> Result<String, String> {
        let mut directives = l.base.clone();
        for (peer, level) in &l.peers {
            directives.push_str(&format!(",[peer{{name={peer}}}]={level}"));
        }
        let filter = EnvFilter::try_new(&directives).map_err(|e| format!("bad filter {directives}: {e}"))?;
        self.handle.reload(filter).map_err(|e| e.to_string())?;
        Ok(directives)
    }

    /// Sets the base level, or one peer's (`default` removes the peer's own level). Returns the filter.
    pub(crate) fn set(&self, level: &str, peer: Option<&str>) -> Result<String, String> {
        let level = level.trim().to_ascii_lowercase();
        let mut l = self.levels.lock().map_err(|_| "log state poisoned".to_string())?;
        match peer {
            Some(p) if level == "default" => {
                l.peers.remove(p);
            }
            Some(p) if LEVELS.contains(&level.as_str()) => {
                if p.is_empty() || p.contains([',', '[', ']', '{', '}', '=']) {
                    return Err(format!("bad peer name {p:?}"));
                }
                l.peers.insert(p.to_string(), level);
            }
            None if LEVELS.contains(&level.as_str()) => l.base = level,
            _ => {
                return Err(format!(
                    "unknown level {level:?}: one of {}{}",
                    LEVELS.join(", "),
                    if peer.is_some() { ", default" } else { "" }
                ));
            }
        }
        self.reload(&l)
    }

    /// Applies BGPConfiguration `logSeverityScreen` when it changed, unless `RUST_LOG` is set.
    pub(crate) fn apply_calico(&self, severity: Option<&str>) {
        let Ok(mut l) = self.levels.lock() else { return };
        let sev = severity.map(str::to_string);
        if self.env_set || l.calico == sev {
            return;
        }
        l.calico = sev.clone();
        let Some(s) = sev else { return };
        match calico_level(&s) {
            Some(level) => {
                l.base = level.to_string();
                match self.reload(&l) {
                    Ok(f) => {
                        tracing::info!(filter = %f, severity = %s, "log level from BGPConfiguration logSeverityScreen")
                    }
                    Err(e) => tracing::warn!(error = %e, "applying logSeverityScreen"),
                }
            }
            None => tracing::warn!(
                value = %s,
                "BGPConfiguration logSeverityScreen: unknown severity (Debug, Info, Warning, Error, Fatal, Panic, None); ignored"
            ),
        }
    }
}

async fn set_level(
    State(c): State<Arc<LogControl>>,
    q: Result<Query<LogLevelQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return crate::http::refuse(StatusCode::BAD_REQUEST, "a log level is required (level=...)");
    };
    match c.set(&q.level, q.peer.as_deref().filter(|p| !p.is_empty())) {
        Ok(filter) => {
            tracing::warn!(%filter, "log level changed over the control API");
            axum::Json(LogLevel { filter }).into_response()
        }
        Err(e) => crate::http::refuse(StatusCode::BAD_REQUEST, e),
    }
}

/// `POST /log-level?level=L[&peer=NAME]`, merged into the control API.
pub(crate) fn router(c: Arc<LogControl>) -> Router {
    Router::new()
        .route(path::LOG_LEVEL, post(set_level))
        .with_state(c)
}

#[cfg(test)]
mod tests {
    use super::calico_level;

    #[test]
    fn calico_severities_map_to_levels() {
        assert_eq!(calico_level("Warning"), Some("warn"));
        assert_eq!(calico_level("fatal"), Some("error"));
        assert_eq!(calico_level("None"), Some("off"));
        assert_eq!(calico_level("Debug"), Some("debug"));
        assert_eq!(calico_level("loud"), None);
    }
}
