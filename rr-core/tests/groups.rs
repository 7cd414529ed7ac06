//! Update groups share one encoding: the same `Bytes` (same allocation) goes to every member.

use bgp_wire::{
    AsPath, Asn, AttrValue, Capability, HoldTime, Message, Nlri, Open, PathAttribute, RouterId, Update,
};
use bytes::Bytes;
use rr_core::{ConnId, Engine, EngineConfig, Instant, Output, PeerConfig, Role};

#[path = "../benches/common/workload.rs"]
mod workload;
use workload::{AS, frame};

fn established(e: &mut Engine, addr: &str, role: Role) -> ConnId {
    let now = Instant::from_millis(1);
    let mut c = PeerConfig::new(addr.parse().unwrap(), AS, role);
    c.passive = true;
    e.add_peer(now, c).unwrap();
    let (_, conn) = e.handle_incoming(now, addr.parse().unwrap(), None).unwrap();
    let open = Open::new(
        Asn::new(AS).unwrap(),
        HoldTime::DEFAULT,
        RouterId::new(addr.parse().unwrap()).unwrap(),
        vec![Capability::FourOctetAs(AS)],
    );
    e.handle_frame(now, conn, &frame(Message::Open(open)));
    e.handle_frame(now, conn, &frame(Message::Keepalive));
    conn
}

#[test]
fn one_encoding_per_group_and_none_back_to_the_source() {
    let mut e = Engine::new(EngineConfig::new("10.0.0.1".parse().unwrap(), AS));
    let clients: Vec<ConnId> = ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
        .iter()
        .map(|a| established(&mut e, a, Role::RrClient))
        .collect();
    let nonclient = established(&mut e, "10.0.0.9", Role::NonClient);
    while e.poll_output().is_some() {}
    assert_eq!(
        e.update_groups(),
        2,
        "clients share a group; the non-client has its own"
    );
    let upd = Update {
        withdrawn: vec![],
        attributes: vec![
            PathAttribute::new(AttrValue::Origin(bgp_wire::Origin::Igp)),
            PathAttribute::new(AttrValue::AsPath(AsPath::new())),
            PathAttribute::new(AttrValue::NextHop("10.0.0.2".parse().unwrap())),
        ],
        nlri: (0..50u8)
            .map(|i| Nlri::new(format!("10.{i}.0.0/16").parse().unwrap()))
            .collect(),
    };
    e.handle_frame(Instant::from_millis(2), clients[0], &frame(Message::Update(upd)));
    let mut sends: Vec<(ConnId, Bytes)> = Vec::new();
    while let Some(o) = e.poll_output() {
        if let Output::Send { conn, bytes } = o {
            sends.extend(rr_core::split_messages(&bytes).map(|m| (conn, m)));
        }
    }
    let to = |c: ConnId| {
        sends
            .iter()
            .filter(|(x, _)| *x == c)
            .map(|(_, b)| b.clone())
            .collect::<Vec<_>>()
    };
    assert!(to(clients[0]).is_empty(), "not back to the source");
    let (b1, b2, bn) = (to(clients[1]), to(clients[2]), to(nonclient));
    assert_eq!(
        (b1.len(), b2.len(), bn.len()),
        (1, 1, 1),
        "50 prefixes packed in one UPDATE per group"
    );
    assert_eq!(b1[0].as_ptr(), b2[0].as_ptr(), "group members share one encoding");
    assert_ne!(b1[0].as_ptr(), bn[0].as_ptr(), "another group encodes its own");
    // Per member, the advertised count is what that member was sent: the source's group holds its 50
    // routes, but none of them went to it.
    let advertised = |addr: &str| {
        let p = e
            .peers()
            .find(|p| p.config.remote_addr.to_string() == addr)
            .expect("peer");
        (
            p.prefixes_advertised,
            p.advertised_by_family,
            p.received_by_family,
        )
    };
    assert_eq!(advertised("10.0.0.2"), (0, [0, 0], [50, 0]));
    assert_eq!(advertised("10.0.0.3"), (50, [50, 0], [0, 0]));
    assert_eq!(advertised("10.0.0.9"), (50, [50, 0], [0, 0]));
    let src = e
        .peers()
        .find(|p| p.config.remote_addr.to_string() == "10.0.0.2")
        .unwrap();
    assert_eq!(
        src.accepted_by_family,
        [50, 0],
        "every received path is a Loc-RIB candidate"
    );
}

/// UPDATEs of `prefixes` (IPv4 /32s numbered from 10.0.0.0) with next hop `nh`, each small enough
/// for a 4096-octet message.
fn announce_numbered(prefixes: std::ops::Range<u32>, nh: &str) -> Vec<Update> {
    let nlri: Vec<Nlri> = prefixes
        .map(|i| Nlri::new(bgp_wire::Prefix::v4((0x0a00_0000 + i).into(), 32).unwrap()))
        .collect();
    nlri.chunks(500)
        .map(|c| Update {
            withdrawn: vec![],
            attributes: vec![
                PathAttribute::new(AttrValue::Origin(bgp_wire::Origin::Igp)),
                PathAttribute::new(AttrValue::AsPath(AsPath::new())),
                PathAttribute::new(AttrValue::NextHop(nh.parse().unwrap())),
            ],
            nlri: c.to_vec(),
        })
        .collect()
}

/// Applies every UPDATE sent to `to` since the last call to the set of prefixes it holds; returns
/// how many announcements and withdrawals it got.
fn apply_sent(e: &mut Engine, to: ConnId, held: &mut std::collections::BTreeSet<u32>) -> (usize, usize) {
    let (mut ann, mut wd) = (0, 0);
    let key = |n: &Nlri| match n.prefix.addr() {
        std::net::IpAddr::V4(a) => u32::from(a) - 0x0a00_0000,
        std::net::IpAddr::V6(_) => panic!("IPv6 sent"),
    };
    while let Some(o) = e.poll_output() {
        let Output::Send { conn, bytes } = o else { continue };
        if conn != to {
            continue;
        }
        for m in rr_core::split_messages(&bytes) {
            let ctx = bgp_wire::DecodeCtx::modern(bgp_wire::AddPathMap::new());
            let Ok(Message::Update(u)) = Message::decode(&m, &ctx) else {
                continue;
            };
            for n in &u.withdrawn {
                assert!(held.remove(&key(n)), "withdrawn but not held: {:?}", n.prefix);
                wd += 1;
            }
            for n in &u.nlri {
                held.insert(key(n));
                ann += 1;
            }
        }
    }
    (ann, wd)
}

#[test]
fn a_flush_of_many_slices_sends_every_change_once() {
    // 20,000 changed prefixes in one flush are diffed and sent in several slices (8192 each); the
    // member must get each change exactly once and end with exactly the source's table.
    let mut e = Engine::new(EngineConfig::new("10.0.0.1".parse().unwrap(), AS));
    let src = established(&mut e, "10.0.0.2", Role::RrClient);
    let dst = established(&mut e, "10.0.0.3", Role::RrClient);
    while e.poll_output().is_some() {}
    let now = Instant::from_millis(2);
    for u in announce_numbered(0..20_000, "10.0.0.2") {
        e.handle_frame(now, src, &frame(Message::Update(u)));
    }
    let mut held = std::collections::BTreeSet::new();
    assert_eq!(apply_sent(&mut e, dst, &mut held), (20_000, 0));
    assert_eq!(held, (0..20_000).collect());

    // One batch: the first 10,000 withdrawn, 10,000 new ones, and the middle 5,000 re-announced with
    // another next hop (an implicit withdraw: announced again, not withdrawn).
    let withdrawn: Vec<Nlri> = announce_numbered(0..10_000, "10.0.0.2")
        .into_iter()
        .flat_map(|u| u.nlri)
        .collect();
    for c in withdrawn.chunks(500) {
        let u = Update {
            withdrawn: c.to_vec(),
            attributes: vec![],
            nlri: vec![],
        };
        e.handle_frame(now, src, &frame(Message::Update(u)));
    }
    for u in announce_numbered(20_000..30_000, "10.0.0.2")
        .into_iter()
        .chain(announce_numbered(10_000..15_000, "10.9.9.9"))
    {
        e.handle_frame(now, src, &frame(Message::Update(u)));
    }
    assert_eq!(apply_sent(&mut e, dst, &mut held), (15_000, 10_000));
    assert_eq!(held, (10_000..30_000).collect());
}
