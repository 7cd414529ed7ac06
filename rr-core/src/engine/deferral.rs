//! Route-selection deferral of a restarting speaker (RFC 4724 section 4.1).
//!
//! "Once the session between the Restarting Speaker and the Receiving Speaker is re-established,
//! the Restarting Speaker will receive and process BGP messages from its peers. However, it MUST
//! defer route selection for an address family until it either (a) receives the End-of-RIB marker
//! from all its peers (excluding the ones with the "Restart State" bit set in the received
//! capability and excluding the ones that do not advertise the graceful restart capability) or (b)
//! the Selection_Deferral_Timer referred to below has expired."
//!
//! The engine cannot tell a first start from a restart, so every engine with
//! [`crate::EngineConfig::selection_deferral`] set starts deferring when its first peer is
//! configured. While it defers, UPDATEs fill the Adj-RIBs-In and the Loc-RIB, but
//! [`Engine::flush`] runs no best path, sends no UPDATE and no initial table or End-of-RIB;
//! keepalives and the FSM run as usual. "All its peers" are the configured ones: a peer that has not
//! reconnected yet is waited for like one that has not sent End-of-RIB yet, since announcing without
//! it would make every helper flush that peer's routes at our End-of-RIB.

use super::*;

/// Where the engine is in its deferral.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deferral {
    /// Configured, not started: no peer yet.
    Idle,
    /// Deferring since `since`; the Selection_Deferral_Timer fires at `until`.
    Active { since: Instant, until: Instant },
    /// Selection runs normally.
    Done,
}

impl Deferral {
    pub(crate) fn new(cfg: &EngineConfig) -> Deferral {
        if cfg.selection_deferral.is_some() {
            Deferral::Idle
        } else {
            Deferral::Done
        }
    }

    pub(crate) fn is_active(self) -> bool {
        matches!(self, Deferral::Active { .. })
    }

    pub(crate) fn deadline(self) -> Option<Instant> {
        match self {
            Deferral::Active { until, .. } => Some(until),
            _ => None,
        }
    }
}

impl Engine {
    /// Whether best-path selection and advertisement are deferred (RFC 4724 section 4.1).
    pub fn selection_deferred(&self) -> bool {
        self.deferral.is_active()
    }

    /// The peers the deferral still waits for (empty when not deferring): enabled peers with
    /// graceful restart configured that have neither sent End-of-RIB for every negotiated family
    /// nor established without the capability or with the Restart State bit.
    pub fn selection_deferral_waiting(&self) -> Vec<PeerId> {
        if !self.deferral.is_active() {
            return Vec::new();
        }
        self.peers.iter().filter(|p| awaited(p)).map(|p| p.id).collect()
    }

    /// Starts the deferral when the first peer is configured.
    pub(super) fn deferral_start(&mut self) {
        if self.deferral == Deferral::Idle
            && let Some(d) = self.cfg.selection_deferral
        {
            self.deferral = Deferral::Active {
                since: self.now,
                until: self.now + d,
            };
        }
    }

    /// Records that `id` no longer holds the deferral up if its session says so: established
    /// without the GR capability or with the Restart State bit, or End-of-RIB received for every
    /// negotiated family. Then ends the deferral if nobody is waited for.
    pub(super) fn deferral_note(&mut self, id: PeerId) {
        if !self.deferral.is_active() {
            return;
        }
        if let Some(p) = self.peer_mut(id)
            && let Some(neg) = p.session.established_negotiated()
        {
            let done = match neg.peer_gr {
                // Excluded by section 4.1: no capability, or restarting itself (it waits for us).
                None => true,
                Some(g) if g.restarting => true,
                Some(_) => neg.families.intersect(p.session.eor_received()) == neg.families,
            };
            p.deferral_settled |= done;
        }
        self.deferral_check();
    }

    /// Ends the deferral when no peer is waited for any more.
    pub(super) fn deferral_check(&mut self) {
        if self.deferral.is_active() && !self.peers.iter().any(awaited) {
            self.deferral_end(false);
        }
    }

    /// The Selection_Deferral_Timer (called from `handle_timeout`).
    pub(super) fn deferral_timer(&mut self, now: Instant) {
        if self.deferral.deadline().is_some_and(|t| t <= now) {
            self.deferral_end(true);
        }
    }

    fn deferral_end(&mut self, timer: bool) {
        let Deferral::Active { since, .. } = self.deferral else {
            return;
        };
        let waiting = if timer {
            self.selection_deferral_waiting()
        } else {
            Vec::new()
        };
        self.deferral = Deferral::Done;
        self.out.push_back(Output::SelectionDeferralEnded {
            deferred: self.now.saturating_duration_since(since),
            waiting,
        });
    }
}

/// Whether the deferral waits for `p`.
fn awaited(p: &Peer) -> bool {
    p.session.enabled() && p.cfg.graceful_restart.enabled && !p.deferral_settled
}
