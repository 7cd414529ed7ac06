//! Stale routes from the session's side: graceful restart (RFC 4724, as the receiving speaker),
//! long-lived graceful restart (RFC 9494) and enhanced route refresh (RFC 7313). The session
//! keeps which families are stale and the timers that end each phase; the engine marks, ages and
//! removes the routes themselves in the RIB as these methods say.

use std::time::Duration;

use super::{Ctx, PeerGr, Session};
use crate::output::DownReason;
use crate::timer::Timer;
use crate::types::{Family, FamilySet, Instant};

/// RFC 7313 section 4: if EoRR does not arrive, stale routes are purged after this time.
pub(crate) const REFRESH_STALE_TIME: Duration = Duration::from_secs(360);

/// What the restart timer's expiry does to the stale routes ([`Session::restart_timer_expired`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RestartExpiry {
    /// The stale-path timer of a re-established session: End-of-RIB never came; every GR and
    /// LLGR stale route goes.
    StalePathTimeout,
    /// The GR stale routes of these families enter the long-lived stale phase (RFC 9494 section
    /// 4.2); those of other families, and those carrying NO_LLGR, go.
    Llgr(FamilySet),
    /// Every GR stale route goes.
    Purge,
}

impl Session {
    /// The Established session ended for `reason` at `now`. Returns the peer's graceful-restart
    /// capability when its routes are to be retained as stale (`helper`: we act as GR helper for
    /// this peer, which is enabled), `None` when they go.
    pub(crate) fn down(&mut self, now: Instant, reason: &DownReason, helper: bool) -> Option<PeerGr> {
        self.established = None;
        self.last_down = Some(reason.clone());
        self.last_down_at = Some(now);
        self.eor_received = FamilySet::EMPTY;
        self.refresh_stale = FamilySet::EMPTY;
        self.timers.stop(Timer::RefreshStale);
        // RFC 4724 section 4.2: "When the Receiving Speaker detects termination of the TCP session
        // for a BGP session with a peer that has advertised the Graceful Restart Capability, it
        // MUST retain the routes received from the peer for all the address families that were
        // previously received in the Graceful Restart Capability and MUST mark them as stale".
        // A NOTIFICATION ends the session for good (RFC 8538 N-bit not implemented).
        match (reason, helper) {
            (DownReason::ConnectionLost | DownReason::Replaced, true) => {
                self.neg.as_ref().and_then(|n| n.peer_gr)
            }
            _ => None,
        }
    }

    /// A connection failed with a NOTIFICATION before Established: recorded as the last down
    /// reason, which an operator must see as much as a session that ended.
    pub(crate) fn failed(&mut self, now: Instant, reason: &DownReason) {
        self.last_down = Some(reason.clone());
        self.last_down_at = Some(now);
    }

    /// The routes of `g.families` are retained stale (the engine marked them): the restart timer
    /// runs for the Restart Time the peer advertised.
    pub(crate) fn retain_stale(&mut self, cx: &mut Ctx<'_>, g: PeerGr) {
        let at = cx.now + Duration::from_secs(u64::from(g.restart_time));
        self.gr_stale = self.gr_stale.union(g.families);
        self.arm(cx, None, Timer::GrRestart, at);
    }

    /// The GrRestart timer fired: RFC 4724 section 4.2, "If the session does not get
    /// re-established within the 'Restart Time' that the peer advertised previously, the Receiving
    /// Speaker MUST delete all the stale routes from the peer that it is retaining", unless they
    /// enter the long-lived stale phase (RFC 9494 section 4.2: when the restart timer expires,
    /// routes of families with a non-zero long-lived stale time carry on, marked LLGR_STALE).
    pub(crate) fn restart_timer_expired(&mut self, cx: &mut Ctx<'_>) -> RestartExpiry {
        if self.established.is_some() {
            self.gr_stale = FamilySet::EMPTY;
            self.llgr_stale = FamilySet::EMPTY;
            self.timers.stop(Timer::LlgrStale);
            return RestartExpiry::StalePathTimeout;
        }
        let llgr = self.neg.as_ref().and_then(|n| n.peer_llgr);
        let stale = self.gr_stale;
        self.gr_stale = FamilySet::EMPTY;
        match llgr {
            Some((fams, time)) if time > 0 && !fams.intersect(stale).is_empty() => {
                let keep = fams.intersect(stale);
                self.llgr_stale = keep;
                let at = cx.now + Duration::from_secs(u64::from(time));
                self.arm(cx, None, Timer::LlgrStale, at);
                RestartExpiry::Llgr(keep)
            }
            _ => RestartExpiry::Purge,
        }
    }

    /// The LlgrStale timer fired (RFC 9494 section 4.2): the long-lived stale routes go.
    pub(crate) fn llgr_timer_expired(&mut self) {
        self.llgr_stale = FamilySet::EMPTY;
    }

    /// End-of-RIB for `f` (RFC 4724 section 2). Returns whether routes of `f` still marked stale
    /// are to be removed: RFC 4724 section 4.2, "Once the End-of-RIB marker for an address family
    /// is received from the peer, it MUST immediately remove any routes from the peer that are
    /// still marked as stale for that address family."
    pub(crate) fn end_of_rib(&mut self, f: Family) -> bool {
        self.eor_received.insert(f);
        if !(self.gr_stale.contains(f) || self.llgr_stale.contains(f)) {
            return false;
        }
        self.gr_stale.remove(f);
        self.llgr_stale.remove(f);
        if self.llgr_stale.is_empty() {
            self.timers.stop(Timer::LlgrStale);
        }
        if self.gr_stale.union(self.llgr_stale).is_empty() && self.established.is_some() {
            self.timers.stop(Timer::GrRestart); // the stale-path timer
        }
        true
    }

    /// RFC 7313 section 4: BoRR for `f` (the engine marks the routes stale); EoRR must come
    /// within [`REFRESH_STALE_TIME`].
    pub(crate) fn begin_refresh(&mut self, cx: &mut Ctx<'_>, f: Family) {
        let at = cx.now + REFRESH_STALE_TIME;
        self.refresh_stale.insert(f);
        self.arm(cx, None, Timer::RefreshStale, at);
    }

    /// RFC 7313 section 4: EoRR for `f` (the engine purges the routes still stale).
    pub(crate) fn end_refresh(&mut self, f: Family) {
        self.refresh_stale.remove(f);
        if self.refresh_stale.is_empty() {
            self.timers.stop(Timer::RefreshStale);
        }
    }

    /// The RefreshStale timer fired: stale routes not refreshed before it are purged.
    pub(crate) fn refresh_timer_expired(&mut self) {
        self.refresh_stale = FamilySet::EMPTY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Negotiated;
    use crate::session::with_cx;
    use crate::types::ConnId;

    const V4: Family = Family::Ipv4Unicast;
    const V6: Family = Family::Ipv6Unicast;

    fn neg(gr: Option<PeerGr>, llgr: Option<(FamilySet, u32)>) -> Box<Negotiated> {
        let offer = crate::session::LocalOffer {
            asn: 1,
            hold_time: 90,
            families: FamilySet::both(),
            add_path_send: FamilySet::EMPTY,
            add_path_receive: FamilySet::EMPTY,
            extended_messages: false,
            gr_restart_time: Some(120),
            gr_restarting: false,
            gr_forwarding: false,
            llgr_stale_time: Some(1),
        };
        let remote = crate::session::RemoteOpen {
            asn: 1,
            hold_time: 90,
            router_id: "10.0.0.2".parse().unwrap(),
            graceful_restart: gr,
            llgr,
            ..Default::default()
        };
        Box::new(crate::session::negotiate(&offer, "10.0.0.1".parse().unwrap(), 1, None, &remote).unwrap())
    }

    fn gr() -> PeerGr {
        PeerGr {
            restart_time: 60,
            families: FamilySet::both(),
            ..Default::default()
        }
    }

    fn established(neg: Box<Negotiated>) -> Session {
        Session {
            neg: Some(neg),
            established: Some((ConnId(1), Instant::ZERO)),
            ..Session::default()
        }
    }

    #[test]
    fn a_lost_connection_retains_the_gr_families_and_a_notification_does_not() {
        let mut s = established(neg(Some(gr()), None));
        let now = Instant::ZERO + Duration::from_secs(3);
        let g = s.down(now, &DownReason::ConnectionLost, true).unwrap();
        assert_eq!(g.families, FamilySet::both());
        assert_eq!((s.established, s.last_down_at), (None, Some(now)));
        with_cx(&mut s, |s, cx| s.retain_stale(cx, g));
        assert_eq!(s.gr_stale, FamilySet::both());
        assert_eq!(
            s.timers.get(Timer::GrRestart),
            Some(Instant::ZERO + Duration::from_secs(60))
        );

        let mut s = established(neg(Some(gr()), None));
        let n = bgp_wire::Notification {
            code: 6,
            subcode: 2,
            data: Default::default(),
        };
        assert_eq!(s.down(now, &DownReason::NotificationReceived(n), true), None);
        let mut s = established(neg(Some(gr()), None));
        assert_eq!(
            s.down(now, &DownReason::ConnectionLost, false),
            None,
            "not a helper"
        );
    }

    #[test]
    fn restart_timer_expiry_purges_or_enters_llgr() {
        let mut s = Session {
            gr_stale: FamilySet::both(),
            ..established(neg(Some(gr()), Some((FamilySet::only(V6), 600))))
        };
        s.established = None;
        assert_eq!(
            with_cx(&mut s, |s, cx| s.restart_timer_expired(cx)),
            RestartExpiry::Llgr(FamilySet::only(V6))
        );
        assert_eq!(
            (s.gr_stale, s.llgr_stale),
            (FamilySet::EMPTY, FamilySet::only(V6))
        );
        assert_eq!(
            s.timers.get(Timer::LlgrStale),
            Some(Instant::ZERO + Duration::from_secs(600))
        );

        let mut s = Session {
            gr_stale: FamilySet::both(),
            ..established(neg(Some(gr()), None))
        };
        s.established = None;
        assert_eq!(
            with_cx(&mut s, |s, cx| s.restart_timer_expired(cx)),
            RestartExpiry::Purge
        );
        assert_eq!(s.gr_stale, FamilySet::EMPTY);

        let mut s = Session {
            gr_stale: FamilySet::both(),
            ..established(neg(Some(gr()), None))
        };
        assert_eq!(
            with_cx(&mut s, |s, cx| s.restart_timer_expired(cx)),
            RestartExpiry::StalePathTimeout,
            "re-established: the stale-path timer"
        );
    }

    #[test]
    fn end_of_rib_ends_the_stale_phase_of_its_family() {
        let mut s = Session {
            gr_stale: FamilySet::both(),
            ..established(neg(Some(gr()), None))
        };
        with_cx(&mut s, |s, cx| s.arm(cx, None, Timer::GrRestart, Instant::ZERO));
        assert!(s.end_of_rib(V4));
        assert!(!s.end_of_rib(V4), "nothing stale left in the family");
        assert!(s.timers.get(Timer::GrRestart).is_some(), "IPv6 still waits");
        assert!(s.end_of_rib(V6));
        assert_eq!(s.timers.get(Timer::GrRestart), None);
        assert_eq!(s.eor_received, FamilySet::both());
    }

    #[test]
    fn enhanced_route_refresh_keeps_its_timer_while_a_family_is_stale() {
        let mut s = Session::default();
        with_cx(&mut s, |s, cx| {
            s.begin_refresh(cx, V4);
            s.begin_refresh(cx, V6);
        });
        assert_eq!(
            s.timers.get(Timer::RefreshStale),
            Some(Instant::ZERO + REFRESH_STALE_TIME)
        );
        s.end_refresh(V4);
        assert!(s.timers.get(Timer::RefreshStale).is_some());
        s.end_refresh(V6);
        assert_eq!(s.timers.get(Timer::RefreshStale), None);
    }
}
