//! Connection set-up and retry (RFC 4271 section 8.2.2, states Idle, Connect and Active): which
//! connections a session has, when it may open another, the ConnectRetryTimer with its backoff,
//! and the IdleHoldTimer after a session ends (RFC 4271 section 8.1.1, optional attribute
//! DampPeerOscillations).

use std::net::IpAddr;
use std::time::Duration;

use super::{Conn, ConnState, Ctx, Event, Session};
use crate::config::PeerConfig;
use crate::timer::{Timer, TimerTable};
use crate::types::{ConnId, Direction};

impl Session {
    /// Adds connection `conn` in state Connect (an outbound attempt, or an inbound connection whose
    /// OPEN is about to go out).
    pub(crate) fn add_conn(&mut self, conn: ConnId, dir: Direction, local_addr: Option<IpAddr>) {
        // Exactly one more slot: a Vec's first allocation holds four, about 1 KiB per peer that is
        // only trying to connect (20,000 absent peers kept 22 MB so).
        self.conns.reserve_exact(1);
        self.conns.push(Conn {
            id: conn,
            dir,
            state: ConnState::Connecting,
            timers: TimerTable::default(),
            local_addr,
        });
    }

    /// Forgets connection `conn` (closed); with no connection left the ConnectRetryTimer stops.
    pub(crate) fn remove_conn(&mut self, conn: ConnId) {
        self.conns.retain(|c| c.id != conn);
        if self.conns.is_empty() {
            self.timers.stop(Timer::ConnectRetry);
        }
    }

    /// Whether an inbound connection is accepted (Event 17): the session is enabled and has
    /// fewer than two connections (one of each direction while a collision is unresolved).
    pub(crate) fn accepts_inbound(&self) -> bool {
        self.enabled && self.conns.len() < 2
    }

    /// The inbound connection `conn` is accepted (Event 17): the peer is up, so the failed attempts
    /// are forgotten.
    pub(crate) fn accepted(&mut self, conn: ConnId, local_addr: Option<IpAddr>) {
        self.connect_failures = 0;
        self.add_conn(conn, Direction::Inbound, local_addr);
    }

    /// Whether to open an outbound connection now: enabled, not passive, none outbound already.
    pub(crate) fn wants_outbound(&self, cfg: &PeerConfig) -> bool {
        // RFC 4271 8.2.2: an Established session blocks new outbound attempts.
        self.enabled
            && !cfg.passive
            && !self.conns.iter().any(|c| c.dir == Direction::Outbound)
            && self.established.is_none()
    }

    /// The outbound connection `conn` is requested (Connect state). While connecting the
    /// ConnectRetryTimer bounds the attempt; after failures it also spaces the attempts (an
    /// unanswered attempt counts as a failure when the timer fires).
    pub(crate) fn connecting(&mut self, cx: &mut Ctx<'_>, conn: ConnId, cfg: &PeerConfig) {
        self.add_conn(conn, Direction::Outbound, None);
        let retry = cfg.retry_delay(self.connect_failures.saturating_add(1));
        // ConnectRetryTimer runs while connecting (RFC 4271 8.2.2 Connect state).
        let at = cx.now + cx.jitter.apply(retry);
        self.arm(cx, None, Timer::ConnectRetry, at);
    }

    /// An outbound attempt failed (Event 18 in Connect): one more failure for the backoff.
    pub(crate) fn connect_failed(&mut self, conn: ConnId) {
        self.last_event = Some(Event::TcpConnectionFails);
        self.connect_failures = self.connect_failures.saturating_add(1);
        self.remove_conn(conn);
    }

    /// With no connection left, arms the timer of the next attempt: the IdleHoldTimer
    /// (`idle_hold`) after a session or connection ended, else the ConnectRetryTimer with the
    /// backoff of the failures so far.
    pub(crate) fn schedule_retry(
        &mut self,
        cx: &mut Ctx<'_>,
        cfg: &PeerConfig,
        after_session: bool,
        idle_hold: Duration,
    ) {
        if !self.enabled || cfg.passive || !self.conns.is_empty() {
            return;
        }
        let d = if after_session {
            idle_hold
        } else {
            cfg.retry_delay(self.connect_failures.max(1))
        };
        let at = cx.now + cx.jitter.apply(d);
        let t = if after_session {
            Timer::IdleHold
        } else {
            Timer::ConnectRetry
        };
        self.arm(cx, None, t, at);
    }

    /// Forgets the failed attempts; a session waiting out a backoff delay is tried after the base
    /// interval `base`.
    pub(crate) fn reset_backoff(&mut self, cx: &mut Ctx<'_>, base: Duration) {
        self.connect_failures = 0;
        if self.conns.is_empty() && self.timers.get(Timer::ConnectRetry).is_some() {
            let at = cx.now + cx.jitter.apply(base);
            self.arm(cx, None, Timer::ConnectRetry, at);
        }
    }

    /// Event 9 ConnectRetryTimer_Expires or 13 IdleHoldTimer_Expires: the outbound attempts still
    /// in Connect, which the engine drops before trying again. RFC 4271 8.2.2 (Connect state,
    /// Event 9): "drops the TCP connection, restarts the ConnectRetryTimer, ... initiates a TCP
    /// connection". An attempt nobody answered within ConnectRetryTime counts as failed.
    pub(crate) fn retry_expired(&mut self, t: Timer) -> Vec<ConnId> {
        self.last_event = Some(if t == Timer::IdleHold {
            Event::IdleHoldTimerExpires
        } else {
            Event::ConnectRetryTimerExpires
        });
        let stuck: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|c| c.dir == Direction::Outbound && matches!(c.state, ConnState::Connecting))
            .map(|c| c.id)
            .collect();
        if !stuck.is_empty() {
            self.connect_failures = self.connect_failures.saturating_add(1);
        }
        stuck
    }

    /// Event 2 ManualStop (or a stop for a restart): disabled, the peer's timers cleared. The
    /// engine closes the connections.
    pub(crate) fn stop(&mut self) {
        self.enabled = false;
        self.timers = TimerTable::default();
    }

    /// No new attempt after the connections are dropped (a stop, a removal, a reset that starts
    /// afresh).
    pub(crate) fn no_retry(&mut self) {
        self.timers.stop(Timer::ConnectRetry);
        self.timers.stop(Timer::IdleHold);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;
    use crate::session::State;
    use crate::session::with_cx;
    use crate::types::Instant;

    fn cfg() -> PeerConfig {
        PeerConfig::new("192.0.2.2".parse().unwrap(), 64512, Role::RrClient)
    }

    #[test]
    fn connecting_arms_the_connect_retry_timer_and_failures_back_off() {
        let cfg = cfg();
        let mut s = Session::default();
        assert_eq!(s.state(), State::Active, "enabled, no connection");
        assert!(s.wants_outbound(&cfg));
        with_cx(&mut s, |s, cx| s.connecting(cx, ConnId(1), &cfg));
        assert_eq!(s.state(), State::Connect);
        assert!(!s.wants_outbound(&cfg), "one outbound attempt at a time");
        let first = s.timers.get(Timer::ConnectRetry).unwrap() - Instant::ZERO;
        assert!(first <= cfg.connect_retry && first >= cfg.connect_retry * 3 / 4);

        s.connect_failed(ConnId(1));
        s.connect_failed(ConnId(1));
        assert_eq!((s.connect_failures, s.conns.len()), (2, 0));
        assert_eq!(
            s.timers.get(Timer::ConnectRetry),
            None,
            "stops with the last connection"
        );
        with_cx(&mut s, |s, cx| s.schedule_retry(cx, &cfg, false, Duration::ZERO));
        let backoff = s.timers.get(Timer::ConnectRetry).unwrap() - Instant::ZERO;
        assert!(backoff >= cfg.retry_delay(2) * 3 / 4 && backoff <= cfg.retry_delay(2));

        with_cx(&mut s, |s, cx| s.reset_backoff(cx, cfg.connect_retry));
        assert_eq!(s.connect_failures, 0);
        assert!(s.timers.get(Timer::ConnectRetry).unwrap() - Instant::ZERO <= cfg.connect_retry);
    }

    #[test]
    fn after_a_session_the_idle_hold_timer_keeps_the_peer_idle() {
        let cfg = cfg();
        let mut s = Session::default();
        with_cx(&mut s, |s, cx| {
            s.schedule_retry(cx, &cfg, true, Duration::from_secs(4))
        });
        assert!(s.timers.get(Timer::IdleHold).is_some());
        assert_eq!(s.state(), State::Idle);
        assert!(s.retry_expired(Timer::IdleHold).is_empty());
        assert_eq!(s.last_event, Some(Event::IdleHoldTimerExpires));
    }

    #[test]
    fn an_unanswered_attempt_counts_as_failed_when_the_timer_fires() {
        let cfg = cfg();
        let mut s = Session::default();
        with_cx(&mut s, |s, cx| s.connecting(cx, ConnId(1), &cfg));
        s.add_conn(ConnId(2), Direction::Inbound, None);
        assert_eq!(s.retry_expired(Timer::ConnectRetry), [ConnId(1)]);
        assert_eq!(s.connect_failures, 1);
        assert_eq!(s.last_event, Some(Event::ConnectRetryTimerExpires));
    }

    #[test]
    fn passive_or_stopped_sessions_do_not_connect() {
        let mut passive = cfg();
        passive.passive = true;
        let mut s = Session::default();
        assert!(!s.wants_outbound(&passive));
        with_cx(&mut s, |s, cx| {
            s.schedule_retry(cx, &passive, false, Duration::ZERO)
        });
        assert_eq!(s.timers.get(Timer::ConnectRetry), None);
        assert!(s.accepts_inbound());

        s.stop();
        assert_eq!(s.state(), State::Idle);
        assert!(!s.wants_outbound(&cfg()));
        assert!(!s.accepts_inbound(), "a stopped peer refuses connections");
    }

    #[test]
    fn at_most_two_connections_are_accepted() {
        let mut s = Session::default();
        s.add_conn(ConnId(1), Direction::Outbound, None);
        assert!(s.accepts_inbound());
        s.add_conn(ConnId(2), Direction::Inbound, None);
        assert!(!s.accepts_inbound());
    }
}
