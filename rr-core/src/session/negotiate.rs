//! OPEN negotiation (RFC 4271 section 6.2 checks, then the capabilities: RFC 4760 families,
//! RFC 6793 4-octet AS, RFC 7911 ADD-PATH, RFC 8654 extended messages, RFC 4724 graceful restart,
//! RFC 9494 LLGR): what we offered and what the peer's OPEN carried give the [`Negotiated`]
//! session.

use bgp_wire::notification::open as open_err;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::{Negotiated, PeerGr};
use crate::types::FamilySet;

/// What a peer's OPEN carried, reduced to what the engine negotiates on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RemoteOpen {
    /// BGP version (must be 4).
    pub version: u8,
    /// AS from the 4-octet AS capability if present, else the 2-octet My AS field.
    pub asn: u32,
    /// Hold time in seconds.
    pub hold_time: u16,
    /// BGP identifier.
    pub router_id: Ipv4Addr,
    /// Multiprotocol families (RFC 4760); `None` if no MP capability was sent (IPv4 unicast implied).
    pub mp_families: Option<FamilySet>,
    /// Route refresh (RFC 2918, code 2 or the old 128).
    pub route_refresh: bool,
    /// Enhanced route refresh (RFC 7313).
    pub enhanced_route_refresh: bool,
    /// 4-octet AS capability present (RFC 6793).
    pub four_octet_as: bool,
    /// ADD-PATH: families the peer can send path ids for.
    pub add_path_send: FamilySet,
    /// ADD-PATH: families the peer can receive path ids for.
    pub add_path_receive: FamilySet,
    /// Graceful restart capability.
    pub graceful_restart: Option<PeerGr>,
    /// LLGR capability: families and the smallest stale time listed (RFC 9494).
    pub llgr: Option<(FamilySet, u32)>,
    /// Extended message capability (RFC 8654).
    pub extended_messages: bool,
}

impl Default for RemoteOpen {
    fn default() -> Self {
        RemoteOpen {
            version: 4,
            asn: 0,
            hold_time: 0,
            router_id: Ipv4Addr::UNSPECIFIED,
            mp_families: None,
            route_refresh: false,
            enhanced_route_refresh: false,
            four_octet_as: false,
            add_path_send: FamilySet::EMPTY,
            add_path_receive: FamilySet::EMPTY,
            graceful_restart: None,
            llgr: None,
            extended_messages: false,
        }
    }
}

/// What we offered in our OPEN (kept by the OpenSent state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LocalOffer {
    /// Our AS on the session.
    pub asn: u32,
    /// Hold time proposed, seconds.
    pub hold_time: u16,
    /// Families offered.
    pub families: FamilySet,
    /// ADD-PATH send offered for these families.
    pub add_path_send: FamilySet,
    /// ADD-PATH receive offered for these families.
    pub add_path_receive: FamilySet,
    /// Extended messages offered.
    pub extended_messages: bool,
    /// GR restart time offered, if GR is enabled.
    pub gr_restart_time: Option<u16>,
    /// Restart State bit of the GR capability: we are a restarting speaker still deferring route
    /// selection (RFC 4724 section 4.1).
    pub gr_restarting: bool,
    /// Forwarding State bit of every family of the GR capability (RFC 4724 section 3).
    pub gr_forwarding: bool,
    /// LLGR stale time offered.
    pub llgr_stale_time: Option<u32>,
}

/// An OPEN rejected: the NOTIFICATION (code 2, subcode) to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OpenReject {
    pub(crate) subcode: u8,
}

/// RFC 4271 section 6.2 checks and capability negotiation.
pub(crate) fn negotiate(
    local: &LocalOffer,
    our_router_id: Ipv4Addr,
    expected_as: u32,
    keepalive_cfg: Option<Duration>,
    remote: &RemoteOpen,
) -> Result<Negotiated, OpenReject> {
    // RFC 4271 6.2: "If the version number in the Version field of the received OPEN message is not
    // supported, then the Error Subcode MUST be set to Unsupported Version Number."
    if remote.version != 4 {
        return Err(OpenReject {
            subcode: open_err::UNSUPPORTED_VERSION_NUMBER,
        });
    }
    // "If the Autonomous System field of the OPEN message is unacceptable, then the Error Subcode
    // MUST be set to Bad Peer AS."
    if remote.asn != expected_as {
        return Err(OpenReject {
            subcode: open_err::BAD_PEER_AS,
        });
    }
    // "If the BGP Identifier field of the OPEN message is syntactically incorrect, then the Error
    // Subcode MUST be set to Bad BGP Identifier." (RFC 6286: non-zero; for iBGP, distinct from ours.)
    if remote.router_id.is_unspecified() || (remote.asn == local.asn && remote.router_id == our_router_id) {
        return Err(OpenReject {
            subcode: open_err::BAD_BGP_IDENTIFIER,
        });
    }
    // "An implementation MUST reject Hold Time values of one or two seconds."
    if remote.hold_time == 1 || remote.hold_time == 2 {
        return Err(OpenReject {
            subcode: open_err::UNACCEPTABLE_HOLD_TIME,
        });
    }
    let hold = local.hold_time.min(remote.hold_time);
    let hold_time = Duration::from_secs(u64::from(hold));
    let keepalive = if hold == 0 {
        Duration::ZERO
    } else {
        keepalive_cfg.map_or(hold_time / 3, |k| {
            k.min(hold_time / 3).max(Duration::from_secs(1))
        })
    };
    // RFC 4760 section 8: without the MP capability the peer supports IPv4 unicast only.
    let remote_fams = remote
        .mp_families
        .unwrap_or(FamilySet::only(crate::types::Family::Ipv4Unicast));
    let families = local.families.intersect(remote_fams);
    let mut neg = Negotiated {
        remote_router_id: remote.router_id,
        remote_as: remote.asn,
        hold_time,
        keepalive,
        families,
        four_octet_as: remote.four_octet_as,
        route_refresh: remote.route_refresh || remote.enhanced_route_refresh,
        enhanced_route_refresh: remote.enhanced_route_refresh,
        // RFC 7911 section 4: receive when we offered receive and the peer offered send.
        add_path_rx: local
            .add_path_receive
            .intersect(remote.add_path_send)
            .intersect(families),
        add_path_tx: local
            .add_path_send
            .intersect(remote.add_path_receive)
            .intersect(families),
        extended_messages: local.extended_messages && remote.extended_messages,
        peer_gr: if local.gr_restart_time.is_some() {
            remote.graceful_restart
        } else {
            None
        },
        peer_llgr: if local.llgr_stale_time.is_some() && local.gr_restart_time.is_some() {
            remote.llgr
        } else {
            None
        },
        decode: std::sync::Arc::default(),
    };
    neg.decode = std::sync::Arc::new(neg.build_decode_ctx());
    Ok(neg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Family;

    fn offer() -> LocalOffer {
        LocalOffer {
            asn: 64512,
            hold_time: 90,
            families: FamilySet::both(),
            add_path_send: FamilySet::both(),
            add_path_receive: FamilySet::EMPTY,
            extended_messages: true,
            gr_restart_time: Some(120),
            gr_restarting: false,
            gr_forwarding: true,
            llgr_stale_time: None,
        }
    }
    fn remote() -> RemoteOpen {
        RemoteOpen {
            version: 4,
            asn: 64512,
            hold_time: 30,
            router_id: "10.0.0.2".parse().unwrap(),
            mp_families: Some(FamilySet::only(Family::Ipv4Unicast)),
            four_octet_as: true,
            add_path_receive: FamilySet::only(Family::Ipv4Unicast),
            ..RemoteOpen::default()
        }
    }
    const ME: &str = "10.0.0.1";

    #[test]
    fn negotiates_min_hold_and_families_and_add_path() {
        let n = negotiate(&offer(), ME.parse().unwrap(), 64512, None, &remote()).unwrap();
        assert_eq!(n.hold_time, Duration::from_secs(30));
        assert_eq!(n.keepalive, Duration::from_secs(10));
        assert_eq!(n.families, FamilySet::only(Family::Ipv4Unicast));
        assert_eq!(n.add_path_tx, FamilySet::only(Family::Ipv4Unicast));
        assert!(n.add_path_rx.is_empty());
        assert!(!n.extended_messages);
    }

    #[test]
    fn rejects_with_rfc_subcodes() {
        let me = ME.parse().unwrap();
        let mut r = remote();
        r.version = 3;
        assert_eq!(
            negotiate(&offer(), me, 64512, None, &r),
            Err(OpenReject {
                subcode: open_err::UNSUPPORTED_VERSION_NUMBER
            })
        );
        let mut r = remote();
        r.asn = 1;
        assert_eq!(
            negotiate(&offer(), me, 64512, None, &r),
            Err(OpenReject {
                subcode: open_err::BAD_PEER_AS
            })
        );
        let mut r = remote();
        r.router_id = me;
        assert_eq!(
            negotiate(&offer(), me, 64512, None, &r),
            Err(OpenReject {
                subcode: open_err::BAD_BGP_IDENTIFIER
            })
        );
        let mut r = remote();
        r.hold_time = 2;
        assert_eq!(
            negotiate(&offer(), me, 64512, None, &r),
            Err(OpenReject {
                subcode: open_err::UNACCEPTABLE_HOLD_TIME
            })
        );
    }

    #[test]
    fn zero_hold_time_disables_keepalive() {
        let mut r = remote();
        r.hold_time = 0;
        let n = negotiate(&offer(), ME.parse().unwrap(), 64512, None, &r).unwrap();
        assert_eq!(n.keepalive, Duration::ZERO);
    }

    #[test]
    fn no_mp_capability_means_ipv4_unicast() {
        let mut r = remote();
        r.mp_families = None;
        let n = negotiate(&offer(), ME.parse().unwrap(), 64512, None, &r).unwrap();
        assert_eq!(n.families, FamilySet::only(Family::Ipv4Unicast));
    }
}
