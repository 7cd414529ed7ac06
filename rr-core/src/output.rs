//! What the engine asks its caller to do, and why sessions went down.

use std::net::IpAddr;

use bytes::Bytes;

use crate::session::Negotiated;
use crate::types::{ConnId, PeerId};
use crate::wire::Notification;

/// An action for the caller (the daemon or a test harness), drained with
/// [`Engine::poll_output`](crate::Engine::poll_output).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Output {
    /// Open a TCP connection to `remote_addr` (port 179 or the caller's choice) and report the
    /// result with `handle_connected(conn)` or `handle_connect_failed(conn)`.
    Connect {
        /// The peer.
        peer: PeerId,
        /// The id the connection will have.
        conn: ConnId,
        /// Where to connect.
        remote_addr: IpAddr,
        /// Source address to bind, if configured.
        local_addr: Option<IpAddr>,
    },
    /// Write `bytes` (one or more whole BGP messages, back to back) to `conn`. Update-group
    /// traffic is handed to every member as slices of one shared buffer: clone it, don't copy it.
    /// [`split_messages`] walks the messages of a send one by one.
    Send {
        /// The connection.
        conn: ConnId,
        /// Encoded messages.
        bytes: Bytes,
    },
    /// Close `conn` after writing what was queued before (a NOTIFICATION, typically).
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// The session reached Established on `conn`. From now on decode the peer's messages with
    /// `decode_ctx`.
    Established {
        /// The peer.
        peer: PeerId,
        /// The connection carrying the session.
        conn: ConnId,
        /// The context to decode this peer's messages with from now on.
        decode_ctx: std::sync::Arc<bgp_wire::DecodeCtx>,
        /// What was negotiated.
        negotiated: Box<Negotiated>,
    },
    /// The established session of `peer` ended.
    SessionDown {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: DownReason,
    },
    /// A connection of `peer` that had not reached Established ended with a NOTIFICATION (sent or
    /// received): an OPEN error, a hold timer in OpenSent/OpenConfirm, a collision resolution. Plain
    /// connection failures before Established (refused, reset) are not reported: they are the normal
    /// connect-retry cycle.
    ConnectionFailed {
        /// The peer.
        peer: PeerId,
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: DownReason,
    },
    /// The best path of `prefix` in the Loc-RIB changed (`None`: the prefix has no usable path
    /// any more). Only produced after [`Engine::set_loc_rib_events`](crate::Engine::set_loc_rib_events)
    /// turned it on; its docs state the batching contract.
    LocRibChanged {
        /// The prefix.
        prefix: crate::types::Prefix,
        /// The new best path ([`PathInfo::best`](crate::PathInfo::best) is true).
        best: Option<crate::PathInfo>,
    },
    /// Route selection, deferred since the engine started (RFC 4724 section 4.1,
    /// [`EngineConfig::selection_deferral`](crate::EngineConfig::selection_deferral)), runs from
    /// now on: the initial tables and their End-of-RIB follow.
    SelectionDeferralEnded {
        /// How long selection was deferred.
        deferred: std::time::Duration,
        /// The peers still waited for when the Selection_Deferral_Timer expired; empty when every
        /// peer had sent End-of-RIB (or was excluded).
        waiting: Vec<PeerId>,
    },
}

/// Why a session (or a connection attempt) ended, and who caused it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownReason {
    /// We sent this NOTIFICATION (protocol error, hold timer, max-prefix, admin action...).
    NotificationSent(Notification),
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// The TCP connection closed or failed without a NOTIFICATION.
    ConnectionLost,
    /// A newer connection of the same peer replaced this one (graceful restart detected).
    Replaced,
}

impl std::fmt::Display for DownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownReason::NotificationSent(n) => {
                write!(
                    f,
                    "sent notification {}/{} ({})",
                    n.code,
                    n.subcode,
                    n.description()
                )
            }
            DownReason::NotificationReceived(n) => {
                write!(
                    f,
                    "received notification {}/{} ({})",
                    n.code,
                    n.subcode,
                    n.description()
                )?;
                if let Some(Ok(m)) = n.shutdown_message() {
                    // RFC 9003 shutdown communication: UTF-8 text from the peer, shown quoted.
                    write!(f, ": \"{}\"", m.escape_debug())?;
                }
                Ok(())
            }
            DownReason::ConnectionLost => f.write_str("connection lost"),
            DownReason::Replaced => f.write_str("replaced by a new connection"),
        }
    }
}

/// The whole BGP messages of an [`Output::Send`]'s bytes, one by one, as slices of `bytes` (no copy).
/// A send holds one or more whole messages, so the walk stops only at the end of `bytes`; it
/// stops early at bytes that do not frame a message (never the case for what the engine sends).
pub fn split_messages(bytes: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        // RFC 8654 extended messages: up to 65535 bytes.
        let len = bgp_wire::frame_len(bytes.get(at..)?, 65535).ok()??;
        let m = bytes.slice(at..at + len);
        at += len;
        Some(m)
    })
}
