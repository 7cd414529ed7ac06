//! The engine task's side of BMP export ([`crate::bmp`]) and BGP4MP update logging ([`crate::mrt_updates`]):
//! what they see of the sessions, taken where the engine task already handles it, and handed to each sink
//! over its own bounded queue.
//!
//! ```text
//!  engine task ── hooks: conn started, OPEN sent/received, Established, SessionDown, UPDATE frame ──┐
//!       ▲                                                                                           │ try_send
//!       │ EngineCmd::Monitor(Attach | Page | Stats | Detach)                                        ▼
//!  sink task (one per BMP collector, one MRT writer) ◄── bounded mpsc of MonItem ────────────────────┘
//! ```
//!
//! - Nothing here blocks the engine: every item is `try_send`; a BMP sink whose queue is full is detached
//!   (no more items) and told to drop its connection, and re-synchronises from the table when it
//!   reconnects; the MRT sink counts and drops the record.
//! - Received UPDATEs are passed on as the frame the reader cut (shared `Bytes`, no copy, no re-encoding)
//!   for the pre-policy view; for a peer with an import policy the post-policy view (L flag) is encoded
//!   from the engine's Adj-RIB-In after the engine applied the UPDATE.
//! - A sink that attaches gets, in its queue and in engine order, an `Attached` marker, a Peer Up for every
//!   established session and then the live stream; it asks for the table one page at a time
//!   ([`MonitorCmd::Page`]), each page read when it is asked for, so the engine is never busy for more than
//!   a page and the queue needs room for a page only. Pages and live items share one queue in engine
//!   order, so the collector's view converges on the table.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use bgp_wire::bmp::{PeerDownReason, Stat, stat_type};
use bgp_wire::{
    AfiSafi, AttrBlock, AttrValue, EncodeCtx, Message, MpNextHop, Nlri, RouteAttrs, UpdatePacker,
};
use bytes::Bytes;
use rr_core::{ConnId, DownReason, Engine, Family, Negotiated, PeerId, Prefix, Received};
use tokio::sync::{Notify, mpsc};

/// Paths per page of a table dump.
const PAGE_PATHS: usize = 500;
/// Items queued for one sink before it counts as stuck.
pub(crate) const SINK_QUEUE: usize = 16384;

/// A session as the monitors name it.
#[derive(Debug)]
pub(crate) struct PeerMeta {
    /// The peer's address.
    pub addr: IpAddr,
    /// Its AS and BGP identifier (from its OPEN).
    pub asn: u32,
    pub bgp_id: Ipv4Addr,
    /// Our AS on the session.
    pub local_as: u32,
    /// 4-octet AS numbers were negotiated: received UPDATEs carry them.
    pub as4: bool,
    /// Families in which the peer sends path identifiers (RFC 7911).
    pub add_path_rx: rr_core::FamilySet,
    /// Families of the session.
    pub families: rr_core::FamilySet,
    /// The TCP connection's ends.
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The peer has an import policy: post-policy route monitoring (L flag) is sent too.
    pub post_policy: bool,
}

/// What a sink receives.
#[derive(Debug)]
pub(crate) enum MonItem {
    /// Everything after this marker belongs to attachment `epoch`.
    Attached { epoch: u64 },
    PeerUp {
        peer: Arc<PeerMeta>,
        sent_open: Bytes,
        received_open: Bytes,
        at: SystemTime,
    },
    PeerDown {
        peer: Arc<PeerMeta>,
        reason: PeerDownReason,
        at: SystemTime,
    },
    /// A received UPDATE: the frame as received (pre-policy) and, for a peer with an import policy, the
    /// post-policy UPDATEs of its prefixes.
    Update {
        peer: Arc<PeerMeta>,
        frame: Bytes,
        post: Vec<Bytes>,
        at: SystemTime,
    },
    /// One page of a table dump: UPDATEs (4-octet AS) announcing the peer's Adj-RIB-In pre- and post-policy.
    Dump {
        peer: Arc<PeerMeta>,
        pre: Vec<Bytes>,
        post: Vec<Bytes>,
    },
    /// The end of a page: ask for the next one with this cursor, `None` when the dump is complete.
    PageEnd { next: Option<Cursor> },
    /// A Statistics Report of one peer.
    Stats { peer: Arc<PeerMeta>, stats: Vec<Stat> },
    /// The daemon is stopping.
    Terminate,
}

/// Where a table dump goes on: the peer, and the last (prefix, path id) sent of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    peer: IpAddr,
    after: Option<(Prefix, u32)>,
}

/// Requests of a sink task to the engine task.
#[derive(Debug)]
pub(crate) enum MonitorCmd {
    /// The sink (re)connected: start sending it items, starting with `Attached { epoch }`.
    Attach { sink: usize, epoch: u64 },
    /// The sink lost its connection: stop sending it items.
    Detach { sink: usize },
    /// The next page of the table dump.
    Page { sink: usize, cursor: Option<Cursor> },
    /// A Statistics Report of every established peer.
    Stats { sink: usize },
}

/// The sink task's ends of its queue.
pub(crate) struct SinkHandle {
    pub index: usize,
    pub rx: mpsc::Receiver<MonItem>,
    /// Set (and notified) when the engine detached the sink because its queue was full.
    pub overflowed: Arc<Overflow>,
}

/// A sink's overflow signal.
#[derive(Default)]
pub(crate) struct Overflow {
    pub flag: AtomicBool,
    pub notify: Notify,
}

/// What a sink wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SinkKind {
    /// A BMP collector: attaches and detaches; a full queue detaches it.
    Bmp,
    /// The BGP4MP update log: always attached; a full queue loses the record.
    Mrt,
}

struct Sink {
    kind: SinkKind,
    tx: mpsc::Sender<MonItem>,
    attached: bool,
    overflowed: Arc<Overflow>,
    /// Items lost to a full queue (MRT) or times detached for one (BMP).
    overflows: prometheus_client::metrics::counter::Counter,
}

/// A connection until (and while) its session is established.
struct ConnMon {
    peer: PeerId,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    sent_open: Option<Bytes>,
    received_open: Option<Bytes>,
}

/// An established session.
struct Up {
    conn: ConnId,
    meta: Arc<PeerMeta>,
    sent_open: Bytes,
    received_open: Bytes,
    /// UPDATEs of this session subjected to treat-as-withdraw (RFC 7606).
    treat_as_withdraw: u32,
}

/// The monitors' state in the engine task.
pub(crate) struct Monitor {
    sinks: Vec<Sink>,
    conns: HashMap<ConnId, ConnMon>,
    up: HashMap<PeerId, Up>,
}

impl Monitor {
    pub(crate) fn new() -> Self {
        Monitor {
            sinks: Vec::new(),
            conns: HashMap::new(),
            up: HashMap::new(),
        }
    }

    /// A new sink; its task gets the returned handle. `overflows` counts what its full queue cost.
    pub(crate) fn add_sink(
        &mut self,
        kind: SinkKind,
        overflows: prometheus_client::metrics::counter::Counter,
    ) -> SinkHandle {
        let (tx, rx) = mpsc::channel(SINK_QUEUE);
        let overflowed = Arc::new(Overflow::default());
        self.sinks.push(Sink {
            kind,
            tx,
            attached: kind == SinkKind::Mrt,
            overflowed: overflowed.clone(),
            overflows,
        });
        SinkHandle {
            index: self.sinks.len() - 1,
            rx,
            overflowed,
        }
    }

    /// Whether received UPDATE frames are wanted (readers keep them only then).
    pub(crate) fn wants_frames(&self) -> bool {
        !self.sinks.is_empty()
    }

    fn send_to(&mut self, i: usize, item: MonItem) {
        let Some(s) = self.sinks.get_mut(i) else { return };
        if !s.attached {
            return;
        }
        if s.tx.try_send(item).is_err() {
            s.overflows.inc();
            if s.kind == SinkKind::Bmp {
                // Detached until the collector reconnects and re-synchronises from the table.
                s.attached = false;
                s.overflowed.flag.store(true, Ordering::Release);
                s.overflowed.notify.notify_one();
            }
        }
    }

    fn broadcast(&mut self, make: impl Fn() -> MonItem) {
        for i in 0..self.sinks.len() {
            if self.sinks[i].attached {
                self.send_to(i, make());
            }
        }
    }

    /// A connection's reader and writer started.
    pub(crate) fn conn_started(
        &mut self,
        conn: ConnId,
        peer: PeerId,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    ) {
        self.conns.insert(
            conn,
            ConnMon {
                peer,
                local,
                remote,
                sent_open: None,
                received_open: None,
            },
        );
    }

    /// Bytes queued for a connection: its first OPEN is kept for the Peer Up (RFC 7854 section 4.10: "the
    /// full OPEN message transmitted by the monitored router to its peer").
    pub(crate) fn sent(&mut self, conn: ConnId, bytes: &Bytes) {
        if let Some(c) = self.conns.get_mut(&conn)
            && c.sent_open.is_none()
        {
            c.sent_open = first_open(bytes);
        }
    }

    /// A frame received before the session's decode context: the peer's OPEN is kept for the Peer Up.
    pub(crate) fn frame(&mut self, conn: ConnId, frame: &Bytes) {
        if let Some(c) = self.conns.get_mut(&conn)
            && c.received_open.is_none()
        {
            c.received_open = first_open(frame);
        }
    }

    /// The connection ended before or after Established.
    pub(crate) fn conn_closed(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }

    /// `Output::Established`: a Peer Up to every attached sink.
    pub(crate) fn established(
        &mut self,
        peer: PeerId,
        conn: ConnId,
        addr: IpAddr,
        local_as: u32,
        neg: &Negotiated,
        post_policy: bool,
    ) {
        let Some(c) = self.conns.get(&conn) else { return };
        let meta = Arc::new(PeerMeta {
            addr,
            asn: neg.remote_as,
            bgp_id: neg.remote_router_id,
            local_as,
            as4: neg.four_octet_as,
            add_path_rx: neg.add_path_rx,
            families: neg.families,
            local: c.local.unwrap_or_else(|| SocketAddr::new(unspecified(addr), 0)),
            remote: c.remote.unwrap_or_else(|| SocketAddr::new(addr, 0)),
            post_policy,
        });
        let up = Up {
            conn,
            meta: meta.clone(),
            sent_open: c.sent_open.clone().unwrap_or_default(),
            received_open: c.received_open.clone().unwrap_or_default(),
            treat_as_withdraw: 0,
        };
        let (s, r) = (up.sent_open.clone(), up.received_open.clone());
        self.up.insert(peer, up);
        let at = SystemTime::now();
        self.broadcast(|| MonItem::PeerUp {
            peer: meta.clone(),
            sent_open: s.clone(),
            received_open: r.clone(),
            at,
        });
    }

    /// `Output::SessionDown`: a Peer Down with the reason (RFC 7854 section 4.9).
    pub(crate) fn session_down(&mut self, peer: PeerId, reason: &DownReason) {
        let Some(up) = self.up.remove(&peer) else { return };
        let reason = match reason {
            DownReason::NotificationSent(n) => PeerDownReason::LocalNotification(n.to_message_bytes()),
            DownReason::NotificationReceived(n) => PeerDownReason::RemoteNotification(n.to_message_bytes()),
            // "The remote system closed the session without a notification message. This includes any
            // unexpected termination of the transport session".
            DownReason::ConnectionLost => PeerDownReason::RemoteNoNotification,
            // A newer connection replaced the session (RFC 4724 restart detected): closed locally, no
            // NOTIFICATION; "Two bytes both set to 0 are used to indicate that no relevant Event code is
            // defined."
            _ => PeerDownReason::LocalNoNotification(0),
        };
        let at = SystemTime::now();
        self.broadcast(|| MonItem::PeerDown {
            peer: up.meta.clone(),
            reason: reason.clone(),
            at,
        });
    }

    /// The (prefix, path id) keys of a received UPDATE whose post-policy view must be sent after the engine
    /// applied it; `None` when nothing is monitored for the connection.
    pub(crate) fn before_update(&self, conn: ConnId, received: &Received) -> Option<Vec<(Prefix, u32)>> {
        let peer = self.conns.get(&conn)?.peer;
        let up = self.up.get(&peer).filter(|u| u.conn == conn)?;
        let Received::Message {
            msg: Message::Update(u),
            ..
        } = received
        else {
            return None;
        };
        if !up.meta.post_policy {
            return Some(Vec::new());
        }
        Some(
            u.announced()
                .chain(u.withdrawals())
                .map(|(_, n)| (n.prefix, n.path_id.unwrap_or(0)))
                .collect(),
        )
    }

    /// A received UPDATE the engine has applied: route monitoring pre-policy (the frame) and, for a peer
    /// with an import policy, post-policy (the engine's accepted paths for `keys`).
    pub(crate) fn update(
        &mut self,
        engine: &Engine,
        conn: ConnId,
        frame: Bytes,
        keys: &[(Prefix, u32)],
        treat_as_withdraw: bool,
    ) {
        let Some(peer) = self.conns.get(&conn).map(|c| c.peer) else {
            return;
        };
        let Some(up) = self.up.get_mut(&peer) else { return };
        up.treat_as_withdraw += u32::from(treat_as_withdraw);
        let meta = up.meta.clone();
        let post = if meta.post_policy {
            post_policy_updates(engine, peer, &meta, keys)
        } else {
            Vec::new()
        };
        let at = SystemTime::now();
        self.broadcast(|| MonItem::Update {
            peer: meta.clone(),
            frame: frame.clone(),
            post: post.clone(),
            at,
        });
    }

    /// A sink task's request.
    pub(crate) fn command(&mut self, engine: Option<&Engine>, cmd: MonitorCmd) {
        match cmd {
            MonitorCmd::Attach { sink, epoch } => {
                let Some(s) = self.sinks.get_mut(sink) else { return };
                s.attached = true;
                s.overflowed.flag.store(false, Ordering::Release);
                self.send_to(sink, MonItem::Attached { epoch });
                let ups: Vec<MonItem> = self
                    .up
                    .values()
                    .map(|u| MonItem::PeerUp {
                        peer: u.meta.clone(),
                        sent_open: u.sent_open.clone(),
                        received_open: u.received_open.clone(),
                        at: SystemTime::now(),
                    })
                    .collect();
                for item in ups {
                    self.send_to(sink, item);
                }
                self.page(engine, sink, None);
            }
            MonitorCmd::Detach { sink } => {
                if let Some(s) = self.sinks.get_mut(sink)
                    && s.kind == SinkKind::Bmp
                {
                    s.attached = false;
                }
            }
            MonitorCmd::Page { sink, cursor } => self.page(engine, sink, cursor),
            MonitorCmd::Stats { sink } => {
                let Some(engine) = engine else { return };
                let items: Vec<MonItem> = self
                    .up
                    .iter()
                    .map(|(id, u)| MonItem::Stats {
                        peer: u.meta.clone(),
                        stats: stats(engine, *id, u.treat_as_withdraw),
                    })
                    .collect();
                for item in items {
                    self.send_to(sink, item);
                }
            }
        }
    }

    /// The daemon stops: a Termination to every attached sink.
    pub(crate) fn terminate(&mut self) {
        self.broadcast(|| MonItem::Terminate);
    }

    /// One page of the table dump for `sink` from `cursor` (the start when `None`), then its `PageEnd`.
    fn page(&mut self, engine: Option<&Engine>, sink: usize, cursor: Option<Cursor>) {
        let Some(engine) = engine else {
            self.send_to(sink, MonItem::PageEnd { next: None });
            return;
        };
        // Established peers in address order.
        let mut peers: Vec<(IpAddr, PeerId)> = self.up.iter().map(|(id, u)| (u.meta.addr, *id)).collect();
        peers.sort_unstable();
        let start = cursor.map_or(0, |c| peers.partition_point(|(a, _)| *a < c.peer));
        let Some(&(addr, id)) = peers.get(start) else {
            self.send_to(sink, MonItem::PageEnd { next: None });
            return;
        };
        let after = cursor.filter(|c| c.peer == addr).and_then(|c| c.after);
        let meta = self.up[&id].meta.clone();
        // The PAGE_PATHS smallest keys after the cursor: a max-heap evicting its largest.
        let mut heap = std::collections::BinaryHeap::with_capacity(PAGE_PATHS + 1);
        for (p, pid, _, _) in engine.adj_rib_in(id) {
            if after.is_some_and(|a| (p, pid) <= a) {
                continue;
            }
            heap.push((p, pid));
            if heap.len() > PAGE_PATHS {
                heap.pop();
            }
        }
        let full = heap.len() == PAGE_PATHS;
        let keys = heap.into_sorted_vec();
        let wanted: std::collections::HashSet<(Prefix, u32)> = keys.iter().copied().collect();
        let mut pre: Vec<(Prefix, u32, Arc<RouteAttrs>)> = engine
            .adj_rib_in(id)
            .filter(|(p, pid, _, _)| wanted.contains(&(*p, *pid)))
            .map(|(p, pid, a, _)| (p, pid, a.clone()))
            .collect();
        pre.sort_by_key(|(p, pid, _)| (*p, *pid));
        let mut pre_msgs = encode_paths(&meta, &pre);
        let mut post_msgs = if meta.post_policy {
            let post: Vec<_> = keys
                .iter()
                .filter_map(|&(p, pid)| post_attrs(engine, id, p, pid).map(|a| (p, pid, a)))
                .collect();
            encode_paths(&meta, &post)
        } else {
            Vec::new()
        };
        if !full {
            // The peer's table is complete: an End-of-RIB marker (RFC 4724 section 2) per family tells the
            // station its initial dump of this peer is over, as RFC 7854 section 5 suggests.
            let eor = end_of_rib(&meta);
            if meta.post_policy {
                post_msgs.extend(eor.iter().cloned());
            }
            pre_msgs.extend(eor);
        }
        if !pre_msgs.is_empty() || !post_msgs.is_empty() {
            self.send_to(
                sink,
                MonItem::Dump {
                    peer: meta,
                    pre: pre_msgs,
                    post: post_msgs,
                },
            );
        }
        let next = if full {
            Some(Cursor {
                peer: addr,
                after: keys.last().copied(),
            })
        } else {
            peers
                .get(start + 1)
                .map(|&(a, _)| Cursor { peer: a, after: None })
        };
        self.send_to(sink, MonItem::PageEnd { next });
    }
}

/// The End-of-RIB markers of the session's families.
fn end_of_rib(meta: &PeerMeta) -> Vec<Bytes> {
    meta.families
        .iter()
        .filter_map(|f| {
            Message::Update(bgp_wire::end_of_rib(afi_safi(f)))
                .to_bytes(&encode_ctx(meta))
                .ok()
        })
        .collect()
}

/// The first message of `bytes` if it is an OPEN.
fn first_open(bytes: &Bytes) -> Option<Bytes> {
    let len = bgp_wire::frame_len(bytes, bgp_wire::MAX_MESSAGE_LEN).ok()??;
    (bytes.get(18) == Some(&1)).then(|| bytes.slice(..len))
}

fn unspecified(like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}

/// The attributes of `peer`'s path (`prefix`, `path_id`) after import policy, `None` if it rejected it (or
/// there is no such path).
fn post_attrs(engine: &Engine, peer: PeerId, prefix: Prefix, path_id: u32) -> Option<Arc<RouteAttrs>> {
    if engine.import_accepted(peer, &prefix, path_id) != Some(true) {
        return None;
    }
    engine
        .route(&prefix)?
        .paths
        .into_iter()
        .find(|p| p.peer == peer && p.path_id == path_id)
        .map(|p| p.attrs)
}

/// The post-policy view of `keys` after an UPDATE: announcements of the accepted paths, withdrawals of
/// the others.
fn post_policy_updates(engine: &Engine, peer: PeerId, meta: &PeerMeta, keys: &[(Prefix, u32)]) -> Vec<Bytes> {
    let mut announce = Vec::new();
    let mut withdraw: Vec<(Prefix, u32)> = Vec::new();
    for &(p, pid) in keys {
        match post_attrs(engine, peer, p, pid) {
            Some(a) => announce.push((p, pid, a)),
            None => withdraw.push((p, pid)),
        }
    }
    let mut out = encode_paths(meta, &announce);
    let ctx = encode_ctx(meta);
    let mut packer = UpdatePacker::new(&ctx);
    for f in [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST] {
        let v6 = f == AfiSafi::IPV6_UNICAST;
        packer.withdraw(
            f,
            withdraw
                .iter()
                .filter(|(p, _)| p.addr().is_ipv6() == v6)
                .map(|&(p, pid)| nlri(&ctx, f, p, pid)),
        );
    }
    out.extend(packer.take_messages());
    out
}

/// How the monitors encode UPDATEs of a peer: 4-octet AS numbers (the A flag is clear on them), path
/// identifiers where the peer sends them, messages of at most 4096 octets (what every collector reads).
fn encode_ctx(meta: &PeerMeta) -> EncodeCtx {
    let mut ctx = EncodeCtx {
        four_octet_as: true,
        ..EncodeCtx::default()
    };
    for f in meta.add_path_rx.iter() {
        ctx.add_path.insert(afi_safi(f));
    }
    ctx
}

fn afi_safi(f: Family) -> AfiSafi {
    match f {
        Family::Ipv6Unicast => AfiSafi::IPV6_UNICAST,
        _ => AfiSafi::IPV4_UNICAST,
    }
}

fn nlri(ctx: &EncodeCtx, f: AfiSafi, prefix: Prefix, path_id: u32) -> Nlri {
    Nlri {
        path_id: ctx.add_path.contains(f).then_some(path_id),
        prefix,
    }
}

/// UPDATEs announcing `paths` (sorted), as many prefixes per message as share an attribute set in a row.
fn encode_paths(meta: &PeerMeta, paths: &[(Prefix, u32, Arc<RouteAttrs>)]) -> Vec<Bytes> {
    let ctx = encode_ctx(meta);
    let mut packer = UpdatePacker::new(&ctx);
    let mut i = 0;
    while i < paths.len() {
        let (p0, _, a0) = &paths[i];
        let v6 = p0.addr().is_ipv6();
        let mut j = i + 1;
        while j < paths.len() && paths[j].0.addr().is_ipv6() == v6 && Arc::ptr_eq(&paths[j].2, a0) {
            j += 1;
        }
        let family = if v6 {
            AfiSafi::IPV6_UNICAST
        } else {
            AfiSafi::IPV4_UNICAST
        };
        let mut block = AttrBlock::new();
        let mut next_hop: Option<MpNextHop> = None;
        for attr in super::rib_dump::rib_attributes(a0, v6) {
            match attr.value {
                AttrValue::MpReach(m) => next_hop = Some(m.next_hop),
                _ => {
                    if block.push(&attr, &ctx).is_err() {
                        continue;
                    }
                }
            }
        }
        packer.announce(
            family,
            &block,
            next_hop.as_ref(),
            paths[i..j].iter().map(|(p, pid, _)| nlri(&ctx, family, *p, *pid)),
        );
        i = j;
    }
    packer.take_messages()
}

/// The Statistics Report of a peer (RFC 7854 section 4.8): types 7 and 9 (Adj-RIB-In, pre-policy), 8 and 10
/// (the peer's paths in the Loc-RIB: accepted by import policy), 11 (UPDATEs treated as withdraw).
fn stats(engine: &Engine, id: PeerId, treat_as_withdraw: u32) -> Vec<Stat> {
    let Some(info) = engine.peer_info_of(id) else {
        return Vec::new();
    };
    let accepted: usize = info.accepted_by_family.iter().sum();
    let mut v = vec![
        Stat::Gauge(stat_type::ADJ_RIB_IN_ROUTES, info.prefixes_received as u64),
        Stat::Gauge(stat_type::LOC_RIB_ROUTES, accepted as u64),
    ];
    for f in [Family::Ipv4Unicast, Family::Ipv6Unicast] {
        let i = f.index();
        v.push(Stat::AfiSafiGauge(
            stat_type::PER_AFI_SAFI_ADJ_RIB_IN_ROUTES,
            afi_safi(f),
            info.received_by_family[i] as u64,
        ));
        v.push(Stat::AfiSafiGauge(
            stat_type::PER_AFI_SAFI_LOC_RIB_ROUTES,
            afi_safi(f),
            info.accepted_by_family[i] as u64,
        ));
    }
    v.push(Stat::Counter(
        stat_type::TREAT_AS_WITHDRAW_UPDATES,
        treat_as_withdraw,
    ));
    v
}

#[cfg(test)]
mod tests;
