//! Deterministic multi-speaker harness on virtual time.
//!
//! Several [`Engine`]s and scripted BGP speakers are wired through in-memory pipes. Engines ask
//! for connections with `Output::Connect`; the harness finds the node owning the address and
//! connects the two ends. Bytes are delivered in FIFO order through one event queue, so a run is a
//! pure function of the script. Time only moves in [`Net::run_for`], which jumps from one timer
//! deadline to the next.

#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_wire::{
    AddPathMap, AfiSafi, Asn, AttrValue, Capability, DecodeCtx, EncodeCtx, GrFamily, GracefulRestart,
    HoldTime, Message, Nlri, Open, PathAttribute, RouteRefresh, RouterId, Update, frame_len,
};
use bytes::{Bytes, BytesMut};
use rr_core::{ConnId, DownReason, Engine, EngineConfig, Instant, Output, PeerConfig, PeerId, Role};

/// A node of the network.
pub enum Node {
    /// An engine under test.
    Engine(Box<EngineNode>),
    /// A scripted speaker.
    Script(Scripted),
}

/// An engine with its address and a log of session events.
pub struct EngineNode {
    pub addr: IpAddr,
    pub engine: Engine,
    pub established: Vec<PeerId>,
    pub down: Vec<(PeerId, DownReason)>,
    /// `Output::SelectionDeferralEnded`: (virtual time, how long, peers still waited for).
    pub deferral_ended: Vec<(Instant, Duration, Vec<PeerId>)>,
    /// `Output::LocRibChanged`: (prefix, new best path), in order.
    pub loc_changes: Vec<(rr_core::Prefix, Option<rr_core::PathInfo>)>,
}

/// A scripted BGP speaker: answers the OPEN handshake, records everything it receives and sends
/// what the test tells it to.
pub struct Scripted {
    pub addr: IpAddr,
    pub asn: u32,
    pub router_id: Ipv4Addr,
    pub caps: Vec<Capability>,
    pub hold_time: u16,
    pub accept: bool,
    pub conn: Option<u64>,
    pub open_received: bool,
    pub established: bool,
    pub ctx: DecodeCtx,
    pub received: Vec<Message>,
    pub next_keepalive: Option<Instant>,
}

type End = (usize, u64);

enum Ev {
    Deliver(End, Bytes),
    Disconnect(End),
}

/// The network.
pub struct Net {
    pub now: Instant,
    pub nodes: Vec<Node>,
    links: HashMap<End, End>,
    queue: VecDeque<Ev>,
    next_script_conn: u64,
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

pub fn v4(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

/// Capabilities of a modern iBGP speaker (IPv4+IPv6 unicast, route refresh, 4-octet AS).
pub fn modern_caps(asn: u32) -> Vec<Capability> {
    vec![
        Capability::MultiProtocol(AfiSafi::IPV4_UNICAST),
        Capability::MultiProtocol(AfiSafi::IPV6_UNICAST),
        Capability::RouteRefresh,
        Capability::FourOctetAs(asn),
    ]
}

/// Graceful restart capability for both unicast families.
pub fn gr_cap(restart_time: u16, restarting: bool, forwarding: bool) -> Capability {
    Capability::GracefulRestart(GracefulRestart {
        restart_state: restarting,
        notification: false,
        restart_time,
        families: [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]
            .into_iter()
            .map(|afi_safi| GrFamily { afi_safi, forwarding })
            .collect(),
    })
}

impl Default for Net {
    fn default() -> Self {
        Net {
            now: Instant::from_millis(1_000),
            nodes: Vec::new(),
            links: HashMap::new(),
            queue: VecDeque::new(),
            next_script_conn: 1,
        }
    }
}

impl Net {
    /// Adds an engine; returns its node index.
    pub fn add_engine(&mut self, addr: &str, cfg: EngineConfig) -> usize {
        self.nodes.push(Node::Engine(Box::new(EngineNode {
            addr: ip(addr),
            engine: Engine::new(cfg),
            established: Vec::new(),
            down: Vec::new(),
            deferral_ended: Vec::new(),
            loc_changes: Vec::new(),
        })));
        self.nodes.len() - 1
    }

    /// Adds a scripted speaker that accepts connections.
    pub fn add_script(&mut self, addr: &str, asn: u32, router_id: &str, caps: Vec<Capability>) -> usize {
        self.nodes.push(Node::Script(Scripted {
            addr: ip(addr),
            asn,
            router_id: v4(router_id),
            caps,
            hold_time: 90,
            accept: true,
            conn: None,
            open_received: false,
            established: false,
            ctx: DecodeCtx::default(),
            received: Vec::new(),
            next_keepalive: None,
        }));
        self.nodes.len() - 1
    }

    pub fn engine(&mut self, i: usize) -> &mut Engine {
        match &mut self.nodes[i] {
            Node::Engine(e) => &mut e.engine,
            Node::Script(_) => panic!("node {i} is scripted"),
        }
    }

    pub fn enode(&self, i: usize) -> &EngineNode {
        match &self.nodes[i] {
            Node::Engine(e) => e,
            Node::Script(_) => panic!("node {i} is scripted"),
        }
    }

    pub fn script(&mut self, i: usize) -> &mut Scripted {
        match &mut self.nodes[i] {
            Node::Script(s) => s,
            Node::Engine(_) => panic!("node {i} is an engine"),
        }
    }

    /// Configures on engine `e` a peer for node `other`.
    pub fn peer(&mut self, e: usize, other: usize, role: Role, f: impl FnOnce(&mut PeerConfig)) -> PeerId {
        let (addr, asn) = match &self.nodes[other] {
            Node::Engine(n) => (n.addr, n.engine.config().local_as),
            Node::Script(s) => (s.addr, s.asn),
        };
        let mut cfg = PeerConfig::new(addr, asn, role);
        f(&mut cfg);
        let now = self.now;
        let id = self.engine(e).add_peer(now, cfg).expect("add peer");
        self.pump();
        id
    }

    fn node_by_addr(&self, a: IpAddr) -> Option<usize> {
        self.nodes.iter().position(|n| match n {
            Node::Engine(e) => e.addr == a,
            Node::Script(s) => s.addr == a,
        })
    }

    fn addr_of(&self, i: usize) -> IpAddr {
        match &self.nodes[i] {
            Node::Engine(e) => e.addr,
            Node::Script(s) => s.addr,
        }
    }

    /// Runs until no engine has output and no byte is in flight.
    pub fn pump(&mut self) {
        loop {
            let mut progress = false;
            for i in 0..self.nodes.len() {
                loop {
                    let o = match &mut self.nodes[i] {
                        Node::Engine(e) => e.engine.poll_output(),
                        Node::Script(_) => None,
                    };
                    let Some(o) = o else { break };
                    progress = true;
                    self.on_output(i, o);
                }
            }
            while let Some(ev) = self.queue.pop_front() {
                progress = true;
                self.on_event(ev);
            }
            if !progress {
                break;
            }
        }
    }

    fn on_output(&mut self, i: usize, o: Output) {
        let now = self.now;
        match o {
            Output::Connect {
                conn, remote_addr, ..
            } => {
                let my = self.addr_of(i);
                let target = self.node_by_addr(remote_addr);
                let next_script_conn = self.next_script_conn;
                let other_end = match target.map(|t| (t, &mut self.nodes[t])) {
                    Some((t, Node::Engine(e))) => e
                        .engine
                        .handle_incoming(now, my, Some(remote_addr))
                        .map(|(_, c)| (t, reg(c))),
                    Some((t, Node::Script(s))) if s.accept && s.conn.is_none() => {
                        s.conn = Some(next_script_conn);
                        s.open_received = false;
                        s.established = false;
                        s.ctx = DecodeCtx::default();
                        Some((t, next_script_conn))
                    }
                    _ => None,
                };
                if other_end.is_some_and(|(t, _)| matches!(self.nodes[t], Node::Script(_))) {
                    self.next_script_conn += 1;
                }
                match other_end {
                    Some(end) => {
                        self.links.insert((i, reg(conn)), end);
                        self.links.insert(end, (i, reg(conn)));
                        self.engine(i).handle_connected(now, conn, Some(my));
                        if let Node::Script(_) = self.nodes[end.0] {
                            self.script_send_open(end.0);
                        }
                    }
                    None => self.engine(i).handle_connect_failed(now, conn),
                }
            }
            Output::Send { conn, bytes } => {
                if let Some(&to) = self.links.get(&(i, conn.get())) {
                    self.queue.push_back(Ev::Deliver(to, bytes));
                }
            }
            Output::Close { conn } => {
                if let Some(to) = self.links.remove(&(i, conn.get())) {
                    self.links.remove(&to);
                    self.queue.push_back(Ev::Disconnect(to));
                }
            }
            Output::Established { peer, .. } => {
                if let Node::Engine(e) = &mut self.nodes[i] {
                    e.established.push(peer);
                }
            }
            Output::SessionDown { peer, reason } => {
                if let Node::Engine(e) = &mut self.nodes[i] {
                    e.down.push((peer, reason));
                }
            }
            Output::SelectionDeferralEnded { deferred, waiting } => {
                if let Node::Engine(e) = &mut self.nodes[i] {
                    e.deferral_ended.push((now, deferred, waiting));
                }
            }
            Output::LocRibChanged { prefix, best } => {
                if let Node::Engine(e) = &mut self.nodes[i] {
                    e.loc_changes.push((prefix, best));
                }
            }
            _ => {}
        }
    }

    /// Engine-side connection ids are the engine's; scripted ones are the harness's.
    fn engine_conn(c: u64) -> ConnId {
        // ConnId has no public constructor: recover the id the engine handed out.
        conn_id_from(c)
    }

    fn on_event(&mut self, ev: Ev) {
        let now = self.now;
        match ev {
            Ev::Deliver((n, c), bytes) => match &mut self.nodes[n] {
                Node::Engine(e) => {
                    let mut buf = bytes;
                    while !buf.is_empty() {
                        let len = match frame_len(&buf, 65535) {
                            Ok(Some(l)) => l,
                            _ => panic!("harness delivered a partial or bad frame"),
                        };
                        let frame = buf.split_to(len);
                        e.engine.handle_frame(now, Self::engine_conn(c), &frame);
                    }
                }
                Node::Script(_) => {
                    let mut buf = bytes;
                    while !buf.is_empty() {
                        let len = frame_len(&buf, 65535).expect("frame").expect("whole frame");
                        let frame = buf.split_to(len);
                        self.script_receive(n, &frame);
                    }
                }
            },
            Ev::Disconnect((n, c)) => match &mut self.nodes[n] {
                Node::Engine(e) => e.engine.handle_disconnected(now, Self::engine_conn(c)),
                Node::Script(s) => {
                    s.conn = None;
                    s.established = false;
                    s.open_received = false;
                    s.next_keepalive = None;
                }
            },
        }
    }

    fn script_receive(&mut self, n: usize, frame: &Bytes) {
        let now = self.now;
        let s = self.script(n);
        let msg = Message::decode(frame, &s.ctx).expect("scripted peer decodes what the engine sent");
        let mut reply = None;
        match &msg {
            Message::Open(o) => {
                s.open_received = true;
                let four = o.capabilities().any(|c| matches!(c, Capability::FourOctetAs(_)))
                    && s.caps.iter().any(|c| matches!(c, Capability::FourOctetAs(_)));
                // ADD-PATH: we receive path ids where we offered receive and the engine send.
                let mut rx = AddPathMap::new();
                for c in o.capabilities() {
                    if let Capability::AddPath(list) = c {
                        for (f, m) in list {
                            let we_rx = s.caps.iter().any(|c| matches!(c, Capability::AddPath(l) if l.iter().any(|(g, mm)| g == f && mm.receives())));
                            if m.sends() && we_rx {
                                rx.insert(*f);
                            }
                        }
                    }
                }
                let ext = o.capabilities().any(|c| matches!(c, Capability::ExtendedMessage))
                    && s.caps.iter().any(|c| matches!(c, Capability::ExtendedMessage));
                s.ctx = DecodeCtx {
                    four_octet_as: four,
                    add_path: rx,
                    extended_message: ext,
                };
                reply = Some(Message::Keepalive);
            }
            Message::Keepalive if s.open_received && !s.established => {
                s.established = true;
                s.next_keepalive = Some(now + Duration::from_secs(30));
            }
            Message::Notification(_) => {}
            _ => {}
        }
        s.received.push(msg);
        if let Some(m) = reply {
            self.script_send(n, m);
        }
    }

    fn script_send_open(&mut self, n: usize) {
        let s = self.script(n);
        let open = Open::new(
            Asn::new(s.asn).expect("asn"),
            HoldTime::new(s.hold_time).expect("hold"),
            RouterId::new(s.router_id).expect("rid"),
            s.caps.clone(),
        );
        self.script_send(n, Message::Open(open));
    }

    /// The encode context a scripted peer uses towards the engine.
    fn script_ectx(s: &Scripted) -> EncodeCtx {
        // What the engine decodes from us: 4-octet AS if both; ADD-PATH if we offered send and
        // the engine offered receive (the engine offers receive by default).
        let mut ap = AddPathMap::new();
        for c in &s.caps {
            if let Capability::AddPath(l) = c {
                for (f, m) in l {
                    if m.sends() {
                        ap.insert(*f);
                    }
                }
            }
        }
        EncodeCtx {
            four_octet_as: s.ctx.four_octet_as,
            add_path: ap,
            extended_message: false,
        }
    }

    /// Sends a message from scripted node `n` (dropped if not connected).
    pub fn script_send(&mut self, n: usize, m: Message) {
        let s = self.script(n);
        let Some(c) = s.conn else { return };
        let ctx = Self::script_ectx(s);
        let mut buf = BytesMut::new();
        m.encode(&ctx, &mut buf).expect("encode");
        if let Some(&to) = self.links.get(&(n, c)) {
            self.queue.push_back(Ev::Deliver(to, buf.freeze()));
        }
        self.pump();
    }

    /// Delivers `m` from scripted node `n` at once, before the engine's pending output is polled
    /// (so before its next flush); call [`Net::pump`] afterwards.
    pub fn script_deliver_now(&mut self, n: usize, m: Message) {
        let s = self.script(n);
        let Some(c) = s.conn else { return };
        let ctx = Self::script_ectx(s);
        let mut buf = BytesMut::new();
        m.encode(&ctx, &mut buf).expect("encode");
        if let Some(&to) = self.links.get(&(n, c)) {
            self.on_event(Ev::Deliver(to, buf.freeze()));
        }
    }

    /// Sends raw bytes from scripted node `n`.
    pub fn script_send_raw(&mut self, n: usize, bytes: Bytes) {
        let Some(c) = self.script(n).conn else { return };
        if let Some(&to) = self.links.get(&(n, c)) {
            self.queue.push_back(Ev::Deliver(to, bytes));
        }
        self.pump();
    }

    /// Scripted node `n` sends End-of-RIB for both unicast families, as a speaker that negotiated
    /// graceful restart does after its initial table (RFC 4724 section 2).
    pub fn script_end_of_rib(&mut self, n: usize) {
        for f in [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST] {
            self.script_send(n, Message::Update(Update::end_of_rib_marker(f)));
        }
    }

    /// The OPEN messages scripted node `n` received.
    pub fn opens_received(&self, n: usize) -> Vec<Open> {
        match &self.nodes[n] {
            Node::Script(s) => s
                .received
                .iter()
                .filter_map(|m| match m {
                    Message::Open(o) => Some(o.clone()),
                    _ => None,
                })
                .collect(),
            Node::Engine(_) => Vec::new(),
        }
    }

    /// Kills scripted node `n`'s TCP connection without a NOTIFICATION (a crash).
    pub fn script_crash(&mut self, n: usize) {
        let Some(c) = self.script(n).conn else { return };
        if let Some(to) = self.links.remove(&(n, c)) {
            self.links.remove(&to);
            self.queue.push_back(Ev::Disconnect(to));
        }
        let s = self.script(n);
        s.conn = None;
        s.established = false;
        s.open_received = false;
        s.next_keepalive = None;
        self.pump();
    }

    /// Advances virtual time by `d`, firing every timer on the way.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.pump();
            let mut next: Option<Instant> = None;
            for n in &self.nodes {
                let t = match n {
                    Node::Engine(e) => e.engine.poll_timeout(),
                    Node::Script(s) => s.next_keepalive,
                };
                if let Some(t) = t {
                    next = Some(next.map_or(t, |x: Instant| x.min(t)));
                }
            }
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    for i in 0..self.nodes.len() {
                        match &mut self.nodes[i] {
                            Node::Engine(e) => e.engine.handle_timeout(now),
                            Node::Script(s) => {
                                if s.next_keepalive.is_some_and(|k| k <= now) {
                                    s.next_keepalive = Some(now + Duration::from_secs(30));
                                    self.script_send(i, Message::Keepalive);
                                }
                            }
                        }
                    }
                }
                _ => break,
            }
        }
        self.now = end;
        self.pump();
    }

    /// Every UPDATE scripted node `n` received, drained.
    pub fn take_updates(&mut self, n: usize) -> Vec<Update> {
        let s = self.script(n);
        let mut out = Vec::new();
        s.received.retain(|m| match m {
            Message::Update(u) => {
                out.push(u.clone());
                false
            }
            _ => true,
        });
        out
    }
}

thread_local! {
    /// Every `ConnId` an engine handed out, by number (links are keyed by the number).
    static CONNS: std::cell::RefCell<HashMap<u64, ConnId>> = std::cell::RefCell::default();
}

/// Records an engine's `ConnId` and returns its number.
fn reg(c: ConnId) -> u64 {
    CONNS.with(|m| m.borrow_mut().insert(c.get(), c));
    c.get()
}

/// The `ConnId` numbered `c` (recorded by [`reg`] when the engine handed it out).
fn conn_id_from(c: u64) -> ConnId {
    CONNS
        .with(|m| m.borrow().get(&c).copied())
        .expect("a ConnId the engine handed out")
}

/// An IPv4 UPDATE announcing `prefixes` with the usual mandatory attributes plus `extra`.
pub fn announce(prefixes: &[&str], next_hop: &str, extra: Vec<AttrValue>) -> Update {
    let mut attributes = vec![
        PathAttribute::new(AttrValue::Origin(bgp_wire::Origin::Igp)),
        PathAttribute::new(AttrValue::AsPath(bgp_wire::AsPath::new())),
        PathAttribute::new(AttrValue::NextHop(v4(next_hop))),
    ];
    attributes.extend(extra.into_iter().map(PathAttribute::new));
    Update {
        withdrawn: vec![],
        attributes,
        nlri: prefixes
            .iter()
            .map(|p| Nlri::new(p.parse().expect("prefix")))
            .collect(),
    }
}

/// An IPv4 UPDATE withdrawing `prefixes`.
pub fn withdraw(prefixes: &[&str]) -> Update {
    Update {
        withdrawn: prefixes
            .iter()
            .map(|p| Nlri::new(p.parse().expect("prefix")))
            .collect(),
        attributes: vec![],
        nlri: vec![],
    }
}

/// IPv4 prefixes announced (net of withdrawals, in order) across `updates`.
pub fn announced_v4(updates: &[Update]) -> Vec<String> {
    let mut set: Vec<String> = Vec::new();
    for u in updates {
        for (_, n) in u.withdrawals() {
            set.retain(|p| *p != n.prefix.to_string());
        }
        for (_, n) in u.announced() {
            let s = n.prefix.to_string();
            if !set.contains(&s) {
                set.push(s);
            }
        }
    }
    set.sort();
    set
}

/// A route refresh request for IPv4 unicast.
pub fn refresh_v4() -> Message {
    Message::RouteRefresh(RouteRefresh::request(AfiSafi::IPV4_UNICAST))
}

/// An IPv6 UPDATE announcing `prefixes` through MP_REACH_NLRI.
pub fn announce6(prefixes: &[&str], next_hop: &str, link_local: Option<&str>) -> Update {
    Update {
        withdrawn: vec![],
        attributes: vec![
            PathAttribute::new(AttrValue::MpReach(bgp_wire::MpReach {
                afi_safi: AfiSafi::IPV6_UNICAST,
                next_hop: bgp_wire::MpNextHop::Ipv6 {
                    global: next_hop.parse().expect("v6"),
                    link_local: link_local.map(|l| l.parse().expect("v6")),
                },
                nlri: prefixes
                    .iter()
                    .map(|p| Nlri::new(p.parse().expect("prefix")))
                    .collect(),
                opaque_nlri: Bytes::new(),
            })),
            PathAttribute::new(AttrValue::Origin(bgp_wire::Origin::Igp)),
            PathAttribute::new(AttrValue::AsPath(bgp_wire::AsPath::new())),
        ],
        nlri: vec![],
    }
}

/// An IPv6 UPDATE withdrawing `prefixes` through MP_UNREACH_NLRI.
pub fn withdraw6(prefixes: &[&str]) -> Update {
    Update {
        withdrawn: vec![],
        attributes: vec![PathAttribute::new(AttrValue::MpUnreach(bgp_wire::MpUnreach {
            afi_safi: AfiSafi::IPV6_UNICAST,
            withdrawn: prefixes
                .iter()
                .map(|p| Nlri::new(p.parse().expect("prefix")))
                .collect(),
            opaque_nlri: Bytes::new(),
        }))],
        nlri: vec![],
    }
}

/// Long-lived GR capability for both unicast families.
pub fn llgr_cap(stale_time: u32) -> Capability {
    Capability::LongLivedGracefulRestart(
        [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]
            .into_iter()
            .map(|afi_safi| bgp_wire::LlgrFamily {
                afi_safi,
                flags: 0,
                stale_time,
            })
            .collect(),
    )
}

/// Route-refresh messages scripted node `n` received (subtype values), drained.
pub fn take_refreshes(net: &mut Net, n: usize) -> Vec<u8> {
    let s = net.script(n);
    let mut out = Vec::new();
    s.received.retain(|m| match m {
        Message::RouteRefresh(r) => {
            out.push(r.subtype.0);
            false
        }
        _ => true,
    });
    out
}

impl Net {
    /// Reports engine node `e`'s connection to scripted node `s` as congested or drained.
    pub fn congest(&mut self, e: usize, s: usize, congested: bool) {
        let conn = self
            .links
            .iter()
            .find(|((n, _), (m, _))| *n == e && *m == s)
            .map(|((_, c), _)| *c)
            .expect("a link between the two nodes");
        let now = self.now;
        self.engine(e).set_congested(now, conn_id_from(conn), congested);
        self.pump();
    }

    /// Like [`Net::congest`], but without pumping: the engine does not flush until the next event,
    /// as in a daemon that handles a batch of events before draining the engine's output.
    pub fn congest_quiet(&mut self, e: usize, s: usize, congested: bool) {
        let conn = self
            .links
            .iter()
            .find(|((n, _), (m, _))| *n == e && *m == s)
            .map(|((_, c), _)| *c)
            .expect("a link between the two nodes");
        let now = self.now;
        self.engine(e).set_congested(now, conn_id_from(conn), congested);
    }
}

impl Net {
    /// Scripted node `n` forgets its connection without the engine noticing (it restarted and
    /// its old TCP state is gone; the engine's side stays Established).
    pub fn script_forget(&mut self, n: usize) {
        let s = self.script(n);
        let Some(c) = s.conn.take() else { return };
        s.established = false;
        s.open_received = false;
        s.next_keepalive = None;
        if let Some(to) = self.links.remove(&(n, c)) {
            self.links.remove(&to);
        }
    }

    /// Scripted node `n` opens a new connection to engine node `e` and sends its OPEN.
    pub fn script_connect(&mut self, n: usize, e: usize) -> bool {
        let now = self.now;
        let (my, their) = (self.addr_of(n), self.addr_of(e));
        let Some((_, ec)) = self.engine(e).handle_incoming(now, my, Some(their)) else {
            return false;
        };
        let c = self.next_script_conn;
        self.next_script_conn += 1;
        let s = self.script(n);
        s.conn = Some(c);
        s.ctx = DecodeCtx::default();
        self.links.insert((n, c), (e, reg(ec)));
        self.links.insert((e, reg(ec)), (n, c));
        self.script_send_open(n);
        self.pump();
        true
    }
}
