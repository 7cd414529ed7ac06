//! BMP, the BGP Monitoring Protocol (RFC 7854): the messages a monitored router sends to a monitoring
//! station, encode side.
//!
//! Every message is a common header (version 3, length, type) and a body; all but Initiation and
//! Termination start with a [`PerPeerHeader`]. BGP PDUs inside (the OPENs of a Peer Up, the UPDATE of a
//! Route Monitoring message, the NOTIFICATION of a Peer Down) are carried as the complete messages this
//! crate writes or received them ([`Message::to_bytes`](crate::Message::to_bytes),
//! [`Notification::to_message_bytes`](crate::Notification::to_message_bytes), a frame cut by
//! [`frame_len`](crate::frame_len)), so they are never re-encoded here.
//!
//! ```
//! use bgp_wire::bmp::{BmpMessage, InfoTlv};
//! use bytes::BytesMut;
//!
//! let init = BmpMessage::Initiation(vec![InfoTlv::sys_name("rr1"), InfoTlv::sys_descr("rr-daemon 1.0")]);
//! let mut out = BytesMut::new();
//! init.encode(&mut out)?;
//! assert_eq!(&out[..6], &[3, 0, 0, 0, 30, 4]); // version, length 30, type 4 (Initiation)
//! # Ok::<(), bgp_wire::EncodeError>(())
//! ```

use std::net::{IpAddr, Ipv4Addr};

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::EncodeError;
use crate::types::AfiSafi;

/// The BMP version this module writes (RFC 7854 section 4.1: "version 3").
pub const VERSION: u8 = 3;
/// Length of the common header.
pub const COMMON_HEADER_LEN: usize = 6;
/// Length of the per-peer header.
pub const PER_PEER_HEADER_LEN: usize = 42;

/// Message types (RFC 7854 section 4.1).
pub mod msg_type {
    /// Route Monitoring.
    pub const ROUTE_MONITORING: u8 = 0;
    /// Statistics Report.
    pub const STATISTICS_REPORT: u8 = 1;
    /// Peer Down Notification.
    pub const PEER_DOWN: u8 = 2;
    /// Peer Up Notification.
    pub const PEER_UP: u8 = 3;
    /// Initiation.
    pub const INITIATION: u8 = 4;
    /// Termination.
    pub const TERMINATION: u8 = 5;
}

/// Information TLV types of Initiation (RFC 7854 section 4.4) and Peer Up (section 4.10) messages.
pub mod info_type {
    /// Free-form UTF-8 string.
    pub const STRING: u16 = 0;
    /// sysDescr: "a string containing the name and version of the software".
    pub const SYS_DESCR: u16 = 1;
    /// sysName.
    pub const SYS_NAME: u16 = 2;
}

/// Termination TLV types (RFC 7854 section 4.5).
pub mod term_type {
    /// Free-form UTF-8 string.
    pub const STRING: u16 = 0;
    /// Reason: a 2-octet code.
    pub const REASON: u16 = 1;
}

/// Termination reasons (RFC 7854 section 4.5).
pub mod term_reason {
    /// Session administratively closed.
    pub const ADMIN_CLOSE: u16 = 0;
    /// Unspecified reason.
    pub const UNSPECIFIED: u16 = 1;
    /// Out of resources.
    pub const OUT_OF_RESOURCES: u16 = 2;
    /// Redundant connection.
    pub const REDUNDANT_CONNECTION: u16 = 3;
    /// Session permanently administratively closed.
    pub const PERMANENTLY_CLOSED: u16 = 4;
}

/// Statistics types (RFC 7854 section 4.8) this crate names.
pub mod stat_type {
    /// Number of prefixes rejected by inbound policy (32-bit counter).
    pub const REJECTED_PREFIXES: u16 = 0;
    /// Number of routes in Adj-RIBs-In (64-bit gauge).
    pub const ADJ_RIB_IN_ROUTES: u16 = 7;
    /// Number of routes in Loc-RIB (64-bit gauge).
    pub const LOC_RIB_ROUTES: u16 = 8;
    /// Number of routes in per-AFI/SAFI Adj-RIB-In (AFI, SAFI, 64-bit gauge).
    pub const PER_AFI_SAFI_ADJ_RIB_IN_ROUTES: u16 = 9;
    /// Number of routes in per-AFI/SAFI Loc-RIB (AFI, SAFI, 64-bit gauge).
    pub const PER_AFI_SAFI_LOC_RIB_ROUTES: u16 = 10;
    /// Number of updates subjected to treat-as-withdraw (RFC 7606) (32-bit counter).
    pub const TREAT_AS_WITHDRAW_UPDATES: u16 = 11;
}

/// Peer types (RFC 7854 section 4.2).
pub mod peer_type {
    /// Global Instance Peer.
    pub const GLOBAL: u8 = 0;
    /// RD Instance Peer.
    pub const RD: u8 = 1;
    /// Local Instance Peer.
    pub const LOCAL: u8 = 2;
}

/// The per-peer header (RFC 7854 section 4.2).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Peer Type   |  Peer Flags   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |         Peer Distinguisher (present based on peer type)       |
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 Peer Address (16 bytes)                       |
/// ~                                                               ~
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                           Peer AS                             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         Peer BGP ID                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Timestamp (seconds)                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                  Timestamp (microseconds)                     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerPeerHeader {
    /// Peer type ([`peer_type`]).
    pub peer_type: u8,
    /// L flag: the embedded routes are post-policy (after import policy) rather than pre-policy.
    pub post_policy: bool,
    /// A flag: the embedded UPDATE uses 2-octet AS numbers (the session did not negotiate 4-octet AS).
    pub legacy_as_path: bool,
    /// Peer Distinguisher (0 for a Global Instance Peer).
    pub distinguisher: u64,
    /// The peer's address; its family sets the V flag.
    pub address: IpAddr,
    /// The peer's AS.
    pub asn: u32,
    /// The peer's BGP identifier.
    pub bgp_id: Ipv4Addr,
    /// When the routes were received (seconds since the epoch), or 0.
    pub timestamp_secs: u32,
    /// Microseconds of the timestamp.
    pub timestamp_micros: u32,
}

impl PerPeerHeader {
    /// Flag bits (RFC 7854 section 4.2): V, L, A.
    fn flags(&self) -> u8 {
        // "The V flag indicates that the Peer address is an IPv6 address." "The L flag, if set to 1,
        // indicates that the message reflects the post-policy Adj-RIB-In". "The A flag, if set to 1,
        // indicates that the message is formatted using the legacy 2-byte AS_PATH format."
        u8::from(self.address.is_ipv6()) << 7
            | u8::from(self.post_policy) << 6
            | u8::from(self.legacy_as_path) << 5
    }

    fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.peer_type);
        out.put_u8(self.flags());
        out.put_u64(self.distinguisher);
        put_addr16(self.address, out);
        out.put_u32(self.asn);
        out.put_slice(&self.bgp_id.octets());
        out.put_u32(self.timestamp_secs);
        out.put_u32(self.timestamp_micros);
    }
}

/// An IPv4 address as the RFC writes one in a 16-octet field: "zeros followed by the IPv4 address".
fn put_addr16(a: IpAddr, out: &mut BytesMut) {
    match a {
        IpAddr::V4(v4) => {
            out.put_slice(&[0; 12]);
            out.put_slice(&v4.octets());
        }
        IpAddr::V6(v6) => out.put_slice(&v6.octets()),
    }
}

/// An Information TLV (RFC 7854 section 4.4): type, 2-octet length, value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoTlv {
    /// Type ([`info_type`] or [`term_type`]).
    pub kind: u16,
    /// Value.
    pub value: Bytes,
}

impl InfoTlv {
    /// A TLV of `kind` holding the UTF-8 text `s`.
    pub fn text(kind: u16, s: &str) -> InfoTlv {
        InfoTlv {
            kind,
            value: Bytes::copy_from_slice(s.as_bytes()),
        }
    }

    /// sysName.
    pub fn sys_name(s: &str) -> InfoTlv {
        InfoTlv::text(info_type::SYS_NAME, s)
    }

    /// sysDescr (software name and version).
    pub fn sys_descr(s: &str) -> InfoTlv {
        InfoTlv::text(info_type::SYS_DESCR, s)
    }

    /// The Termination reason TLV ([`term_reason`]).
    pub fn termination_reason(code: u16) -> InfoTlv {
        InfoTlv {
            kind: term_type::REASON,
            value: Bytes::copy_from_slice(&code.to_be_bytes()),
        }
    }

    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let len = u16::try_from(self.value.len()).map_err(|_| EncodeError::FieldTooLong("BMP TLV"))?;
        out.put_u16(self.kind);
        out.put_u16(len);
        out.put_slice(&self.value);
        Ok(())
    }
}

/// Why a peer went down (RFC 7854 section 4.9).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerDownReason {
    /// 1: "The local system closed the session. Following the Reason is a BGP PDU containing a BGP
    /// NOTIFICATION message that would have been sent to the peer."
    LocalNotification(Bytes),
    /// 2: "The local system closed the session. No notification message was sent. Following the reason
    /// code is a 2-byte field containing the code corresponding to the Finite State Machine (FSM) Event"
    /// (0: none defined).
    LocalNoNotification(u16),
    /// 3: "The remote system closed the session with a notification message. Following the Reason is a BGP
    /// PDU containing the BGP NOTIFICATION message as received from the peer."
    RemoteNotification(Bytes),
    /// 4: "The remote system closed the session without a notification message."
    RemoteNoNotification,
    /// 5: "Information for this peer will no longer be sent to the monitoring station for configuration
    /// reasons."
    PeerDeconfigured,
}

impl PeerDownReason {
    /// The reason code.
    pub fn code(&self) -> u8 {
        match self {
            PeerDownReason::LocalNotification(_) => 1,
            PeerDownReason::LocalNoNotification(_) => 2,
            PeerDownReason::RemoteNotification(_) => 3,
            PeerDownReason::RemoteNoNotification => 4,
            PeerDownReason::PeerDeconfigured => 5,
        }
    }
}

/// One Statistics Report entry (RFC 7854 section 4.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stat {
    /// A 32-bit counter of `kind` ([`stat_type`]).
    Counter(u16, u32),
    /// A 64-bit gauge of `kind`.
    Gauge(u16, u64),
    /// A per-AFI/SAFI 64-bit gauge of `kind`: "2-byte AFI, 1-byte SAFI, followed by a 64-bit Gauge".
    AfiSafiGauge(u16, AfiSafi, u64),
}

impl Stat {
    fn encode(&self, out: &mut BytesMut) {
        match *self {
            Stat::Counter(k, v) => {
                out.put_u16(k);
                out.put_u16(4);
                out.put_u32(v);
            }
            Stat::Gauge(k, v) => {
                out.put_u16(k);
                out.put_u16(8);
                out.put_u64(v);
            }
            Stat::AfiSafiGauge(k, f, v) => {
                out.put_u16(k);
                out.put_u16(11);
                out.put_u16(f.afi.0);
                out.put_u8(f.safi.0);
                out.put_u64(v);
            }
        }
    }
}

/// A BMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BmpMessage {
    /// Route Monitoring (RFC 7854 section 4.6): one BGP UPDATE PDU, complete with its header.
    RouteMonitoring {
        /// The peer the routes came from (L flag: pre- or post-policy).
        peer: PerPeerHeader,
        /// The UPDATE message.
        update: Bytes,
    },
    /// Statistics Report (RFC 7854 section 4.8).
    StatisticsReport {
        /// The peer.
        peer: PerPeerHeader,
        /// The counters and gauges.
        stats: Vec<Stat>,
    },
    /// Peer Down Notification (RFC 7854 section 4.9).
    PeerDown {
        /// The peer.
        peer: PerPeerHeader,
        /// Why.
        reason: PeerDownReason,
    },
    /// Peer Up Notification (RFC 7854 section 4.10).
    PeerUp {
        /// The peer.
        peer: PerPeerHeader,
        /// The local address of the session's TCP connection.
        local_address: IpAddr,
        /// The local port.
        local_port: u16,
        /// The remote port.
        remote_port: u16,
        /// "The full OPEN message transmitted by the monitored router to its peer."
        sent_open: Bytes,
        /// "The full OPEN message received by the monitored router from its peer."
        received_open: Bytes,
        /// Optional Information TLVs.
        info: Vec<InfoTlv>,
    },
    /// Initiation (RFC 7854 section 4.3): sysName, sysDescr and strings.
    Initiation(Vec<InfoTlv>),
    /// Termination (RFC 7854 section 4.5): reason and strings.
    Termination(Vec<InfoTlv>),
}

impl BmpMessage {
    /// The message type ([`msg_type`]).
    pub fn msg_type(&self) -> u8 {
        match self {
            BmpMessage::RouteMonitoring { .. } => msg_type::ROUTE_MONITORING,
            BmpMessage::StatisticsReport { .. } => msg_type::STATISTICS_REPORT,
            BmpMessage::PeerDown { .. } => msg_type::PEER_DOWN,
            BmpMessage::PeerUp { .. } => msg_type::PEER_UP,
            BmpMessage::Initiation(_) => msg_type::INITIATION,
            BmpMessage::Termination(_) => msg_type::TERMINATION,
        }
    }

    /// Appends the whole message (common header included) to `out`. On error `out` is left as it was.
    ///
    /// The common header (RFC 7854 section 4.1):
    ///
    /// ```text
    ///  0                   1                   2                   3
    ///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |    Version    |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |                        Message Length                         |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |   Msg. Type   |
    /// +---------------+
    /// ```
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        out.put_u8(VERSION);
        out.put_u32(0);
        out.put_u8(self.msg_type());
        if let Err(e) = self.encode_body(out) {
            out.truncate(start);
            return Err(e);
        }
        // "Message Length: Length of the message in bytes (including headers, data, and encapsulated
        // messages, if any)."
        let Ok(len) = u32::try_from(out.len() - start) else {
            out.truncate(start);
            return Err(EncodeError::FieldTooLong("BMP message"));
        };
        out[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }

    /// The whole message as bytes.
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        let mut out = BytesMut::new();
        self.encode(&mut out)?;
        Ok(out.freeze())
    }

    fn encode_body(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            BmpMessage::RouteMonitoring { peer, update } => {
                peer.encode(out);
                out.put_slice(update);
            }
            BmpMessage::StatisticsReport { peer, stats } => {
                peer.encode(out);
                let n =
                    u32::try_from(stats.len()).map_err(|_| EncodeError::FieldTooLong("BMP stats count"))?;
                out.put_u32(n);
                for s in stats {
                    s.encode(out);
                }
            }
            BmpMessage::PeerDown { peer, reason } => {
                peer.encode(out);
                out.put_u8(reason.code());
                match reason {
                    PeerDownReason::LocalNotification(pdu) | PeerDownReason::RemoteNotification(pdu) => {
                        out.put_slice(pdu)
                    }
                    PeerDownReason::LocalNoNotification(event) => out.put_u16(*event),
                    PeerDownReason::RemoteNoNotification | PeerDownReason::PeerDeconfigured => {}
                }
            }
            BmpMessage::PeerUp {
                peer,
                local_address,
                local_port,
                remote_port,
                sent_open,
                received_open,
                info,
            } => {
                peer.encode(out);
                put_addr16(*local_address, out);
                out.put_u16(*local_port);
                out.put_u16(*remote_port);
                out.put_slice(sent_open);
                out.put_slice(received_open);
                for t in info {
                    t.encode(out)?;
                }
            }
            BmpMessage::Initiation(tlvs) | BmpMessage::Termination(tlvs) => {
                for t in tlvs {
                    t.encode(out)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
