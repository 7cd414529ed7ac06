//! An in-memory simulation of Calico's documented route-reflector topology on `rr-core`, without
//! sockets and on virtual time.
//!
//! Topology (Calico's "route reflectors in clusters of two"): `R` reflectors form `R / 2` clusters; both
//! reflectors of cluster `c` carry cluster id `244.0.0.(1 + c)`; every reflector peers with every other
//! reflector (the full reflector mesh, in the roles Calico gives it by default: see [`Mesh::Calico`]); node
//! `i` belongs to cluster `i % (R / 2)` and is a route-reflector client of both reflectors of its cluster.
//! Node `i` announces one or two /26 blocks (see [`SimConfig::two_blocks_every`]) with itself as NEXT_HOP.
//!
//! Each reflector is a real [`rr_core::Engine`]. The nodes are minimal BGP speakers written here: they
//! answer the OPEN handshake, announce their blocks once established, and walk every UPDATE they receive
//! ([`crate::wire::scan_update`]) into a bitset of the blocks they hold. The harness moves the engines'
//! encoded bytes in memory: a node replies in the next round; bytes from one reflector to another wait for
//! the next round as well. A round delivers to each reflector everything queued for it, then drains all
//! its outputs (the daemon does the same with whatever its sockets have ready), and advances virtual time
//! by one millisecond. The number of rounds is a count of message hops, not a time.
//!
//! What is measured per reflector: the CPU time spent inside that reflector's engine calls (framing and
//! `handle_frame`, `handle_connected`/`handle_incoming`, `handle_timeout`, and every `poll_output`,
//! which runs best path, reflection and update-group encoding), the frames and bytes it received, the
//! `Output::Send`s and bytes it handed out (one per member: what a daemon writes to its sockets), and its
//! heap bytes (with [`crate::meter::TaggedAlloc`] installed: what its engine allocated and still holds,
//! and the peak) beside `rr-core`'s own estimate ([`rr_core::Engine::rib_memory`]). Work is reported
//! twice: until every node holds every other node's blocks (converged), and until the whole network is
//! quiet.
//!
//! The nodes' own work (the bitsets, about `2 N` bits each) is not charged to any reflector.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rr_core::{ConnId, Engine, EngineConfig, Instant, Output, PeerConfig, RibMemory, Role};

use crate::bits::Bits;
use crate::meter;
use crate::wire::{self, Announce, OpenParams, kind};

/// The AS of the whole Calico cluster (iBGP everywhere).
pub const AS: u32 = 64512;
/// Length of a node's block.
pub const BLOCK_LEN: u8 = 26;
/// First block address: block `g` is `10.0.0.0 + 64 g`.
const BLOCK_BASE: u32 = u32::from_be_bytes([10, 0, 0, 0]);
/// Node `i` uses address `100.64.0.0 + 1 + i` (never a socket: an identity only).
const NODE_BASE: u32 = u32::from_be_bytes([100, 64, 0, 0]);
/// Reflector `r` uses address `172.16.0.1 + r`.
const REFLECTOR_BASE: u32 = u32::from_be_bytes([172, 16, 0, 1]);
/// Virtual time one round takes.
const ROUND: Duration = Duration::from_millis(1);
/// Virtual time after which a run that is not converged gives up.
const GIVE_UP: Duration = Duration::from_secs(600);

/// How the reflectors peer with each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mesh {
    /// Every reflector with every other, in the roles calico-node (confd) and `rr-daemon` give them: the
    /// two reflectors of a cluster are ordinary non-client iBGP peers, reflectors of different clusters
    /// are route-reflector clients of each other, both ways (`datastore::peering`'s client rule: the peer
    /// is a client iff my cluster id is set and the peer's differs). A route therefore reaches a reflector
    /// from almost every other cluster's reflectors (each adds its cluster id), not just from its own.
    Calico,
    /// Every reflector with every other as a non-client (the textbook RFC 4456 mesh): a reflector learns
    /// each foreign route only from the two reflectors of the cluster it comes from.
    NonClient,
    /// Only the two reflectors of a cluster with each other: a broken topology in which nodes never see
    /// other clusters' blocks (for the tests that show the convergence check can fail).
    WithinCluster,
}

/// The size and shape of one simulated network.
#[derive(Debug, Clone, Copy)]
pub struct SimConfig {
    /// Calico nodes (route-reflector clients).
    pub nodes: usize,
    /// Route reflectors; an even number, two per cluster.
    pub reflectors: usize,
    /// Every `k`-th node of each cluster announces a second block; 0: one block each.
    pub two_blocks_every: usize,
    /// The reflector mesh.
    pub mesh: Mesh,
    /// Configure ADD-PATH (send all paths, receive) on the reflector mesh, as `rr-daemon` configures every
    /// Calico session (calico-node's default). Off by default: with [`Mesh::Calico`] roles and more than two
    /// clusters, every reflector passes on every path it learned from another cluster's reflector, so the
    /// paths per prefix grow with the number of orderings of clusters (see BENCHMARKS.md, "Simulation").
    pub add_path: bool,
    /// Give up after this many rounds (message hops) even if messages are still moving.
    pub max_rounds: u64,
    /// Also decode every UPDATE a node receives with `bgp-wire` and check the NLRI, NEXT_HOP,
    /// ORIGINATOR_ID and CLUSTER_LIST against the plan (slow: for tests at small scale).
    pub check_decode: bool,
}

impl SimConfig {
    /// Calico's shape: `nodes` nodes, `reflectors` reflectors, every second node with two blocks, the
    /// full mesh in Calico's roles, no decode check.
    pub fn new(nodes: usize, reflectors: usize) -> Result<Self, String> {
        let cfg = SimConfig {
            nodes,
            reflectors,
            two_blocks_every: 2,
            mesh: Mesh::Calico,
            add_path: false,
            max_rounds: 1000,
            check_decode: false,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        if self.reflectors < 2 || !self.reflectors.is_multiple_of(2) {
            return Err(format!(
                "{} reflectors: need an even number, at least 2",
                self.reflectors
            ));
        }
        if self.reflectors + 1 >= meter::TAGS {
            return Err(format!("at most {} reflectors", meter::TAGS - 2));
        }
        if self.nodes < self.clusters() * 2 {
            return Err(format!(
                "{} nodes for {} clusters: at least two nodes per cluster",
                self.nodes,
                self.clusters()
            ));
        }
        if self.nodes > 1 << 21 {
            return Err("at most 2^21 nodes (the block plan is 10.0.0.0/8 with two /26 per node)".into());
        }
        Ok(())
    }

    /// Number of clusters (`reflectors / 2`).
    pub fn clusters(&self) -> usize {
        self.reflectors / 2
    }

    /// Blocks announced by node `i` (1 or 2): two for every `k`-th node of each cluster.
    pub fn blocks_of(&self, i: usize) -> usize {
        let k = self.two_blocks_every;
        if k > 0 && (i / self.clusters()) % k == k - 1 {
            2
        } else {
            1
        }
    }

    /// Blocks announced by the nodes of cluster `c`.
    pub fn blocks_in_cluster(&self, c: usize) -> usize {
        (c..self.nodes)
            .step_by(self.clusters())
            .map(|i| self.blocks_of(i))
            .sum()
    }

    /// Total blocks announced by all nodes.
    pub fn total_blocks(&self) -> usize {
        (0..self.nodes).map(|i| self.blocks_of(i)).sum()
    }

    /// Cluster of node `i`.
    pub fn cluster_of_node(&self, i: usize) -> usize {
        i % self.clusters()
    }

    /// Address (and router id) of node `i`.
    pub fn node_addr(i: usize) -> Ipv4Addr {
        Ipv4Addr::from(NODE_BASE + 1 + i as u32)
    }

    /// Address (and router id) of reflector `r`.
    pub fn reflector_addr(r: usize) -> Ipv4Addr {
        Ipv4Addr::from(REFLECTOR_BASE + r as u32)
    }

    /// Cluster id of cluster `c`.
    pub fn cluster_id(c: usize) -> Ipv4Addr {
        Ipv4Addr::new(244, 0, (c >> 8) as u8, 1 + (c & 0xff) as u8)
    }

    /// Network address of block `j` (0 or 1) of node `i`: slot `g = 2 i + j`, address `10.0.0.0 + 64 g`.
    pub fn block_addr(i: usize, j: usize) -> u32 {
        BLOCK_BASE + ((2 * i + j) as u32) * 64
    }

    /// The slot `2 i + j` of a received block, if it is one of the plan's.
    fn slot_of(&self, addr: u32, len: u8) -> Option<usize> {
        if len != BLOCK_LEN || addr < BLOCK_BASE || addr & 63 != 0 {
            return None;
        }
        let g = ((addr - BLOCK_BASE) / 64) as usize;
        (g / 2 < self.nodes && g % 2 < self.blocks_of(g / 2)).then_some(g)
    }
}

/// What one reflector did, as measured by the harness.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Work {
    /// CPU nanoseconds inside this reflector's engine calls.
    pub cpu_ns: u64,
    /// BGP messages received.
    pub msgs_in: u64,
    /// Of which UPDATEs.
    pub updates_in: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// `Output::Send`s handed out (one per member for update-group traffic).
    pub sends: u64,
    /// BGP messages in those sends.
    pub msgs_out: u64,
    /// Bytes in those sends.
    pub bytes_out: u64,
}

/// One reflector's figures at the end of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReflectorReport {
    /// Index.
    pub index: usize,
    /// Route-reflector clients configured.
    pub clients: usize,
    /// Other reflectors configured.
    pub mesh_peers: usize,
    /// Work until every node held every other node's blocks.
    pub converged: Work,
    /// Work until the network was quiet.
    pub total: Work,
    /// Heap bytes its engine holds at the end (0 without [`meter::TaggedAlloc`]).
    pub heap_bytes: i64,
    /// Most heap bytes it held at once (0 without [`meter::TaggedAlloc`]).
    pub heap_peak_bytes: i64,
    /// `rr-core`'s estimate of its RIB memory.
    #[serde(skip)]
    pub rib: RibMemory,
    /// Sum of the [`RibMemory`] byte fields.
    pub rib_bytes: usize,
    /// Paths in all its Adj-RIBs-In.
    pub paths_in: usize,
    /// Prefixes in its Loc-RIB.
    pub loc_rib: usize,
}

/// The outcome of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SimReport {
    /// Nodes.
    pub nodes: usize,
    /// Reflectors.
    pub reflectors: usize,
    /// Blocks announced in total.
    pub blocks: usize,
    /// Every node held every other node's blocks at the end.
    pub converged: bool,
    /// Rounds (message hops) until convergence.
    pub rounds_to_converge: Option<u64>,
    /// Rounds until the network was quiet.
    pub rounds: u64,
    /// Nodes missing at least one block at the end.
    pub nodes_incomplete: usize,
    /// Blocks missing over all nodes at the end.
    pub blocks_missing: usize,
    /// Announcements of a node's own block received by that node (must be 0: never reflected back).
    pub own_reflected: u64,
    /// Withdrawals received by nodes (none expected: nothing is withdrawn).
    pub withdrawals: u64,
    /// Received prefixes outside the plan, or with a NEXT_HOP other than the originating node.
    pub foreign: u64,
    /// Decode-check failures (only with [`SimConfig::check_decode`]).
    pub decode_mismatches: u64,
    /// Sessions that reached Established, counted at the reflectors.
    pub sessions_established: u64,
    /// Sessions that went down, or connections that failed with a NOTIFICATION, at the reflectors.
    pub sessions_down: u64,
    /// Wall-clock seconds of the whole run (nodes and harness included).
    pub wall_secs: f64,
    /// Per reflector.
    pub per_reflector: Vec<ReflectorReport>,
}

impl SimReport {
    /// Every node holds every other node's blocks and none of its own came back, nothing was withdrawn,
    /// no stray prefix or next hop, no session went down.
    pub fn correct(&self) -> bool {
        self.converged
            && self.own_reflected == 0
            && self.withdrawals == 0
            && self.foreign == 0
            && self.decode_mismatches == 0
            && self.sessions_down == 0
    }
}

/// The other end of a connection.
#[derive(Debug, Clone, Copy)]
enum End {
    /// Session slot `k` (0 or 1) of node `n`.
    Node(usize, usize),
    /// Connection `ConnId` of reflector `r`.
    Refl(usize, ConnId),
}

enum Inbound {
    Bytes(Bytes),
    Closed,
}

struct Refl {
    engine: Engine,
    addr: Ipv4Addr,
    clients: usize,
    mesh_peers: usize,
    /// The other end of each connection, by `ConnId::get`.
    links: Vec<Option<End>>,
    inbox: Vec<(ConnId, Inbound)>,
    work: Work,
    at_converged: Option<Work>,
}

#[derive(Default, Clone, Copy)]
struct NodeSess {
    opened: bool,
    established: bool,
}

struct Node {
    sess: [NodeSess; 2],
    held: Bits,
    have: usize,
    complete: bool,
}

#[derive(Default)]
struct Tally {
    complete_nodes: usize,
    own_reflected: u64,
    withdrawals: u64,
    foreign: u64,
    decode_mismatches: u64,
    established: u64,
    down: u64,
}

struct Sim {
    cfg: SimConfig,
    now: Instant,
    refls: Vec<Refl>,
    nodes: Vec<Node>,
    total_blocks: usize,
    tally: Tally,
    batch: Vec<Output>,
}

/// Runs one simulation to quiet (or until 600 s of virtual time, or [`SimConfig::max_rounds`]) and
/// reports.
pub fn run(cfg: &SimConfig) -> Result<SimReport, String> {
    cfg.validate()?;
    let wall = std::time::Instant::now();
    let mut sim = Sim::build(cfg)?;
    let mut rounds = 0u64;
    let mut rounds_to_converge = None;
    loop {
        rounds += 1;
        let active = sim.round();
        if rounds_to_converge.is_none() && sim.tally.complete_nodes == sim.nodes.len() {
            rounds_to_converge = Some(rounds);
            for r in &mut sim.refls {
                r.at_converged = Some(r.work);
            }
        }
        if active && rounds >= cfg.max_rounds {
            break;
        }
        if active {
            sim.now = Instant::from_nanos(sim.now.as_nanos() + ROUND.as_nanos() as u64);
            continue;
        }
        // Quiet: done once converged; otherwise jump to the next timer (a retry may still help).
        if rounds_to_converge.is_some() {
            break;
        }
        let next = sim.refls.iter().filter_map(|r| r.engine.poll_timeout()).min();
        match next {
            Some(t) if t.as_nanos() <= GIVE_UP.as_nanos() as u64 => sim.now = t.max(sim.now),
            _ => break,
        }
    }
    Ok(sim.report(rounds, rounds_to_converge, wall.elapsed().as_secs_f64()))
}

impl Sim {
    fn build(cfg: &SimConfig) -> Result<Sim, String> {
        let now = Instant::from_millis(1);
        let clusters = cfg.clusters();
        let mut refls = Vec::with_capacity(cfg.reflectors);
        for r in 0..cfg.reflectors {
            let addr = SimConfig::reflector_addr(r);
            let mut ec = EngineConfig::new(addr, AS);
            ec.cluster_id = Some(SimConfig::cluster_id(r / 2));
            // A fresh network: no reflector restarts, so no RFC 4724 selection deferral.
            ec.selection_deferral = None;
            ec.rng_seed = r as u64 + 1;
            let prev = meter::set_tag(r + 1);
            meter::reset_peak(r + 1);
            let t0 = meter::thread_cpu_ns();
            let mut engine = Engine::new(ec);
            let (mut clients, mut mesh_peers) = (0, 0);
            for s in 0..cfg.reflectors {
                let same = s / 2 == r / 2;
                if s == r || (cfg.mesh == Mesh::WithinCluster && !same) {
                    continue;
                }
                let role = if cfg.mesh == Mesh::Calico && !same {
                    Role::RrClient
                } else {
                    Role::NonClient
                };
                let mut pc = PeerConfig::new(IpAddr::V4(SimConfig::reflector_addr(s)), AS, role);
                if cfg.add_path {
                    pc.add_path_send_max = Some(usize::MAX);
                    pc.add_path_receive = true;
                }
                // One side of each reflector pair connects, the other waits (calico-node lets both
                // connect and resolves the collision, RFC 4271 section 6.8: one session either way).
                pc.passive = r < s;
                engine.add_peer(now, pc).map_err(|e| e.to_string())?;
                mesh_peers += 1;
            }
            for i in (r / 2..cfg.nodes).step_by(clusters) {
                let pc = PeerConfig::new(IpAddr::V4(SimConfig::node_addr(i)), AS, Role::RrClient);
                engine.add_peer(now, pc).map_err(|e| e.to_string())?;
                clients += 1;
            }
            let cpu = meter::thread_cpu_ns() - t0;
            meter::set_tag(prev);
            refls.push(Refl {
                engine,
                addr,
                clients,
                mesh_peers,
                links: Vec::new(),
                inbox: Vec::new(),
                work: Work {
                    cpu_ns: cpu,
                    ..Work::default()
                },
                at_converged: None,
            });
        }
        let total_blocks = cfg.total_blocks();
        let nodes = (0..cfg.nodes)
            .map(|_| Node {
                sess: [NodeSess::default(); 2],
                held: Bits::new(2 * cfg.nodes),
                have: 0,
                complete: false,
            })
            .collect();
        Ok(Sim {
            cfg: *cfg,
            now,
            refls,
            nodes,
            total_blocks,
            tally: Tally::default(),
            batch: Vec::with_capacity(1024),
        })
    }

    /// One round: every reflector takes its inbox, then drains its outputs. Returns whether anything
    /// was delivered or sent.
    fn round(&mut self) -> bool {
        let mut active = false;
        for r in 0..self.refls.len() {
            let inbox = std::mem::take(&mut self.refls[r].inbox);
            active |= !inbox.is_empty();
            let now = self.now;
            let refl = &mut self.refls[r];
            let prev = meter::set_tag(r + 1);
            let t0 = meter::thread_cpu_ns();
            for (conn, item) in inbox {
                match item {
                    Inbound::Bytes(mut b) => {
                        refl.work.bytes_in += b.len() as u64;
                        while let Ok(Some(len)) = wire::frame_len(&b) {
                            let frame = b.split_to(len);
                            refl.work.msgs_in += 1;
                            refl.work.updates_in += u64::from(frame[18] == kind::UPDATE);
                            refl.engine.handle_frame(now, conn, &frame);
                        }
                    }
                    Inbound::Closed => refl.engine.handle_disconnected(now, conn),
                }
            }
            if refl.engine.poll_timeout().is_some_and(|t| t <= now) {
                refl.engine.handle_timeout(now);
            }
            refl.work.cpu_ns += meter::thread_cpu_ns() - t0;
            meter::set_tag(prev);
            active |= self.drain(r);
        }
        active
    }

    /// Drains reflector `r`'s outputs in batches (timed and tagged), acting on each batch untimed.
    fn drain(&mut self, r: usize) -> bool {
        let mut any = false;
        let mut batch = std::mem::take(&mut self.batch);
        loop {
            let refl = &mut self.refls[r];
            let prev = meter::set_tag(r + 1);
            let t0 = meter::thread_cpu_ns();
            while batch.len() < batch.capacity().max(1024) {
                match refl.engine.poll_output() {
                    Some(o) => batch.push(o),
                    None => break,
                }
            }
            refl.work.cpu_ns += meter::thread_cpu_ns() - t0;
            meter::set_tag(prev);
            if batch.is_empty() {
                break;
            }
            any = true;
            for o in batch.drain(..) {
                self.act(r, o);
            }
        }
        self.batch = batch;
        any
    }

    /// Runs `f` on reflector `r`'s engine, timed and tagged.
    fn with_engine<T>(&mut self, r: usize, f: impl FnOnce(&mut Engine, Instant) -> T) -> T {
        let now = self.now;
        let refl = &mut self.refls[r];
        let prev = meter::set_tag(r + 1);
        let t0 = meter::thread_cpu_ns();
        let out = f(&mut refl.engine, now);
        refl.work.cpu_ns += meter::thread_cpu_ns() - t0;
        meter::set_tag(prev);
        out
    }

    fn link(&mut self, r: usize, conn: ConnId, end: End) {
        let links = &mut self.refls[r].links;
        let i = conn.get() as usize;
        if links.len() <= i {
            links.resize(i + 1, None);
        }
        links[i] = Some(end);
    }

    fn end_of(&self, r: usize, conn: ConnId) -> Option<End> {
        self.refls[r].links.get(conn.get() as usize).copied().flatten()
    }

    fn act(&mut self, r: usize, o: Output) {
        match o {
            Output::Connect {
                conn, remote_addr, ..
            } => self.connect(r, conn, remote_addr),
            Output::Send { conn, bytes } => {
                let w = &mut self.refls[r].work;
                w.sends += 1;
                w.bytes_out += bytes.len() as u64;
                w.msgs_out += count_msgs(&bytes);
                match self.end_of(r, conn) {
                    Some(End::Node(n, k)) => {
                        if let Some(reply) = self.node_receive(n, k, &bytes) {
                            self.refls[r].inbox.push((conn, Inbound::Bytes(reply)));
                        }
                    }
                    Some(End::Refl(s, cs)) => self.refls[s].inbox.push((cs, Inbound::Bytes(bytes))),
                    None => {}
                }
            }
            Output::Close { conn } => {
                let Some(end) = self.end_of(r, conn) else { return };
                self.refls[r].links[conn.get() as usize] = None;
                match end {
                    End::Node(n, k) => self.nodes[n].sess[k] = NodeSess::default(),
                    End::Refl(s, cs) => {
                        self.refls[s].links[cs.get() as usize] = None;
                        self.refls[s].inbox.push((cs, Inbound::Closed));
                    }
                }
            }
            Output::Established { .. } => self.tally.established += 1,
            Output::SessionDown { .. } | Output::ConnectionFailed { .. } => self.tally.down += 1,
            _ => {}
        }
    }

    fn connect(&mut self, r: usize, conn: ConnId, remote: IpAddr) {
        let IpAddr::V4(a) = remote else {
            self.with_engine(r, |e, now| e.handle_connect_failed(now, conn));
            return;
        };
        let local = IpAddr::V4(self.refls[r].addr);
        let v = u32::from(a);
        if v > NODE_BASE && ((v - NODE_BASE - 1) as usize) < self.nodes.len() {
            let n = (v - NODE_BASE - 1) as usize;
            let k = r % 2;
            self.link(r, conn, End::Node(n, k));
            self.nodes[n].sess[k] = NodeSess::default();
            self.with_engine(r, |e, now| e.handle_connected(now, conn, Some(local)));
            // The node speaks first too: its OPEN arrives in the next round.
            let mut buf = BytesMut::new();
            wire::put_open(
                &mut buf,
                &OpenParams {
                    asn: AS,
                    hold_time: 90,
                    router_id: a,
                    add_path_receive: false,
                },
            );
            self.refls[r].inbox.push((conn, Inbound::Bytes(buf.freeze())));
        } else if v >= REFLECTOR_BASE && ((v - REFLECTOR_BASE) as usize) < self.refls.len() {
            let s = (v - REFLECTOR_BASE) as usize;
            let remote_local = IpAddr::V4(self.refls[s].addr);
            match self.with_engine(s, |e, now| e.handle_incoming(now, local, Some(remote_local))) {
                Some((_, cs)) => {
                    self.link(r, conn, End::Refl(s, cs));
                    self.link(s, cs, End::Refl(r, conn));
                    self.with_engine(r, |e, now| e.handle_connected(now, conn, Some(local)));
                    // The accepting side may have something to say at once (its OPEN).
                    self.drain(s);
                }
                None => self.with_engine(r, |e, now| e.handle_connect_failed(now, conn)),
            }
        } else {
            self.with_engine(r, |e, now| e.handle_connect_failed(now, conn));
        }
    }

    /// Node `n` receives `bytes` on its session `k`; returns what it answers.
    fn node_receive(&mut self, n: usize, k: usize, bytes: &Bytes) -> Option<Bytes> {
        let mut reply = BytesMut::new();
        let mut b: &[u8] = bytes;
        while let Ok(Some(len)) = wire::frame_len(b) {
            let (msg, rest) = b.split_at(len);
            b = rest;
            match msg[18] {
                kind::OPEN if !self.nodes[n].sess[k].opened => {
                    self.nodes[n].sess[k].opened = true;
                    wire::put_keepalive(&mut reply);
                }
                kind::KEEPALIVE if !self.nodes[n].sess[k].established => {
                    self.nodes[n].sess[k].established = true;
                    let a = Announce {
                        next_hop: SimConfig::node_addr(n),
                        local_pref: 100,
                    };
                    let blocks: Vec<u32> = (0..self.cfg.blocks_of(n))
                        .map(|j| SimConfig::block_addr(n, j))
                        .collect();
                    wire::put_announcements(&mut reply, &a, BLOCK_LEN, &blocks);
                }
                kind::UPDATE => self.node_update(n, msg),
                kind::NOTIFICATION => self.nodes[n].sess[k] = NodeSess::default(),
                _ => {}
            }
        }
        (!reply.is_empty()).then(|| reply.freeze())
    }

    fn node_update(&mut self, n: usize, msg: &[u8]) {
        let cfg = self.cfg;
        let expected = self.total_blocks - cfg.blocks_of(n);
        let node = &mut self.nodes[n];
        let tally = &mut self.tally;
        let mut seen: Vec<(u32, u8)> = Vec::new();
        let res = wire::scan_update(msg, false, |announce, addr, len, attrs| {
            if cfg.check_decode && announce {
                seen.push((addr, len));
            }
            let Some(g) = cfg.slot_of(addr, len) else {
                tally.foreign += 1;
                return;
            };
            let origin = g / 2;
            if !announce {
                if node.held.remove(g) {
                    node.have -= 1;
                    if node.complete {
                        node.complete = false;
                        tally.complete_nodes -= 1;
                    }
                }
                tally.withdrawals += 1;
                return;
            }
            if origin == n {
                // RFC 4456 section 8 / RFC 4271 section 9.2: never back to the speaker it came from.
                tally.own_reflected += 1;
                return;
            }
            if attrs.next_hop != Some(u32::from(SimConfig::node_addr(origin))) {
                tally.foreign += 1;
            }
            if node.held.insert(g) {
                node.have += 1;
                if node.have == expected && !node.complete {
                    node.complete = true;
                    tally.complete_nodes += 1;
                }
            }
        });
        if res.is_err() {
            tally.foreign += 1;
        }
        if cfg.check_decode && !decode_matches(&cfg, msg, &seen) {
            tally.decode_mismatches += 1;
        }
    }

    fn report(&self, rounds: u64, rounds_to_converge: Option<u64>, wall_secs: f64) -> SimReport {
        let mut blocks_missing = 0;
        let mut nodes_incomplete = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            let expected = self.total_blocks - self.cfg.blocks_of(i);
            if n.have < expected {
                nodes_incomplete += 1;
                blocks_missing += expected - n.have;
            }
        }
        let per_reflector = self
            .refls
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let rib = r.engine.rib_memory();
                ReflectorReport {
                    index: i,
                    clients: r.clients,
                    mesh_peers: r.mesh_peers,
                    converged: r.at_converged.unwrap_or_default(),
                    total: r.work,
                    heap_bytes: meter::live(i + 1) as i64,
                    heap_peak_bytes: meter::peak(i + 1) as i64,
                    rib_bytes: rib.adj_rib_in + rib.loc_rib + rib.adj_rib_out + rib.attrs,
                    rib,
                    paths_in: rib.paths_in,
                    loc_rib: r.engine.loc_rib_len(),
                }
            })
            .collect();
        SimReport {
            nodes: self.cfg.nodes,
            reflectors: self.cfg.reflectors,
            blocks: self.total_blocks,
            converged: nodes_incomplete == 0,
            rounds_to_converge,
            rounds,
            nodes_incomplete,
            blocks_missing,
            own_reflected: self.tally.own_reflected,
            withdrawals: self.tally.withdrawals,
            foreign: self.tally.foreign,
            decode_mismatches: self.tally.decode_mismatches,
            sessions_established: self.tally.established,
            sessions_down: self.tally.down,
            wall_secs,
            per_reflector,
        }
    }
}

/// BGP messages in a buffer of whole messages.
fn count_msgs(mut b: &[u8]) -> u64 {
    let mut n = 0;
    while let Ok(Some(len)) = wire::frame_len(b) {
        b = &b[len..];
        n += 1;
    }
    n
}

/// Decodes `msg` with `bgp-wire` and checks it against what [`wire::scan_update`] saw and the plan: the
/// same NLRI, and for each the originating node's NEXT_HOP, ORIGINATOR_ID (RFC 4456 section 8: set to
/// the originator's router id by the first reflector) and a CLUSTER_LIST holding that node's cluster id.
fn decode_matches(cfg: &SimConfig, msg: &[u8], seen: &[(u32, u8)]) -> bool {
    let ctx = bgp_wire::DecodeCtx {
        four_octet_as: true,
        ..bgp_wire::DecodeCtx::default()
    };
    let Ok(bgp_wire::Message::Update(u)) = bgp_wire::Message::decode(&Bytes::copy_from_slice(msg), &ctx)
    else {
        return false;
    };
    let decoded: Vec<String> = u.announced().map(|(_, n)| n.prefix.to_string()).collect();
    let scanned: Vec<String> = seen
        .iter()
        .map(|&(a, l)| format!("{}/{l}", Ipv4Addr::from(a)))
        .collect();
    if decoded != scanned {
        return false;
    }
    let Some(&(addr, len)) = seen.first() else {
        return true;
    };
    let Some(g) = cfg.slot_of(addr, len) else {
        return false;
    };
    let origin = g / 2;
    let node = SimConfig::node_addr(origin);
    let cluster = SimConfig::cluster_id(cfg.cluster_of_node(origin));
    matches!(u.value(3), Some(bgp_wire::AttrValue::NextHop(nh)) if *nh == node)
        && matches!(u.value(9), Some(bgp_wire::AttrValue::OriginatorId(o)) if *o == node)
        && matches!(u.value(10), Some(bgp_wire::AttrValue::ClusterList(l)) if l.contains(&cluster))
}

/// A least-squares fit `y = c0 x0 + c1 x1 + ...` (the caller adds a column of ones for an intercept).
/// Returns the coefficients, or `None` when the system is singular.
pub fn least_squares(rows: &[Vec<f64>], y: &[f64]) -> Option<Vec<f64>> {
    let k = rows.first()?.len();
    // Normal equations A^T A c = A^T y, solved by Gaussian elimination with partial pivoting.
    let mut m = vec![vec![0.0; k + 1]; k];
    for (row, &yy) in rows.iter().zip(y) {
        for i in 0..k {
            for j in 0..k {
                m[i][j] += row[i] * row[j];
            }
            m[i][k] += row[i] * yy;
        }
    }
    for col in 0..k {
        let piv = (col..k).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[piv][col].abs() < 1e-12 * m[piv][col].abs().max(1.0) || m[piv][col] == 0.0 {
            return None;
        }
        m.swap(col, piv);
        let pivot_row = m[col].clone();
        for (r, row) in m.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (x, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *x -= f * p;
                }
            }
        }
    }
    Some((0..k).map(|i| m[i][k] / m[i][i]).collect())
}

/// Fits `y = a x^b` by least squares on `ln y = ln a + b ln x`; returns `(a, b)`.
pub fn power_law(x: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    let rows: Vec<Vec<f64>> = x.iter().map(|&v| vec![1.0, v.ln()]).collect();
    let ly: Vec<f64> = y.iter().map(|v| v.ln()).collect();
    let c = least_squares(&rows, &ly)?;
    Some((c[0].exp(), c[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(nodes: usize, reflectors: usize) -> SimConfig {
        SimConfig {
            check_decode: true,
            ..SimConfig::new(nodes, reflectors).unwrap()
        }
    }

    #[test]
    fn fifty_nodes_four_reflectors_converge_without_reflecting_back() {
        let cfg = small(50, 4);
        let rep = run(&cfg).unwrap();
        assert!(rep.converged, "{rep:#?}");
        // 25 nodes per cluster, every second one with two blocks.
        assert_eq!(cfg.blocks_in_cluster(0), 37);
        assert_eq!(rep.blocks, 74);
        assert_eq!(rep.nodes_incomplete, 0);
        assert_eq!(rep.own_reflected, 0);
        assert_eq!(rep.withdrawals, 0);
        assert_eq!(rep.foreign, 0);
        assert_eq!(rep.decode_mismatches, 0);
        assert_eq!(rep.sessions_down, 0);
        assert!(rep.correct());
        // 50 nodes on 2 reflectors each, and the 6 reflector pairs seen from both ends.
        assert_eq!(rep.sessions_established, 100 + 12);
        for r in &rep.per_reflector {
            assert_eq!(r.clients, 25);
            assert_eq!(r.mesh_peers, 3);
            // Every block is in every Loc-RIB.
            assert_eq!(r.loc_rib, 74);
            // Its own clients' blocks once from each, every block of the other cluster from both of its
            // reflectors; the partner's reflections of our own cluster carry our cluster id and are
            // dropped (RFC 4456 section 8).
            let own = cfg.blocks_in_cluster(r.index / 2);
            assert_eq!(r.paths_in, own + 2 * (74 - own), "reflector {}", r.index);
            assert!(r.total.cpu_ns > 0 && r.total.sends > 0 && r.total.updates_in > 0);
            assert!(r.converged.cpu_ns <= r.total.cpu_ns);
            // The tagging allocator is installed in the lib's tests: the engine holds memory.
            assert!(r.heap_bytes > 0 && r.heap_peak_bytes >= r.heap_bytes);
        }
        assert!(rep.rounds_to_converge.is_some_and(|c| c <= rep.rounds));
    }

    #[test]
    fn six_reflectors_learn_foreign_blocks_from_every_other_cluster_in_calico_roles() {
        let cfg = small(60, 6);
        let rep = run(&cfg).unwrap();
        assert!(rep.correct(), "{rep:#?}");
        let total = rep.blocks;
        for r in &rep.per_reflector {
            let own = cfg.blocks_in_cluster(r.index / 2);
            // A foreign block arrives from both reflectors of its cluster and from both of the third
            // cluster (which add their own cluster id); the partner's copies carry ours and are dropped.
            assert_eq!(r.paths_in, own + 4 * (total - own), "reflector {}", r.index);
        }
        let mut cfg = cfg;
        cfg.mesh = Mesh::NonClient;
        let rep = run(&cfg).unwrap();
        assert!(rep.correct(), "{rep:#?}");
        for r in &rep.per_reflector {
            let own = cfg.blocks_in_cluster(r.index / 2);
            assert_eq!(r.paths_in, own + 2 * (total - own), "reflector {}", r.index);
        }
    }

    #[test]
    fn add_path_in_the_calico_mesh_multiplies_paths_with_three_clusters_but_not_two() {
        let mut cfg = small(40, 4);
        cfg.add_path = true;
        let rep = run(&cfg).unwrap();
        assert!(rep.correct(), "{rep:#?}");
        let own = cfg.blocks_in_cluster(0);
        assert_eq!(rep.per_reflector[0].paths_in, own + 2 * (rep.blocks - own));
        let mut cfg = small(60, 6);
        cfg.add_path = true;
        let rep = run(&cfg).unwrap();
        assert!(rep.correct(), "{rep:#?}");
        let own = cfg.blocks_in_cluster(0);
        // Besides the 4 paths without ADD-PATH, the third cluster's reflectors pass on the paths they
        // learned from each other's... every ordering of the clusters a path can take.
        assert!(
            rep.per_reflector[0].paths_in > own + 4 * (rep.blocks - own),
            "{}",
            rep.per_reflector[0].paths_in
        );
    }

    #[test]
    fn odd_and_one_block_shapes_converge() {
        let mut cfg = small(30, 6);
        cfg.two_blocks_every = 0;
        let rep = run(&cfg).unwrap();
        assert!(rep.correct(), "{rep:#?}");
        assert_eq!(rep.blocks, 30);
        cfg.two_blocks_every = 1;
        let rep = run(&cfg).unwrap();
        assert!(rep.correct(), "{rep:#?}");
        assert_eq!(rep.blocks, 60);
    }

    #[test]
    fn without_the_mesh_nodes_miss_the_other_clusters() {
        let mut cfg = small(40, 4);
        cfg.mesh = Mesh::WithinCluster;
        let rep = run(&cfg).unwrap();
        assert!(!rep.converged);
        assert!(!rep.correct());
        // Each node holds only its own cluster's blocks: 20 nodes, 30 blocks per cluster.
        assert_eq!(rep.nodes_incomplete, 40);
        assert_eq!(rep.blocks_missing, 40 * 30);
        assert_eq!(rep.own_reflected, 0);
    }

    #[test]
    fn the_plan_maps_blocks_back_to_nodes() {
        let cfg = SimConfig::new(100, 4).unwrap();
        assert_eq!(cfg.total_blocks(), 150);
        assert_eq!(cfg.slot_of(SimConfig::block_addr(7, 1), 26), Some(15));
        assert_eq!(
            cfg.slot_of(SimConfig::block_addr(4, 1), 26),
            None,
            "node 4 has one block"
        );
        assert_eq!(cfg.slot_of(SimConfig::block_addr(100, 0), 26), None);
        assert_eq!(cfg.slot_of(SimConfig::block_addr(7, 0), 24), None);
        assert_eq!(SimConfig::cluster_id(0), Ipv4Addr::new(244, 0, 0, 1));
        assert!(SimConfig::new(100, 3).is_err());
        assert!(SimConfig::new(3, 4).is_err());
    }

    #[test]
    fn least_squares_recovers_a_plane_and_a_power_law() {
        let rows: Vec<Vec<f64>> = (1..6).map(|i| vec![1.0, i as f64, (i * i) as f64]).collect();
        let y: Vec<f64> = (1..6)
            .map(|i| 2.0 + 3.0 * i as f64 + 0.5 * (i * i) as f64)
            .collect();
        let c = least_squares(&rows, &y).unwrap();
        assert!((c[0] - 2.0).abs() < 1e-6 && (c[1] - 3.0).abs() < 1e-6 && (c[2] - 0.5).abs() < 1e-6);
        let x = [1.0, 2.0, 4.0, 8.0];
        let y: Vec<f64> = x.iter().map(|v: &f64| 3.0 * v.powf(1.5)).collect();
        let (a, b) = power_law(&x, &y).unwrap();
        assert!((a - 3.0).abs() < 1e-6 && (b - 1.5).abs() < 1e-6);
        assert!(least_squares(&[vec![1.0, 2.0], vec![2.0, 4.0]], &[1.0, 2.0]).is_none());
    }
}
