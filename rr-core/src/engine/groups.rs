//! The engine's side of the update groups ([`crate::group`]): a peer joins the group of its
//! session's outbound treatment once established, leaves it when the session ends, and moves to
//! another when its export policy changes; a flush and the members' catch-up walks run with the
//! parts of the engine they use, borrowed apart ([`Ctx`]).

use super::*;
use crate::group::{Ctx, GroupKey};

impl Engine {
    /// The update groups, and the parts of the engine they use.
    fn groups_ctx(&mut self) -> (&mut Groups, Ctx<'_>) {
        let Engine {
            groups,
            peers,
            rib,
            interner,
            out,
            cluster_id,
            ..
        } = self;
        let cx = Ctx {
            peers,
            rib,
            interner,
            out,
            cluster_id: *cluster_id,
        };
        (groups, cx)
    }

    fn group_key(&self, p: &Peer) -> Option<GroupKey> {
        GroupKey::of(p, self.cfg.local_as, self.cfg.update_groups)
    }

    /// Number of live update groups.
    pub fn update_groups(&self) -> usize {
        self.groups.len()
    }

    /// Adds an established peer to its group (created and filled from the Loc-RIB if new); the
    /// peer receives the table and End-of-RIB at the next flush.
    pub(crate) fn groups_join(&mut self, id: PeerId) {
        let Some(key) = self.peer(id).and_then(|p| self.group_key(p)) else {
            return;
        };
        let (groups, mut cx) = self.groups_ctx();
        groups.join(&mut cx, key, id);
    }

    /// Moves an established peer to the group its configuration now asks for (its export policy
    /// changed) without resetting the session ([`Groups::regroup`]).
    pub(crate) fn groups_regroup(&mut self, id: PeerId) {
        let Some(p) = self.peer(id) else { return };
        let (Some(old_gi), Some(key)) = (self.groups.group_of(id), self.group_key(p)) else {
            return;
        };
        let (groups, mut cx) = self.groups_ctx();
        groups.regroup(&mut cx, id, old_gi, key);
    }

    /// Takes a peer out of its group (its session ended).
    pub(crate) fn groups_leave(&mut self, id: PeerId) {
        if let Some(gi) = self.groups.group_of(id) {
            self.groups.leave(gi, id);
        }
    }

    /// A member asked for a route refresh of `f` (RFC 2918).
    pub(crate) fn groups_refresh(&mut self, id: PeerId, f: Family) {
        if let Some(gi) = self.groups.group_of(id) {
            self.groups.refresh(gi, id, f);
        }
    }

    /// Best path for every dirty prefix, diff against every group's Adj-RIB-Out, encode, send;
    /// then the catch-ups of regrouped members and re-sends for route refreshes.
    pub(crate) fn groups_flush(&mut self) {
        if !self.rib.has_changes() && !self.groups.has_pending() {
            return;
        }
        let dirty = self.rib.take_changed();
        let (groups, mut cx) = self.groups_ctx();
        groups.flush(&mut cx, &dirty);
        // Keep the allocation of the dirty list for the next batch.
        self.rib.recycle_changed(dirty);
    }

    /// Flow control from the caller. Report `true` when `conn`'s write queue passes the caller's
    /// high watermark (or the caller's budget for all connections is used up) and `false` when it
    /// has drained: a congested update-group member leaves the group's shared stream and, once
    /// drained, catches up from the group's Adj-RIB-Out with a cursor ([`Engine::poll_catch_up`];
    /// see the module documentation). A joining or catching-up member pauses while congested.
    pub fn set_congested(&mut self, now: Instant, conn: ConnId, congested: bool) {
        self.tick(now);
        let Some(id) = self.peer_of_conn(conn) else { return };
        let Some(gi) = self.groups.group_of(id) else {
            return;
        };
        self.groups.set_congested(gi, id, congested);
    }

    /// The next message of a member catching up (a joining member's initial table, or a member that
    /// fell behind), round robin over the members whose connection is not congested; when a member's
    /// walk ends it rejoins its group's shared stream. Queued actions ([`Engine::poll_queued`]) come
    /// first. `None` when there is nothing to send, or while route selection is deferred.
    ///
    /// [`Engine::poll_output`] returns these too once the queue is empty. A caller with flow control
    /// polls the queue with [`Engine::poll_queued`] and calls this only while it has room for more
    /// output, so that members wait (and cost nothing) instead of having their copies queued.
    pub fn poll_catch_up(&mut self) -> Option<Output> {
        if let Some(o) = self.out.pop_front() {
            return Some(o);
        }
        if self.deferral.is_active() {
            return None;
        }
        let pending = self.rib.has_changes();
        let (groups, mut cx) = self.groups_ctx();
        let o = groups.poll_catch_up(&mut cx, pending)?;
        if let Output::Send { conn, .. } = &o
            && self.out.has_held()
        {
            // What is held for the member goes first (it fell behind with fan-outs held for it).
            self.out.queue_held_of(*conn);
            self.count_handed();
            if !self.out.is_empty() {
                self.out.push_back(o);
                return self.out.pop_front();
            }
        }
        Some(o)
    }

    /// Holds the UPDATEs of update-group flushes (`true`) for the caller to take connection by
    /// connection with [`Engine::release_held`], instead of queuing one output per member and flush:
    /// a paced fan-out, in which each member is written once per turn however many flushes happened
    /// since its last one. `false` queues what is held (in order) and stops holding. Held messages
    /// are never reordered with the connection's other outputs: any other send for the connection
    /// (its catch-up, a NOTIFICATION) queues what is held for it first, and closing it drops them.
    /// Off by default; [`Engine::poll_output`] never releases held messages.
    pub fn set_hold_fan_out(&mut self, on: bool) {
        self.out.set_hold(on);
    }

    /// Whether flush output is held for some connection ([`Engine::set_hold_fan_out`]).
    pub fn has_held(&self) -> bool {
        self.out.has_held()
    }

    /// Appends to `out` what is held for `conn`, in order: the first 16 KiB copied into one buffer (a
    /// turn under churn, many small UPDATEs, is one write), the rest as zero-copy slices of the shared
    /// encodings (a turn during a table's fan-out is megabytes, not copied per member). While outputs
    /// are queued (some may be for `conn` and must go first), they are queued behind them instead:
    /// poll [`Engine::poll_queued`] after the turns.
    pub fn release_held(&mut self, conn: ConnId, out: &mut Vec<Bytes>) {
        self.out.release(conn, out);
        self.count_handed();
    }

    /// Adds the held messages handed out since the last call to their members' sent counts.
    pub(super) fn count_handed(&mut self) {
        let peers = &mut self.peers;
        self.out.take_handed(|id, n| {
            if let Some(p) = peers.get_mut(id) {
                p.stats.messages_sent += n as u64;
            }
        });
    }
}
