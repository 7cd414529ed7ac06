//! Property tests: no sequence of events or bytes makes the engine panic, and it always drains.

use std::time::Duration;

use bgp_wire::{
    Asn, AttrValue, Capability, EncodeCtx, HoldTime, Message, Nlri, Open, PathAttribute, Prefix, RouterId,
    Update,
};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rr_core::{Engine, EngineConfig, Instant, PeerConfig, Role};

const AS: u32 = 64512;

fn encode(m: Message) -> Bytes {
    let mut b = BytesMut::new();
    m.encode(&EncodeCtx::default(), &mut b).expect("encode");
    b.freeze()
}

fn open(rid: &str) -> Bytes {
    encode(Message::Open(Open::new(
        Asn::new(AS).unwrap(),
        HoldTime::new(9).unwrap(),
        RouterId::new(rid.parse().unwrap()).unwrap(),
        vec![Capability::FourOctetAs(AS), Capability::RouteRefresh],
    )))
}

/// A frame with a valid marker and length, arbitrary type and body.
fn frame(ty: u8, body: &[u8]) -> Bytes {
    let mut f = vec![0xff; 16];
    f.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    f.push(ty);
    f.extend_from_slice(body);
    Bytes::from(f)
}

#[derive(Debug, Clone)]
enum Op {
    Incoming(u8),
    Frame(u8, u8, Vec<u8>),
    Open(u8),
    Keepalive(u8),
    Disconnect(u8),
    Advance(u16),
    Refresh(u8),
    Update(u8, Vec<(u8, u8)>, bool),
    Stop(u8),
    Start(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2u8).prop_map(Op::Incoming),
        (0..2u8, 1..6u8, proptest::collection::vec(any::<u8>(), 0..120))
            .prop_map(|(p, t, b)| Op::Frame(p, t, b)),
        (0..2u8).prop_map(Op::Open),
        (0..2u8).prop_map(Op::Keepalive),
        (0..2u8).prop_map(Op::Disconnect),
        (0..400u16).prop_map(Op::Advance),
        (0..2u8).prop_map(Op::Refresh),
        (
            0..2u8,
            proptest::collection::vec((any::<u8>(), 8..33u8), 1..30),
            any::<bool>()
        )
            .prop_map(|(p, v, w)| Op::Update(p, v, w)),
        (0..2u8).prop_map(Op::Stop),
        (0..2u8).prop_map(Op::Start),
    ]
}

proptest! {
    #[test]
    fn engine_never_panics(ops in proptest::collection::vec(op(), 1..60)) {
        let mut e = Engine::new(EngineConfig::new("10.0.0.1".parse().unwrap(), AS));
        let addrs = ["10.0.0.2", "10.0.0.3"];
        let mut peers = Vec::new();
        for a in addrs {
            let mut c = PeerConfig::new(a.parse().unwrap(), AS, Role::RrClient);
            c.passive = true;
            c.max_prefixes = Some(50);
            peers.push(e.add_peer(Instant::ZERO, c).unwrap());
        }
        let mut conns = [None, None];
        let mut now = Instant::from_millis(1);
        for o in ops {
            match o {
                Op::Incoming(p) => {
                    if let Some((_, c)) = e.handle_incoming(now, addrs[p as usize].parse().unwrap(), None) {
                        conns[p as usize] = Some(c);
                    }
                }
                Op::Frame(p, t, b) => if let Some(c) = conns[p as usize] { e.handle_frame(now, c, &frame(t, &b)) },
                Op::Open(p) => if let Some(c) = conns[p as usize] { e.handle_frame(now, c, &open(addrs[p as usize])) },
                Op::Keepalive(p) => if let Some(c) = conns[p as usize] { e.handle_frame(now, c, &encode(Message::Keepalive)) },
                Op::Disconnect(p) => if let Some(c) = conns[p as usize].take() { e.handle_disconnected(now, c) },
                Op::Advance(s) => {
                    now = now + Duration::from_secs(u64::from(s));
                    e.handle_timeout(now);
                }
                Op::Refresh(p) => { e.route_refresh(now, peers[p as usize]); }
                Op::Update(p, v, withdraw) => if let Some(c) = conns[p as usize] {
                    let nlri: Vec<Nlri> = v
                        .iter()
                        .map(|(a, l)| Nlri::new(Prefix::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, *a, 0, 0)), *l).unwrap()))
                        .collect();
                    let u = if withdraw {
                        Update { withdrawn: nlri, attributes: vec![], nlri: vec![] }
                    } else {
                        Update {
                            withdrawn: vec![],
                            attributes: vec![
                                PathAttribute::new(AttrValue::Origin(bgp_wire::Origin::Igp)),
                                PathAttribute::new(AttrValue::AsPath(bgp_wire::AsPath::new())),
                                PathAttribute::new(AttrValue::NextHop(addrs[p as usize].parse().unwrap())),
                            ],
                            nlri,
                        }
                    };
                    e.handle_frame(now, c, &encode(Message::Update(u)));
                },
                Op::Stop(p) => { e.stop_peer(now, peers[p as usize], Some("x")).unwrap(); }
                Op::Start(p) => { e.start_peer(now, peers[p as usize]).unwrap(); }
            }
            let mut n = 0;
            while e.poll_output().is_some() {
                n += 1;
                prop_assert!(n < 100_000, "output never drains");
            }
        }
        // Every Loc-RIB path is in its peer's Adj-RIB-In, and vice versa.
        let in_total: usize = peers.iter().map(|p| e.adj_rib_in(*p).count()).sum();
        let loc_total: usize = e.prefixes().map(|p| e.route(&p).map_or(0, |r| r.paths.len())).sum();
        prop_assert_eq!(in_total, loc_total);
        // Introspection works in any state.
        prop_assert_eq!(e.peers().count(), 2);
        for p in e.prefixes().collect::<Vec<_>>() {
            prop_assert!(e.route(&p).is_some());
        }
    }
}
