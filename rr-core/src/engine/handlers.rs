//! Message handlers: one per RFC 4271 event (19 BGPOpen, 26 KeepAliveMsg, 27 UpdateMsg, 25
//! NotifMsg), route refresh (RFC 2918, RFC 7313) and RFC 7606 outcomes.

use super::*;
use import::{Import, ImportCache};

impl Engine {
    pub(super) fn conn_state(&self, id: PeerId, conn: ConnId) -> Option<State> {
        self.peer(id)?
            .session
            .conns
            .iter()
            .find(|c| c.id == conn)
            .map(|c| c.state.state())
    }

    /// RFC 6608 FSM error for an unexpected message in the current state.
    pub(super) fn fsm_error(&mut self, id: PeerId, conn: ConnId, st: State) {
        let sub = match st {
            State::OpenSent => notif::fsm::UNEXPECTED_IN_OPENSENT,
            State::OpenConfirm => notif::fsm::UNEXPECTED_IN_OPENCONFIRM,
            State::Established => notif::fsm::UNEXPECTED_IN_ESTABLISHED,
            _ => 0,
        };
        let n = Notification {
            code: notif::code::FSM_ERROR,
            subcode: sub,
            data: Bytes::new(),
        };
        self.conn_down(id, conn, DownReason::NotificationSent(n.clone()), Some(n));
    }

    pub(super) fn restart_hold(&mut self, id: PeerId, conn: ConnId) {
        let now = self.now;
        let key = TimerKey {
            peer: id,
            conn: Some(conn),
            timer: Timer::Hold,
        };
        if let Some(c) = self.peers.get_mut(id).and_then(|p| p.conn_mut(conn)) {
            let hold = match &c.state {
                ConnState::OpenConfirm { neg } | ConnState::Established { neg } => neg.hold_time,
                _ => return,
            };
            if !hold.is_zero() {
                self.timerq.set(&mut c.timers, key, now + hold);
            }
        }
    }

    /// Event 19 BGPOpen (or 22 BGPOpenMsgErr when the OPEN is unacceptable).
    pub(crate) fn on_open(&mut self, conn: ConnId, remote: RemoteOpen) {
        let Some(id) = self.peers.by_conn(conn) else {
            return;
        };
        self.event(id, Event::BgpOpen);
        let Some(st) = self.conn_state(id, conn) else {
            return;
        };
        if st != State::OpenSent {
            // RFC 4271 8.2.2: OPEN in OpenConfirm/Established is an FSM error (RFC 6608 subcodes).
            self.fsm_error(id, conn, st);
            return;
        }
        let Some(p) = self.peer(id) else { return };
        let offer = match p.session.conn(conn).map(|c| &c.state) {
            Some(ConnState::OpenSent { offer }) => offer.clone(),
            _ => return,
        };
        let neg = match negotiate(
            &offer,
            self.cfg.router_id,
            p.cfg.remote_as,
            p.cfg.keepalive,
            &remote,
        ) {
            Ok(n) => n,
            Err(rej) => {
                let data = if rej.subcode == 1 {
                    Bytes::from_static(&[0, 4])
                } else {
                    Bytes::new()
                };
                let n = Notification {
                    code: notif::code::OPEN_MESSAGE_ERROR,
                    subcode: rej.subcode,
                    data,
                };
                self.conn_down(id, conn, DownReason::NotificationSent(n.clone()), Some(n));
                return;
            }
        };
        // Collision detection (RFC 4271 section 6.8).
        if !self.resolve_collision(id, conn, remote.router_id) {
            return;
        }
        let ka = neg.keepalive;
        let hold = neg.hold_time;
        let now = self.now;
        let ka_at = now + self.jitter.apply(ka);
        if let Some(c) = self.peer_mut(id).and_then(|p| p.conn_mut(conn)) {
            c.state = ConnState::OpenConfirm { neg: Box::new(neg) };
            // RFC 4271 8.2.2: "sets the HoldTimer according to the negotiated value".
            if hold.is_zero() {
                c.timers.stop(Timer::Hold);
            }
        }
        if !hold.is_zero() {
            self.arm(id, Some(conn), Timer::Hold, now + hold);
        }
        if !ka.is_zero() {
            self.arm(id, Some(conn), Timer::Keepalive, ka_at);
        }
        self.send(id, conn, encode::keepalive());
    }

    /// Returns false if `conn` was closed by collision resolution.
    pub(super) fn resolve_collision(&mut self, id: PeerId, conn: ConnId, remote_id: Ipv4Addr) -> bool {
        let Some(p) = self.peer(id) else { return false };
        let this_dir = p.session.conn(conn).map(|c| c.dir);
        let others: Vec<(ConnId, State, Direction, bool)> = p
            .session
            .conns
            .iter()
            .filter(|c| c.id != conn)
            .map(|c| {
                let gr = matches!(&c.state, ConnState::Established { neg } if neg.peer_gr.is_some());
                (c.id, c.state.state(), c.dir, gr)
            })
            .collect();
        let collision = || Notification {
            code: notif::code::CEASE,
            subcode: notif::cease::CONNECTION_COLLISION_RESOLUTION,
            data: Bytes::new(),
        };
        for (other, st, other_dir, gr) in others {
            match st {
                State::Established => {
                    if gr {
                        // RFC 4724 section 4.2: "If the session ... is in the Established state and
                        // a new OPEN arrives ... the Receiving Speaker MUST close the TCP connection
                        // of the old session" — the peer restarted; its routes go stale.
                        self.conn_down(id, other, DownReason::Replaced, None);
                    } else {
                        // RFC 4271 6.8: "collision with existing BGP connection that is in the
                        // Established state causes closing of the newly created connection."
                        let n = collision();
                        self.conn_down(id, conn, DownReason::NotificationSent(n.clone()), Some(n));
                        return false;
                    }
                }
                State::OpenSent | State::OpenConfirm => {
                    // RFC 4271 6.8: "If the value of the local BGP Identifier is less than the
                    // remote one, the local system closes the BGP connection that already exists
                    // ... and accepts the BGP connection initiated by the remote system."
                    // Otherwise the connection initiated by the remote system is closed.
                    let keep_dir = if u32::from(self.cfg.router_id) < u32::from(remote_id) {
                        Direction::Inbound
                    } else {
                        Direction::Outbound
                    };
                    let n = collision();
                    if this_dir == Some(keep_dir) {
                        self.conn_down(id, other, DownReason::NotificationSent(n.clone()), Some(n));
                    } else if other_dir == keep_dir {
                        self.event(id, Event::OpenCollisionDump);
                        self.conn_down(id, conn, DownReason::NotificationSent(n.clone()), Some(n));
                        return false;
                    }
                }
                _ => {}
            }
        }
        true
    }

    /// Event 26 KeepAliveMsg.
    pub(crate) fn on_keepalive(&mut self, conn: ConnId) {
        let Some(id) = self.peers.by_conn(conn) else {
            return;
        };
        self.event(id, Event::KeepAliveMsg);
        let Some(st) = self.conn_state(id, conn) else {
            return;
        };
        match st {
            State::OpenConfirm => {
                self.restart_hold(id, conn);
                self.established(id, conn);
            }
            State::Established => self.restart_hold(id, conn),
            _ => self.fsm_error(id, conn, st),
        }
    }

    pub(super) fn established(&mut self, id: PeerId, conn: ConnId) {
        let now = self.now;
        let Some(p) = self.peers.get_mut(id) else {
            return;
        };
        let Some(c) = p.conn_mut(conn) else { return };
        let neg = match std::mem::replace(&mut c.state, ConnState::Connecting) {
            ConnState::OpenConfirm { neg } => neg,
            other => {
                c.state = other;
                return;
            }
        };
        c.state = ConnState::Established { neg: neg.clone() };
        let local = c.local_addr;
        p.session.established = Some((conn, now));
        p.session.local_addr = local;
        p.session.remote_router_id = neg.remote_router_id;
        p.stats.established_transitions += 1;
        p.session.eor_received = FamilySet::EMPTY;
        p.session.connect_failures = 0;
        p.session.timers.stop(Timer::ConnectRetry);
        p.session.timers.stop(Timer::IdleHold);
        // RFC 4724 section 4.2: on re-establishment, stale routes of families the peer no longer
        // lists with the Forwarding State bit are deleted; the rest wait for End-of-RIB.
        let keep = neg
            .peer_gr
            .map_or(FamilySet::EMPTY, |g| g.forwarding.intersect(g.families));
        let stale = p.session.gr_stale.union(p.session.llgr_stale);
        p.session.timers.stop(Timer::GrRestart);
        p.session.neg = Some(neg.clone());
        p.session.gr_stale = p.session.gr_stale.intersect(keep);
        p.session.llgr_stale = p.session.llgr_stale.intersect(keep);
        if !stale.intersect(keep).is_empty() {
            // RFC 4724 section 4.2: the receiving speaker "MAY use a (configurable) timer to
            // remove stale routes" if the End-of-RIB never comes: the stale-path timer.
            let key = TimerKey {
                peer: id,
                conn: None,
                timer: Timer::GrRestart,
            };
            self.timerq.set(&mut p.session.timers, key, now + STALE_PATH_TIME);
        }
        let drop = FamilySet::from_bits(stale.bits() & !keep.bits());
        if !drop.is_empty() {
            self.clear_routes(id, |r| {
                r.flags & (STALE_GR | STALE_LLGR) != 0 && drop.contains(r.family)
            });
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

    /// Event 27 UpdateMsg.
    pub(crate) fn on_update(&mut self, conn: ConnId, upd: InUpdate) {
        let Some(id) = self.peers.by_conn(conn) else {
            return;
        };
        self.event(id, Event::UpdateMsg);
        let Some(st) = self.conn_state(id, conn) else {
            return;
        };
        if st != State::Established {
            self.fsm_error(id, conn, st);
            return;
        }
        self.restart_hold(id, conn);
        let (router_id, cluster_id, local_as) = (self.cfg.router_id, self.cluster_id, self.cfg.local_as);
        let Some(p) = self.peers.get_mut(id) else {
            return;
        };
        p.stats.updates_received += 1;
        let neg_fams = p.session.neg.as_ref().map_or(FamilySet::EMPTY, |n| n.families);
        let mut first_family = None;
        for (prefix, path_id) in &upd.withdrawn {
            if p.adj_in.remove(prefix, *path_id) {
                if !p.pre_policy.is_empty() {
                    p.pre_policy.remove(&(*prefix, *path_id));
                }
                self.loc.remove(prefix, id, *path_id);
                self.dirty.mark(*prefix);
            }
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
                        p.adj_in.insert(*prefix, *path_id);
                        // Import policy, between the Adj-RIB-In and best path.
                        let (attrs, flags) =
                            import.apply(p, &mut self.interner, &mut cache, *prefix, *path_id, a);
                        self.loc.upsert(*prefix, id, *path_id, attrs, flags);
                    }
                    None => {
                        // Looped: ignored, and an earlier path with the same key is implicitly
                        // withdrawn.
                        p.stats.looped_paths += 1;
                        if !p.adj_in.remove(prefix, *path_id) {
                            continue;
                        }
                        if !p.pre_policy.is_empty() {
                            p.pre_policy.remove(&(*prefix, *path_id));
                        }
                        self.loc.remove(prefix, id, *path_id);
                    }
                }
                self.dirty.mark(*prefix);
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

    pub(super) fn on_end_of_rib(&mut self, id: PeerId, f: Family) {
        let Some(p) = self.peer_mut(id) else { return };
        p.session.eor_received.insert(f);
        // RFC 4724 section 4.2: "Once the End-of-RIB marker for an address family is received
        // from the peer, it MUST immediately remove any routes from the peer that are still marked
        // as stale for that address family."
        if p.session.gr_stale.contains(f) || p.session.llgr_stale.contains(f) {
            p.session.gr_stale.remove(f);
            p.session.llgr_stale.remove(f);
            if p.session.llgr_stale.is_empty() {
                p.session.timers.stop(Timer::LlgrStale);
            }
            if p.session.gr_stale.union(p.session.llgr_stale).is_empty() && p.session.established.is_some() {
                p.session.timers.stop(Timer::GrRestart); // the stale-path timer
            }
            self.clear_routes(id, |r| r.family == f && r.flags & (STALE_GR | STALE_LLGR) != 0);
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
        let Some(st) = self.conn_state(id, conn) else {
            return;
        };
        if st != State::Established {
            self.fsm_error(id, conn, st);
            return;
        }
        self.restart_hold(id, conn);
        let Some(f) = family else { return }; // RFC 2918: unknown AFI/SAFI is ignored
        match subtype {
            // Normal request: re-advertise our Adj-RIB-Out for the family.
            0 => self.groups_refresh(id, f),
            // RFC 7313 section 4: BoRR — mark the peer's routes of the family stale ...
            1 => {
                self.mark_stale(id, FamilySet::only(f), STALE_REFRESH);
                let at = self.now + REFRESH_STALE_TIME;
                if let Some(p) = self.peer_mut(id) {
                    p.session.refresh_stale.insert(f);
                }
                self.arm(id, None, Timer::RefreshStale, at);
            }
            // ... and on EoRR purge those still stale.
            2 => {
                if let Some(p) = self.peer_mut(id) {
                    p.session.refresh_stale.remove(f);
                    if p.session.refresh_stale.is_empty() {
                        p.session.timers.stop(Timer::RefreshStale);
                    }
                }
                self.clear_routes(id, |r| r.family == f && r.flags & STALE_REFRESH != 0);
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
