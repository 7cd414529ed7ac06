//! What a session's transitions mean for the rest of the engine: connection ids and the
//! Connect/Close outputs, a session going down (the update group left, routes removed or, with
//! graceful restart (RFC 4724) and LLGR (RFC 9494), marked stale in the RIB), and the maximum
//! prefix limit. The transitions themselves are in [`crate::session`].

use super::*;

impl Engine {
    /// Event 1/4: ManualStart. Connect now unless passive (then wait in Active).
    pub(super) fn fsm_start(&mut self, id: PeerId) {
        let passive = self.peer(id).is_some_and(|p| p.cfg.passive);
        self.event(
            id,
            if passive {
                Event::ManualStartPassive
            } else {
                Event::ManualStart
            },
        );
        let Some(p) = self.peer(id) else { return };
        if p.session.enabled() && !p.cfg.passive {
            self.try_connect(id);
        }
    }

    /// Opens an outbound connection if the session wants one ([`Session::wants_outbound`]).
    pub(super) fn try_connect(&mut self, id: PeerId) {
        let Some(p) = self.peer(id) else { return };
        if !p.session.wants_outbound(&p.cfg) {
            return;
        }
        let conn = self.peers.new_conn(id);
        let Some((s, cfg, mut cx)) = self.session_cfg(id) else {
            return;
        };
        s.connecting(&mut cx, conn, cfg);
        let (remote_addr, local_addr) = (cfg.remote_addr, cfg.local_addr);
        self.out.push_back(Output::Connect {
            peer: id,
            conn,
            remote_addr,
            local_addr,
        });
    }

    /// Arms the next attempt once the peer has no connection ([`Session::schedule_retry`]).
    pub(super) fn schedule_retry(&mut self, id: PeerId, after_session: bool) {
        let idle_hold = self.cfg.idle_hold_time;
        if let Some((s, cfg, mut cx)) = self.session_cfg(id) {
            s.schedule_retry(&mut cx, cfg, after_session, idle_hold);
        }
    }

    /// Forgets a peer's failed attempts; one waiting out a backoff delay is tried after the base interval.
    pub(super) fn reset_backoff(&mut self, id: PeerId) {
        if let Some((s, cfg, mut cx)) = self.session_cfg(id) {
            s.reset_backoff(&mut cx, cfg.connect_retry);
        }
    }

    pub(super) fn offer(&self, p: &Peer) -> LocalOffer {
        let fams = p.cfg.families;
        LocalOffer {
            asn: p.local_as(self.cfg.local_as),
            hold_time: u16::try_from(p.cfg.hold_time.as_secs()).unwrap_or(u16::MAX),
            families: fams,
            add_path_send: if p.cfg.add_path_send_max.is_some() {
                fams
            } else {
                FamilySet::EMPTY
            },
            add_path_receive: if p.cfg.add_path_receive {
                fams
            } else {
                FamilySet::EMPTY
            },
            extended_messages: self.cfg.extended_messages,
            gr_restart_time: p
                .cfg
                .graceful_restart
                .enabled
                .then_some(p.cfg.graceful_restart.restart_time),
            // RFC 4724 section 4.1: the restarting speaker sets the Restart State bit; we do while
            // route selection is deferred.
            gr_restarting: self.deferral.is_active(),
            gr_forwarding: p.cfg.graceful_restart.forwarding_state,
            llgr_stale_time: p.cfg.graceful_restart.llgr_stale_time,
        }
    }

    /// TCP up on `conn`: send OPEN, go to OpenSent with the large initial hold timer.
    pub(super) fn conn_up(&mut self, id: PeerId, conn: ConnId) {
        self.event(id, Event::TcpConnectionUp);
        let Some(p) = self.peer(id) else { return };
        let offer = self.offer(p);
        let Some(bytes) = encode::open(&offer, self.cfg.router_id) else {
            // AS 0 or router id 0.0.0.0: refused by add_peer, so unreachable; close rather than
            // send a malformed OPEN.
            self.out.push_back(Output::Close { conn });
            self.remove_conn(id, conn);
            return;
        };
        if let Some((s, mut cx)) = self.session(id) {
            s.open_sent(&mut cx, conn, offer);
        }
        self.send(id, conn, bytes);
    }

    pub(crate) fn send(&mut self, id: PeerId, conn: ConnId, bytes: Bytes) {
        if let Some(p) = self.peer_mut(id) {
            p.stats.messages_sent += 1;
        }
        self.out.push_back(Output::Send { conn, bytes });
    }

    pub(super) fn remove_conn(&mut self, id: PeerId, conn: ConnId) {
        self.peers.remove_conn(conn);
        if let Some(p) = self.peer_mut(id) {
            p.session.remove_conn(conn);
        }
    }

    /// Closes one connection (after an optional NOTIFICATION). If it carried the established
    /// session, the session goes down: graceful-restart retention or route removal.
    pub(crate) fn conn_down(
        &mut self,
        id: PeerId,
        conn: ConnId,
        reason: DownReason,
        notify: Option<Notification>,
    ) {
        if let Some(n) = &notify {
            self.send(id, conn, encode::notification(n));
        }
        let was_established = self
            .peer(id)
            .is_some_and(|p| p.session.established().is_some_and(|(c, _)| c == conn));
        self.out.push_back(Output::Close { conn });
        self.remove_conn(id, conn);
        if was_established {
            self.session_down(id, reason);
        } else if matches!(
            reason,
            DownReason::NotificationSent(_) | DownReason::NotificationReceived(_)
        ) {
            // A session that failed before Established (e.g. OPEN errors, a hold timer in OpenSent) is a
            // failure the operator must see as much as a session that ended.
            let now = self.now;
            if let Some(p) = self.peer_mut(id) {
                p.session.failed(now, &reason);
            }
            self.out.push_back(Output::ConnectionFailed {
                peer: id,
                conn,
                reason,
            });
        }
        self.schedule_retry(id, true);
    }

    pub(super) fn drop_all_conns(&mut self, id: PeerId, notify: Option<Notification>, no_retry: bool) {
        let conns: Vec<(ConnId, State)> = self
            .peer(id)
            .map(|p| p.session.conns().collect())
            .unwrap_or_default();
        for (c, st) in conns {
            // A NOTIFICATION is only meaningful once our OPEN is out (OpenSent or later).
            let n = if st >= State::OpenSent {
                notify.clone()
            } else {
                None
            };
            let reason = match &n {
                Some(n) => DownReason::NotificationSent(n.clone()),
                None => DownReason::ConnectionLost,
            };
            self.conn_down(id, c, reason, n);
        }
        if no_retry && let Some(p) = self.peer_mut(id) {
            p.session.no_retry();
        }
    }

    /// The Established session ended ([`Session::down`]): the peer leaves its update group, its
    /// routes go or, with graceful restart, stay marked stale.
    pub(super) fn session_down(&mut self, id: PeerId, reason: DownReason) {
        self.groups_leave(id);
        let now = self.now;
        let Some(p) = self.peer_mut(id) else { return };
        let helper = p.cfg.graceful_restart.enabled && p.session.enabled();
        let gr = p.session.down(now, &reason, helper);
        let retained = gr.map_or(FamilySet::EMPTY, |g| g.families);
        self.out.push_back(Output::SessionDown { peer: id, reason });
        // Drop what is not retained, mark the rest stale.
        self.rib.withdraw_where(id, |r| !retained.contains(r.family));
        if let Some(g) = gr {
            self.rib.mark_stale(id, retained, STALE_GR);
            if let Some((s, mut cx)) = self.session(id) {
                s.retain_stale(&mut cx, g);
            }
        }
    }

    /// The GrRestart timer fired ([`Session::restart_timer_expired`]).
    pub(super) fn gr_timer_expired(&mut self, id: PeerId) {
        let Some((s, mut cx)) = self.session(id) else {
            return;
        };
        match s.restart_timer_expired(&mut cx) {
            RestartExpiry::StalePathTimeout => {
                self.rib
                    .withdraw_where(id, |r| r.flags & (STALE_GR | STALE_LLGR) != 0);
            }
            // RFC 9494 section 4.2: when the restart timer expires, routes of families with a
            // non-zero long-lived stale time enter the long-lived stale phase, carrying LLGR_STALE;
            // routes carrying NO_LLGR are removed.
            RestartExpiry::Llgr(keep) => {
                self.rib.withdraw_where(id, |r| {
                    r.flags & STALE_GR != 0
                        && (!keep.contains(r.family) || r.attrs.has_community(Community::NO_LLGR))
                });
                self.rib.enter_llgr(id, keep, &mut self.interner);
            }
            RestartExpiry::Purge => self.rib.withdraw_where(id, |r| r.flags & STALE_GR != 0),
        }
    }

    /// Records the last FSM event of a peer (introspection).
    pub(super) fn event(&mut self, id: PeerId, ev: Event) {
        if let Some(p) = self.peer_mut(id) {
            p.session.record(ev);
        }
    }

    /// RFC 4486 section 4: Cease subcode 1 when the peer exceeds its prefix limit; the data field
    /// carries AFI, SAFI and the upper bound.
    pub(super) fn check_max_prefixes(&mut self, id: PeerId, family: Option<Family>) -> bool {
        let Some(p) = self.peer(id) else { return false };
        let Some(max) = p.cfg.max_prefixes else {
            return false;
        };
        // The limit applies per address family (the RFC 4486 data names one AFI/SAFI); the family
        // of the UPDATE being processed is checked first.
        let received = self.rib.received_by_family(id);
        let over = family
            .into_iter()
            .chain(Family::ALL)
            .find(|f| received[f.index()] > max);
        let Some(over) = over else {
            return false;
        };
        let Some((conn, _)) = p.session.established() else {
            return false;
        };
        let (afi, safi) = over.afi_safi();
        let mut data = Vec::with_capacity(7);
        data.extend_from_slice(&afi.to_be_bytes());
        data.push(safi);
        data.extend_from_slice(&u32::try_from(max).unwrap_or(u32::MAX).to_be_bytes());
        let n = Notification {
            code: notif::code::CEASE,
            subcode: notif::cease::MAX_PREFIXES,
            data: Bytes::from(data),
        };
        self.conn_down(id, conn, DownReason::NotificationSent(n.clone()), Some(n));
        true
    }
}
