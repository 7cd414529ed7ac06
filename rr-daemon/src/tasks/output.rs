//! Acting on the engine's outputs: bytes to a connection's writer (with flow control), connections to open
//! or close, and the session events that are counted and logged.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bgp_wire::notification::code;
use bgp_wire::{Message, Treatment};
use bytes::Bytes;
use rr_core::{ConnId, Engine, Output, PeerId, Received};
use tracing::{debug, info, info_span, warn};

use super::engine::CATCH_UP_PER_PASS;
use super::session_io::{WriteCmd, take};
use super::{EngineTask, control};
use crate::metrics::{Dir, WireCounts};
use crate::reconcile::PeerSpec;

impl EngineTask {
    // ------------------------------------------------------------------ outputs

    /// Sends what the engine has queued and flushes its route changes if the batch interval since the last
    /// flush has passed; with paced fan-out, flushes every [`crate::config::Batching::flush_step`] and writes the
    /// connections whose turn has come. Returns when to come back (the next flush or turn).
    pub(super) fn drain_batched(&mut self) -> Option<tokio::time::Instant> {
        let conns = self.conns.len();
        let paced = self.batching.paced(conns);
        if paced != self.pacing.on
            && let Some(e) = self.engine.as_mut()
        {
            // Off: what is held is queued, in order, and sent just below.
            e.set_hold_fan_out(paced);
            self.pacing.on = paced;
            self.pacing.last = tokio::time::Instant::now();
            let interval_ms = self.batching.interval(conns).as_secs_f64() * 1000.0;
            // Once at INFO (it says how the daemon writes from now on); a count hovering at the threshold
            // would repeat it.
            if paced && !self.pacing.logged {
                self.pacing.logged = true;
                info!(
                    connections = conns,
                    interval_ms,
                    flush_step_ms = self.batching.flush_step().as_secs_f64() * 1000.0,
                    "paced fan-out on: route changes are held and each connection is written in its turn, once per interval"
                );
            } else {
                debug!(connections = conns, interval_ms, paced, "paced fan-out switched");
            }
        }
        self.drain_queued();
        let pending = self.engine.as_ref().is_some_and(Engine::has_pending_changes);
        let now = tokio::time::Instant::now();
        let mut wake = None;
        if pending {
            let step = if self.pacing.on {
                self.batching.flush_step()
            } else {
                self.batching.interval(conns)
            };
            let due = self.last_flush + step;
            if now < due {
                wake = Some(due);
            } else {
                self.last_flush = now;
                self.drain();
            }
        } else if !self.pacing.on {
            return None;
        }
        if self.pacing.on {
            let next = self.take_turns(now);
            wake = match (wake, next) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        wake
    }

    /// Paced fan-out: writes what the engine holds for each connection whose turn has come since the
    /// last call (one turn every interval / connections, at most one round at once), and returns when to
    /// come back while anything is held.
    fn take_turns(&mut self, now: tokio::time::Instant) -> Option<tokio::time::Instant> {
        if !self.engine.as_ref().is_some_and(Engine::has_held) {
            // Turns not taken add up to one round: after a quiet spell the next change goes to every
            // member at once, as without pacing.
            return None;
        }
        let n = self.conns.len().max(1);
        let spacing = self.batching.interval(n) / u32::try_from(n).unwrap_or(u32::MAX);
        let spacing = spacing.max(Duration::from_micros(1));
        let elapsed = now.saturating_duration_since(self.pacing.last);
        let due = elapsed.as_nanos() / spacing.as_nanos();
        let turns = if due >= n as u128 {
            self.pacing.last = now;
            n
        } else {
            let t = due as usize;
            self.pacing.last += spacing * t as u32;
            t
        };
        for _ in 0..turns {
            if self.pacing.at >= self.pacing.ring.len() {
                self.pacing.ring.clear();
                self.pacing.ring.extend(self.conns.keys().copied());
                self.pacing.ring.sort_unstable();
                self.pacing.at = 0;
                if self.pacing.ring.is_empty() {
                    break;
                }
            }
            let conn = self.pacing.ring[self.pacing.at];
            self.pacing.at += 1;
            let mut released = std::mem::take(&mut self.pacing.released);
            if let Some(e) = self.engine.as_mut() {
                e.release_held(conn, &mut released);
            }
            for bytes in released.drain(..) {
                self.act(Output::Send { conn, bytes }, true);
            }
            self.pacing.released = released;
        }
        // What the engine queued instead of releasing (it had other output queued first).
        self.act_on_queued();
        self.engine
            .as_ref()
            .is_some_and(Engine::has_held)
            .then(|| now + TURN_TICK.max(spacing))
    }

    /// Acts on the engine's queued outputs without flushing pending route changes, then on catch-up output
    /// while the output budget has room (at most [`CATCH_UP_PER_PASS`] messages).
    pub(super) fn drain_queued(&mut self) {
        self.act_on_queued();
        self.catch_up_more = false;
        for _ in 0..CATCH_UP_PER_PASS {
            if self.budget.used_up() {
                self.budget.waiting.store(true, Ordering::Release);
                // A writer may have made room before seeing the flag.
                if self.budget.used_up() {
                    return;
                }
                self.budget.waiting.store(false, Ordering::Release);
            }
            match self.engine.as_mut().and_then(Engine::poll_catch_up) {
                // Catch-up is bulk: left to the writers, which send what is queued in one vectored write.
                Some(out) => self.act(out, false),
                None => return,
            }
        }
        self.catch_up_more = true;
    }

    /// Acts on the engine's queued outputs (no flush, no catch-up).
    fn act_on_queued(&mut self) {
        while let Some(out) = self.engine.as_mut().and_then(Engine::poll_queued) {
            self.act(out, true);
        }
    }

    /// Flushes the engine's route changes, then drains every output and acts on it.
    pub(super) fn drain(&mut self) {
        if let Some(e) = self.engine.as_mut() {
            e.flush();
        }
        self.drain_queued();
    }

    /// Acts on one engine output; `direct`: a send may be written to the socket at once
    /// ([`ConnHandle::write_now`](super::session_io::ConnHandle::write_now)), else it goes to the writer.
    fn act(&mut self, out: Output, direct: bool) {
        match out {
            Output::Send { conn, bytes } => {
                self.metrics.sent_bytes.inc_by(bytes.len() as u64);
                if let Some(m) = self.monitor.as_mut() {
                    m.sent(conn, &bytes);
                }
                let Some(h) = self.conns.get(&conn) else { return };
                // One look-up of the connection for both (this runs once per member and write).
                if let Some(e) = self.peers.get_mut(&h.peer) {
                    e.wire.count_frames(Dir::Out, &bytes);
                }
                let bytes = if direct {
                    let Some(rest) = h.write_now(bytes) else { return };
                    rest
                } else {
                    bytes
                };
                let len = bytes.len();
                // The total first: a writer takes from its own count, then from the total.
                let total = self.budget.total.fetch_add(len, Ordering::AcqRel) + len;
                let queued = h.flow.queued.fetch_add(len, Ordering::AcqRel) + len;
                // Over its own limit, or holding more than its share while the process's budget is used up.
                let over = queued > self.high_watermark
                    || (total > self.budget.limit
                        && queued > self.low_watermark.min(self.budget.fair_share(self.conns.len())));
                let congest = over && !h.flow.congested.swap(true, Ordering::AcqRel);
                if h.tx.try_send(WriteCmd::Send(bytes)).is_err() {
                    // Not queued: take back what the writer has not taken already (it gives back what is
                    // left when it ends).
                    self.budget
                        .total
                        .fetch_sub(take(&h.flow.queued, len), Ordering::AcqRel);
                    warn!(
                        conn = conn.get(),
                        "send queue full or closed: dropping the connection"
                    );
                    self.conns.remove(&conn);
                    if let Some(m) = self.monitor.as_mut() {
                        m.conn_closed(conn);
                    }
                    let now = self.now();
                    if let Some(e) = self.engine.as_mut() {
                        e.handle_disconnected(now, conn);
                    }
                } else if congest {
                    debug!(
                        conn = conn.get(),
                        queued, "write queue above the high watermark: congested"
                    );
                    let now = self.now();
                    if let Some(e) = self.engine.as_mut() {
                        e.set_congested(now, conn, true);
                        // The writer may have drained meanwhile without seeing the flag.
                        if h.flow.queued.load(Ordering::Acquire) < self.low_watermark
                            && h.flow.congested.swap(false, Ordering::AcqRel)
                        {
                            e.set_congested(now, conn, false);
                        }
                    }
                }
            }
            Output::Close { conn } => {
                if let Some(m) = self.monitor.as_mut() {
                    m.conn_closed(conn);
                }
                if let Some(h) = self.conns.remove(&conn) {
                    let _ = h.tx.try_send(WriteCmd::Close);
                } else if self.connecting.contains(&conn) {
                    self.cancelled.insert(conn);
                }
            }
            Output::Connect {
                peer,
                conn,
                remote_addr,
                local_addr,
            } => {
                self.connect(peer, conn, remote_addr, local_addr);
            }
            Output::Established {
                peer,
                conn,
                decode_ctx,
                negotiated,
            } => {
                if let Some(h) = self.conns.get(&conn) {
                    let _ = h.ctx.send(Some(decode_ctx));
                }
                if let Some(m) = self.monitor.as_mut()
                    && let Some(entry) = self.peers.get(&peer)
                {
                    let post_policy = entry.spec.config.import_policy != rr_core::policy::Policy::default();
                    let local_as = self.identity.map_or(0, |i| i.local_as);
                    m.established(peer, conn, entry.spec.addr, local_as, &negotiated, post_policy);
                }
                self.metrics.sessions_established.inc();
                // Kept current between the once-a-second gauge refreshes.
                self.metrics.peers_established.inc();
                let name = self.peer_name(peer);
                // In the peer's span, so that a per-peer log level (`rr-cli log-level L --peer NAME`) applies.
                let _span = info_span!("peer", name = %name).entered();
                info!(peer = %name, families = %control::families(negotiated.families).join(","),
                  add_path_tx = %control::families(negotiated.add_path_tx).join(","),
                  hold_secs = negotiated.hold_time.as_secs(), "session established");
            }
            Output::SessionDown { peer, reason } => {
                if let Some(m) = self.monitor.as_mut() {
                    m.session_down(peer, &reason);
                }
                self.metrics.sessions_closed.inc();
                self.metrics.peers_established.dec();
                if let Some(e) = self.peers.get_mut(&peer) {
                    e.last_down_at = Some(std::time::SystemTime::now());
                }
                let name = self.peer_name(peer);
                let _span = info_span!("peer", name = %name).entered();
                let addr = self.peer_addr(peer);
                if administrative(&reason) {
                    info!(peer = %name, address = %addr, %reason, "session down");
                } else {
                    warn!(peer = %name, address = %addr, %reason, "session down");
                }
            }
            Output::ConnectionFailed { peer, reason, .. } => {
                self.metrics.session_failures.inc();
                let name = self.peer_name(peer);
                let addr = self.peer_addr(peer);
                let text = reason.to_string();
                if let Some(e) = self.peers.get_mut(&peer) {
                    e.last_down_at = Some(std::time::SystemTime::now());
                }
                let _span = info_span!("peer", name = %name).entered();
                if let Some(repeats) = self.failures.check(peer, &text, tokio::time::Instant::now()) {
                    warn!(peer = %name, address = %addr, reason = %text, repeats,
                          "session failed before Established");
                }
            }
            Output::SelectionDeferralEnded { deferred, waiting } => {
                let secs = deferred.as_secs_f64();
                if waiting.is_empty() {
                    info!(
                        deferred_secs = secs,
                        "route selection starts: End-of-RIB received from every peer"
                    );
                } else {
                    // The first few by name: with thousands of absent peers one line must stay readable.
                    let names: Vec<String> = waiting
                        .iter()
                        .take(NAMES_IN_A_LINE)
                        .map(|p| self.peer_name(*p))
                        .collect();
                    warn!(deferred_secs = secs, waiting = waiting.len(),
                          peers = %name_list(&names, waiting.len()),
                          "route selection starts: the selection-deferral timer expired before these peers sent End-of-RIB");
                }
            }
            other => debug!(?other, "unhandled engine output"),
        }
    }

    /// A message from a session reader, decoded: counted (by type, NOTIFICATION code, RFC 7606 outcome, or
    /// as malformed) and handed to the engine.
    pub(super) fn received(
        &mut self,
        now: rr_core::Instant,
        conn: ConnId,
        received: Received,
        frame: Option<Bytes>,
    ) {
        if frame.is_some() {
            // The monitors must have seen the session's Established (queued by the KEEPALIVE handled just
            // before, in the same batch) before its first UPDATE.
            self.drain_queued();
        }
        let mut treat_as_withdraw = false;
        match &received {
            Received::Error(err) => {
                self.metrics.malformed_messages.inc();
                if let Some(h) = self.conns.get(&conn) {
                    let name = self.peers.get(&h.peer).map(|p| p.spec.name.clone());
                    warn!(peer = name.as_deref().unwrap_or("?"), error = %err, "malformed message");
                }
            }
            Received::Message { msg, errors } => {
                self.metrics.received_messages.inc();
                if let Some(w) = self.wire_of(conn) {
                    let notification = match msg {
                        Message::Notification(n) => Some((n.code, n.subcode)),
                        _ => None,
                    };
                    w.count(Dir::In, msg.message_type().to_u8(), notification);
                }
                if !errors.is_empty() {
                    self.count_rfc7606(conn, errors);
                    treat_as_withdraw = errors.iter().any(|e| e.treatment == Treatment::TreatAsWithdraw);
                }
            }
            _ => {}
        }
        // The post-policy keys of an UPDATE the monitors want, taken before the engine consumes it.
        let monitored = frame.and_then(|f| {
            let keys = self.monitor.as_ref()?.before_update(conn, &received)?;
            Some((f, keys))
        });
        if self.conns.contains_key(&conn)
            && let Some(e) = self.engine.as_mut()
        {
            e.handle_received(now, conn, received);
            if let Some((frame, keys)) = monitored
                && let Some(m) = self.monitor.as_mut()
            {
                m.update(e, conn, frame, &keys, treat_as_withdraw);
            }
        }
    }

    /// Counts (per peer and treatment) and logs, rate-limited, the RFC 7606 errors of a received UPDATE that
    /// did not reset the session.
    pub(super) fn count_rfc7606(&mut self, conn: ConnId, errors: &[bgp_wire::DecodeError]) {
        let Some(peer) = self.conns.get(&conn).map(|h| h.peer) else {
            return;
        };
        let name = self.peer_name(peer);
        for err in errors {
            let treatment = treatment_name(err.treatment);
            self.metrics
                .rfc7606_events
                .get_or_create(&crate::metrics::Rfc7606Labels {
                    peer: name.clone(),
                    treatment: treatment.to_string(),
                })
                .inc();
            if let Some(suppressed) = self.rfc7606_log.check(tokio::time::Instant::now()) {
                warn!(peer = %name, treatment, error = %err, suppressed,
                      "malformed UPDATE handled per RFC 7606");
            }
        }
    }

    /// The message counters of the peer of `conn`.
    pub(super) fn wire_of(&mut self, conn: ConnId) -> Option<&mut WireCounts> {
        let peer = self.conns.get(&conn)?.peer;
        self.peers.get_mut(&peer).map(|e| &mut e.wire)
    }

    pub(super) fn peer_name(&self, id: PeerId) -> String {
        // Peers are removed from these maps only after the engine's outputs about them were acted on
        // (converge::apply_desired), so the fallback is for a bug, not a normal path.
        self.peers
            .get(&id)
            .map_or_else(|| format!("#{}", id.get()), |p| p.spec.name.clone())
    }

    /// The peer's address as text (empty for an unknown id).
    pub(super) fn peer_addr(&self, id: PeerId) -> String {
        self.peers
            .get(&id)
            .map(|p| p.spec.addr.to_string())
            .unwrap_or_default()
    }

    pub(super) fn spec_of(&self, id: PeerId) -> Option<&PeerSpec> {
        self.peers.get(&id).map(|p| &*p.spec)
    }
}

/// How often the turns of a paced fan-out are taken (each time, the connections whose turn has come).
const TURN_TICK: Duration = Duration::from_millis(1);

/// Peer names one log line lists at most.
const NAMES_IN_A_LINE: usize = 10;

/// `names` (the first of `total`) as `a,b,c` or `a,b,c and N more`.
fn name_list(names: &[String], total: usize) -> String {
    let mut s = names.join(",");
    if total > names.len() {
        s.push_str(&format!(" and {} more", total - names.len()));
    }
    s
}

/// The RFC 7606 name of a treatment, for metrics labels and logs.
fn treatment_name(t: Treatment) -> &'static str {
    match t {
        Treatment::AttributeDiscard => "attribute-discard",
        Treatment::TreatAsWithdraw => "treat-as-withdraw",
        Treatment::AfiSafiDisable => "afi-safi-disable",
        _ => "session-reset",
    }
}

/// A session end we caused on purpose (shutdown, de-configuration, reset, configuration change): INFO, not
/// WARN.
fn administrative(reason: &rr_core::DownReason) -> bool {
    matches!(reason, rr_core::DownReason::NotificationSent(n)
        if n.code == code::CEASE && matches!(n.subcode, 2 | 3 | 4 | 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_name_list_is_cut_with_a_count() {
        let names: Vec<String> = (0..NAMES_IN_A_LINE).map(|i| format!("n{i}")).collect();
        assert_eq!(name_list(&names[..3], 3), "n0,n1,n2");
        let line = name_list(&names, 20_000);
        assert!(
            line.starts_with("n0,n1,") && line.ends_with("n9 and 19990 more"),
            "{line}"
        );
    }
}
