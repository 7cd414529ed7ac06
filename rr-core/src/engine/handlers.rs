//! Message handlers: one per RFC 4271 event (19 BGPOpen, 26 KeepAliveMsg, 27 UpdateMsg, 25
//! NotifMsg), route refresh (RFC 2918, RFC 7313) and RFC 7606 outcomes.

use super::*;
use crate::session::{Ctx as SessionCtx, Effect, Identity};
use crate::wire::{self, Inbound, Received};
use import::{Import, ImportCache};

impl Engine {
    /// The way in for everything received on `conn`: the decoded message and its RFC 7606
    /// outcome ([`Received`]). Decode with [`Engine::decode_ctx`] (the context of
    /// [`crate::Output::Established`]; before that any context decodes OPEN, KEEPALIVE and
    /// NOTIFICATION) and `bgp_wire::Message::decode_with_errors`, or let [`Engine::handle_frame`]
    /// do both.
    ///
    /// - An UPDATE with a treat-as-withdraw error (RFC 7606 section 2), or without a mandatory
    ///   attribute (section 3 (d)), withdraws its routes; the session stays up and
    ///   [`crate::PeerStats`] counts it.
    /// - A decode error sends the NOTIFICATION `bgp_wire` derives from it
    ///   (`From<&DecodeError> for Notification`) and closes the connection.
    pub fn handle_received(&mut self, now: Instant, conn: ConnId, received: impl Into<Received>) {
        self.tick(now);
        match wire::inbound(received.into(), || self.conn_four_octet(conn)) {
            Inbound::Open(remote) => self.on_open(conn, remote),
            Inbound::Keepalive => self.on_keepalive(conn),
            Inbound::Update(parts) => {
                for (upd, taw) in parts {
                    if taw {
                        self.on_treat_as_withdraw(conn, upd.withdrawn);
                    } else {
                        self.on_update(conn, upd);
                    }
                }
            }
            Inbound::TreatAsWithdraw(nlri) => self.on_treat_as_withdraw(conn, nlri),
            Inbound::Notification(n) => self.on_notification(conn, n),
            Inbound::RouteRefresh { family, subtype } => self.on_route_refresh(conn, family, subtype),
            Inbound::Reset(n) => self.on_session_reset(conn, n),
            Inbound::Ignore => {}
        }
    }

    /// Decodes a whole frame with the connection's context and hands it to
    /// [`Engine::handle_received`]: the one-call path for callers that decode on the engine's
    /// thread.
    pub fn handle_frame(&mut self, now: Instant, conn: ConnId, frame: &Bytes) {
        let ctx = self.decode_ctx(conn);
        let received = bgp_wire::Message::decode_with_errors(frame, &ctx);
        self.handle_received(now, conn, received);
    }

    /// The session of peer `id` and the context its transitions run in.
    pub(super) fn session(&mut self, id: PeerId) -> Option<(&mut Session, SessionCtx<'_>)> {
        let p = self.peers.get_mut(id)?;
        let cx = SessionCtx {
            peer: id,
            now: self.now,
            timers: &mut self.timerq,
            jitter: &mut self.jitter,
        };
        Some((&mut p.session, cx))
    }

    /// [`Engine::session`] with the peer's configuration.
    pub(super) fn session_cfg(&mut self, id: PeerId) -> Option<(&mut Session, &PeerConfig, SessionCtx<'_>)> {
        let p = self.peers.get_mut(id)?;
        let cx = SessionCtx {
            peer: id,
            now: self.now,
            timers: &mut self.timerq,
            jitter: &mut self.jitter,
        };
        Some((&mut p.session, &p.cfg, cx))
    }

    /// Carries out what a session transition of peer `id` asked for, in order.
    pub(super) fn apply(&mut self, id: PeerId, effect: Effect) {
        match effect {
            Effect::Send { conn, bytes } => self.send(id, conn, bytes),
            Effect::Close { conn, reason, notify } => self.conn_down(id, conn, reason, notify),
            Effect::Established {
                conn,
                neg,
                drop_stale,
                renamed,
            } => self.established(id, conn, neg, drop_stale, renamed),
        }
    }

    /// Event 19 BGPOpen (or 22 BGPOpenMsgErr when the OPEN is unacceptable).
    pub(crate) fn on_open(&mut self, conn: ConnId, remote: RemoteOpen) {
        let Some(id) = self.peers.by_conn(conn) else {
            return;
        };
        let router_id = self.cfg.router_id;
        let Some(p) = self.peer(id) else { return };
        let local = Identity {
            router_id,
            remote_as: p.cfg.remote_as,
            keepalive: p.cfg.keepalive,
        };
        let Some((s, mut cx)) = self.session(id) else {
            return;
        };
        for e in s.open_received(&mut cx, conn, &local, &remote) {
            self.apply(id, e);
        }
    }

    /// Event 26 KeepAliveMsg.
    pub(crate) fn on_keepalive(&mut self, conn: ConnId) {
        let Some(id) = self.peers.by_conn(conn) else {
            return;
        };
        let Some((s, mut cx)) = self.session(id) else {
            return;
        };
        if let Some(e) = s.keepalive_received(&mut cx, conn) {
            self.apply(id, e);
        }
    }

    /// The session reached Established on `conn` ([`Session::keepalive_received`] recorded it):
    /// the stale routes of `drop_stale` go, the peer joins its update group.
    ///
    /// `renamed`: the peer came back with another router id while paths of its previous session are
    /// kept (graceful restart). The router id ranks its paths (RFC 4271 section 9.1.2.2 f) and is
    /// the ORIGINATOR_ID they are reflected with (RFC 4456 section 8: "the ROUTER_ID of the
    /// originator"), so every prefix it has a path for is selected and advertised again, and the
    /// update groups re-send its routes even where the path itself did not change.
    fn established(
        &mut self,
        id: PeerId,
        conn: ConnId,
        neg: Box<Negotiated>,
        drop_stale: FamilySet,
        renamed: bool,
    ) {
        let Some(p) = self.peers.get_mut(id) else {
            return;
        };
        p.stats.established_transitions += 1;
        if !drop_stale.is_empty() {
            self.rib.withdraw_where(id, |r| {
                r.flags & (STALE_GR | STALE_LLGR) != 0 && drop_stale.contains(r.family)
            });
        }
        if renamed {
            self.rib.mark_peer_changed(id);
            self.groups.source_renamed(id);
        }
        let decode_ctx = neg.decode_ctx();
        self.out.push_back(Output::Established {
            peer: id,
            conn,
            decode_ctx,
            negotiated: neg,
        });
        self.groups_join(id);
        self.deferral_note(id);
    }

    /// An UPDATE or ROUTE-REFRESH on `conn` of peer `id`: whether to process it (Established); in
    /// another state the connection is closed with an FSM error.
    fn accept_in_established(&mut self, id: PeerId, conn: ConnId) -> bool {
        let Some((s, mut cx)) = self.session(id) else {
            return false;
        };
        match s.established_message(&mut cx, conn) {
            Ok(ok) => ok,
            Err(e) => {
                self.apply(id, e);
                false
            }
        }
    }

    /// Event 27 UpdateMsg.
    pub(crate) fn on_update(&mut self, conn: ConnId, upd: InUpdate) {
        let Some(id) = self.peers.by_conn(conn) else {
            return;
        };
        self.event(id, Event::UpdateMsg);
        if !self.accept_in_established(id, conn) {
            return;
        }
        let (router_id, cluster_id, local_as) = (self.cfg.router_id, self.cluster_id, self.cfg.local_as);
        let Some(p) = self.peers.get_mut(id) else {
            return;
        };
        p.stats.updates_received += 1;
        let neg_fams = p.session.negotiated().map_or(FamilySet::EMPTY, |n| n.families);
        let mut first_family = None;
        let mut rib = self.rib.peer(id);
        for (prefix, path_id) in &upd.withdrawn {
            rib.withdraw(prefix, *path_id);
        }
        if let Some(mut attrs) = upd.attrs {
            if p.cfg.role == Role::Ebgp {
                // RFC 4271 5.1.5: LOCAL_PREF "received from an external peer ... MUST be ignored";
                // ORIGINATOR_ID and CLUSTER_LIST (RFC 4456) only make sense inside the AS.
                attrs.local_pref = None;
                attrs.originator_id = None;
                attrs.cluster_list.clear();
            }
            let looped = if p.cfg.role == Role::Ebgp {
                reflect::ebgp_loop_check(&attrs, p.local_as(local_as), p.cfg.allow_local_as).is_err()
            } else {
                reflect::ibgp_loop_check(&attrs, router_id, cluster_id).is_err()
            };
            let shared = if looped {
                None
            } else {
                Some(self.interner.intern(attrs))
            };
            let import = Import::of(p);
            let mut cache = ImportCache::default();
            for (prefix, path_id) in &upd.announced {
                if !neg_fams.contains(prefix.family()) {
                    continue;
                }
                first_family.get_or_insert(prefix.family());
                match &shared {
                    Some(a) => {
                        // Import policy, between the Adj-RIB-In and best path.
                        let imported = import.apply(&mut self.interner, &mut cache, *prefix, a);
                        rib.announce(*prefix, *path_id, imported);
                    }
                    None => {
                        // Looped: ignored, and an earlier path with the same key is implicitly
                        // withdrawn.
                        p.stats.looped_paths += 1;
                        rib.withdraw(prefix, *path_id);
                    }
                }
            }
        }
        if let Some(f) = upd.end_of_rib {
            self.on_end_of_rib(id, f);
        }
        self.check_max_prefixes(id, first_family);
    }

    /// The UPDATE was malformed with RFC 7606 "treat-as-withdraw": its NLRI are withdrawn.
    pub(crate) fn on_treat_as_withdraw(&mut self, conn: ConnId, nlri: Vec<(Prefix, u32)>) {
        if let Some(p) = self.peers.by_conn(conn).and_then(|id| self.peer_mut(id)) {
            p.stats.treat_as_withdraw += 1;
        }
        self.on_update(
            conn,
            InUpdate {
                withdrawn: nlri,
                ..InUpdate::default()
            },
        );
    }

    /// End-of-RIB for `f` ([`Session::end_of_rib`]): the routes still stale in `f` go, and the
    /// route-selection deferral may end.
    pub(super) fn on_end_of_rib(&mut self, id: PeerId, f: Family) {
        let Some(p) = self.peer_mut(id) else { return };
        if p.session.end_of_rib(f) {
            self.rib
                .withdraw_where(id, |r| r.family == f && r.flags & (STALE_GR | STALE_LLGR) != 0);
        }
        self.deferral_note(id);
    }

    /// Event 25 NotifMsg (or 24 NotifMsgVerErr): close without answering.
    pub(crate) fn on_notification(&mut self, conn: ConnId, n: Notification) {
        let Some(id) = self.peers.by_conn(conn) else {
            return;
        };
        self.event(id, Event::NotifMsg);
        self.conn_down(id, conn, DownReason::NotificationReceived(n), None);
    }

    /// ROUTE-REFRESH received (RFC 2918 section 4, RFC 7313 section 4).
    pub(crate) fn on_route_refresh(&mut self, conn: ConnId, family: Option<Family>, subtype: u8) {
        let Some(id) = self.peers.by_conn(conn) else {
            return;
        };
        if !self.accept_in_established(id, conn) {
            return;
        }
        let Some(f) = family else { return }; // RFC 2918: unknown AFI/SAFI is ignored
        match subtype {
            // Normal request: re-advertise our Adj-RIB-Out for the family.
            0 => self.groups_refresh(id, f),
            // RFC 7313 section 4: BoRR — mark the peer's routes of the family stale ...
            1 => {
                self.rib.mark_stale(id, FamilySet::only(f), STALE_REFRESH);
                if let Some((s, mut cx)) = self.session(id) {
                    s.begin_refresh(&mut cx, f);
                }
            }
            // ... and on EoRR purge those still stale.
            2 => {
                if let Some(p) = self.peer_mut(id) {
                    p.session.end_refresh(f);
                }
                self.rib
                    .withdraw_where(id, |r| r.family == f && r.flags & STALE_REFRESH != 0);
            }
            // RFC 7313 section 5: other subtypes are ignored.
            _ => {}
        }
    }

    /// A decode error on `conn` with RFC 7606 treatment "session reset" (or "AFI/SAFI disable",
    /// which the engine implements as a reset, as RFC 7606 permits): send the NOTIFICATION and close.
    pub(crate) fn on_session_reset(&mut self, conn: ConnId, n: Notification) {
        let Some(id) = self.peers.by_conn(conn) else {
            return;
        };
        self.event(id, Event::UpdateMsgErr);
        self.conn_down(id, conn, DownReason::NotificationSent(n.clone()), Some(n));
    }
}
