//! The control API of `rr-daemon` (HTTP/JSON on a unix socket, optionally TCP with a bearer token), as typed
//! request and response structs that the daemon builds and `rr-cli` decodes: one definition for both ends,
//! and every value plain JSON (strings, numbers, lists), never Rust debug text.
//!
//! | Request | Query | Answer |
//! |---|---|---|
//! | `GET` [`path::STATUS`] | | [`Status`] |
//! | `GET` [`path::PEERS`] | [`PeersQuery`] | a list of [`Peer`] (one page) |
//! | `GET` [`path::ROUTES`] | [`RoutesQuery`] | a list of [`Route`] (one, or one page) |
//! | `GET` [`path::RIB`] | [`RibQuery`] | [`RibPage`] |
//! | `POST` [`path::reset`] | | [`ResetDone`] |
//! | `POST` [`path::refresh`] | | [`RefreshDone`] |
//! | `POST` [`path::LOG_LEVEL`] | [`LogLevelQuery`] | [`LogLevel`] |
//!
//! A refusal is an HTTP 4xx status with an [`ApiError`] body: a sentence for the operator, without request
//! paths or status codes.
//!
//! [`mrt`] turns [`RibPage`]s into TABLE_DUMP_V2 records, for `rr-cli dump --mrt` and the daemon's periodic
//! dumps alike.

pub mod mrt;
mod peers;
mod rib;
mod routes;

pub use peers::{DownKind, LastDown, Negotiated, Peer, PeerState, PeersQuery};
pub use rib::{RibPage, RibPath, RibPeer, RibQuery, RibRoute, RibView};
pub use routes::{Route, RoutePath, RoutesQuery};

use serde::{Deserialize, Serialize};

/// The request paths.
pub mod path {
    /// `GET`: the daemon's [`Status`](crate::Status).
    pub const STATUS: &str = "/status";
    /// `GET`: one page of the configured peers ([`PeersQuery`](crate::PeersQuery), [`Peer`](crate::Peer)).
    pub const PEERS: &str = "/peers";
    /// `GET`: routes of the Loc-RIB ([`RoutesQuery`](crate::RoutesQuery)).
    pub const ROUTES: &str = "/routes";
    /// `GET`: one page of the RIB with MRT-encoded attributes ([`RibQuery`](crate::RibQuery)).
    pub const RIB: &str = "/rib";
    /// `POST`: the log filter ([`LogLevelQuery`](crate::LogLevelQuery)).
    pub const LOG_LEVEL: &str = "/log-level";
    /// The route pattern of [`reset`] for the server's router.
    pub const RESET_ROUTE: &str = "/peers/{name}/reset";
    /// The route pattern of [`refresh`] for the server's router.
    pub const REFRESH_ROUTE: &str = "/peers/{name}/refresh";

    /// `POST`: reset the session of the peer `name` (its session name or address).
    pub fn reset(name: &str) -> String {
        format!("/peers/{}/reset", encode(name))
    }

    /// `POST`: ask the peer `name` to resend its routes (ROUTE-REFRESH).
    pub fn refresh(name: &str) -> String {
        format!("/peers/{}/refresh", encode(name))
    }

    /// Percent-encodes everything but unreserved characters (RFC 3986 section 2.3), for a path segment.
    fn encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
}

/// `path` with `query` encoded as its query string (nothing appended when every field is absent).
pub fn with_query<Q: Serialize>(path: &str, query: &Q) -> Result<String, serde_urlencoded::ser::Error> {
    let q = serde_urlencoded::to_string(query)?;
    Ok(if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{q}")
    })
}

/// The body of every refusal (HTTP 4xx or 503).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong, for the operator.
    pub error: String,
}

impl ApiError {
    /// An error with this message.
    pub fn new(error: impl Into<String>) -> Self {
        Self { error: error.into() }
    }
}

/// `GET /status`: who the reflector is and how it is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The daemon's version.
    pub version: String,
    /// The git commit the daemon was built from.
    pub git_commit: String,
    /// The Calico node name it runs as.
    pub node: String,
    /// The datastore has been read and the engine runs (the fields below are empty until then).
    pub ready: bool,
    /// BGP identifier.
    pub router_id: Option<String>,
    /// Route reflector cluster id, when it reflects.
    pub cluster_id: Option<String>,
    /// Local AS.
    pub local_as: Option<u32>,
    /// The BGP port the datastore asks for.
    pub listen_port: u16,
    /// Bound BGP listeners, `IP:PORT`.
    pub listeners: Vec<String>,
    /// Configured peers.
    pub peers: usize,
    /// Peers in Established.
    pub established: usize,
    /// Prefixes in the Loc-RIB.
    pub prefixes: usize,
    /// Distinct (interned) attribute sets.
    pub attribute_sets: usize,
    /// Route selection is deferred after start-up (RFC 4724 section 4.1).
    pub selection_deferred: bool,
    /// The peers whose End-of-RIB the deferral still waits for.
    pub selection_deferral_waiting: Vec<String>,
    /// The datastore watch is in step.
    pub datastore_synced: bool,
    /// Why the datastore is not in step, when known.
    pub datastore_problem: Option<String>,
    /// Seconds since the daemon started.
    pub uptime_secs: u64,
}

/// `POST /peers/{name}/reset`: the reset was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetDone {
    /// The peer, as the request named it.
    pub reset: String,
}

/// `POST /peers/{name}/refresh`: the ROUTE-REFRESH was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshDone {
    /// The peer, as the request named it.
    pub refresh: String,
}

/// The query of `POST /log-level`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLevelQuery {
    /// `trace`, `debug`, `info`, `warn`, `error` or `off` (with `peer` also `default`: drop the peer's level).
    pub level: String,
    /// Only for this peer's session (its name as `peers` shows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
}

/// `POST /log-level`: the log filter now in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLevel {
    /// The `tracing` filter directives, e.g. `info,[peer{name=node-a}]=debug`.
    pub filter: String,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Serializes `v`, reads it back, and checks that nothing changed; returns the JSON.
    pub(crate) fn round_trip<T>(v: &T) -> serde_json::Value
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
    {
        let json = serde_json::to_value(v).expect("serialize");
        let back: T = serde_json::from_value(json.clone()).expect("deserialize");
        assert_eq!(&back, v, "{json}");
        let text = json.to_string();
        for debug in ["Some(", "FamilySet", "None"] {
            assert!(!text.contains(debug), "{debug} in {text}");
        }
        json
    }

    #[test]
    fn status_round_trips() {
        let s = Status {
            version: "0.1.0".into(),
            git_commit: "abc".into(),
            node: "rr1".into(),
            ready: true,
            router_id: Some("127.0.1.1".into()),
            cluster_id: Some("244.0.0.1".into()),
            local_as: Some(64512),
            listen_port: 179,
            listeners: vec!["127.0.1.1:179".into()],
            peers: 2,
            established: 1,
            prefixes: 10,
            attribute_sets: 3,
            selection_deferred: false,
            selection_deferral_waiting: vec!["node-b".into()],
            datastore_synced: true,
            datastore_problem: None,
            uptime_secs: 61,
        };
        let v = round_trip(&s);
        assert_eq!(v["cluster_id"], "244.0.0.1");
        assert_eq!(v["local_as"], 64512);
        assert!(v["datastore_problem"].is_null());
        round_trip(&Status::default());
    }

    #[test]
    fn small_answers_round_trip() {
        assert_eq!(
            round_trip(&ApiError::new("no peer \"x\""))["error"],
            "no peer \"x\""
        );
        assert_eq!(round_trip(&ResetDone { reset: "a".into() })["reset"], "a");
        assert_eq!(round_trip(&RefreshDone { refresh: "a".into() })["refresh"], "a");
        assert_eq!(
            round_trip(&LogLevel {
                filter: "info".into()
            })["filter"],
            "info"
        );
        let q = LogLevelQuery {
            level: "debug".into(),
            peer: Some("node a".into()),
        };
        round_trip(&q);
        assert_eq!(
            with_query(path::LOG_LEVEL, &q).expect("query"),
            "/log-level?level=debug&peer=node+a"
        );
        let back: LogLevelQuery = serde_urlencoded::from_str("level=debug&peer=node+a").expect("decode");
        assert_eq!(back, q);
    }

    #[test]
    fn peer_paths_are_encoded() {
        assert_eq!(path::reset("node-a"), "/peers/node-a/reset");
        assert_eq!(path::refresh("10.0.0.0/8"), "/peers/10.0.0.0%2F8/refresh");
        assert_eq!(path::reset("fd00::1"), "/peers/fd00%3A%3A1/reset");
    }
}
