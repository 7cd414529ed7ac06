//! Members outside an update group's stream (congested, then drained) catch up by walking the
//! group's Adj-RIB-Out: at the end each holds exactly what the group advertises to it, withdrawals
//! included, and members that fell behind together are sent the same encoded bytes.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use bgp_wire::{
    AsPath, Asn, AttrValue, Capability, DecodeCtx, HoldTime, Message, Nlri, Open, PathAttribute, RouterId,
    Update,
};
use bytes::Bytes;
use rr_core::{ConnId, Engine, EngineConfig, Instant, Output, PeerConfig, Role};

#[path = "../benches/common/workload.rs"]
mod workload;
use workload::{AS, frame};

/// Client `i` at 10.0.0.2 + i (its router id too: a lower `i` wins the tie-break).
fn addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0002 + i as u32)
}

fn established(e: &mut Engine, i: usize) -> ConnId {
    let now = Instant::from_millis(1);
    let a = addr(i);
    let mut c = PeerConfig::new(a.into(), AS, Role::RrClient);
    c.passive = true;
    e.add_peer(now, c).unwrap();
    connect(e, i, a, vec![Capability::FourOctetAs(AS)])
}

/// A new session of the configured client `i`, with router id `rid` and capabilities `caps`.
fn connect(e: &mut Engine, i: usize, rid: Ipv4Addr, caps: Vec<Capability>) -> ConnId {
    let now = Instant::from_millis(1);
    let (_, conn) = e.handle_incoming(now, addr(i).into(), None).unwrap();
    let open = Open::new(
        Asn::new(AS).unwrap(),
        HoldTime::DEFAULT,
        RouterId::new(rid).unwrap(),
        caps,
    );
    e.handle_frame(now, conn, &frame(Message::Open(open)));
    e.handle_frame(now, conn, &frame(Message::Keepalive));
    conn
}

/// One reflector, `n` clients, and what each client holds (prefix -> next hop) after applying
/// every UPDATE it was sent.
struct World {
    e: Engine,
    conns: Vec<ConnId>,
    held: HashMap<ConnId, BTreeMap<String, Ipv4Addr>>,
    /// What each client announced (prefix -> next hop): the model the expectation is computed from.
    announced: Vec<BTreeMap<String, Ipv4Addr>>,
    /// Every message sent, by connection, in order.
    sent: Vec<(ConnId, Bytes)>,
    /// Messages of every type handed to each connection.
    count: HashMap<ConnId, u64>,
}

impl World {
    fn new(n: usize) -> World {
        let mut e = Engine::new(EngineConfig::new("10.0.0.1".parse().unwrap(), AS));
        let conns = (0..n).map(|i| established(&mut e, i)).collect();
        let mut w = World {
            e,
            conns,
            held: HashMap::new(),
            announced: vec![BTreeMap::new(); n],
            sent: Vec::new(),
            count: HashMap::new(),
        };
        w.drain();
        w
    }

    fn now(&self) -> Instant {
        Instant::from_millis(2)
    }

    fn announce(&mut self, i: usize, prefixes: &[String], nh: Ipv4Addr) {
        let upd = Update {
            withdrawn: vec![],
            attributes: vec![
                PathAttribute::new(AttrValue::Origin(bgp_wire::Origin::Igp)),
                PathAttribute::new(AttrValue::AsPath(AsPath::new())),
                PathAttribute::new(AttrValue::NextHop(nh)),
            ],
            nlri: prefixes.iter().map(|p| Nlri::new(p.parse().unwrap())).collect(),
        };
        for p in prefixes {
            self.announced[i].insert(p.clone(), nh);
        }
        let now = self.now();
        self.e
            .handle_frame(now, self.conns[i], &frame(Message::Update(upd)));
    }

    fn withdraw(&mut self, i: usize, prefixes: &[String]) {
        let upd = Update {
            withdrawn: prefixes.iter().map(|p| Nlri::new(p.parse().unwrap())).collect(),
            attributes: vec![],
            nlri: vec![],
        };
        for p in prefixes {
            self.announced[i].remove(p);
        }
        let now = self.now();
        self.e
            .handle_frame(now, self.conns[i], &frame(Message::Update(upd)));
    }

    fn congest(&mut self, i: usize, congested: bool) {
        let now = self.now();
        self.e.set_congested(now, self.conns[i], congested);
    }

    /// Applies every message of one `Output::Send` (one or more whole messages); returns how many.
    fn apply(&mut self, conn: ConnId, bytes: Bytes) -> usize {
        let msgs: Vec<Bytes> = rr_core::split_messages(&bytes).collect();
        let whole: usize = msgs.iter().map(Bytes::len).sum();
        assert_eq!(whole, bytes.len(), "a send ends inside a message");
        *self.count.entry(conn).or_default() += msgs.len() as u64;
        for m in &msgs {
            self.apply_one(conn, m.clone());
        }
        msgs.len()
    }

    fn apply_one(&mut self, conn: ConnId, bytes: Bytes) {
        let ctx = DecodeCtx {
            four_octet_as: true,
            ..DecodeCtx::default()
        };
        let Ok(Message::Update(u)) = Message::decode(&bytes, &ctx) else {
            return;
        };
        let held = self.held.entry(conn).or_default();
        for (_, n) in u.withdrawals() {
            held.remove(&n.prefix.to_string());
        }
        let nh = u.attributes.iter().find_map(|a| match a.value {
            AttrValue::NextHop(a) => Some(a),
            _ => None,
        });
        for (_, n) in u.announced() {
            held.insert(n.prefix.to_string(), nh.expect("NEXT_HOP"));
        }
        self.sent.push((conn, bytes));
    }

    /// Drains the engine; returns how many messages were sent.
    fn drain(&mut self) -> usize {
        let mut n = 0;
        while let Some(o) = self.e.poll_output() {
            if let Output::Send { conn, bytes } = o {
                n += self.apply(conn, bytes);
            }
        }
        n
    }

    /// At most `n` outputs.
    fn drain_some(&mut self, n: usize) {
        for _ in 0..n {
            match self.e.poll_output() {
                Some(Output::Send { conn, bytes }) => {
                    self.apply(conn, bytes);
                }
                Some(_) => {}
                None => return,
            }
        }
    }

    /// What client `m` must hold: per prefix, the best path (lowest router id among the clients
    /// announcing it, all else equal), unless that path is `m`'s own.
    fn expected(&self, m: usize) -> BTreeMap<String, Ipv4Addr> {
        let mut best: BTreeMap<String, (usize, Ipv4Addr)> = BTreeMap::new();
        for (i, a) in self.announced.iter().enumerate() {
            for (p, nh) in a {
                best.entry(p.clone()).or_insert((i, *nh));
            }
        }
        best.into_iter()
            .filter(|(_, (i, _))| *i != m)
            .map(|(p, (_, nh))| (p, nh))
            .collect()
    }

    fn holds(&self, m: usize) -> BTreeMap<String, Ipv4Addr> {
        self.held.get(&self.conns[m]).cloned().unwrap_or_default()
    }

    fn sent_to(&self, m: usize, from: usize) -> Vec<Bytes> {
        self.sent[from..]
            .iter()
            .filter(|(c, _)| *c == self.conns[m])
            .map(|(_, b)| b.clone())
            .collect()
    }
}

fn prefixes(range: std::ops::Range<u32>) -> Vec<String> {
    range
        .map(|i| format!("10.{}.{}.0/24", 100 + i / 256, i % 256))
        .collect()
}

fn nh(i: usize) -> Ipv4Addr {
    addr(i)
}

/// A client behind while routes are withdrawn, change attributes, move to another source and to
/// its own path, and while new routes arrive, holds exactly the group's view once caught up; so
/// does one whose catch-up is interrupted by more changes.
#[test]
fn a_member_behind_while_routes_change_ends_with_exactly_the_adj_rib_out() {
    let mut w = World::new(5);
    // 0 and 3 announce; 1 and 2 fall behind; 4 stays in the stream.
    w.announce(0, &prefixes(0..60), nh(0));
    w.announce(1, &prefixes(100..110), nh(1));
    w.drain();
    for m in 0..5 {
        assert_eq!(w.holds(m), w.expected(m), "client {m} before");
    }
    w.congest(1, true);
    w.congest(2, true);
    // Withdrawn.
    w.withdraw(0, &prefixes(0..10));
    w.drain();
    // New attributes (next hop) for some.
    w.announce(0, &prefixes(10..20), Ipv4Addr::new(10, 9, 9, 9));
    w.drain();
    // Moved to another source: 0 withdraws, 3 (higher router id) had it too.
    w.announce(3, &prefixes(20..25), nh(3));
    w.withdraw(0, &prefixes(20..25));
    w.drain();
    // Moved to the behind member's own path: it must withdraw the path it held.
    w.announce(1, &prefixes(25..30), nh(1));
    w.withdraw(0, &prefixes(25..30));
    // Its own prefixes, announced and withdrawn while behind: nothing of them is ever sent to it.
    w.announce(1, &prefixes(200..205), nh(1));
    w.withdraw(1, &prefixes(200..203));
    // New routes.
    w.announce(3, &prefixes(300..320), nh(3));
    let before = w.sent.len();
    w.drain();
    assert!(
        w.sent_to(1, before).is_empty() && w.sent_to(2, before).is_empty(),
        "nothing is sent to a congested member"
    );
    assert_eq!(w.holds(4), w.expected(4), "the member in the stream");
    assert_ne!(w.holds(1), w.expected(1), "the congested member is behind");

    // Member 1 drains and catches up in full.
    let from = w.sent.len();
    w.congest(1, false);
    w.drain();
    assert_eq!(w.holds(1), w.expected(1), "member 1 caught up");
    let own: Vec<String> = w
        .sent_to(1, from)
        .iter()
        .flat_map(|b| {
            let ctx = DecodeCtx {
                four_octet_as: true,
                ..DecodeCtx::default()
            };
            match Message::decode(b, &ctx) {
                Ok(Message::Update(u)) => u
                    .withdrawals()
                    .chain(u.announced())
                    .map(|(_, n)| n.prefix.to_string())
                    .collect::<Vec<_>>(),
                _ => Vec::new(),
            }
        })
        .filter(|p| prefixes(200..205).contains(p) || prefixes(100..110).contains(p))
        .collect();
    assert!(own.is_empty(), "its own prefixes were sent to it: {own:?}");

    // Member 2 drains, is interrupted after a few messages by more changes, and still ends exact.
    w.congest(2, false);
    w.drain_some(3);
    w.withdraw(3, &prefixes(300..305));
    w.announce(0, &prefixes(40..45), Ipv4Addr::new(10, 8, 8, 8));
    w.announce(4, &prefixes(400..410), nh(4));
    w.drain();
    for m in 0..5 {
        assert_eq!(w.holds(m), w.expected(m), "client {m} at the end");
    }
    // Both are back in the shared stream.
    let from = w.sent.len();
    w.announce(3, &prefixes(500..501), nh(3));
    w.drain();
    assert_eq!(w.sent_to(1, from).len(), 1);
    assert_eq!(w.sent_to(2, from).len(), 1);
    assert_eq!(w.sent_to(1, from)[0].as_ptr(), w.sent_to(2, from)[0].as_ptr());
}

/// Two members that fall behind together walk the same items and are sent the same encoded
/// messages (one allocation each, shared), whatever order they drain in.
#[test]
fn members_behind_together_share_the_encodings() {
    let mut w = World::new(4);
    w.announce(0, &prefixes(0..100), nh(0));
    w.drain();
    w.congest(2, true);
    w.congest(3, true);
    for i in 0..20u32 {
        w.announce(1, &prefixes(1000 + i * 10..1010 + i * 10), nh(1));
        w.drain();
    }
    w.withdraw(0, &prefixes(0..50));
    w.drain();
    let from = w.sent.len();
    w.congest(2, false);
    w.congest(3, false);
    w.drain();
    let (a, b) = (w.sent_to(2, from), w.sent_to(3, from));
    assert!(!a.is_empty());
    assert_eq!(a.len(), b.len());
    let ptrs = |v: &[Bytes]| v.iter().map(|m| m.as_ptr()).collect::<Vec<_>>();
    // The bucket announcements are one encoding for both (the withdrawals are packed per member).
    let shared = ptrs(&a).iter().filter(|p| ptrs(&b).contains(p)).count();
    let withdrawals = a
        .iter()
        .filter(|m| {
            let ctx = DecodeCtx {
                four_octet_as: true,
                ..DecodeCtx::default()
            };
            matches!(Message::decode(m, &ctx), Ok(Message::Update(u)) if u.withdrawals().next().is_some())
        })
        .count();
    assert_eq!(shared, a.len() - withdrawals, "every announcement shared");
    assert_eq!(withdrawals, 1, "50 withdrawals packed in one message");
    assert_eq!(w.holds(2), w.expected(2));
    assert_eq!(w.holds(3), w.expected(3));
    // The 20 small announcements of member 1 are one bucket: sent once, not once per change. Member
    // 0's bucket changed (half of it withdrawn): it is sent again whole, with its 50 routes left.
    assert_eq!(
        a.len(),
        3,
        "one withdrawal message, member 0's bucket and member 1's bucket"
    );
}

/// A joining member's initial table is a walk too: many members joining together are sent the
/// same messages, each followed by End-of-RIB, and then follow the stream.
#[test]
fn joining_members_walk_together_and_get_end_of_rib() {
    let mut w = World::new(1);
    w.announce(0, &prefixes(0..50), nh(0));
    w.drain();
    let from = w.sent.len();
    for i in 1..4 {
        let c = established(&mut w.e, i);
        w.conns.push(c);
        w.announced.push(BTreeMap::new());
    }
    w.drain();
    let (a, b, c) = (w.sent_to(1, from), w.sent_to(2, from), w.sent_to(3, from));
    assert_eq!(a.len(), 2, "the table in one UPDATE, then End-of-RIB");
    assert_eq!(
        a.iter().map(|m| m.as_ptr()).collect::<Vec<_>>(),
        b.iter().map(|m| m.as_ptr()).collect::<Vec<_>>()
    );
    assert_eq!(
        a.iter().map(|m| m.as_ptr()).collect::<Vec<_>>(),
        c.iter().map(|m| m.as_ptr()).collect::<Vec<_>>()
    );
    for m in 0..4 {
        assert_eq!(w.holds(m), w.expected(m), "client {m}");
    }
}

/// A flush too large to fan out (changed prefixes x members above the engine's threshold) queues
/// nothing per member: every member walks it instead, pulled through `poll_catch_up` a few messages
/// in a row per member, all sent the same encodings, and each ends with exactly the Adj-RIB-Out. A
/// small flush still goes out at once through the shared stream.
#[test]
fn a_large_flush_is_walked_by_the_members_not_queued_for_each() {
    let n = 40;
    let mut w = World::new(n);
    // 30,000 prefixes x 39 members: above 2^20 deliveries.
    let many: Vec<String> = (0..30_000u32)
        .map(|i| format!("{}.{}.{}.0/24", 20 + i / 65536, (i / 256) % 256, i % 256))
        .collect();
    for chunk in many.chunks(800) {
        w.announce(0, chunk, nh(0));
    }
    w.e.flush();
    let mut queued = 0;
    while let Some(o) = w.e.poll_queued() {
        if let Output::Send { conn, bytes } = o {
            w.apply(conn, bytes);
            queued += 1;
        }
    }
    assert_eq!(
        queued, 0,
        "a large flush is not queued message by message for every member"
    );
    // Pulled: the first messages go to one member in a row.
    let from = w.sent.len();
    let mut first = Vec::new();
    for _ in 0..8 {
        match w.e.poll_catch_up() {
            Some(Output::Send { conn, bytes }) => {
                first.push(conn);
                w.apply(conn, bytes);
            }
            other => panic!("expected a catch-up message, got {other:?}"),
        }
    }
    assert!(
        first.iter().all(|c| *c == first[0]),
        "a burst to one member: {first:?}"
    );
    w.drain();
    for m in 0..n {
        assert_eq!(w.holds(m), w.expected(m), "client {m}");
    }
    // Every member was sent the same messages (shared encodings).
    let to1: Vec<Bytes> = w.sent_to(1, from);
    assert!(!to1.is_empty());
    for m in 2..n {
        let to_m = w.sent_to(m, from);
        assert_eq!(to_m.len(), to1.len(), "client {m}");
        assert!(
            to_m.iter().zip(&to1).all(|(a, b)| a.as_ptr() == b.as_ptr()),
            "client {m} got its own copy"
        );
    }

    // Back in the stream: a small change is queued at once for every member.
    w.announce(1, &prefixes(0..5), nh(1));
    w.e.flush();
    let mut queued = 0;
    while let Some(o) = w.e.poll_queued() {
        if let Output::Send { conn, bytes } = o {
            w.apply(conn, bytes);
            queued += 1;
        }
    }
    assert_eq!(
        queued,
        n - 1,
        "one UPDATE to every other member through the stream"
    );
    for m in 0..n {
        assert_eq!(w.holds(m), w.expected(m), "client {m} after the small change");
    }
}

/// A member that joins while route changes wait for the next flush (as at the end of the selection
/// deferral after a restart) gets its End-of-RIB only after those routes, even when the caller pulls
/// catch-up output before it flushes (rr-daemon does): RFC 4724 section 4.2, a helper drops its stale
/// routes on End-of-RIB.
#[test]
fn end_of_rib_waits_for_changes_not_flushed_yet() {
    let mut w = World::new(2);
    w.announce(0, &prefixes(0..4), nh(0));
    let c = established(&mut w.e, 2);
    w.conns.push(c);
    w.announced.push(BTreeMap::new());
    // Pulled before any flush, as the daemon does.
    let mut early = Vec::new();
    while let Some(o) = w.e.poll_queued() {
        if let Output::Send { conn, bytes } = o {
            early.push((conn, bytes));
        }
    }
    while let Some(o) = w.e.poll_catch_up() {
        if let Output::Send { conn, bytes } = o {
            early.push((conn, bytes));
        }
    }
    let from = w.sent.len();
    for (conn, bytes) in early {
        w.apply(conn, bytes);
    }
    w.drain();
    let ctx = DecodeCtx {
        four_octet_as: true,
        ..DecodeCtx::default()
    };
    let to_new: Vec<Update> = w
        .sent_to(2, from)
        .iter()
        .filter_map(|b| match Message::decode(b, &ctx) {
            Ok(Message::Update(u)) => Some(u),
            _ => None,
        })
        .collect();
    let eor = to_new
        .iter()
        .position(|u| u.withdrawn.is_empty() && u.attributes.is_empty() && u.nlri.is_empty())
        .expect("End-of-RIB sent");
    let routes = to_new
        .iter()
        .position(|u| !u.nlri.is_empty())
        .expect("routes sent");
    assert!(routes < eor, "End-of-RIB at {eor} before the routes at {routes}");
    assert_eq!(w.holds(2), w.expected(2));
}

/// Members walking the same stretch of many buckets are handed it as runs: several buckets'
/// messages in one output, the same bytes for each of them. A member whose own routes are in a run
/// walks it bucket by bucket and is never sent them. After the order changes, runs are rebuilt and
/// every member still ends exact.
#[test]
fn members_walking_together_are_handed_runs_of_buckets() {
    let mut w = World::new(4);
    w.drain();
    for m in [0, 1, 2] {
        w.congest(m, true);
    }
    // 80 buckets (one attribute set each), 40 of them member 0's own.
    for i in 0..40u32 {
        w.announce(
            3,
            &prefixes(i * 10..i * 10 + 10),
            Ipv4Addr::new(10, 9, 0, i as u8),
        );
        w.announce(0, &prefixes(1000 + i..1001 + i), Ipv4Addr::new(10, 8, 0, i as u8));
    }
    w.drain();
    let mut outputs: HashMap<ConnId, Vec<Bytes>> = HashMap::new();
    for m in [0, 1, 2] {
        w.congest(m, false);
    }
    while let Some(o) = w.e.poll_output() {
        if let Output::Send { conn, bytes } = o {
            outputs.entry(conn).or_default().push(bytes.clone());
            w.apply(conn, bytes);
        }
    }
    for m in 0..4 {
        assert_eq!(w.holds(m), w.expected(m), "client {m}");
    }
    let msgs = |v: &[Bytes]| {
        v.iter()
            .map(|b| rr_core::split_messages(b).count())
            .sum::<usize>()
    };
    let (o1, o2) = (&outputs[&w.conns[1]], &outputs[&w.conns[2]]);
    assert_eq!((msgs(o1), msgs(o2)), (80, 80), "every bucket, one message each");
    assert!(
        o1.len() <= 2,
        "80 buckets in {} outputs: not handed as runs",
        o1.len()
    );
    let ptrs = |v: &[Bytes]| v.iter().map(|m| m.as_ptr()).collect::<Vec<_>>();
    assert_eq!(ptrs(o1), ptrs(o2), "the same run bytes for both members");
    let o0 = &outputs[&w.conns[0]];
    assert_eq!(msgs(o0), 40, "member 0 is sent member 3's buckets only");
    assert_eq!(
        o0.len(),
        40,
        "member 0 walks the run holding its own buckets one by one"
    );

    // The order changes while they walk again: runs built before are not used.
    for m in [1, 2] {
        w.congest(m, true);
    }
    w.withdraw(3, &prefixes(0..100));
    w.announce(3, &prefixes(2000..2010), Ipv4Addr::new(10, 7, 0, 1));
    w.drain();
    w.congest(1, false);
    w.drain_some(1);
    w.announce(0, &prefixes(3000..3005), Ipv4Addr::new(10, 6, 0, 1));
    w.withdraw(3, &prefixes(300..310));
    w.drain();
    w.congest(2, false);
    w.drain();
    for m in 0..4 {
        assert_eq!(w.holds(m), w.expected(m), "client {m} at the end");
    }
}

/// The ORIGINATOR_ID (RFC 4456 section 8) of the last announcement of each prefix among `msgs`.
fn originators(msgs: &[Bytes]) -> BTreeMap<String, Option<Ipv4Addr>> {
    let ctx = DecodeCtx {
        four_octet_as: true,
        ..DecodeCtx::default()
    };
    let mut got = BTreeMap::new();
    for m in msgs.iter().flat_map(rr_core::split_messages) {
        let Ok(Message::Update(u)) = Message::decode(&m, &ctx) else {
            continue;
        };
        let id = u.attributes.iter().find_map(|a| match a.value {
            AttrValue::OriginatorId(id) => Some(id),
            _ => None,
        });
        for (_, n) in u.announced() {
            got.insert(n.prefix.to_string(), id);
        }
    }
    got
}

/// A source that comes back under graceful restart (RFC 4724) with another router id while members
/// are caught up through runs built with its old router id: as soon as its session is back every
/// member holds each of its kept routes with the new ORIGINATOR_ID (RFC 4456 section 8: "the
/// ROUTER_ID of the originator"), the members that walk (one of them already past the routes) as
/// well as the one in the group's stream; its announcing the same routes again then sends nothing.
/// Runs and cached encodings hold the old id, and the Adj-RIB-Out diff sees no change in a path
/// whose source only changed its router id.
#[test]
fn a_source_back_under_graceful_restart_with_another_router_id_is_reflected_with_it() {
    let gr = |restarting: bool| {
        Capability::GracefulRestart(bgp_wire::GracefulRestart {
            restart_state: restarting,
            notification: false,
            restart_time: 120,
            families: vec![bgp_wire::GrFamily {
                afi_safi: bgp_wire::AfiSafi::IPV4_UNICAST,
                forwarding: true,
            }],
        })
    };
    let caps = |restarting: bool| vec![Capability::FourOctetAs(AS), gr(restarting)];
    let mut w = World::new(3);
    // Client 3 negotiates graceful restart.
    let now = w.now();
    let mut c = PeerConfig::new(addr(3).into(), AS, Role::RrClient);
    c.passive = true;
    w.e.add_peer(now, c).unwrap();
    let c3 = connect(&mut w.e, 3, addr(3), caps(false));
    w.conns.push(c3);
    w.announced.push(BTreeMap::new());
    w.drain();
    // Members 0 and 1 fall behind while client 3 announces 40 buckets; member 2 takes the stream.
    for m in [0, 1] {
        w.congest(m, true);
    }
    let buckets: Vec<(Vec<String>, Ipv4Addr)> = (0..40u32)
        .map(|i| (prefixes(i * 10..i * 10 + 10), Ipv4Addr::new(10, 9, 0, i as u8)))
        .collect();
    for (p, nh) in &buckets {
        w.announce(3, p, *nh);
    }
    w.drain();
    for m in [0, 1] {
        w.congest(m, false);
    }
    // One member starts walking: a run of client 3's buckets exists, encoded with its old router id.
    let start = w.sent.len();
    w.drain_some(1);
    let first = w.sent_to(0, start).len() + w.sent_to(1, start).len();
    assert!(
        first > 1,
        "a run of several buckets handed out ({first} messages)"
    );
    assert_eq!(
        originators(&w.sent[start..].iter().map(|(_, b)| b.clone()).collect::<Vec<_>>())
            .values()
            .collect::<std::collections::BTreeSet<_>>(),
        [&Some(addr(3))].into(),
        "the run carries the old router id"
    );
    // Client 3 restarts: its connection drops (routes kept, stale) and it comes back as 10.0.9.9.
    // Its kept routes are reflected with the new id at once, before it announces anything.
    let now = w.now();
    w.e.handle_disconnected(now, c3);
    let new_rid = Ipv4Addr::new(10, 0, 9, 9);
    let c3 = connect(&mut w.e, 3, new_rid, caps(true));
    w.conns[3] = c3;
    let start = w.sent.len();
    w.drain();
    let check = |w: &World, when: &str| {
        for m in 0..3 {
            assert_eq!(w.holds(m), w.expected(m), "client {m} {when}");
            let got = originators(&w.sent_to(m, 0));
            for p in buckets.iter().flat_map(|(p, _)| p) {
                assert_eq!(
                    got.get(p),
                    Some(&Some(new_rid)),
                    "client {m} holds {p} with the old ORIGINATOR_ID {when} (sent since the restart: {} \
                     outputs)",
                    w.sent_to(m, start).len()
                );
            }
        }
    };
    check(&w, "once the session is back");
    // It announces the same routes again, then End-of-RIB: nothing changes, nothing is sent again.
    let start = w.sent.len();
    for (p, nh) in &buckets {
        w.announce(3, p, *nh);
    }
    w.e.handle_frame(
        now,
        c3,
        &frame(Message::Update(bgp_wire::end_of_rib(
            bgp_wire::AfiSafi::IPV4_UNICAST,
        ))),
    );
    w.drain();
    check(&w, "after its End-of-RIB");
    for m in 0..3 {
        assert_eq!(
            w.sent_to(m, start),
            Vec::<Bytes>::new(),
            "client {m} sent the same routes again"
        );
    }
}

impl World {
    /// One pass of a caller with a paced fan-out, as rr-daemon makes it: queued output, a flush, queued
    /// output and catch-up, then the turns of `turns` (what is held for them), then what the engine
    /// queued instead of releasing.
    fn pass_paced(&mut self, turns: &[usize], catch_up: usize) {
        while let Some(o) = self.e.poll_queued() {
            self.apply_output(o);
        }
        self.e.flush();
        while let Some(o) = self.e.poll_queued() {
            self.apply_output(o);
        }
        for _ in 0..catch_up {
            match self.e.poll_catch_up() {
                Some(o) => self.apply_output(o),
                None => break,
            }
        }
        for &m in turns {
            let conn = self.conns[m];
            let mut out = Vec::new();
            self.e.release_held(conn, &mut out);
            for b in out {
                self.apply(conn, b);
            }
        }
        while let Some(o) = self.e.poll_queued() {
            self.apply_output(o);
        }
    }

    fn apply_output(&mut self, o: Output) {
        if let Output::Send { conn, bytes } = o {
            self.apply(conn, bytes);
        }
    }
}

/// With the fan-out held and released member by member in turns (rr-daemon's paced fan-out), while
/// routes are announced, withdrawn and moved between sources and members fall behind and catch up
/// at random, every member ends with exactly the group's view: what is held for a member is never
/// overtaken by its later UPDATEs, its catch-up or a later turn.
#[test]
fn a_paced_fan_out_with_members_behind_ends_with_exactly_the_adj_rib_out() {
    let mut seed = 0x5851_f42d_4c95_7f2d_u64;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for round in 0..20 {
        let n = 6;
        let mut w = World::new(n);
        w.e.set_hold_fan_out(true);
        let mut congested = vec![false; n];
        for _ in 0..200 {
            let i = rnd(n as u64) as usize;
            let from = rnd(40) as u32;
            let ps = prefixes(from..from + 1 + rnd(5) as u32);
            match rnd(6) {
                0 | 1 => {
                    let hop = if rnd(2) == 0 {
                        nh(i)
                    } else {
                        Ipv4Addr::new(10, 9, 9, i as u8)
                    };
                    w.announce(i, &ps, hop);
                }
                2 => w.withdraw(i, &ps),
                3 => {
                    congested[i] = !congested[i];
                    w.congest(i, congested[i]);
                }
                _ => {
                    let turns: Vec<usize> = (0..n).filter(|_| rnd(3) == 0).collect();
                    let catch_up = rnd(4) as usize;
                    w.pass_paced(&turns, catch_up);
                }
            }
        }
        for (i, c) in congested.iter().enumerate() {
            if *c {
                w.congest(i, false);
            }
        }
        let all: Vec<usize> = (0..n).collect();
        for _ in 0..1000 {
            w.pass_paced(&all, usize::MAX);
            if !w.e.has_held() && !w.e.has_pending_changes() {
                break;
            }
        }
        assert!(!w.e.has_held());
        for m in 0..n {
            assert_eq!(w.holds(m), w.expected(m), "round {round}, client {m}");
        }
        // Every message handed over is counted once for its member (held ones when taken).
        let counted: HashMap<std::net::IpAddr, u64> =
            w.e.peers()
                .map(|p| (p.config.remote_addr, p.stats.messages_sent))
                .collect();
        for m in 0..n {
            let handed = w.count.get(&w.conns[m]).copied().unwrap_or(0);
            assert_eq!(
                counted.get(&addr(m).into()),
                Some(&handed),
                "round {round}, client {m}: messages sent"
            );
        }
    }
}
