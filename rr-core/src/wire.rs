//! The bridge from `bgp_wire` messages to the engine: a received message with its RFC 7606
//! outcome ([`Received`]) converted into what the engine acts on ([`Inbound`], by [`inbound`]),
//! and the negotiated decode/encode contexts. No engine state here: the engine's one way in,
//! [`crate::Engine::handle_received`], dispatches what [`inbound`] returns.

use std::net::IpAddr;
use std::sync::Arc;

use bgp_wire::{
    AddPathMap, AfiSafi, AttrValue, AttributeError, Capability, DecodeCtx, DecodeError, EncodeCtx, Message,
    MpNextHop, Open, Treatment, Update, max_treatment,
};

#[doc(no_inline)]
pub use bgp_wire::Notification;

use crate::attrs::RouteAttrs;
use crate::engine::InUpdate;
use crate::session::{Negotiated, PeerGr, RemoteOpen};
use crate::types::{Family, FamilySet, Prefix};

fn family(f: AfiSafi) -> Option<Family> {
    Family::from_afi_safi(f.afi.0, f.safi.0)
}

/// The codec's AFI/SAFI of a family.
pub(crate) fn afi_safi(f: Family) -> AfiSafi {
    match f {
        Family::Ipv4Unicast => AfiSafi::IPV4_UNICAST,
        Family::Ipv6Unicast => AfiSafi::IPV6_UNICAST,
    }
}

/// The codec's ADD-PATH families of a family set.
pub(crate) fn add_path_map(s: FamilySet) -> AddPathMap {
    AddPathMap::with(s.iter().map(afi_safi))
}

impl Negotiated {
    /// How to decode this peer's messages (RFC 6793 4-octet AS, RFC 7911 receive, RFC 8654):
    /// built once when the session is negotiated and shared, so handing it to a reader task per
    /// frame is a reference count.
    pub fn decode_ctx(&self) -> Arc<DecodeCtx> {
        Arc::clone(&self.decode)
    }

    pub(crate) fn build_decode_ctx(&self) -> DecodeCtx {
        DecodeCtx {
            four_octet_as: self.four_octet_as,
            add_path: add_path_map(self.add_path_rx),
            extended_message: self.extended_messages,
        }
    }

    /// How messages to this peer are encoded.
    pub fn encode_ctx(&self) -> EncodeCtx {
        EncodeCtx {
            four_octet_as: self.four_octet_as,
            add_path: add_path_map(self.add_path_tx),
            extended_message: self.extended_messages,
        }
    }
}

/// Reduces an OPEN to what negotiation needs.
pub(crate) fn remote_open(o: &Open) -> RemoteOpen {
    let mut r = RemoteOpen {
        version: o.version,
        asn: o.asn(),
        hold_time: o.hold_time.secs(),
        router_id: o.bgp_id.addr(),
        ..RemoteOpen::default()
    };
    for c in o.capabilities() {
        match c {
            Capability::MultiProtocol(f) => {
                let set = r.mp_families.get_or_insert(FamilySet::EMPTY);
                if let Some(f) = family(*f) {
                    set.insert(f);
                }
            }
            Capability::RouteRefresh => r.route_refresh = true,
            // Pre-standard route refresh code 128 (Cisco) means the same.
            Capability::Unknown { code: 128, .. } => r.route_refresh = true,
            Capability::EnhancedRouteRefresh => r.enhanced_route_refresh = true,
            Capability::FourOctetAs(_) => r.four_octet_as = true,
            Capability::AddPath(list) => {
                for (f, mode) in list {
                    if let Some(f) = family(*f) {
                        if mode.sends() {
                            r.add_path_send.insert(f);
                        }
                        if mode.receives() {
                            r.add_path_receive.insert(f);
                        }
                    }
                }
            }
            Capability::GracefulRestart(g) => {
                let mut gr = PeerGr {
                    restarting: g.restart_state,
                    restart_time: g.restart_time,
                    ..PeerGr::default()
                };
                for f in &g.families {
                    if let Some(fam) = family(f.afi_safi) {
                        gr.families.insert(fam);
                        if f.forwarding {
                            gr.forwarding.insert(fam);
                        }
                    }
                }
                r.graceful_restart = Some(gr);
            }
            Capability::LongLivedGracefulRestart(list) => {
                let mut fams = FamilySet::EMPTY;
                let mut time = u32::MAX;
                for f in list {
                    if let Some(fam) = family(f.afi_safi) {
                        fams.insert(fam);
                        time = time.min(f.stale_time);
                    }
                }
                if !fams.is_empty() {
                    r.llgr = Some((fams, time));
                }
            }
            Capability::ExtendedMessage => r.extended_messages = true,
            _ => {}
        }
    }
    r
}

/// Converts a decoded UPDATE. Returns the update and whether it must be treated as withdraw
/// because a mandatory attribute is missing (RFC 7606 section 3 (d)).
pub(crate) fn in_update(mut u: Update, four_octet_as: bool) -> (InUpdate, bool) {
    if !four_octet_as {
        // RFC 6793 section 4.2.3: reconstruct the real path from AS4_PATH.
        u.merge_as4();
    }
    let end_of_rib = u.end_of_rib().and_then(family);
    let mut out = InUpdate {
        end_of_rib,
        ..InUpdate::default()
    };
    for (f, n) in u.withdrawals() {
        if family(f).is_some() {
            out.withdrawn.push((n.prefix, n.path_id.unwrap_or(0)));
        }
    }
    for (f, n) in u.announced() {
        if family(f).is_some() {
            out.announced.push((n.prefix, n.path_id.unwrap_or(0)));
        }
    }
    if out.announced.is_empty() {
        return (out, false);
    }
    // RFC 7606 section 3 (d) needs to know which mandatory attributes were present, and the next
    // hop rule below which next hops were; the values themselves are moved, not copied.
    let (mut has_origin, mut has_path, mut v4_nh, mut v6_nh) = (false, false, None, None);
    for pa in &u.attributes {
        match &pa.value {
            AttrValue::Origin(_) => has_origin = true,
            AttrValue::AsPath(_) => has_path = true,
            AttrValue::NextHop(nh) => v4_nh = Some(IpAddr::V4(*nh)),
            AttrValue::MpReach(m) => match &m.next_hop {
                MpNextHop::Ipv6 { global, link_local } => v6_nh = Some((IpAddr::V6(*global), *link_local)),
                MpNextHop::Ipv4(v4) => v6_nh = Some((IpAddr::V4(*v4), None)),
                _ => {}
            },
            _ => {}
        }
    }
    let has_v4_nh = v4_nh.is_some();
    let mut a = RouteAttrs::from_attributes(std::mem::take(&mut u.attributes));
    a.next_hop = v4_nh;
    a.next_hop_link_local = None;
    let v4_announced = out.announced.iter().any(|(p, _)| p.is_ipv4());
    if let Some((nh, ll)) = v6_nh {
        if !v4_announced {
            a.next_hop = Some(nh);
        }
        a.next_hop_link_local = ll;
    }
    // IPv4 NLRI in MP_REACH (RFC 8950 not negotiated) use the MP next hop too.
    let missing =
        !has_origin || !has_path || (v4_announced && !has_v4_nh && v6_nh.is_none()) || a.next_hop.is_none();
    if missing {
        return (
            InUpdate {
                withdrawn: out.withdrawn.into_iter().chain(out.announced).collect(),
                ..InUpdate::default()
            },
            true,
        );
    }
    // Mixed IPv4 (NLRI field) and IPv6 (MP_REACH) in one UPDATE carry different next hops; the
    // engine stores one next hop per attribute set, so split the families.
    out.attrs = Some(a);
    (out, false)
}

/// A message received on a connection, as decoded by
/// [`bgp_wire::Message::decode_with_errors`] with the connection's context: the message with
/// the RFC 7606 errors that did not need a session reset, or the error that does. Build it with
/// `From` from that function's result, from a [`Message`] (no errors) or from a [`DecodeError`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Received {
    /// A decoded message. For an UPDATE, `errors` says what RFC 7606 treatment applies: the
    /// engine withdraws the UPDATE's routes when one is treat-as-withdraw; attribute-discard
    /// errors were applied by the decoder already.
    Message {
        /// The message as parsed (malformed attributes already left out).
        msg: Message,
        /// The errors that did not reset the session.
        errors: Vec<AttributeError>,
    },
    /// The frame did not decode: session reset (or AFI/SAFI disable, which the engine treats as a
    /// reset, as RFC 7606 section 2 permits).
    Error(DecodeError),
}

impl From<Message> for Received {
    fn from(msg: Message) -> Received {
        Received::Message {
            msg,
            errors: Vec::new(),
        }
    }
}

impl From<DecodeError> for Received {
    fn from(e: DecodeError) -> Received {
        Received::Error(e)
    }
}

impl From<Result<(Message, Vec<AttributeError>), DecodeError>> for Received {
    fn from(r: Result<(Message, Vec<AttributeError>), DecodeError>) -> Received {
        match r {
            Ok((msg, errors)) => Received::Message { msg, errors },
            Err(e) => Received::Error(e),
        }
    }
}

/// A received message reduced to what the engine acts on: the one conversion of a [`Received`]
/// (its RFC 7606 outcome applied) into the engine's terms.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// OPEN (Event 19 BGPOpen), reduced to what negotiation needs.
    Open(RemoteOpen),
    /// KEEPALIVE (Event 26).
    Keepalive,
    /// UPDATE (Event 27), split in two when it announces IPv4 in the NLRI field and routes in
    /// MP_REACH (one next hop per attribute set); each part with whether it lacks a mandatory
    /// attribute (RFC 7606 section 3 (d): treat-as-withdraw).
    Update(Vec<(InUpdate, bool)>),
    /// An UPDATE with a treat-as-withdraw error (RFC 7606 section 2): its routes, withdrawn.
    TreatAsWithdraw(Vec<(Prefix, u32)>),
    /// NOTIFICATION (Event 25).
    Notification(Notification),
    /// ROUTE-REFRESH (RFC 2918; subtypes of RFC 7313); `None`: a family the engine does not know.
    RouteRefresh { family: Option<Family>, subtype: u8 },
    /// A decode error whose treatment is a session reset (or AFI/SAFI disable, which the engine
    /// treats as a reset, as RFC 7606 section 2 permits): the NOTIFICATION to send.
    Reset(Notification),
    /// Nothing to do (a message type the engine ignores, an error without a reset).
    Ignore,
}

/// Converts what was received on a connection ([`Received`]) into what the engine acts on.
/// `four_octet_as`: whether the connection negotiated 4-octet AS (asked only for UPDATEs).
pub(crate) fn inbound(received: Received, four_octet_as: impl FnOnce() -> bool) -> Inbound {
    match received {
        Received::Message {
            msg: Message::Update(mut u),
            errors,
        } if max_treatment(&errors) == Some(Treatment::TreatAsWithdraw) => {
            // RFC 7606 section 2 "treat-as-withdraw": the UPDATE's routes are withdrawn, the
            // session stays up.
            u.apply_treat_as_withdraw();
            let (upd, _) = in_update(u, four_octet_as());
            let mut all = upd.withdrawn;
            all.extend(upd.announced);
            Inbound::TreatAsWithdraw(all)
        }
        Received::Message { msg, .. } => match msg {
            Message::Open(o) => Inbound::Open(remote_open(&o)),
            Message::Keepalive => Inbound::Keepalive,
            Message::Update(u) => {
                let four = four_octet_as();
                Inbound::Update(split_mixed(u).into_iter().map(|u| in_update(u, four)).collect())
            }
            Message::Notification(n) => Inbound::Notification(n),
            Message::RouteRefresh(rr) => Inbound::RouteRefresh {
                family: Family::from_afi_safi(rr.afi.0, rr.safi.0),
                subtype: rr.subtype.0,
            },
            // Message types added to bgp-wire later are ignored.
            _ => Inbound::Ignore,
        },
        Received::Error(err) if err.treatment >= Treatment::AfiSafiDisable => {
            Inbound::Reset(Notification::from(&err))
        }
        Received::Error(_) => Inbound::Ignore,
    }
}

/// Splits an UPDATE announcing both IPv4 (NLRI field) and MP_REACH routes into two, so each
/// attribute set has one next hop.
fn split_mixed(mut u: Update) -> Vec<Update> {
    let has_mp = u.mp_reach().is_some_and(|m| !m.nlri.is_empty());
    if u.nlri.is_empty() || !has_mp {
        return vec![u];
    }
    let mut v4 = u.clone();
    v4.attributes
        .retain(|a| !matches!(a.value, AttrValue::MpReach(_) | AttrValue::MpUnreach(_)));
    u.nlri.clear();
    u.withdrawn.clear();
    vec![v4, u]
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_wire::DecodeCtx;
    use bytes::Bytes;

    fn received(frame: &[u8]) -> Received {
        Message::decode_with_errors(&Bytes::copy_from_slice(frame), &DecodeCtx::default()).into()
    }

    fn header(len: u8, ty: u8) -> Vec<u8> {
        let mut v = vec![0xff; 16];
        v.extend_from_slice(&[0, len, ty]);
        v
    }

    #[test]
    fn a_keepalive_is_event_26() {
        assert!(matches!(
            inbound(received(&header(19, 4)), || false),
            Inbound::Keepalive
        ));
    }

    #[test]
    fn a_bad_header_resets_the_session_with_its_notification() {
        let mut f = header(19, 4);
        f[0] = 0;
        match inbound(received(&f), || false) {
            // RFC 4271 6.1: "Connection Not Synchronized".
            Inbound::Reset(n) => assert_eq!((n.code, n.subcode), (1, 1)),
            other => panic!("{other:?}"),
        }
    }

    /// RFC 7606 section 3 (d): an UPDATE without ORIGIN withdraws its routes (bgp-wire reports
    /// the missing attribute as a treat-as-withdraw error).
    #[test]
    fn an_update_without_a_mandatory_attribute_is_treat_as_withdraw() {
        let mut f = header(37, 2);
        f.extend_from_slice(&[0, 0, 0, 10]); // no withdrawn routes; 10 octets of attributes
        f.extend_from_slice(&[0x40, 2, 0]); // AS_PATH, empty
        f.extend_from_slice(&[0x40, 3, 4, 10, 0, 0, 1]); // NEXT_HOP
        f.extend_from_slice(&[24, 10, 1, 0]); // 10.1.0.0/24
        let p: Prefix = "10.1.0.0/24".parse().unwrap();
        match inbound(received(&f), || true) {
            Inbound::TreatAsWithdraw(w) => assert_eq!(w, [(p, 0)]),
            other => panic!("{other:?}"),
        }
    }
}
