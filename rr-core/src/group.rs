//! Update groups: peers whose outbound treatment is identical share one Adj-RIB-Out and one
//! encoding of every UPDATE.
//!
//! The group key holds everything that changes what or how we send: the peer's role (which decides
//! which paths reflection allows), the eBGP treatment (local AS, next hop), and the negotiated
//! 4-octet AS, ADD-PATH send families and limit, families, extended messages and LLGR. Each flush
//! diffs the desired paths of every dirty prefix against the group's Adj-RIB-Out, buckets the
//! changes by (family, attribute set, source peer), encodes each bucket once into densely packed
//! UPDATEs and hands the same `Bytes` to every member.
//!
//! "Never back to the sender" is per member: a bucket remembers its source peer and is sent to
//! every member except that one. When the best path of a prefix moves to a path learned from a
//! member, that member is sent a withdrawal of the path it had received before.
//!
//! Every message of the stream goes to every in-sync member as a shared `Bytes` (one reference
//! count per member, no copy); the whole fan-out (the members and the messages) is one entry of the
//! engine's output queue, handed out one `Output::Send` at a time as the caller drains it.
//!
//! The Adj-RIB-Out is also kept per bucket (family, attribute set, source peer) with the bucket's
//! keys, and each bucket keeps its UPDATEs once encoded: a joining member, a member catching up and
//! a route refresh are served clones of the cached messages, and a bucket is encoded again only
//! after it changed.
//!
//! Slow peers and joining members walk the group's Adj-RIB-Out ([`walk`]): every bucket and every
//! withdrawal ("tombstone") carries a stamp from a per-group counter that grows with each change, and
//! the group keeps them in stamp order. A member that is not in the shared stream holds only a cursor
//! (the last stamp it was sent); catching it up walks the items after its cursor and sends each
//! bucket's cached encoding (`Bytes` clones shared by every member at that point), so two members that
//! fell behind together are sent the same bytes and a slow member costs about what a fast one does. A
//! bucket that changes during the walk gets a new stamp and is visited again; the walk ends, and the
//! member rejoins the stream, when its cursor reaches the newest stamp. The walk is pulled by the
//! caller a message (or a run of consecutive buckets' messages) at a time ([`Engine::poll_catch_up`]),
//! so the engine never buffers a copy for a member, and the caller decides how much output may be
//! queued at once.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bgp_wire::{AttrBlock, EncodeCtx, MpNextHop, Nlri, RouteRefreshSubtype, UpdatePacker};
use bytes::Bytes;

use crate::attrs::Interner;
use crate::attrs::RouteAttrs;
use crate::config::{NextHopMode, Role};
use crate::encode::{self, Export};
#[cfg(doc)]
use crate::engine::Engine;
use crate::engine::{OutQueue, Peer};
use crate::hash::{FastMap, FastSet};
use crate::output::Output;
use crate::peers::Peers;
use crate::pmap::PrefixMap;
use crate::policy::{self, Policy, RouteContext, Verdict};
use crate::reflect::{self, Source};
use crate::rib::{self, Path, Rib, STALE_LLGR, Slots};
use crate::types::{ConnId, Family, FamilySet, PeerId, Prefix, PrefixFamily};

mod members;
mod walk;

use members::Members;

/// Everything that makes two peers' outbound streams differ.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct GroupKey {
    pub(crate) role: Role,
    pub(crate) local_as: u32,
    pub(crate) next_hop: Option<IpAddr>,
    pub(crate) four_octet_as: bool,
    pub(crate) add_path_tx: FamilySet,
    pub(crate) add_path_max: usize,
    pub(crate) families: FamilySet,
    pub(crate) extended: bool,
    pub(crate) llgr: bool,
    pub(crate) enhanced_refresh: bool,
    /// The export policy (peers with equal policies share the group).
    pub(crate) export: Policy,
    /// Set when update groups are disabled: one group per peer.
    pub(crate) solo: Option<PeerId>,
}

/// A path as advertised by a group.
#[derive(Clone, Debug)]
struct OutRoute {
    id: u32,
    peer: PeerId,
    attrs: Arc<RouteAttrs>,
}

#[derive(Debug)]
struct Group {
    key: GroupKey,
    /// Members in sync with the Adj-RIB-Out.
    members: Members,
    /// Members that asked for a route refresh of a family.
    refreshing: Vec<(PeerId, Family)>,
    /// Members moved here from another group (their export policy changed) and the keys whose
    /// advertised path differs between the two groups, sent to them alone at the next flush.
    regrouped: Vec<(PeerId, FastSet<(Prefix, u32)>)>,
    adj_out: PrefixMap<Slots<OutRoute>>,
    /// The Adj-RIB-Out again, by bucket (family, attribute set, source peer), with each bucket's
    /// keys and encoded UPDATEs (see the module documentation).
    buckets: FastMap<BucketKey, OutBucket>,
    /// Members outside the shared stream (joining, congested or catching up) and the stamp order
    /// they walk ([`walk`]).
    walk: walk::WalkState,
}

/// One bucket of a group's Adj-RIB-Out: the routes advertised with one attribute set from one
/// source, their keys (sorted, for packing) and the cached encoding.
#[derive(Debug)]
struct OutBucket {
    attrs: Arc<RouteAttrs>,
    /// The (prefix, path id) keys of the bucket's routes.
    keys: BTreeSet<(Prefix, u32)>,
    /// Position in the group's walk order (0: not placed yet).
    stamp: u64,
    /// Changed since the last [`Group::place_touched`]: its key is in the walk's touched list once.
    touched: bool,
    /// The bucket encoded for the group, with the export treatment it was encoded with; `None`
    /// once the bucket changed.
    enc: Option<EncodedBucket>,
}

#[derive(Debug)]
struct EncodedBucket {
    export: Export,
    msgs: Arc<[Bytes]>,
}

impl OutBucket {
    /// Bucket `k` changed, or how it is exported did: its encoding goes, and it is placed again (a new
    /// stamp, [`Group::place_touched`]) at the end of the flush, so that members walking past it see it.
    fn changed(&mut self, k: BucketKey, walk: &mut walk::WalkState) {
        self.enc = None;
        if !std::mem::replace(&mut self.touched, true) {
            walk.touch(k);
        }
    }
}

impl Group {
    fn bucket_add(&mut self, prefix: Prefix, r: &OutRoute) {
        let k = bucket_key(prefix, r);
        let b = self.buckets.entry(k).or_insert_with(|| OutBucket {
            attrs: Arc::clone(&r.attrs),
            keys: BTreeSet::new(),
            stamp: 0,
            touched: false,
            enc: None,
        });
        b.keys.insert((prefix, r.id));
        b.changed(k, &mut self.walk);
    }

    fn bucket_remove(&mut self, prefix: Prefix, r: &OutRoute) {
        let k = bucket_key(prefix, r);
        let Some(b) = self.buckets.get_mut(&k) else {
            return;
        };
        b.keys.remove(&(prefix, r.id));
        if b.keys.is_empty() {
            let stamp = b.stamp;
            self.buckets.remove(&k);
            self.walk.unplace(stamp);
        } else {
            b.changed(k, &mut self.walk);
        }
    }
}

fn bucket_key(prefix: Prefix, r: &OutRoute) -> BucketKey {
    (prefix.family(), Arc::as_ptr(&r.attrs) as usize, r.peer)
}

/// All update groups.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    list: Vec<Option<Group>>,
    by_key: HashMap<GroupKey, usize>,
    /// Members catching up whose connection has room, served round robin
    /// ([`Engine::poll_catch_up`]).
    ready: VecDeque<PeerId>,
    /// Messages handed in a row to the member at the front of `ready`.
    burst: usize,
    /// Joining members at the end of their walk while route changes wait for the next flush: their
    /// End-of-RIB waits for that flush, which puts them back in `ready`.
    parked: Vec<PeerId>,
    /// The group of every member: the one record of a peer's group.
    member_of: MemberIndex,
    /// Sources that came back with another router id ([`Groups::source_renamed`]): the next flush
    /// sends their routes again although the paths did not change.
    renamed: Vec<PeerId>,
}

/// The group of each member, by peer slot (with the member's id, so that a reused slot's new
/// occupant is not taken for the old one).
#[derive(Debug, Default)]
pub(crate) struct MemberIndex(Vec<Option<(PeerId, usize)>>);

impl MemberIndex {
    /// The group peer `id` is a member of.
    #[inline]
    pub(crate) fn group_of(&self, id: PeerId) -> Option<usize> {
        match self.0.get(id.slot()) {
            Some(&Some((m, gi))) if m == id => Some(gi),
            _ => None,
        }
    }

    /// Records that `id` is a member of group `gi` (`None`: of none).
    fn set(&mut self, id: PeerId, gi: Option<usize>) {
        let slot = id.slot();
        if slot >= self.0.len() {
            if gi.is_none() {
                return;
            }
            self.0.resize(slot + 1, None);
        }
        self.0[slot] = gi.map(|g| (id, g));
    }
}

/// Prefix deliveries (changed prefixes x members of a group) above which a flush is not fanned out
/// to the group's members but walked by them ([`Groups::stream_to_walk`]).
const WALK_BATCH_DELIVERIES: usize = 1 << 20;

/// Changed prefixes diffed, placed and sent together in one step of a flush ([`Groups::flush`]).
const FLUSH_SLICE: usize = 8192;

impl Groups {
    /// Before a large flush: the members of every group for which `dirty` changed prefixes would be
    /// more than [`WALK_BATCH_DELIVERIES`] deliveries leave the shared stream and walk the group's
    /// Adj-RIB-Out from where they are (see [`walk`]). Fanning such a batch out would queue every
    /// message once per member at once (at 2500 clients announcing their tables together, millions of
    /// queue entries, whatever the caller's budget); walking, they are pulled a message or run at a time
    /// under the caller's budget ([`Engine::poll_catch_up`]) and are all sent the same cached
    /// encodings, so members that fall behind together are caught up together.
    fn stream_to_walk(&mut self, dirty: usize) {
        for g in self.list.iter_mut().flatten() {
            if g.members.len() < 2 || dirty.saturating_mul(g.members.len()) < WALK_BATCH_DELIVERIES {
                continue;
            }
            for id in g.members.take() {
                g.walk.start_queued(id, false, &mut self.ready);
            }
        }
    }

    /// Source `id` came back with another router id, keeping its paths (graceful restart): the
    /// export of its routes changed (ORIGINATOR_ID) without their buckets changing. Every bucket of
    /// its routes is placed again (a new stamp, so members walking past it see it again, and encoded
    /// anew), and the next flush announces its changed prefixes (the engine marks all of them) to
    /// the members in the stream even where the advertised path is the same.
    pub(crate) fn source_renamed(&mut self, id: PeerId) {
        self.drop_runs();
        for g in self.list.iter_mut().flatten() {
            let Group { buckets, walk, .. } = g;
            for (k, b) in buckets.iter_mut().filter(|(k, _)| k.2 == id) {
                b.changed(*k, walk);
            }
        }
        if !self.renamed.contains(&id) {
            self.renamed.push(id);
        }
    }

    /// A session was established or ended, a member regrouped or asked for a refresh: how a route is
    /// exported may have changed (a source's router id, the cluster id) without its bucket changing,
    /// so no walk may hand out an encoding copied into a run before ([`walk`]).
    fn drop_runs(&mut self) {
        for g in self.list.iter_mut().flatten() {
            g.walk.drop_runs();
        }
    }

    /// Routes in every group's Adj-RIB-Out per family, and per family and source peer (the routes a member
    /// is not sent, because they came from it), indexed by group. One walk of each table.
    pub(crate) fn adj_out_counts(&self) -> Vec<OutCounts> {
        (0..self.list.len()).map(|g| self.adj_out_counts_of(g)).collect()
    }

    /// [`Groups::adj_out_counts`] of group `g` alone.
    pub(crate) fn adj_out_counts_of(&self, g: usize) -> OutCounts {
        let mut c = OutCounts::default();
        let group = self.list.get(g).and_then(Option::as_ref);
        for (prefix, slots) in group.into_iter().flat_map(|g| g.adj_out.iter()) {
            let f = prefix.family().index();
            for r in slots.as_slice() {
                c.total[f] += 1;
                c.by_source.entry(r.peer).or_insert([0; 2])[f] += 1;
            }
        }
        c
    }

    /// Estimated bytes of every Adj-RIB-Out.
    pub(crate) fn memory(&self) -> usize {
        self.list
            .iter()
            .flatten()
            .map(|g| {
                g.adj_out.table_bytes()
                    + g.buckets
                        .values()
                        .map(|b| {
                            // A B-tree node holds about 11 keys in 16 bytes each, roughly 2x overall.
                            b.keys.len() * 2 * std::mem::size_of::<(Prefix, u32)>()
                                + b.enc.as_ref().map_or(0, |e| e.msgs.iter().map(Bytes::len).sum())
                        })
                        .sum::<usize>()
                    + g.adj_out
                        .values()
                        .map(|s| match s {
                            Slots::Many(v) => v.capacity() * std::mem::size_of::<OutRoute>(),
                            _ => 0,
                        })
                        .sum::<usize>()
            })
            .sum()
    }

    /// Whether any group has members to serve outside the normal stream.
    pub(crate) fn has_pending(&self) -> bool {
        self.list
            .iter()
            .flatten()
            .any(|g| !g.refreshing.is_empty() || !g.regrouped.is_empty())
    }

    /// Number of live groups.
    pub(crate) fn len(&self) -> usize {
        self.list.iter().flatten().count()
    }
}

/// Routes of one group's Adj-RIB-Out, by family index ([`Family::index`]).
#[derive(Debug, Default)]
pub(crate) struct OutCounts {
    total: [usize; 2],
    by_source: FastMap<PeerId, [usize; 2]>,
}

impl OutCounts {
    /// What member `p` is sent: every route but its own, per family.
    pub(crate) fn sent_to(&self, p: PeerId) -> [usize; 2] {
        let own = self.by_source.get(&p).copied().unwrap_or([0; 2]);
        [self.total[0] - own[0], self.total[1] - own[1]]
    }
}

pub(crate) type BucketKey = (Family, usize, PeerId);
/// A deterministic order of buckets: (family, source peer, smallest key).
type BucketOrder = (Family, PeerId, (Prefix, u32));
/// Announcement buckets: NLRI sharing one attribute set and source peer.
type Buckets = FastMap<BucketKey, (Arc<RouteAttrs>, Vec<(Prefix, u32)>)>;

/// Changes of one group collected during a flush.
#[derive(Default)]
struct Batch {
    ann: Buckets,
    /// Withdrawals by family: (source peer of the withdrawn path, prefix, path id). The source
    /// was never sent the path, so it is not sent the withdrawal either.
    wd: [Vec<(PeerId, Prefix, u32)>; 2],
    member_wd: Vec<(PeerId, Prefix, u32)>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.ann.is_empty() && self.wd.iter().all(Vec::is_empty) && self.member_wd.is_empty()
    }
}

/// Attribute sets modified by export policies during one flush, by (Loc-RIB set, modifications):
/// each distinct result is built and interned once.
pub(crate) type ExportCache = FastMap<(usize, usize), Arc<RouteAttrs>>;

/// What a group sends of one path: `None` when its export policy rejects it, else the attributes
/// to send (`Some(None)`: the Loc-RIB's, unchanged).
fn export_policy(
    peers: &Peers,
    key: &GroupKey,
    prefix: Prefix,
    p: &Path,
    interner: &mut Interner,
    cache: &mut ExportCache,
) -> Option<Option<Arc<RouteAttrs>>> {
    if key.export.is_pass_through() {
        return Some(None);
    }
    let source = peers.get(p.peer).map(|s| s.cfg.remote_addr);
    let ctx = RouteContext {
        prefix,
        attrs: &p.attrs,
        peer: crate::engine::peer_kind(key.role),
        source,
    };
    match key.export.evaluate(&ctx) {
        Verdict::Reject => None,
        Verdict::Accept([]) => Some(None),
        Verdict::Accept(mods) => {
            let k = (Arc::as_ptr(&p.attrs) as usize, mods.as_ptr() as usize);
            let a = cache
                .entry(k)
                .or_insert_with(|| interner.intern(policy::modify(&p.attrs, mods)));
            Some(Some(Arc::clone(a)))
        }
    }
}

/// A path a group should advertise: (out path id, index into the prefix's paths, attributes when
/// the export policy changed them).
pub(crate) type Want = (u32, usize, Option<Arc<RouteAttrs>>);

fn exportable(peers: &Peers, key: &GroupKey, p: &Path) -> bool {
    let source = if p.peer == PeerId::LOCAL {
        Source::Local
    } else {
        let Some(src) = peers.get(p.peer) else {
            return false;
        };
        Source::from(src.cfg.role)
    };
    reflect::may_advertise(source, key.role)
        && reflect::communities_allow(&p.attrs, key.role)
        // RFC 9494 section 4.4: LLGR-stale routes are advertised only to peers that support LLGR.
        && (p.flags & STALE_LLGR == 0 || key.llgr)
}

/// The paths a group should advertise for a prefix ([`Want`]).
#[allow(clippy::too_many_arguments)]
fn desired(
    peers: &Peers,
    key: &GroupKey,
    prefix: Prefix,
    paths: &[Path],
    order: &[usize],
    want: &mut Vec<Want>,
    interner: &mut Interner,
    cache: &mut ExportCache,
) {
    want.clear();
    if !key.families.contains(prefix.family()) {
        return;
    }
    if key.add_path_tx.contains(prefix.family()) {
        // RFC 7911: every path (or the best N) with its own path identifier.
        for &i in order {
            if want.len() >= key.add_path_max {
                break;
            }
            if exportable(peers, key, &paths[i])
                && let Some(a) = export_policy(peers, key, prefix, &paths[i], interner, cache)
            {
                want.push((paths[i].out_id, i, a));
            }
        }
    } else if let Some(&b) = order.first() {
        // Without ADD-PATH only the best path is advertised; if reflection rules or the export
        // policy forbid it for this group, nothing is (RFC 4456 section 8 applies to the best
        // path; so does an export filter).
        if exportable(peers, key, &paths[b])
            && let Some(a) = export_policy(peers, key, prefix, &paths[b], interner, cache)
        {
            want.push((0, b, a));
        }
    }
}

/// What the update groups use of the rest of the engine for one call, borrowed from it field by
/// field: the peer table (the source of each path: role, router id, address; each member's
/// connection and message counter), the RIB (its Loc-RIB read; a flush also drops the prefixes it
/// finds without paths), the attribute interner (results of export policies) and the output queue.
pub(crate) struct Ctx<'a> {
    pub(crate) peers: &'a mut Peers,
    pub(crate) rib: &'a mut Rib,
    pub(crate) interner: &'a mut Interner,
    pub(crate) out: &'a mut OutQueue,
    /// The cluster id reflected routes carry (RFC 4456 section 8).
    pub(crate) cluster_id: Ipv4Addr,
}

impl Ctx<'_> {
    /// The export treatment of a route from `src` with `attrs` for a group of `key`.
    fn export_for(&self, key: &GroupKey, src: PeerId, attrs: &RouteAttrs) -> Export {
        let src_peer = self.peers.get(src);
        let src_kind = if src == PeerId::LOCAL {
            Source::Local
        } else {
            src_peer.map_or(Source::Client, |p| Source::from(p.cfg.role))
        };
        let src_rid = src_peer.map_or(Ipv4Addr::UNSPECIFIED, |p| p.session.remote_router_id());
        reflect::export_treatment(key, src_kind, src_rid, self.cluster_id, attrs)
    }

    /// Encodes announcement buckets into `packer`, returning (messages, excluded peer) runs.
    fn encode_buckets(&self, key: &GroupKey, ann: Buckets, out: &mut Vec<(Bytes, PeerId)>) {
        let mut blk = AttrBlock::new();
        let mut buckets: Vec<_> = ann.into_iter().collect();
        // Deterministic order (hash map iteration is not).
        buckets.sort_unstable_by(|a, b| (a.0.0, a.0.2, &a.1.1.first()).cmp(&(b.0.0, b.0.2, &b.1.1.first())));
        for ((fam, _, src), (attrs, nlri)) in buckets {
            let ex = self.export_for(key, src, &attrs);
            let msgs = encode_nlri(key, fam, &attrs, &ex, nlri, &mut blk);
            out.extend(msgs.into_iter().map(|m| (m, src)));
        }
    }

    /// Queues `msgs` for every established peer of `to` (each message skips its source), as one
    /// queue entry, through the members' fan-out list (made here when they changed since the last).
    fn fan_out(&mut self, to: &mut Members, msgs: Vec<(Bytes, Option<PeerId>)>) {
        if msgs.is_empty() {
            return;
        }
        let conns = to.fan_list(|list| {
            let mut v: Vec<(PeerId, ConnId)> = list
                .iter()
                .filter_map(|&id| Some((id, self.peers.get(id)?.session.established()?.0)))
                .collect();
            v.sort_unstable_by_key(|&(_, c)| c);
            v.into()
        });
        for (id, n) in self.out.fan(conns.clone(), msgs) {
            if let Some(p) = self.peers.get_mut(id) {
                p.stats.messages_sent += n as u64;
            }
        }
    }

    fn send_to(&mut self, to: PeerId, bytes: Bytes) {
        if let Some(p) = self.peers.get_mut(to)
            && let Some((conn, _)) = p.session.established()
        {
            p.stats.messages_sent += 1;
            self.out.push_back(Output::Send { conn, bytes });
        }
    }
}

impl GroupKey {
    /// The key of peer `p`'s group: `None` before it negotiated a session. `engine_as` is the
    /// engine's AS; without `update_groups` every peer is alone in its group.
    pub(crate) fn of(p: &Peer, engine_as: u32, update_groups: bool) -> Option<GroupKey> {
        let neg = p.session.negotiated()?;
        // BIRD's `next hop self` / `next hop keep`: Auto rewrites towards eBGP only.
        let nh_self = match p.cfg.next_hop {
            NextHopMode::Auto => p.cfg.role == Role::Ebgp,
            NextHopMode::SelfAddr => true,
            NextHopMode::Keep => false,
        };
        Some(GroupKey {
            role: p.cfg.role,
            local_as: p.local_as(engine_as),
            next_hop: if nh_self {
                p.cfg.local_addr.or(p.session.local_addr())
            } else {
                None
            },
            four_octet_as: neg.four_octet_as,
            add_path_tx: if p.cfg.add_path_send_max.is_some() {
                neg.add_path_tx
            } else {
                FamilySet::EMPTY
            },
            add_path_max: p.cfg.add_path_send_max.unwrap_or(1).max(1),
            families: neg.families,
            extended: neg.extended_messages,
            llgr: neg.peer_llgr.is_some(),
            enhanced_refresh: neg.enhanced_route_refresh,
            export: p.cfg.export_policy.clone(),
            solo: (!update_groups).then_some(p.id),
        })
    }
}

impl Groups {
    /// Adds established peer `id` to the group of `key` (created and filled from the Loc-RIB if
    /// new); the peer walks the group's table and gets End-of-RIB ([`walk`]). Returns the group.
    pub(crate) fn join(&mut self, cx: &mut Ctx<'_>, key: GroupKey, id: PeerId) -> usize {
        self.drop_runs();
        let gi = self.group_for(cx, key);
        if let Some(g) = self.list.get_mut(gi).and_then(Option::as_mut) {
            g.walk.start_queued(id, true, &mut self.ready);
        }
        self.member_of.set(id, Some(gi));
        gi
    }

    /// The group peer `id` is a member of (joined and not left).
    #[inline]
    pub(crate) fn group_of(&self, id: PeerId) -> Option<usize> {
        self.member_of.group_of(id)
    }

    /// The group of `key`, created and filled from the Loc-RIB if there is none.
    fn group_for(&mut self, cx: &mut Ctx<'_>, key: GroupKey) -> usize {
        if let Some(&g) = self.by_key.get(&key) {
            return g;
        }
        let mut adj_out = PrefixMap::default();
        let mut g = Group {
            key: key.clone(),
            members: Members::default(),
            refreshing: Vec::new(),
            regrouped: Vec::new(),
            adj_out: PrefixMap::default(),
            buckets: FastMap::default(),
            walk: walk::WalkState::default(),
        };
        let mut order = Vec::new();
        let mut want = Vec::new();
        let mut cache = ExportCache::default();
        let peers = &*cx.peers;
        for (prefix, paths) in cx.rib.iter() {
            if paths.is_empty() {
                continue;
            }
            rib::rank(peers, paths, &mut order);
            desired(
                peers,
                &key,
                prefix,
                paths,
                &order,
                &mut want,
                cx.interner,
                &mut cache,
            );
            let mut s = Slots::Empty;
            for (oid, i, a) in want.drain(..) {
                s.push(OutRoute {
                    id: oid,
                    peer: paths[i].peer,
                    attrs: a.unwrap_or_else(|| Arc::clone(&paths[i].attrs)),
                });
            }
            for r in s.as_slice() {
                g.bucket_add(prefix, r);
            }
            if !s.is_empty() {
                adj_out.insert(prefix, s);
            }
        }
        g.adj_out = adj_out;
        g.place_touched();
        let gi = match self.list.iter().position(Option::is_none) {
            Some(i) => {
                self.list[i] = Some(g);
                i
            }
            None => {
                self.list.push(Some(g));
                self.list.len() - 1
            }
        };
        self.by_key.insert(key, gi);
        gi
    }

    /// Moves established member `id` of group `old_gi` to the group of `key` (its export policy
    /// changed) without resetting the session: the keys whose advertised path differs between the
    /// old group's Adj-RIB-Out and the new one's are sent to it alone (announced or withdrawn) by
    /// the catch-up of the next flush; then it follows the new group's stream. Returns the new
    /// group, or `None` when `key` is the old group's (nothing changes).
    pub(crate) fn regroup(
        &mut self,
        cx: &mut Ctx<'_>,
        id: PeerId,
        old_gi: usize,
        key: GroupKey,
    ) -> Option<usize> {
        self.drop_runs();
        let old = self.list.get(old_gi).and_then(Option::as_ref)?;
        if old.key == key {
            return None;
        }
        // Where the peer stood in the old group, and what it holds.
        enum Stood {
            Joining,
            InSync(FastSet<(Prefix, u32)>),
            /// Behind on the old group's stream: it may hold any state of the keys that changed
            /// since its cursor, so every key of either table and every tombstone is sent.
            Behind(FastSet<(Prefix, u32)>),
        }
        let pending =
            |l: &[(PeerId, FastSet<(Prefix, u32)>)]| l.iter().find(|(m, _)| *m == id).map(|(_, k)| k.clone());
        let stood = match old.walk.joining(id) {
            Some(true) => Stood::Joining,
            Some(false) => Stood::Behind(old.walk.tomb_keys().collect()),
            None => Stood::InSync(pending(&old.regrouped).unwrap_or_default()),
        };
        let behind = matches!(stood, Stood::Behind(_));
        let held: FastMap<(Prefix, u32), (PeerId, usize)> = match stood {
            Stood::Joining => FastMap::default(),
            _ => old
                .adj_out
                .iter()
                .flat_map(|(prefix, s)| {
                    s.as_slice()
                        .iter()
                        .map(move |r| ((prefix, r.id), (r.peer, Arc::as_ptr(&r.attrs) as usize)))
                })
                .collect(),
        };
        self.leave(old_gi, id);
        let gi = self.group_for(cx, key);
        self.member_of.set(id, Some(gi));
        let Some(g) = self.list.get_mut(gi).and_then(Option::as_mut) else {
            return Some(gi);
        };
        let mut keys = match stood {
            Stood::Joining => {
                g.walk.start_queued(id, true, &mut self.ready);
                return Some(gi);
            }
            Stood::InSync(k) | Stood::Behind(k) => k,
        };
        let mut held = held;
        for (prefix, s) in g.adj_out.iter() {
            for r in s.as_slice() {
                let k = (prefix, r.id);
                let now = (r.peer, Arc::as_ptr(&r.attrs) as usize);
                match held.remove(&k) {
                    _ if behind && r.peer != id => {
                        keys.insert(k);
                    }
                    Some(was) if was == now => {}
                    // Never sent to the peer before or after: its own route.
                    Some((was_peer, _)) if was_peer == id && r.peer == id => {}
                    None if r.peer == id => {}
                    _ => {
                        keys.insert(k);
                    }
                }
            }
        }
        keys.extend(
            held.into_iter()
                .filter(|(_, (src, _))| *src != id)
                .map(|(k, _)| k),
        );
        g.regrouped.push((id, keys));
        Some(gi)
    }

    /// `id` leaves group `gi` (which goes when it has nobody left).
    pub(crate) fn leave(&mut self, gi: usize, id: PeerId) {
        self.drop_runs();
        if self.member_of.group_of(id) == Some(gi) {
            self.member_of.set(id, None);
        }
        let Some(g) = self.list.get_mut(gi).and_then(Option::as_mut) else {
            return;
        };
        g.members.remove(id);
        g.refreshing.retain(|(m, _)| *m != id);
        g.regrouped.retain(|(m, _)| *m != id);
        g.walk.leave(id);
        if g.members.is_empty() && g.regrouped.is_empty() && g.walk.walkers.is_empty() {
            let key = g.key.clone();
            self.list[gi] = None;
            self.by_key.remove(&key);
        }
    }

    /// Member `id` of group `gi` asked for a route refresh of `f`: the group's table of `f` is sent
    /// to it again at the next flush.
    pub(crate) fn refresh(&mut self, gi: usize, id: PeerId, f: Family) {
        self.drop_runs();
        if let Some(g) = self.list.get_mut(gi).and_then(Option::as_mut)
            && g.key.families.contains(f)
            && g.members.contains(&id)
        {
            g.refreshing.push((id, f));
        }
    }

    /// Best path for every prefix of `dirty`, diff against every group's Adj-RIB-Out, encode,
    /// send; then the catch-ups of regrouped members and re-sends for route refreshes.
    pub(crate) fn flush(&mut self, cx: &mut Ctx<'_>, dirty: &[Prefix]) {
        self.stream_to_walk(dirty.len());
        let mut order = Vec::new();
        let mut want = Vec::new();
        let mut cache = ExportCache::default();
        // In slices: a batch (the diff of every group) holds entries for its slice only, so a flush of
        // a whole table (the end of a selection deferral, a peer's full table) does not hold a second
        // copy of every changed key at once. Each slice's changes are placed and sent before the
        // next; a prefix is in one slice only, so its withdrawal and announcement stay in order.
        for slice in dirty.chunks(FLUSH_SLICE) {
            let mut batches: Vec<Batch> = (0..self.list.len()).map(|_| Batch::default()).collect();
            for prefix in slice {
                let paths = cx.rib.paths(prefix);
                rib::rank(cx.peers, paths, &mut order);
                for (gi, g) in self.list.iter_mut().enumerate() {
                    let Some(g) = g.as_mut() else { continue };
                    desired(
                        cx.peers,
                        &g.key,
                        *prefix,
                        paths,
                        &order,
                        &mut want,
                        cx.interner,
                        &mut cache,
                    );
                    diff_prefix(
                        &self.member_of,
                        &self.renamed,
                        gi,
                        g,
                        &mut batches[gi],
                        *prefix,
                        paths,
                        &want,
                    );
                }
                if paths.is_empty() {
                    cx.rib.remove_empty(prefix);
                }
            }
            for g in self.list.iter_mut().flatten() {
                g.place_touched();
            }
            for (gi, batch) in batches.into_iter().enumerate() {
                let Some(g) = self.list.get_mut(gi).and_then(Option::as_mut) else {
                    continue;
                };
                if !batch.is_empty() {
                    g.encode_batch(cx, batch);
                }
            }
        }
        for g in self.list.iter_mut().flatten() {
            if dirty.is_empty() {
                // No slice ran: tombstones no walker needs still go.
                g.place_touched();
            }
            g.serve_pending(cx);
        }
        self.renamed.clear();
        // The changes are placed: joiners that waited for them walk on (and then get End-of-RIB).
        let parked = std::mem::take(&mut self.parked);
        self.ready.extend(parked);
    }
}

impl Group {
    /// The group's table (families in `fams`) as UPDATEs with the peer each came from, in a
    /// deterministic order. Served from the bucket cache: only buckets that changed since they
    /// were last encoded (or whose export treatment changed) are encoded again.
    fn table_msgs(&mut self, cx: &Ctx<'_>, fams: FamilySet) -> Vec<(Bytes, PeerId)> {
        // (family, source, first key) orders the buckets; then the bucket's messages.
        let mut order: Vec<(BucketOrder, BucketKey)> = self
            .buckets
            .iter()
            .filter(|(k, _)| fams.contains(k.0))
            .filter_map(|(&k, b)| Some(((k.0, k.2, *b.keys.first()?), k)))
            .collect();
        order.sort_unstable_by_key(|o| o.0);
        let mut out = Vec::new();
        for (_, k) in order {
            if let Some(msgs) = self.bucket_msgs(cx, k) {
                out.extend(msgs.iter().map(|m| (m.clone(), k.2)));
            }
        }
        out
    }

    fn encode_batch(&mut self, cx: &mut Ctx<'_>, mut batch: Batch) {
        let key = &self.key;
        let mut msgs: Vec<(Bytes, Option<PeerId>)> = Vec::new();
        let mut list = Vec::new();
        for fam in Family::ALL {
            let wd = &mut batch.wd[fam.index()];
            wd.sort_unstable();
            for run in wd.chunk_by(|a, b| a.0 == b.0) {
                list.clear();
                list.extend(run.iter().map(|&(_, p, id)| (p, id)));
                msgs.extend(
                    withdrawals(key, fam, &list)
                        .into_iter()
                        .map(|m| (m, Some(run[0].0))),
                );
            }
        }
        let mut ann_msgs = Vec::new();
        cx.encode_buckets(key, std::mem::take(&mut batch.ann), &mut ann_msgs);
        msgs.extend(ann_msgs.into_iter().map(|(m, s)| (m, Some(s))));
        cx.fan_out(&mut self.members, msgs);
        // Per-member withdrawals (best path moved to a path learned from that member).
        batch.member_wd.sort_unstable();
        let mut i = 0;
        while i < batch.member_wd.len() {
            let to = batch.member_wd[i].0;
            let mut j = i;
            let mut lists: [Vec<(Prefix, u32)>; 2] = [Vec::new(), Vec::new()];
            while j < batch.member_wd.len() && batch.member_wd[j].0 == to {
                let (_, p, id) = batch.member_wd[j];
                lists[p.family().index()].push((p, id));
                j += 1;
            }
            // A member that is behind gets these through its catch-up instead.
            if self.members.contains(&to) {
                for fam in Family::ALL {
                    if !lists[fam.index()].is_empty() {
                        for m in withdrawals(key, fam, &lists[fam.index()]) {
                            cx.send_to(to, m);
                        }
                    }
                }
            }
            i = j;
        }
    }

    /// Catch-ups of regrouped members; re-sends for route refresh requests.
    fn serve_pending(&mut self, cx: &mut Ctx<'_>) {
        let refreshing = std::mem::take(&mut self.refreshing);
        let regrouped = std::mem::take(&mut self.regrouped);
        for (to, keys) in regrouped {
            self.catch_up(cx, to, keys);
        }
        let enhanced_refresh = self.key.enhanced_refresh;
        for (to, f) in refreshing {
            let msgs = self.table_msgs(cx, FamilySet::only(f));
            // RFC 7313 section 4: with enhanced route refresh, "the speaker MUST send a BoRR
            // message before ... and an EoRR message after" the re-advertisement.
            if enhanced_refresh {
                cx.send_to(to, encode::route_refresh(f, RouteRefreshSubtype::BORR));
            }
            for (m, src) in msgs {
                if to != src {
                    cx.send_to(to, m);
                }
            }
            if enhanced_refresh {
                cx.send_to(to, encode::route_refresh(f, RouteRefreshSubtype::EORR));
            }
        }
    }

    /// Sends `to` the current state of every key in `keys` (a regrouped member: the keys whose
    /// advertised path differs between its old and new group), then puts it in the group's shared
    /// stream. Encoded for that member alone; a regroup is rare.
    fn catch_up(&mut self, cx: &mut Ctx<'_>, to: PeerId, keys: FastSet<(Prefix, u32)>) {
        let key = &self.key;
        let mut ann = Buckets::default();
        let mut wd: [Vec<(Prefix, u32)>; 2] = [Vec::new(), Vec::new()];
        for (prefix, id) in keys {
            let cur = self
                .adj_out
                .get(&prefix)
                .and_then(|s| s.as_slice().iter().find(|r| r.id == id));
            match cur {
                Some(r) if r.peer != to => {
                    let k = (prefix.family(), Arc::as_ptr(&r.attrs) as usize, r.peer);
                    ann.entry(k)
                        .or_insert_with(|| (Arc::clone(&r.attrs), Vec::new()))
                        .1
                        .push((prefix, id));
                }
                // Gone, or now learned from `to` itself: withdraw whatever it may hold.
                _ => wd[prefix.family().index()].push((prefix, id)),
            }
        }
        for fam in Family::ALL {
            let list = &mut wd[fam.index()];
            if !list.is_empty() {
                list.sort_unstable();
                for m in withdrawals(key, fam, list) {
                    cx.send_to(to, m);
                }
            }
        }
        for v in ann.values_mut() {
            v.1.sort_unstable();
        }
        let mut msgs = Vec::new();
        cx.encode_buckets(key, ann, &mut msgs);
        for (m, _) in msgs {
            cx.send_to(to, m);
        }
        self.members.push(to);
    }
}

/// Diffs the desired paths of one prefix against a group's Adj-RIB-Out and records the changes. A
/// path from a source in `renamed` is announced again even if the group advertises it already.
#[allow(clippy::too_many_arguments)]
fn diff_prefix(
    members: &MemberIndex,
    renamed: &[PeerId],
    gi: usize,
    g: &mut Group,
    batch: &mut Batch,
    prefix: Prefix,
    paths: &[Path],
    want: &[Want],
) {
    let fam = prefix.family();
    let old = g.adj_out.remove(&prefix).unwrap_or_default();
    let old = old.as_slice();
    let mut new = Slots::Empty;
    let is_member = |id: PeerId| members.group_of(id) == Some(gi);
    for (oid, i, sent) in want {
        let (oid, p) = (*oid, &paths[*i]);
        let attrs = sent.as_ref().unwrap_or(&p.attrs);
        new.push(OutRoute {
            id: oid,
            peer: p.peer,
            attrs: Arc::clone(attrs),
        });
        match old.iter().find(|o| o.id == oid) {
            Some(o) if Arc::ptr_eq(&o.attrs, attrs) && o.peer == p.peer && !renamed.contains(&p.peer) => {
                continue;
            }
            // The member the new path came from holds the old one: it must be withdrawn there,
            // since the new announcement is not sent back to it.
            Some(o) if o.peer != p.peer && is_member(p.peer) => batch.member_wd.push((p.peer, prefix, oid)),
            _ => {}
        }
        let k = (fam, Arc::as_ptr(attrs) as usize, p.peer);
        batch
            .ann
            .entry(k)
            .or_insert_with(|| (Arc::clone(attrs), Vec::new()))
            .1
            .push((prefix, oid));
        // A member that is not in the stream needs this key at its catch-up unless it holds
        // nothing for it before and after: the new path is its own, and so was the old one (or
        // there was none).
        let was = old.iter().find(|o| o.id == oid).map(|o| o.peer);
        note_behind(g, (prefix, oid), |m| p.peer != m || was.is_some_and(|w| w != m));
        // A member walking the Adj-RIB-Out that holds the old path from another source must have
        // it withdrawn if the new path is its own.
        if let Some(w) = was.filter(|w| *w != p.peer) {
            g.walk.tomb((prefix, oid), w);
        }
    }
    for o in old {
        if !want.iter().any(|(oid, _, _)| *oid == o.id) {
            batch.wd[fam.index()].push((o.peer, prefix, o.id));
            // Only a member that was sent the path needs its withdrawal.
            note_behind(g, (prefix, o.id), |m| o.peer != m);
            g.walk.tomb((prefix, o.id), o.peer);
        }
    }
    // The bucket counts follow.
    let same =
        |a: &OutRoute, b: &OutRoute| a.id == b.id && a.peer == b.peer && Arc::ptr_eq(&a.attrs, &b.attrs);
    // (A clone of one or two routes: no allocation for the usual single path.)
    let cur = new.clone();
    if !new.is_empty() {
        g.adj_out.insert(prefix, new);
    }
    for n in cur.as_slice() {
        if !old.iter().any(|o| same(o, n)) {
            g.bucket_add(prefix, n);
        }
    }
    for o in old {
        if !cur.as_slice().iter().any(|n| same(o, n)) {
            g.bucket_remove(prefix, o);
        }
    }
}

/// Records a changed key for every regrouped member for which `relevant` holds (its catch-up runs
/// after this flush's diff, so a key changed in the same flush must be in its set too).
fn note_behind(g: &mut Group, key: (Prefix, u32), relevant: impl Fn(PeerId) -> bool) {
    for (m, keys) in &mut g.regrouped {
        if relevant(*m) {
            keys.insert(key);
        }
    }
}

/// The codec's view of a group's outbound encoding: 4-octet AS, ADD-PATH send families,
/// extended messages.
fn encode_ctx(key: &GroupKey) -> EncodeCtx {
    EncodeCtx {
        four_octet_as: key.four_octet_as,
        add_path: crate::wire::add_path_map(key.add_path_tx),
        extended_message: key.extended,
    }
}

fn nlri(&(p, id): &(Prefix, u32)) -> Nlri {
    Nlri::with_path_id(id, p)
}

/// UPDATEs withdrawing `list` (sorted) of `fam` from the group's members.
fn withdrawals(key: &GroupKey, fam: Family, list: &[(Prefix, u32)]) -> Vec<Bytes> {
    let mut packer = UpdatePacker::new(&encode_ctx(key));
    packer.withdraw(crate::wire::afi_safi(fam), list.iter().map(nlri));
    packer.take_messages()
}

/// Encodes `nlri` (sorted) announced with `attrs` under export treatment `ex` into packed UPDATEs.
fn encode_nlri(
    key: &GroupKey,
    fam: Family,
    attrs: &RouteAttrs,
    ex: &Export,
    nlri_list: impl IntoIterator<Item = (Prefix, u32)>,
    blk: &mut AttrBlock,
) -> Vec<Bytes> {
    blk.clear();
    encode::attrs_block(attrs, ex, fam, blk);
    let nh = match ex.next_hop.or(attrs.next_hop) {
        Some(IpAddr::V6(a)) => a,
        Some(IpAddr::V4(a)) => a.to_ipv6_mapped(),
        None => std::net::Ipv6Addr::UNSPECIFIED,
    };
    let link_local = if ex.next_hop.is_some() {
        None
    } else {
        attrs.next_hop_link_local
    };
    let nh = MpNextHop::Ipv6 {
        global: nh,
        link_local,
    };
    let mut packer = UpdatePacker::new(&encode_ctx(key));
    packer.announce(
        crate::wire::afi_safi(fam),
        blk,
        Some(&nh),
        nlri_list.into_iter().map(|k| nlri(&k)),
    );
    packer.take_messages()
}

#[cfg(test)]
mod tests {
    use bgp_wire::{DecodeCtx, Message};

    use super::*;
    use crate::attrs::Origin;
    use crate::config::PeerConfig;
    use crate::types::Instant;

    /// The parts of an engine the groups borrow, with three established route-reflector clients.
    struct World {
        peers: Peers,
        rib: Rib,
        interner: Interner,
        out: OutQueue,
        ids: Vec<PeerId>,
    }

    impl World {
        fn new() -> World {
            let mut peers = Peers::default();
            let ids = (1..=3u8)
                .map(|i| {
                    let cfg = PeerConfig::new(IpAddr::from([192, 0, 2, i]), 64512, Role::RrClient);
                    let id = peers.insert(|id| Peer::new(id, cfg)).unwrap();
                    let conn = peers.new_conn(id);
                    let p = peers.get_mut(id).unwrap();
                    p.session
                        .set_established(conn, Instant::ZERO, Ipv4Addr::new(192, 0, 2, i));
                    id
                })
                .collect();
            World {
                peers,
                rib: Rib::default(),
                interner: Interner::default(),
                out: OutQueue::default(),
                ids,
            }
        }

        fn cx(&mut self) -> Ctx<'_> {
            Ctx {
                peers: &mut self.peers,
                rib: &mut self.rib,
                interner: &mut self.interner,
                out: &mut self.out,
                cluster_id: Ipv4Addr::new(192, 0, 2, 100),
            }
        }

        fn announce(&mut self, from: PeerId, prefix: Prefix) {
            let a = self
                .interner
                .intern(RouteAttrs::new(Origin::Igp, Some(IpAddr::from([10, 0, 0, 9]))));
            self.rib
                .peer(from)
                .announce(prefix, 0, crate::rib::Imported::unchanged(a));
        }

        fn join(&mut self, groups: &mut Groups, key: &GroupKey, id: PeerId) -> usize {
            groups.join(&mut self.cx(), key.clone(), id)
        }

        fn conn(&self, id: PeerId) -> ConnId {
            self.peers.get(id).unwrap().session.established().unwrap().0
        }
    }

    fn key(role: Role) -> GroupKey {
        GroupKey {
            role,
            local_as: 64512,
            next_hop: None,
            four_octet_as: false,
            add_path_tx: FamilySet::EMPTY,
            add_path_max: 1,
            families: FamilySet::only(Family::Ipv4Unicast),
            extended: false,
            llgr: false,
            enhanced_refresh: false,
            export: Policy::default(),
            solo: None,
        }
    }

    fn prefix(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    /// The prefixes a message announces, or `None` for End-of-RIB.
    fn announced(bytes: &Bytes) -> Option<Vec<Prefix>> {
        let Ok(Message::Update(u)) = Message::decode(bytes, &DecodeCtx::default()) else {
            panic!("not an UPDATE: {bytes:?}");
        };
        u.end_of_rib()
            .is_none()
            .then(|| u.announced().map(|(_, n)| n.prefix).collect())
    }

    #[test]
    fn peers_with_one_key_share_a_group_that_goes_with_its_last_member() {
        let mut w = World::new();
        let mut g = Groups::default();
        let (a, b, c) = (w.ids[0], w.ids[1], w.ids[2]);
        let g1 = w.join(&mut g, &key(Role::RrClient), a);
        assert_eq!(w.join(&mut g, &key(Role::RrClient), b), g1);
        let g2 = w.join(&mut g, &key(Role::NonClient), c);
        assert_ne!(g1, g2);
        assert_eq!(g.len(), 2);
        g.leave(g1, a);
        assert_eq!(g.len(), 2, "b is still a member");
        g.leave(g1, b);
        assert_eq!(g.len(), 1);
        assert_eq!(
            w.join(&mut g, &key(Role::RrClient), a),
            g1,
            "the free slot is reused"
        );
    }

    #[test]
    fn the_groups_are_the_one_record_of_a_members_group() {
        let mut w = World::new();
        let mut g = Groups::default();
        let (a, b) = (w.ids[0], w.ids[1]);
        assert_eq!(g.group_of(a), None);
        let g1 = w.join(&mut g, &key(Role::RrClient), a);
        let g2 = w.join(&mut g, &key(Role::NonClient), b);
        assert_eq!((g.group_of(a), g.group_of(b)), (Some(g1), Some(g2)));
        assert_eq!(
            g.group_of(a.next_generation()),
            None,
            "a reused slot is another peer"
        );
        g.leave(g2, a);
        assert_eq!(
            g.group_of(a),
            Some(g1),
            "not a member of that group: nothing changes"
        );
        g.leave(g1, a);
        assert_eq!(g.group_of(a), None);
        let mut k = key(Role::RrClient);
        k.solo = Some(b);
        let g3 = g.regroup(&mut w.cx(), b, g2, k).unwrap();
        assert_eq!(g.group_of(b), Some(g3), "moved with its new export treatment");
    }

    #[test]
    fn a_joining_member_walks_the_table_then_gets_end_of_rib_and_rejoins_the_stream() {
        let mut w = World::new();
        let mut g = Groups::default();
        let (a, b) = (w.ids[0], w.ids[1]);
        w.announce(a, prefix("10.1.0.0/24"));
        let gi = w.join(&mut g, &key(Role::RrClient), b);
        let mut sent = Vec::new();
        while let Some(o) = g.poll_catch_up(&mut w.cx(), false) {
            let Output::Send { conn, bytes } = o else {
                panic!("{o:?}")
            };
            assert_eq!(conn, w.conn(b));
            sent.push(announced(&bytes));
        }
        assert_eq!(sent, [Some(vec![prefix("10.1.0.0/24")]), None]);
        let grp = g.list[gi].as_ref().unwrap();
        assert_eq!(*grp.members, [b], "in the shared stream once up to date");
        assert_eq!(w.peers.get(b).unwrap().stats.messages_sent, 2);
    }

    #[test]
    fn end_of_rib_waits_once_for_changes_not_flushed_yet() {
        let mut w = World::new();
        let mut g = Groups::default();
        let b = w.ids[1];
        w.join(&mut g, &key(Role::RrClient), b);
        assert!(
            g.poll_catch_up(&mut w.cx(), true).is_none(),
            "parked until the flush"
        );
        g.flush(&mut w.cx(), &[]);
        let Some(Output::Send { bytes, .. }) = g.poll_catch_up(&mut w.cx(), true) else {
            panic!("End-of-RIB after the flush")
        };
        assert_eq!(announced(&bytes), None);
    }

    #[test]
    fn a_flush_sends_a_new_route_to_every_member_but_its_source() {
        let mut w = World::new();
        let mut g = Groups::default();
        let (a, b, c) = (w.ids[0], w.ids[1], w.ids[2]);
        for id in [a, b, c] {
            w.join(&mut g, &key(Role::RrClient), id);
        }
        while g.poll_catch_up(&mut w.cx(), false).is_some() {}
        let p = prefix("10.2.0.0/24");
        w.announce(a, p);
        g.flush(&mut w.cx(), &[p]);
        let mut to = Vec::new();
        while let Some(o) = w.out.pop_front() {
            let Output::Send { conn, bytes } = o else {
                panic!("{o:?}")
            };
            assert_eq!(announced(&bytes), Some(vec![p]));
            to.push(conn);
        }
        assert_eq!(
            to,
            [w.conn(b), w.conn(c)],
            "RFC 4456: never back to the client it came from"
        );
        let counts = g.adj_out_counts_of(0);
        assert_eq!(counts.sent_to(a), [0, 0]);
        assert_eq!(counts.sent_to(b), [1, 0]);
        // Withdrawn: the prefix leaves the Adj-RIB-Out, and the Loc-RIB entry left empty goes.
        w.rib.peer(a).withdraw(&p, 0);
        g.flush(&mut w.cx(), &[p]);
        assert_eq!(g.adj_out_counts_of(0).sent_to(b), [0, 0]);
        assert_eq!(w.rib.len(), 0);
    }
}
