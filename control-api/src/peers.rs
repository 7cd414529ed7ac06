//! `GET /peers`: the configured peers with their session state, counters and last session end, one page at
//! a time.

use serde::{Deserialize, Serialize};

/// The query of `GET /peers`: one page of up to `limit` peers (default 1000, at most 10000) whose address
/// comes after `after`, in the order of their address as text (`127.0.1.10` before `127.0.1.2`: the order
/// `rr-cli peers` has always shown). The next page starts after the address of the last peer of this one; a
/// page shorter than `limit` is the last. Pages are read at different times: a walk over a peer set that
/// changes meanwhile is not one snapshot (a peer added behind the cursor shows up in the next walk).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeersQuery {
    /// The page starts after the peer with this address (it need not be configured any more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Peers per page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl PeersQuery {
    /// Peers in one page when the request names no `limit`.
    pub const DEFAULT_LIMIT: usize = 1000;
    /// The largest `limit`: bounds the time and memory one request costs the daemon.
    pub const MAX_LIMIT: usize = 10_000;
}

/// One peer of `GET /peers` (sorted by address, as text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// Session name: the peer's node name, else its address.
    pub name: Option<String>,
    /// Peer address.
    pub address: String,
    /// Peer TCP port for outgoing connections.
    pub port: Option<u16>,
    /// Remote AS.
    pub remote_as: u32,
    /// Role as computed from the datastore (`rr-client`, `rr-peer`, ...).
    pub role: Option<String>,
    /// The BGPPeer (or mesh) that produced the session.
    pub origin: Option<String>,
    /// Session state (RFC 4271 section 8), or `Disabled` for a peer that is not started.
    pub state: PeerState,
    /// Why a `Disabled` peer is not started (e.g. an unreadable TCP-MD5 password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Seconds in Established, while it is.
    #[serde(default)]
    pub established_for_secs: Option<u64>,
    /// Paths received and kept (every address family).
    #[serde(default)]
    pub prefixes_received: usize,
    /// Paths advertised to this peer.
    #[serde(default)]
    pub prefixes_advertised: usize,
    /// Paths kept as stale (graceful restart).
    #[serde(default)]
    pub prefixes_stale: usize,
    /// UPDATE messages received.
    #[serde(default)]
    pub updates_received: u64,
    /// Messages sent.
    #[serde(default)]
    pub messages_sent: u64,
    /// Times the session reached Established.
    #[serde(default)]
    pub established_transitions: u64,
    /// UPDATEs handled as withdrawals (RFC 7606).
    #[serde(default)]
    pub treat_as_withdraw: u64,
    /// Why the last session ended.
    #[serde(default)]
    pub last_down: Option<LastDown>,
    /// The session is protected by TCP-MD5 (RFC 2385).
    #[serde(default)]
    pub md5: bool,
    /// GTSM hop count (RFC 5082).
    #[serde(default)]
    pub ttl_security: Option<u8>,
    /// Rules of the import policy (BGPPeer filters), 0 without filters.
    #[serde(default)]
    pub import_rules: usize,
    /// Rules of the export policy, 0 without filters.
    #[serde(default)]
    pub export_rules: usize,
    /// What the session negotiated, while it is up.
    #[serde(default)]
    pub negotiated: Option<Negotiated>,
}

/// A session state (RFC 4271 section 8.2.2), or `Disabled`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PeerState {
    /// Idle.
    #[default]
    Idle,
    /// Connect.
    Connect,
    /// Active.
    Active,
    /// OpenSent.
    OpenSent,
    /// OpenConfirm.
    OpenConfirm,
    /// Established.
    Established,
    /// Not started (see [`Peer::disabled_reason`]).
    Disabled,
    /// A state this client does not know.
    #[serde(other)]
    Unknown,
}

impl PeerState {
    /// The state's name as the JSON has it.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerState::Idle => "Idle",
            PeerState::Connect => "Connect",
            PeerState::Active => "Active",
            PeerState::OpenSent => "OpenSent",
            PeerState::OpenConfirm => "OpenConfirm",
            PeerState::Established => "Established",
            PeerState::Disabled => "Disabled",
            PeerState::Unknown => "Unknown",
        }
    }
}

impl std::fmt::Display for PeerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an established session negotiated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Negotiated {
    /// Hold time in seconds.
    pub hold_time_secs: u64,
    /// Address families, by name (`ipv4-unicast`, `ipv6-unicast`).
    pub families: Vec<String>,
    /// Families in which we send several paths per prefix (ADD-PATH, RFC 7911).
    pub add_path_tx: Vec<String>,
    /// Families in which the peer sends several paths per prefix.
    pub add_path_rx: Vec<String>,
    /// The peer announced graceful restart (RFC 4724).
    pub graceful_restart: bool,
    /// Route refresh (RFC 2918) was negotiated.
    pub route_refresh: bool,
}

/// How the last session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DownKind {
    /// We sent a NOTIFICATION.
    #[serde(rename = "notification sent")]
    NotificationSent,
    /// The peer sent a NOTIFICATION.
    #[serde(rename = "notification received")]
    NotificationReceived,
    /// The TCP connection ended without one.
    #[serde(rename = "connection lost")]
    ConnectionLost,
    /// A newer connection replaced it (collision detection).
    #[serde(rename = "replaced by a new connection")]
    Replaced,
    /// Another reason.
    #[serde(rename = "other", other)]
    Other,
}

impl DownKind {
    /// The kind as the JSON has it.
    pub fn as_str(self) -> &'static str {
        match self {
            DownKind::NotificationSent => "notification sent",
            DownKind::NotificationReceived => "notification received",
            DownKind::ConnectionLost => "connection lost",
            DownKind::Replaced => "replaced by a new connection",
            DownKind::Other => "other",
        }
    }
}

/// Why the last session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastDown {
    /// How it ended.
    pub reason: DownKind,
    /// The NOTIFICATION's error code, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u8>,
    /// The NOTIFICATION's subcode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subcode: Option<u8>,
    /// The NOTIFICATION's name (`administrative reset`, `hold timer expired`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The shutdown communication (RFC 9003), when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the daemon saw it happen (RFC 3339, UTC).
    pub at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::round_trip;
    use crate::{path, with_query};

    #[test]
    fn peers_query_round_trips_through_the_query_string() {
        let q = PeersQuery {
            after: Some("fd00::1".into()),
            limit: Some(500),
        };
        round_trip(&q);
        let p = with_query(path::PEERS, &q).expect("query");
        assert_eq!(p, "/peers?after=fd00%3A%3A1&limit=500");
        let back: PeersQuery = serde_urlencoded::from_str(p.split_once('?').expect("?").1).expect("decode");
        assert_eq!(back, q);
        assert_eq!(
            with_query(path::PEERS, &PeersQuery::default()).expect("q"),
            "/peers"
        );
        let bare: PeersQuery = serde_urlencoded::from_str("").expect("empty");
        assert_eq!(bare, PeersQuery::default());
        assert!(serde_urlencoded::from_str::<PeersQuery>("limit=ten").is_err());
        assert!(serde_urlencoded::from_str::<PeersQuery>("limit=-1").is_err());
    }

    #[test]
    fn peer_round_trips() {
        let p = Peer {
            name: Some("node-a".into()),
            address: "127.0.1.2".into(),
            port: Some(179),
            remote_as: 64512,
            role: Some("rr-client".into()),
            origin: Some("peer-with-clients".into()),
            state: PeerState::Established,
            established_for_secs: Some(5),
            prefixes_received: 2,
            last_down: Some(LastDown {
                reason: DownKind::NotificationSent,
                code: Some(6),
                subcode: Some(4),
                name: Some("administrative reset".into()),
                message: Some("reset by operator".into()),
                at: Some("2026-12-04T19:30:00Z".into()),
            }),
            negotiated: Some(Negotiated {
                hold_time_secs: 90,
                families: vec!["ipv4-unicast".into(), "ipv6-unicast".into()],
                add_path_tx: vec!["ipv4-unicast".into()],
                add_path_rx: vec![],
                graceful_restart: true,
                route_refresh: true,
            }),
            ..Peer::default()
        };
        let v = round_trip(&p);
        assert_eq!(v["state"], "Established");
        assert_eq!(v["last_down"]["reason"], "notification sent");
        assert_eq!(v["last_down"]["code"], 6);
        assert_eq!(v["negotiated"]["families"][1], "ipv6-unicast");
        assert!(v.get("disabled_reason").is_none(), "{v}");

        let disabled = Peer {
            address: "127.0.1.9".into(),
            state: PeerState::Disabled,
            disabled_reason: Some("password unreadable".into()),
            md5: true,
            ..Peer::default()
        };
        assert_eq!(round_trip(&disabled)["state"], "Disabled");
        let lost = LastDown {
            reason: DownKind::ConnectionLost,
            code: None,
            subcode: None,
            name: None,
            message: None,
            at: None,
        };
        let v = round_trip(&lost);
        assert_eq!(v["reason"], "connection lost");
        assert!(v.get("code").is_none(), "{v}");
    }

    #[test]
    fn unknown_names_from_a_newer_daemon_are_accepted() {
        let s: PeerState = serde_json::from_str("\"Dormant\"").expect("state");
        assert_eq!(s, PeerState::Unknown);
        let k: DownKind = serde_json::from_str("\"exploded\"").expect("kind");
        assert_eq!(k, DownKind::Other);
    }
}
