//! The session's transitions (RFC 4271 section 8.2.2). Each one changes only the [`Session`]'s
//! own state (connection states, timers, negotiated parameters, the last event) and returns the
//! [`Effect`]s the engine carries out on everything else: the bytes to send, connections to close
//! (with what a session going down means for the RIB and the update groups), and a session that
//! reached Established.

use std::net::Ipv4Addr;
use std::time::Duration;

use bytes::Bytes;

use super::{ConnState, Event, LocalOffer, Negotiated, RemoteOpen, Session, State, negotiate};
use crate::encode;
use crate::engine::notif;
use crate::output::DownReason;
use crate::timer::{Jitter, Timer, TimerKey, TimerQueue};
use crate::types::{ConnId, Direction, FamilySet, Instant, PeerId};
use crate::wire::Notification;

/// RFC 4271 section 8.2.2 (OpenSent): "sets the HoldTimer to a large value ... A HoldTimer value of
/// 4 minutes is suggested."
pub(crate) const OPEN_HOLD: Duration = Duration::from_secs(240);
/// How long stale routes wait for End-of-RIB once a restarted peer is back (RFC 4724 section 4.2
/// leaves the value to the implementation; BIRD and FRR use 360 s).
pub(crate) const STALE_PATH_TIME: Duration = Duration::from_secs(360);

/// What a transition needs from outside the session: the peer's id (to key its timers), the
/// current time, the engine's timer queue and its jitter source.
pub(crate) struct Ctx<'a> {
    pub(crate) peer: PeerId,
    pub(crate) now: Instant,
    pub(crate) timers: &'a mut TimerQueue,
    pub(crate) jitter: &'a mut Jitter,
}

/// Our side of the OPEN checks (RFC 4271 section 6.2).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Identity {
    /// Our BGP identifier.
    pub(crate) router_id: Ipv4Addr,
    /// The AS the peer must open with.
    pub(crate) remote_as: u32,
    /// The configured keepalive interval, if not a third of the hold time.
    pub(crate) keepalive: Option<Duration>,
}

/// What the engine must do after a transition.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Send `bytes` on `conn`.
    Send { conn: ConnId, bytes: Bytes },
    /// Close `conn`, after the NOTIFICATION if any. If it carried the Established session, the
    /// session is down for `reason`.
    Close {
        conn: ConnId,
        reason: DownReason,
        notify: Option<Notification>,
    },
    /// `conn` reached Established with `neg` (the session already recorded it). Stale routes of
    /// the families in `drop_stale` are to be removed (RFC 4724 section 4.2). `renamed`: the peer's
    /// router id differs from its previous session's (paths it kept through a restart rank and
    /// export differently).
    Established {
        conn: ConnId,
        neg: Box<Negotiated>,
        drop_stale: FamilySet,
        renamed: bool,
    },
}

impl Effect {
    /// Close `conn` with the NOTIFICATION `n`.
    fn notify(conn: ConnId, n: Notification) -> Effect {
        Effect::Close {
            conn,
            reason: DownReason::NotificationSent(n.clone()),
            notify: Some(n),
        }
    }
}

/// RFC 6608: the FSM Error NOTIFICATION for an unexpected message in state `st`.
pub(crate) fn fsm_error(st: State) -> Notification {
    let sub = match st {
        State::OpenSent => notif::fsm::UNEXPECTED_IN_OPENSENT,
        State::OpenConfirm => notif::fsm::UNEXPECTED_IN_OPENCONFIRM,
        State::Established => notif::fsm::UNEXPECTED_IN_ESTABLISHED,
        _ => 0,
    };
    Notification {
        code: notif::code::FSM_ERROR,
        subcode: sub,
        data: Bytes::new(),
    }
}

/// Cease "Connection Collision Resolution" (RFC 4486 subcode 7).
fn collision() -> Notification {
    Notification {
        code: notif::code::CEASE,
        subcode: notif::cease::CONNECTION_COLLISION_RESOLUTION,
        data: Bytes::new(),
    }
}

impl Session {
    /// Arms the session's timer `timer` (`conn` none) or `conn`'s, if the connection exists.
    pub(crate) fn arm(&mut self, cx: &mut Ctx<'_>, conn: Option<ConnId>, timer: Timer, at: Instant) {
        let key = TimerKey {
            peer: cx.peer,
            conn,
            timer,
        };
        let table = match conn {
            None => Some(&mut self.timers),
            Some(c) => self.conn_mut(c).map(|c| &mut c.timers),
        };
        if let Some(t) = table {
            cx.timers.set(t, key, at);
        }
    }

    /// The state of connection `conn`.
    pub(crate) fn conn_state(&self, conn: ConnId) -> Option<State> {
        self.conn(conn).map(|c| c.state.state())
    }

    /// Restarts `conn`'s HoldTimer with the negotiated hold time (none before OpenConfirm, none when
    /// the hold time is zero).
    fn restart_hold(&mut self, cx: &mut Ctx<'_>, conn: ConnId) {
        let Some(c) = self.conn(conn) else { return };
        let hold = match &c.state {
            ConnState::OpenConfirm { neg } | ConnState::Established { neg } => neg.hold_time,
            _ => return,
        };
        if !hold.is_zero() {
            self.arm(cx, Some(conn), Timer::Hold, cx.now + hold);
        }
    }

    /// TCP up on `conn` (Event 16/17), our OPEN offering `offer` on its way: OpenSent, with the
    /// large initial HoldTimer; the ConnectRetryTimer stops.
    pub(crate) fn open_sent(&mut self, cx: &mut Ctx<'_>, conn: ConnId, offer: LocalOffer) {
        let at = cx.now + OPEN_HOLD;
        self.timers.stop(Timer::ConnectRetry);
        if let Some(c) = self.conn_mut(conn) {
            c.state = ConnState::OpenSent { offer };
        }
        self.arm(cx, Some(conn), Timer::Hold, at);
    }

    /// Event 19 BGPOpen on `conn` (or 22 BGPOpenMsgErr when the OPEN is unacceptable): the OPEN
    /// checks and negotiation, collision detection (RFC 4271 section 6.8), then OpenConfirm with
    /// the negotiated timers and a KEEPALIVE.
    pub(crate) fn open_received(
        &mut self,
        cx: &mut Ctx<'_>,
        conn: ConnId,
        local: &Identity,
        remote: &RemoteOpen,
    ) -> Vec<Effect> {
        self.last_event = Some(Event::BgpOpen);
        let Some(st) = self.conn_state(conn) else {
            return Vec::new();
        };
        if st != State::OpenSent {
            // RFC 4271 8.2.2: OPEN in OpenConfirm/Established is an FSM error (RFC 6608 subcodes).
            return vec![Effect::notify(conn, fsm_error(st))];
        }
        let offer = match self.conn(conn).map(|c| &c.state) {
            Some(ConnState::OpenSent { offer }) => offer,
            _ => return Vec::new(),
        };
        let neg = match negotiate(offer, local.router_id, local.remote_as, local.keepalive, remote) {
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
                return vec![Effect::notify(conn, n)];
            }
        };
        // Collision detection (RFC 4271 section 6.8).
        let mut out = self.resolve_collision(conn, local.router_id, remote.router_id);
        if out
            .iter()
            .any(|e| matches!(e, Effect::Close { conn: c, .. } if *c == conn))
        {
            return out;
        }
        let ka = neg.keepalive;
        let hold = neg.hold_time;
        let ka_at = cx.now + cx.jitter.apply(ka);
        if let Some(c) = self.conn_mut(conn) {
            c.state = ConnState::OpenConfirm { neg: Box::new(neg) };
            // RFC 4271 8.2.2: "sets the HoldTimer according to the negotiated value".
            if hold.is_zero() {
                c.timers.stop(Timer::Hold);
            }
        }
        if !hold.is_zero() {
            self.arm(cx, Some(conn), Timer::Hold, cx.now + hold);
        }
        if !ka.is_zero() {
            self.arm(cx, Some(conn), Timer::Keepalive, ka_at);
        }
        out.push(Effect::Send {
            conn,
            bytes: encode::keepalive(),
        });
        out
    }

    /// Connection collision detection (RFC 4271 section 6.8) for an OPEN from `remote_id` on
    /// `conn`: the connections to close. `conn` itself is among them when it loses.
    pub(crate) fn resolve_collision(
        &mut self,
        conn: ConnId,
        our_id: Ipv4Addr,
        remote_id: Ipv4Addr,
    ) -> Vec<Effect> {
        let mut out = Vec::new();
        let mut dump = false;
        let this_dir = self.conn(conn).map(|c| c.dir);
        for other in self.conns.iter().filter(|c| c.id != conn) {
            match &other.state {
                ConnState::Established { neg } => {
                    if neg.peer_gr.is_some() {
                        // RFC 4724 section 4.2: "If the session ... is in the Established state and
                        // a new OPEN arrives ... the Receiving Speaker MUST close the TCP connection
                        // of the old session" — the peer restarted; its routes go stale.
                        out.push(Effect::Close {
                            conn: other.id,
                            reason: DownReason::Replaced,
                            notify: None,
                        });
                    } else {
                        // RFC 4271 6.8: "collision with existing BGP connection that is in the
                        // Established state causes closing of the newly created connection."
                        out.push(Effect::notify(conn, collision()));
                        break;
                    }
                }
                ConnState::OpenSent { .. } | ConnState::OpenConfirm { .. } => {
                    // RFC 4271 6.8: "If the value of the local BGP Identifier is less than the
                    // remote one, the local system closes the BGP connection that already exists
                    // ... and accepts the BGP connection initiated by the remote system."
                    // Otherwise the connection initiated by the remote system is closed.
                    let keep_dir = if u32::from(our_id) < u32::from(remote_id) {
                        Direction::Inbound
                    } else {
                        Direction::Outbound
                    };
                    if this_dir == Some(keep_dir) {
                        out.push(Effect::notify(other.id, collision()));
                    } else if other.dir == keep_dir {
                        out.push(Effect::notify(conn, collision()));
                        dump = true;
                        break;
                    }
                }
                ConnState::Connecting => {}
            }
        }
        if dump {
            // Event 23 OpenCollisionDump.
            self.last_event = Some(Event::OpenCollisionDump);
        }
        out
    }

    /// Event 26 KeepAliveMsg on `conn`: OpenConfirm goes Established, Established restarts the
    /// HoldTimer, any other state is an FSM error.
    pub(crate) fn keepalive_received(&mut self, cx: &mut Ctx<'_>, conn: ConnId) -> Option<Effect> {
        self.last_event = Some(Event::KeepAliveMsg);
        match self.conn_state(conn)? {
            State::OpenConfirm => {
                self.restart_hold(cx, conn);
                self.establish(cx, conn)
            }
            State::Established => {
                self.restart_hold(cx, conn);
                None
            }
            st => Some(Effect::notify(conn, fsm_error(st))),
        }
    }

    /// OpenConfirm to Established on `conn`: the session records the connection and its
    /// negotiated parameters, forgets the failed attempts, and keeps the graceful-restart stale
    /// families the peer still preserves.
    fn establish(&mut self, cx: &mut Ctx<'_>, conn: ConnId) -> Option<Effect> {
        let c = self.conn_mut(conn)?;
        let neg = match std::mem::replace(&mut c.state, ConnState::Connecting) {
            ConnState::OpenConfirm { neg } => neg,
            other => {
                c.state = other;
                return None;
            }
        };
        c.state = ConnState::Established { neg: neg.clone() };
        self.local_addr = c.local_addr;
        self.established = Some((conn, cx.now));
        let renamed =
            !self.remote_router_id.is_unspecified() && self.remote_router_id != neg.remote_router_id;
        self.remote_router_id = neg.remote_router_id;
        self.eor_received = FamilySet::EMPTY;
        self.connect_failures = 0;
        self.timers.stop(Timer::ConnectRetry);
        self.timers.stop(Timer::IdleHold);
        // RFC 4724 section 4.2: on re-establishment, stale routes of families the peer no longer
        // lists with the Forwarding State bit are deleted; the rest wait for End-of-RIB.
        let keep = neg
            .peer_gr
            .map_or(FamilySet::EMPTY, |g| g.forwarding.intersect(g.families));
        let stale = self.gr_stale.union(self.llgr_stale);
        self.timers.stop(Timer::GrRestart);
        self.neg = Some(neg.clone());
        self.gr_stale = self.gr_stale.intersect(keep);
        self.llgr_stale = self.llgr_stale.intersect(keep);
        if !stale.intersect(keep).is_empty() {
            // RFC 4724 section 4.2: the receiving speaker "MAY use a (configurable) timer to
            // remove stale routes" if the End-of-RIB never comes: the stale-path timer.
            self.arm(cx, None, Timer::GrRestart, cx.now + STALE_PATH_TIME);
        }
        Some(Effect::Established {
            conn,
            neg,
            drop_stale: FamilySet::from_bits(stale.bits() & !keep.bits()),
            renamed,
        })
    }

    /// An UPDATE or ROUTE-REFRESH on `conn`: accepted (true, the HoldTimer restarted) only in
    /// Established; in another state an FSM error (RFC 4271 8.2.2, RFC 6608); false for an unknown
    /// connection.
    pub(crate) fn established_message(&mut self, cx: &mut Ctx<'_>, conn: ConnId) -> Result<bool, Effect> {
        let Some(st) = self.conn_state(conn) else {
            return Ok(false);
        };
        if st != State::Established {
            return Err(Effect::notify(conn, fsm_error(st)));
        }
        self.restart_hold(cx, conn);
        Ok(true)
    }

    /// A connection timer fired: Event 10 HoldTimer_Expires (NOTIFICATION "Hold Timer Expired",
    /// close) or Event 11 KeepaliveTimer_Expires (KEEPALIVE, timer restarted).
    pub(crate) fn conn_timer_expired(&mut self, cx: &mut Ctx<'_>, conn: ConnId, t: Timer) -> Option<Effect> {
        match t {
            Timer::Hold => {
                self.last_event = Some(Event::HoldTimerExpires);
                // RFC 4271 6.5: "If a system does not receive successive KEEPALIVE, UPDATE, and/or
                // NOTIFICATION messages within the period specified in the Hold Time field of the
                // OPEN message, then the NOTIFICATION message with the Hold Timer Expired Error
                // Code is sent and the BGP connection is closed."
                let n = Notification {
                    code: notif::code::HOLD_TIMER_EXPIRED,
                    subcode: 0,
                    data: Bytes::new(),
                };
                Some(Effect::notify(conn, n))
            }
            Timer::Keepalive => {
                self.last_event = Some(Event::KeepaliveTimerExpires);
                let ka = self.conn(conn).and_then(|c| match &c.state {
                    ConnState::OpenConfirm { neg } | ConnState::Established { neg } => Some(neg.keepalive),
                    _ => None,
                });
                let ka = ka.filter(|k| !k.is_zero())?;
                let at = cx.now + cx.jitter.apply(ka);
                self.arm(cx, Some(conn), Timer::Keepalive, at);
                Some(Effect::Send {
                    conn,
                    bytes: encode::keepalive(),
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Conn;
    use super::*;
    use crate::timer::{TimerTable, TimerTables};
    use crate::types::Family;

    const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const PEER_LOW: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 0);
    const PEER_HIGH: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);
    const SECOND: Duration = Duration::from_secs(1);

    /// A session with its timer queue and jitter, driven without an engine.
    struct Fixture {
        s: Session,
        q: TimerQueue,
        j: Jitter,
        now: Instant,
    }

    impl TimerTables for Session {
        fn table(&self, key: &TimerKey) -> Option<&TimerTable> {
            match key.conn {
                None => Some(&self.timers),
                Some(c) => self.conn(c).map(|c| &c.timers),
            }
        }
        fn table_mut(&mut self, key: &TimerKey) -> Option<&mut TimerTable> {
            match key.conn {
                None => Some(&mut self.timers),
                Some(c) => self.conn_mut(c).map(|c| &mut c.timers),
            }
        }
    }

    fn offer() -> LocalOffer {
        LocalOffer {
            asn: 64512,
            hold_time: 90,
            families: FamilySet::only(Family::Ipv4Unicast),
            add_path_send: FamilySet::EMPTY,
            add_path_receive: FamilySet::EMPTY,
            extended_messages: false,
            gr_restart_time: Some(120),
            gr_restarting: false,
            gr_forwarding: false,
            llgr_stale_time: None,
        }
    }

    fn ident() -> Identity {
        Identity {
            router_id: ME,
            remote_as: 64512,
            keepalive: None,
        }
    }

    fn remote(router_id: Ipv4Addr) -> RemoteOpen {
        RemoteOpen {
            asn: 64512,
            hold_time: 30,
            router_id,
            four_octet_as: true,
            ..RemoteOpen::default()
        }
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture {
                s: Session::default(),
                q: TimerQueue::default(),
                j: Jitter::new(1),
                now: Instant::ZERO,
            }
        }

        fn cx(&mut self) -> (&mut Session, Ctx<'_>) {
            (
                &mut self.s,
                Ctx {
                    peer: PeerId::new(0, 0),
                    now: self.now,
                    timers: &mut self.q,
                    jitter: &mut self.j,
                },
            )
        }

        /// A connection `id` in `dir` that sent our OPEN.
        fn open_sent(&mut self, id: u64, dir: Direction) -> ConnId {
            let conn = ConnId(id);
            self.s.conns.push(Conn {
                id: conn,
                dir,
                state: ConnState::Connecting,
                timers: TimerTable::default(),
                local_addr: None,
            });
            let (s, mut cx) = self.cx();
            s.open_sent(&mut cx, conn, offer());
            conn
        }

        fn open(&mut self, conn: ConnId, remote_id: Ipv4Addr) -> Vec<Effect> {
            let (s, mut cx) = self.cx();
            s.open_received(&mut cx, conn, &ident(), &remote(remote_id))
        }

        fn keepalive(&mut self, conn: ConnId) -> Option<Effect> {
            let (s, mut cx) = self.cx();
            s.keepalive_received(&mut cx, conn)
        }

        /// The timers due at `now`, in firing order.
        fn due(&mut self) -> Vec<TimerKey> {
            let mut due = Vec::new();
            while self.q.settle(&self.s).is_some_and(|t| t <= self.now) {
                due.extend(self.q.pop_settled(&mut self.s));
            }
            due
        }
    }

    fn closes(effects: &[Effect]) -> Vec<(ConnId, Option<(u8, u8)>)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Close { conn, notify, .. } => {
                    Some((*conn, notify.as_ref().map(|n| (n.code, n.subcode))))
                }
                _ => None,
            })
            .collect()
    }

    const COLLISION: Option<(u8, u8)> =
        Some((notif::code::CEASE, notif::cease::CONNECTION_COLLISION_RESOLUTION));

    #[test]
    fn open_in_opensent_goes_to_openconfirm_with_a_keepalive_and_negotiated_timers() {
        let mut f = Fixture::new();
        let c = f.open_sent(1, Direction::Outbound);
        assert_eq!(
            f.s.conns[0].timers.get(Timer::Hold),
            Some(Instant::ZERO + OPEN_HOLD)
        );
        let e = f.open(c, PEER_HIGH);
        assert!(matches!(e.as_slice(), [Effect::Send { conn, .. }] if *conn == c));
        assert_eq!(f.s.conn_state(c), Some(State::OpenConfirm));
        assert_eq!(f.s.last_event, Some(Event::BgpOpen));
        // Hold time min(90, 30) = 30 s; keepalive a third of it, jittered to 0.75..=1.0.
        let t = &f.s.conns[0].timers;
        assert_eq!(t.get(Timer::Hold), Some(Instant::ZERO + 30 * SECOND));
        let ka = t.get(Timer::Keepalive).unwrap() - Instant::ZERO;
        assert!(ka >= 7 * SECOND + SECOND / 2 && ka <= 10 * SECOND, "{ka:?}");
    }

    #[test]
    fn an_unacceptable_open_is_answered_with_an_open_message_error() {
        let mut f = Fixture::new();
        let c = f.open_sent(1, Direction::Outbound);
        let (s, mut cx) = f.cx();
        let mut r = remote(PEER_HIGH);
        r.asn = 65000;
        let e = s.open_received(&mut cx, c, &ident(), &r);
        assert_eq!(
            closes(&e),
            [(
                c,
                Some((
                    notif::code::OPEN_MESSAGE_ERROR,
                    bgp_wire::notification::open::BAD_PEER_AS
                ))
            )]
        );
        assert_eq!(f.s.conn_state(c), Some(State::OpenSent), "the engine closes it");
    }

    #[test]
    fn keepalive_in_openconfirm_goes_established() {
        let mut f = Fixture::new();
        let c = f.open_sent(1, Direction::Inbound);
        f.s.connect_failures = 3;
        f.open(c, PEER_HIGH);
        f.now = Instant::ZERO + 5 * SECOND;
        let Some(Effect::Established {
            conn,
            neg,
            drop_stale,
            renamed,
        }) = f.keepalive(c)
        else {
            panic!("not established");
        };
        assert_eq!(
            (conn, neg.remote_router_id, drop_stale, renamed),
            (c, PEER_HIGH, FamilySet::EMPTY, false)
        );
        assert_eq!(f.s.conn_state(c), Some(State::Established));
        assert_eq!(f.s.state(), State::Established);
        assert_eq!(f.s.established, Some((c, f.now)));
        assert_eq!(f.s.connect_failures, 0);
        assert_eq!(f.s.neg.as_deref().map(|n| n.remote_as), Some(64512));
        // The KEEPALIVE restarted the hold timer.
        assert_eq!(f.s.conns[0].timers.get(Timer::Hold), Some(f.now + 30 * SECOND));
        // A second KEEPALIVE only restarts it.
        assert!(f.keepalive(c).is_none());
    }

    #[test]
    fn keepalive_in_opensent_is_an_fsm_error() {
        let mut f = Fixture::new();
        let c = f.open_sent(1, Direction::Outbound);
        let e = f.keepalive(c).into_iter().collect::<Vec<_>>();
        assert_eq!(
            closes(&e),
            [(
                c,
                Some((notif::code::FSM_ERROR, notif::fsm::UNEXPECTED_IN_OPENSENT))
            )]
        );
    }

    #[test]
    fn update_before_established_is_an_fsm_error() {
        let mut f = Fixture::new();
        let c = f.open_sent(1, Direction::Outbound);
        f.open(c, PEER_HIGH);
        let (s, mut cx) = f.cx();
        let Err(e) = s.established_message(&mut cx, c) else {
            panic!("accepted");
        };
        assert_eq!(
            closes(&[e]),
            [(
                c,
                Some((notif::code::FSM_ERROR, notif::fsm::UNEXPECTED_IN_OPENCONFIRM))
            )]
        );
        assert_eq!(s.established_message(&mut cx, ConnId(99)).ok(), Some(false));
    }

    #[test]
    fn hold_timer_expiry_sends_hold_timer_expired() {
        let mut f = Fixture::new();
        let c = f.open_sent(1, Direction::Outbound);
        f.now = Instant::ZERO + OPEN_HOLD;
        let due = f.due();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].conn, due[0].timer), (Some(c), Timer::Hold));
        let (s, mut cx) = f.cx();
        let e = s
            .conn_timer_expired(&mut cx, c, Timer::Hold)
            .into_iter()
            .collect::<Vec<_>>();
        assert_eq!(closes(&e), [(c, Some((notif::code::HOLD_TIMER_EXPIRED, 0)))]);
        assert_eq!(s.last_event, Some(Event::HoldTimerExpires));
    }

    #[test]
    fn keepalive_timer_sends_a_keepalive_and_rearms() {
        let mut f = Fixture::new();
        let c = f.open_sent(1, Direction::Outbound);
        f.open(c, PEER_HIGH);
        f.now = f.s.conns[0].timers.get(Timer::Keepalive).unwrap();
        assert_eq!(
            f.due().iter().map(|k| k.timer).collect::<Vec<_>>(),
            [Timer::Keepalive]
        );
        let (s, mut cx) = f.cx();
        let e = s.conn_timer_expired(&mut cx, c, Timer::Keepalive);
        assert!(matches!(e, Some(Effect::Send { conn, .. }) if conn == c));
        assert!(f.s.conns[0].timers.get(Timer::Keepalive).unwrap() > f.now);
    }

    /// RFC 4271 6.8: an OPEN on one connection while the other is in OpenSent or OpenConfirm;
    /// the connection initiated by the speaker with the higher BGP identifier survives.
    #[test]
    fn collision_keeps_the_connection_of_the_higher_identifier() {
        // Our id is higher: the connection we initiated (outbound) is kept.
        let mut f = Fixture::new();
        let out = f.open_sent(1, Direction::Outbound);
        let inb = f.open_sent(2, Direction::Inbound);
        let e = f.open(inb, PEER_LOW);
        assert_eq!(closes(&e), [(inb, COLLISION)]);
        assert_eq!(f.s.last_event, Some(Event::OpenCollisionDump));
        let e = f.open(out, PEER_LOW);
        assert_eq!(
            closes(&e),
            [(inb, COLLISION)],
            "the inbound one closes, the outbound goes on"
        );
        assert_eq!(f.s.conn_state(out), Some(State::OpenConfirm));

        // The peer's id is higher: its connection (inbound) is kept.
        let mut f = Fixture::new();
        let out = f.open_sent(1, Direction::Outbound);
        let inb = f.open_sent(2, Direction::Inbound);
        let e = f.open(out, PEER_HIGH);
        assert_eq!(closes(&e), [(out, COLLISION)]);
        let e = f.open(inb, PEER_HIGH);
        assert_eq!(closes(&e), [(out, COLLISION)]);
        assert_eq!(f.s.conn_state(inb), Some(State::OpenConfirm));
    }

    #[test]
    fn collision_with_established_closes_the_new_connection_unless_the_peer_restarted() {
        let mut f = Fixture::new();
        let old = f.open_sent(1, Direction::Outbound);
        f.open(old, PEER_HIGH);
        f.keepalive(old);
        let new = f.open_sent(2, Direction::Inbound);
        // Without graceful restart: "closing of the newly created connection".
        let e = f.open(new, PEER_HIGH);
        assert_eq!(closes(&e), [(new, COLLISION)]);

        // The peer advertised graceful restart: the old session is replaced (RFC 4724 4.2).
        let mut f = Fixture::new();
        let old = f.open_sent(1, Direction::Outbound);
        let mut r = remote(PEER_HIGH);
        r.graceful_restart = Some(crate::session::PeerGr {
            restart_time: 60,
            families: FamilySet::only(Family::Ipv4Unicast),
            ..Default::default()
        });
        let (s, mut cx) = f.cx();
        s.open_received(&mut cx, old, &ident(), &r);
        f.keepalive(old);
        let new = f.open_sent(2, Direction::Inbound);
        let e = f.open(new, PEER_HIGH);
        assert!(matches!(
            e.first(),
            Some(Effect::Close { conn, reason: DownReason::Replaced, notify: None }) if *conn == old
        ));
        assert_eq!(f.s.conn_state(new), Some(State::OpenConfirm));
    }

    /// A session established again reports whether the peer's router id changed since the last
    /// one (the engine then selects and advertises the paths it kept again); the first does not.
    #[test]
    fn reestablishment_reports_a_changed_router_id() {
        let mut f = Fixture::new();
        let establish = |f: &mut Fixture, id: u64, rid: Ipv4Addr| {
            let c = f.open_sent(id, Direction::Outbound);
            f.open(c, rid);
            let renamed = match f.keepalive(c) {
                Some(Effect::Established { renamed, .. }) => renamed,
                other => panic!("not established: {other:?}"),
            };
            // The connection is lost again.
            let now = f.now;
            f.s.down(now, &DownReason::ConnectionLost, true);
            f.s.remove_conn(c);
            renamed
        };
        assert!(!establish(&mut f, 1, PEER_HIGH), "first session");
        assert!(!establish(&mut f, 2, PEER_HIGH), "same router id");
        assert!(
            establish(&mut f, 3, Ipv4Addr::new(10, 0, 0, 77)),
            "another router id"
        );
    }

    /// RFC 4724 section 4.2: stale families the peer no longer preserves are dropped on
    /// re-establishment; the preserved ones wait for End-of-RIB under the stale-path timer.
    #[test]
    fn reestablishment_keeps_only_the_preserved_stale_families() {
        let mut f = Fixture::new();
        f.s.gr_stale = FamilySet::both();
        let c = f.open_sent(1, Direction::Outbound);
        let mut r = remote(PEER_HIGH);
        r.graceful_restart = Some(crate::session::PeerGr {
            restart_time: 60,
            families: FamilySet::both(),
            forwarding: FamilySet::only(Family::Ipv4Unicast),
            ..Default::default()
        });
        let (s, mut cx) = f.cx();
        s.open_received(&mut cx, c, &ident(), &r);
        let Some(Effect::Established { drop_stale, .. }) = f.keepalive(c) else {
            panic!("not established");
        };
        assert_eq!(drop_stale, FamilySet::only(Family::Ipv6Unicast));
        assert_eq!(f.s.gr_stale, FamilySet::only(Family::Ipv4Unicast));
        assert_eq!(
            f.s.timers.get(Timer::GrRestart),
            Some(Instant::ZERO + STALE_PATH_TIME)
        );
    }
}
