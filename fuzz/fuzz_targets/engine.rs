//! Drives one `rr_core::Engine` (a route reflector) with an arbitrary sequence of events from four
//! scripted peers: connections, OPENs, KEEPALIVEs, UPDATEs (well-formed or arbitrary bytes), route
//! refreshes, disconnections, reconfigurations and the passing of time.
//!
//! Properties, checked after every step once the engine's output is drained:
//! - no panic;
//! - while the engine defers route selection after its start (RFC 4724 section 4.1: until every peer sent
//!   End-of-RIB or the deferral timer fired), no peer is sent any route;
//! - every established peer holds exactly what the reflector's Loc-RIB says it should: each prefix
//!   whose best path was learned from another peer, and nothing else (so no route is ever reflected
//!   to the peer it came from, and a withdrawal reaches every peer that had the route);
//! - no UPDATE sent to a peer carries that peer's own router id as ORIGINATOR_ID.
#![no_main]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use arbitrary::Arbitrary;
use bgp_wire::{
    AddPathMap, AfiSafi, AsPath, Asn, AttrValue, Capability, DecodeCtx, EncodeCtx, HoldTime, Message, Nlri,
    Open, PathAttribute, RouteRefresh, RouterId, Update, frame_len,
};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use rr_core::{ConnId, Engine, EngineConfig, Instant, Output, PeerConfig, PeerId, Role};

const LOCAL_AS: u32 = 64512;
const ROUTER_ID: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 1);
const CLUSTER_ID: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 254);
const PEERS: usize = 4;

#[derive(Arbitrary, Debug)]
enum Op {
    /// The peer opens a TCP connection to the reflector.
    Connect(u8),
    /// The peer sends its OPEN (hold time from a short list, some peers without 4-octet AS).
    Open(u8, u8),
    Keepalive(u8),
    /// The peer announces 10.<prefix>.0.0/24 (a small space, so peers collide) with attributes picked
    /// by `attrs`.
    Announce {
        peer: u8,
        prefix: u8,
        attrs: u8,
    },
    Withdraw {
        peer: u8,
        prefix: u8,
    },
    /// The peer sends an UPDATE whose body is arbitrary bytes (RFC 7606 paths, session resets).
    RawUpdate(u8, Vec<u8>),
    /// The peer sends an arbitrary message type and body.
    RawMessage(u8, u8, Vec<u8>),
    RouteRefresh(u8),
    /// The peer's TCP connection drops.
    Disconnect(u8),
    /// Time passes, one second at a time; established peers keep their sessions alive if asked to.
    Advance {
        secs: u8,
        keepalive: bool,
    },
    /// The peer's configuration changes (role, hold time).
    Reconfigure(u8, u8),
    /// The peer is removed, or added back if it was removed.
    Toggle(u8),
    /// An administrative reset of the peer.
    Reset(u8),
}

#[derive(Default)]
struct Fake {
    id: Option<PeerId>,
    conn: Option<ConnId>,
    /// The engine said Established for this connection.
    established: bool,
    /// What the reflector has announced to this peer and not withdrawn.
    held: BTreeSet<(u8, u8)>,
    /// Bytes received from the engine not yet framed.
    inbox: BytesMut,
    four_octet: bool,
    /// The role the engine has for this peer.
    client: bool,
}

struct World {
    now: Instant,
    engine: Engine,
    fakes: Vec<Fake>,
}

fn peer_addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2 + i as u8))
}

fn peer_rid(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 2 + i as u8)
}

fn peer_config(i: usize, variant: u8) -> PeerConfig {
    // Peer 3 is a non-client (another reflector); the others are clients unless reconfigured.
    let role = match (i, variant % 3) {
        (3, _) | (_, 2) => Role::NonClient,
        _ => Role::RrClient,
    };
    let mut cfg = PeerConfig::new(peer_addr(i), LOCAL_AS, role);
    cfg.passive = true;
    cfg.hold_time = Duration::from_secs([90, 9, 3][(variant / 3 % 3) as usize]);
    cfg
}

impl World {
    fn new() -> World {
        let mut cfg = EngineConfig::new(ROUTER_ID, LOCAL_AS);
        cfg.cluster_id = Some(CLUSTER_ID);
        let now = Instant::from_millis(1_000);
        let mut engine = Engine::new(cfg);
        let mut fakes = Vec::new();
        for i in 0..PEERS {
            let id = engine.add_peer(now, peer_config(i, 0)).expect("add peer");
            fakes.push(Fake {
                id: Some(id),
                client: peer_config(i, 0).role == Role::RrClient,
                ..Fake::default()
            });
        }
        World { now, engine, fakes }
    }

    fn ectx(&self, i: usize) -> EncodeCtx {
        EncodeCtx {
            four_octet_as: self.fakes[i].four_octet,
            add_path: AddPathMap::new(),
            extended_message: false,
        }
    }

    fn send(&mut self, i: usize, m: &Message) {
        let Some(conn) = self.fakes[i].conn else { return };
        let mut buf = BytesMut::new();
        if m.encode(&self.ectx(i), &mut buf).is_err() {
            return;
        }
        self.send_raw(i, conn, buf.freeze());
    }

    fn send_raw(&mut self, _i: usize, conn: ConnId, frame: Bytes) {
        self.engine.handle_frame(self.now, conn, &frame);
        self.drain();
    }

    fn fake_of_conn(&self, conn: ConnId) -> Option<usize> {
        self.fakes.iter().position(|f| f.conn == Some(conn))
    }

    fn drop_conn(&mut self, i: usize) {
        let f = &mut self.fakes[i];
        f.conn = None;
        f.established = false;
        f.held.clear();
        f.inbox.clear();
    }

    /// Takes every output of the engine and delivers it, until there is none.
    fn drain(&mut self) {
        while let Some(o) = self.engine.poll_output() {
            match o {
                Output::Send { conn, bytes } => self.deliver(conn, &bytes),
                Output::Close { conn } => {
                    if let Some(i) = self.fake_of_conn(conn) {
                        self.drop_conn(i);
                    }
                }
                Output::Established { peer, conn, .. } => {
                    let i = self
                        .fakes
                        .iter()
                        .position(|f| f.id == Some(peer))
                        .expect("known peer");
                    assert_eq!(
                        self.fakes[i].conn,
                        Some(conn),
                        "established on an unknown connection"
                    );
                    self.fakes[i].established = true;
                }
                Output::SessionDown { peer, .. } => {
                    if let Some(i) = self.fakes.iter().position(|f| f.id == Some(peer)) {
                        self.fakes[i].established = false;
                    }
                }
                // Peers are passive: the engine never dials.
                Output::Connect { conn, .. } => self.engine.handle_connect_failed(self.now, conn),
                _ => {}
            }
        }
    }

    fn deliver(&mut self, conn: ConnId, bytes: &Bytes) {
        let Some(i) = self.fake_of_conn(conn) else { return };
        self.fakes[i].inbox.extend_from_slice(bytes);
        let ctx = DecodeCtx {
            four_octet_as: self.fakes[i].four_octet,
            add_path: AddPathMap::new(),
            extended_message: false,
        };
        loop {
            let len = match frame_len(&self.fakes[i].inbox, 4096) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(e) => panic!("the engine sent a bad frame: {e}"),
            };
            let frame = self.fakes[i].inbox.split_to(len).freeze();
            let msg = Message::decode(&frame, &ctx).expect("the engine sent a message that does not decode");
            if let Message::Update(u) = msg {
                self.take_update(i, &u);
            }
        }
    }

    fn take_update(&mut self, i: usize, u: &Update) {
        if let Some(AttrValue::OriginatorId(o)) = u.value(bgp_wire::attr::type_code::ORIGINATOR_ID) {
            assert_ne!(*o, peer_rid(i), "a route was reflected to its originator");
        }
        for (_, n) in u.withdrawals() {
            self.fakes[i].held.remove(&key(&n.prefix.to_string()));
        }
        for (_, n) in u.announced() {
            self.fakes[i].held.insert(key(&n.prefix.to_string()));
        }
    }

    /// What each established peer must hold: every Loc-RIB prefix whose best path came from
    /// someone else, except (RFC 4456 section 8) a non-client's route towards another non-client.
    /// While the engine defers route selection after its start (RFC 4724 section 4.1), nothing at all.
    fn check(&self) {
        let deferred = self.engine.selection_deferred();
        for (i, f) in self.fakes.iter().enumerate() {
            if !f.established {
                continue;
            }
            if deferred {
                assert!(
                    f.held.is_empty(),
                    "peer {i} was sent routes during the selection deferral"
                );
                continue;
            }
            let mut want = BTreeSet::new();
            for p in self.engine.prefixes() {
                let Some(r) = self.engine.route(&p) else { continue };
                let Some(best) = r.paths.iter().find(|p| p.best) else {
                    continue;
                };
                let Some(from) = self.fakes.iter().find(|g| g.id == Some(best.peer)) else {
                    panic!("a best path from an unknown peer");
                };
                if Some(best.peer) != f.id && (f.client || from.client) {
                    want.insert(key(&r.prefix.to_string()));
                }
            }
            assert_eq!(f.held, want, "peer {i} holds what the Loc-RIB does not say");
        }
    }
}

/// (second octet, length) of a 10.x.0.0/len test prefix.
fn key(p: &str) -> (u8, u8) {
    let (addr, len) = p.split_once('/').expect("prefix");
    let a: Ipv4Addr = addr.parse().expect("IPv4 prefix");
    (a.octets()[1], len.parse().expect("length"))
}

fn announce(prefix: u8, attrs: u8) -> Update {
    let mut a = vec![
        AttrValue::Origin(bgp_wire::Origin::Igp),
        AttrValue::AsPath(match attrs % 4 {
            0 => AsPath::new(),
            1 => AsPath::from_sequence([65001]),
            2 => AsPath::from_sequence([65001, 65002]),
            _ => AsPath::from_sequence([LOCAL_AS]),
        }),
        AttrValue::NextHop(Ipv4Addr::new(100, 64, 0, prefix)),
        AttrValue::LocalPref(100 + u32::from(attrs / 4 % 3)),
    ];
    match attrs / 12 % 5 {
        // A loop: our own router id or cluster id (dropped on input).
        1 => a.push(AttrValue::OriginatorId(ROUTER_ID)),
        2 => a.push(AttrValue::ClusterList(vec![CLUSTER_ID])),
        3 => a.push(AttrValue::ClusterList(vec![Ipv4Addr::new(192, 0, 2, 9)])),
        4 => a.push(AttrValue::MultiExitDisc(u32::from(attrs))),
        _ => {}
    }
    Update {
        withdrawn: vec![],
        attributes: a.into_iter().map(PathAttribute::new).collect(),
        nlri: vec![Nlri::new(format!("10.{prefix}.0.0/24").parse().expect("prefix"))],
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut w = World::new();
    for op in ops.into_iter().take(256) {
        step(&mut w, op);
        w.drain();
        w.check();
    }
    // ENGINE_FUZZ_STATS=1 with `cargo fuzz run engine corpus/engine -- -runs=0` shows how far the corpus
    // gets: sessions established and reflected routes held at the end of each input.
    if std::env::var_os("ENGINE_FUZZ_STATS").is_some() {
        let up = w.fakes.iter().filter(|f| f.established).count();
        let held: usize = w.fakes.iter().map(|f| f.held.len()).sum();
        eprintln!(
            "stats: established={up} held={held} loc_rib={}",
            w.engine.loc_rib_len()
        );
    }
});

fn step(w: &mut World, op: Op) {
    let idx = |b: u8| usize::from(b) % PEERS;
    match op {
        Op::Connect(p) => {
            let i = idx(p);
            if w.fakes[i].conn.is_some() {
                return;
            }
            if let Some((_, conn)) = w.engine.handle_incoming(w.now, peer_addr(i), None) {
                w.fakes[i].conn = Some(conn);
            }
        }
        Op::Open(p, v) => {
            let i = idx(p);
            let hold = [90, 3, 0, 9][usize::from(v % 4)];
            let four_octet = v & 4 == 0;
            w.fakes[i].four_octet = four_octet;
            let mut caps = vec![
                Capability::MultiProtocol(AfiSafi::IPV4_UNICAST),
                Capability::RouteRefresh,
            ];
            if four_octet {
                caps.push(Capability::FourOctetAs(LOCAL_AS));
            }
            let open = Open::new(
                Asn::new(LOCAL_AS).expect("asn"),
                HoldTime::new(hold).expect("hold time"),
                RouterId::new(peer_rid(i)).expect("router id"),
                caps,
            );
            w.send(i, &Message::Open(open));
        }
        Op::Keepalive(p) => w.send(idx(p), &Message::Keepalive),
        Op::Announce { peer, prefix, attrs } => {
            w.send(idx(peer), &Message::Update(announce(prefix % 16, attrs)))
        }
        Op::Withdraw { peer, prefix } => {
            let u = Update {
                withdrawn: vec![Nlri::new(
                    format!("10.{}.0.0/24", prefix % 16).parse().expect("prefix"),
                )],
                attributes: vec![],
                nlri: vec![],
            };
            w.send(idx(peer), &Message::Update(u));
        }
        Op::RawUpdate(p, body) => raw(w, idx(p), 2, &body),
        Op::RawMessage(p, t, body) => raw(w, idx(p), t, &body),
        Op::RouteRefresh(p) => w.send(
            idx(p),
            &Message::RouteRefresh(RouteRefresh::request(AfiSafi::IPV4_UNICAST)),
        ),
        Op::Disconnect(p) => {
            let i = idx(p);
            if let Some(conn) = w.fakes[i].conn {
                w.drop_conn(i);
                w.engine.handle_disconnected(w.now, conn);
            }
        }
        Op::Advance { secs, keepalive } => {
            for _ in 0..secs.min(120) {
                w.now = w.now + Duration::from_secs(1);
                if keepalive {
                    for i in 0..PEERS {
                        if w.fakes[i].established {
                            w.send(i, &Message::Keepalive);
                        }
                    }
                }
                while w.engine.poll_timeout().is_some_and(|t| t <= w.now) {
                    w.engine.handle_timeout(w.now);
                    w.drain();
                }
            }
        }
        Op::Reconfigure(p, v) => {
            let i = idx(p);
            if let Some(id) = w.fakes[i].id {
                let cfg = peer_config(i, v);
                let client = cfg.role == Role::RrClient;
                if w.engine.update_peer(w.now, id, cfg).is_ok() {
                    w.fakes[i].client = client;
                }
            }
        }
        Op::Toggle(p) => {
            let i = idx(p);
            match w.fakes[i].id.take() {
                Some(id) => {
                    w.engine.remove_peer(w.now, id).expect("remove a known peer");
                    w.drain();
                    w.drop_conn(i);
                }
                None => {
                    w.fakes[i].id = w.engine.add_peer(w.now, peer_config(i, 0)).ok();
                    w.fakes[i].client = peer_config(i, 0).role == Role::RrClient;
                }
            }
        }
        Op::Reset(p) => {
            if let Some(id) = w.fakes[idx(p)].id {
                let _ = w.engine.reset_peer(w.now, id, Some("fuzz"));
            }
        }
    }
}

/// Sends a frame with a valid header of type `t` and an arbitrary body.
fn raw(w: &mut World, i: usize, t: u8, body: &[u8]) {
    let Some(conn) = w.fakes[i].conn else { return };
    let body = &body[..body.len().min(4096 - 19)];
    let mut f = BytesMut::with_capacity(19 + body.len());
    f.extend_from_slice(&[0xff; 16]);
    f.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[t]);
    f.extend_from_slice(body);
    w.send_raw(i, conn, f.freeze());
}
