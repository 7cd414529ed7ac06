//! The engine task: its loop (commands, the engine's timers, the once-a-second gauges) and the commands it
//! handles. It is the only owner of the [`Engine`].

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bgp_wire::Message;
use rr_core::{ConnId, Engine, PeerId};
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, warn};

use super::loglimit::{LogLimit, Repeats};
use super::session_io::{Budget, is_update};
use super::{EngineCmd, EngineTask, Health, Stop, monitor};
use crate::metrics::Metrics;

/// Flow control: above `--write-queue-high` bytes queued for a connection the engine is told the member is
/// congested ([`Engine::set_congested`]) and stops feeding it the group's stream; once the queue has drained
/// below an eighth of that, the member catches up from the group's Adj-RIB-Out.
const LOW_WATERMARK_DIVISOR: usize = 8;
/// Catch-up messages sent per pass of the engine loop at most; then pending events and timers are served
/// before the next pass.
pub(super) const CATCH_UP_PER_PASS: usize = 4096;
/// Granularity of the engine's timers here. Finding the engine's next deadline and firing due timers each
/// scan every peer, so with thousands of configured peers they run at most once per this interval: while
/// events keep arriving (connection attempts failing, messages) the next deadline is looked up again only
/// after this much time, and due timers are fired together. Timers fire up to this much late; BGP's timers
/// are whole seconds.
pub(super) const TIMER_GRANULARITY: Duration = Duration::from_millis(50);

impl EngineTask {
    pub(crate) fn new(
        tx: mpsc::Sender<EngineCmd>,
        metrics: Arc<Metrics>,
        health: watch::Sender<Health>,
        high_watermark: usize,
        output_budget: usize,
        batching: crate::config::Batching,
        selection_deferral: Option<Duration>,
    ) -> Self {
        Self {
            engine: None,
            identity: None,
            epoch: tokio::time::Instant::now(),
            peers: FxHashMap::default(),
            conns: FxHashMap::default(),
            connecting: FxHashSet::default(),
            cancelled: FxHashSet::default(),
            pending_peer: FxHashMap::default(),
            connect_queue: VecDeque::new(),
            connects_in_flight: 0,
            disabled: Vec::new(),
            reject_log: LogLimit::new(5, Duration::from_secs(10)),
            rfc7606_log: LogLimit::new(5, Duration::from_secs(10)),
            failures: Repeats::new(Duration::from_secs(300)),
            listeners: Vec::new(),
            tx,
            metrics,
            health,
            node_name: String::new(),
            listen_port: 0,
            listen_wanted: None,
            listen_failing: HashSet::new(),
            rng_seed: rand::random(),
            high_watermark,
            low_watermark: high_watermark / LOW_WATERMARK_DIVISOR,
            budget: Arc::new(Budget::new(output_budget)),
            catch_up_more: false,
            batching,
            selection_deferral,
            last_flush: tokio::time::Instant::now(),
            pacing: super::Pacing::new(),
            timer_deadline: None,
            timers_checked: tokio::time::Instant::now(),
            timers_stale: true,
            timers_fired: tokio::time::Instant::now(),
            monitor: None,
            socket_send_buffer: None,
        }
    }

    /// SO_SNDBUF of every session socket started from now on (`--socket-send-buffer`; `None`: the kernel's).
    pub(crate) fn set_socket_send_buffer(&mut self, bytes: Option<usize>) {
        self.socket_send_buffer = bytes;
    }

    /// A BMP collector or the BGP4MP update log: its task gets the returned handle.
    pub(crate) fn add_monitor_sink(
        &mut self,
        kind: monitor::SinkKind,
        overflows: prometheus_client::metrics::counter::Counter,
    ) -> monitor::SinkHandle {
        self.monitor
            .get_or_insert_with(monitor::Monitor::new)
            .add_sink(kind, overflows)
    }

    pub(super) fn now(&self) -> rr_core::Instant {
        let d = tokio::time::Instant::now().saturating_duration_since(self.epoch);
        rr_core::Instant::from_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Runs until shutdown or until every sender is gone.
    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<EngineCmd>, mut stop: oneshot::Receiver<Stop>) {
        let mut gauge_tick = tokio::time::interval(Duration::from_secs(1));
        gauge_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // A stop comes on its own channel and is looked at before each pass, so it never waits behind a
            // full command channel, whatever else is ready.
            match stop.try_recv() {
                Ok(Stop { mode, done }) => {
                    self.shutdown(mode).await;
                    let _ = done.send(());
                    return;
                }
                Err(oneshot::error::TryRecvError::Closed) => return,
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            // Session traffic (OPEN, KEEPALIVE, NOTIFICATION) goes out at once; route changes are flushed
            // at most once per batch interval.
            let mut flush_at = self.drain_batched();
            if self.catch_up_more {
                // More catch-up output is due: come back at once, after whatever arrived meanwhile.
                flush_at = Some(tokio::time::Instant::now());
            }
            let deadline = match (self.timer_wake(), flush_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                // An idle loop wakes for it here.
                stopped = &mut stop => {
                    if let Ok(Stop { mode, done }) = stopped {
                        self.shutdown(mode).await;
                        let _ = done.send(());
                    }
                    return;
                }
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    self.handle(cmd);
                    // Take whatever else is queued before flushing, so UPDATEs get packed.
                    for _ in 0..256 {
                        match rx.try_recv() {
                            Ok(cmd) => self.handle(cmd),
                            Err(_) => break,
                        }
                    }
                    self.timers_stale = true;
                }
                _ = sleep_until(deadline) => {
                    if self.fire_due_timers() {
                        self.timers_stale = true;
                    }
                }
                _ = gauge_tick.tick() => {
                    self.update_gauges();
                    self.retry_listeners();
                }
            }
        }
    }

    /// When the loop must wake for the engine's timers: the next deadline, looked up again at most once per
    /// [`TIMER_GRANULARITY`] after the engine may have changed, and due timers fired at most that often.
    pub(super) fn timer_wake(&mut self) -> Option<tokio::time::Instant> {
        let now = tokio::time::Instant::now();
        if self.timers_stale && now >= self.timers_checked + TIMER_GRANULARITY {
            self.refresh_timer_deadline(now);
        }
        let mut wake = self.timer_deadline;
        if self.timers_stale {
            // The engine may have armed an earlier timer since the last look: look again in a while.
            let recheck = self.timers_checked + TIMER_GRANULARITY;
            wake = Some(wake.map_or(recheck, |w| w.min(recheck)));
        }
        wake.map(|w| w.max(self.timers_fired + TIMER_GRANULARITY))
    }

    pub(super) fn refresh_timer_deadline(&mut self, now: tokio::time::Instant) {
        self.timer_deadline = self
            .engine
            .as_ref()
            .and_then(Engine::poll_timeout)
            .map(|t| self.epoch + Duration::from_nanos(t.as_nanos()));
        self.timers_checked = now;
        self.timers_stale = false;
    }

    /// Fires the engine's timers that are due (after looking up the deadline again if it may be stale);
    /// `true` if any were.
    pub(super) fn fire_due_timers(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        if self.timers_stale {
            self.refresh_timer_deadline(now);
        }
        if self.timer_deadline.is_some_and(|d| d <= now) {
            let t = self.now();
            if let Some(e) = self.engine.as_mut() {
                e.handle_timeout(t);
            }
            self.timers_fired = now;
            return true;
        }
        false
    }

    pub(super) fn handle(&mut self, cmd: EngineCmd) {
        let now = self.now();
        match cmd {
            EngineCmd::Desired(d) => self.apply_desired(*d),
            EngineCmd::DatastoreStatus { synced, reason } => {
                let seen = self.health.borrow().datastore_seen;
                self.health.send_modify(|h| {
                    h.datastore_synced = synced;
                    h.datastore_seen |= synced;
                    h.datastore_problem = reason.clone();
                });
                self.metrics.datastore_synced.set(i64::from(synced));
                // Not yet listed at start-up is no outage: warn only when the datastore was in step before,
                // or when the backend says what is wrong.
                if !synced && (seen || reason.is_some()) {
                    self.metrics.datastore_error("unavailable");
                    warn!(
                        reason = reason.as_deref().unwrap_or("not in step"),
                        "datastore unavailable: keeping every session and the last good configuration"
                    );
                }
            }
            EngineCmd::Incoming {
                stream,
                remote,
                local,
            } => self.incoming(stream, remote, local),
            EngineCmd::Connected { conn, stream, .. } => {
                self.connect_finished();
                self.connecting.remove(&conn);
                let peer = self.peer_of_conn_hint(conn);
                if self.cancelled.remove(&conn) || self.engine.is_none() {
                    return;
                }
                let Some(peer) = peer else { return };
                let local = stream.local_addr().ok().map(|a| a.ip());
                self.start_conn(conn, peer, stream);
                if let Some(e) = self.engine.as_mut() {
                    e.handle_connected(now, conn, local);
                }
            }
            EngineCmd::ConnectFailed { conn, error, .. } => {
                self.connect_finished();
                self.connecting.remove(&conn);
                self.pending_peer.remove(&conn);
                if self.cancelled.remove(&conn) {
                    return;
                }
                debug!(conn = conn.get(), %error, "connect failed");
                if let Some(e) = self.engine.as_mut() {
                    e.handle_connect_failed(now, conn);
                }
            }
            EngineCmd::Frame { conn, frame, .. } => {
                // Before the session's decode context reached the reader: decode here with the engine's
                // context for the connection (what `Engine::handle_frame` would do), so that the message is
                // counted and its RFC 7606 outcome reported the same way as one the reader decoded.
                let Some(ctx) = self.engine.as_ref().map(|e| e.decode_ctx(conn)) else {
                    return;
                };
                if let Some(m) = self.monitor.as_mut() {
                    m.frame(conn, &frame);
                }
                let received = Message::decode_with_errors(&frame, &ctx).into();
                let keep = self.monitor.is_some() && is_update(&frame);
                self.received(now, conn, received, keep.then_some(frame));
            }
            EngineCmd::Received {
                conn,
                received,
                frame,
                ..
            } => self.received(now, conn, *received, frame),
            EngineCmd::Disconnected { conn, .. } => {
                if let Some(m) = self.monitor.as_mut() {
                    m.conn_closed(conn);
                }
                if self.conns.remove(&conn).is_some()
                    && let Some(e) = self.engine.as_mut()
                {
                    e.handle_disconnected(now, conn);
                }
            }
            EngineCmd::Drained { conn, .. } => {
                if self.conns.contains_key(&conn)
                    && let Some(e) = self.engine.as_mut()
                {
                    debug!(conn = conn.get(), "write queue drained: catching up");
                    e.set_congested(now, conn, false);
                }
            }
            // The loop pulls more catch-up output after handling this.
            EngineCmd::OutputRoom => {}
            EngineCmd::Control(req, reply) => {
                let _ = reply.send(self.control(req));
            }
            EngineCmd::Monitor(cmd) => {
                if let Some(m) = self.monitor.as_mut() {
                    m.command(self.engine.as_ref(), cmd);
                }
            }
        }
    }

    /// The peer an outgoing connection was opened for (recorded when the engine asked for it).
    pub(super) fn peer_of_conn_hint(&mut self, conn: ConnId) -> Option<PeerId> {
        self.pending_peer.remove(&conn)
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::config::ShutdownMode;
    use crate::tasks::ControlReq;

    /// The stop does not wait behind a full command channel. Under load thousands of session readers wait to
    /// send; a stop sent on the command channel queued behind all of them (tokio's bounded channel serves
    /// waiting senders in order), and a daemon under load took about 40 s to exit after SIGTERM.
    #[tokio::test]
    async fn a_stop_is_not_queued_behind_a_full_command_channel() {
        const WAITING: usize = 20_000;
        let (tx, rx) = mpsc::channel::<EngineCmd>(1024);
        let (health, _health_rx) = watch::channel(Health::default());
        let task = EngineTask::new(
            tx.clone(),
            Arc::new(Metrics::default()),
            health,
            1 << 20,
            1 << 26,
            crate::config::Batching {
                min: Duration::from_millis(20),
                per_connection: Duration::ZERO,
            },
            None,
        );
        // Fill the channel and queue many more senders behind it before the engine runs.
        let started = Arc::new(AtomicUsize::new(0));
        let answered = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        for _ in 0..WAITING {
            let (tx, started, answered, finished) =
                (tx.clone(), started.clone(), answered.clone(), finished.clone());
            tokio::spawn(async move {
                let (reply, answer) = oneshot::channel();
                started.fetch_add(1, Ordering::SeqCst);
                if tx
                    .send(EngineCmd::Control(ControlReq::Status, reply))
                    .await
                    .is_ok()
                    && answer.await.is_ok()
                {
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                finished.fetch_add(1, Ordering::SeqCst);
            });
        }
        while started.load(Ordering::SeqCst) < WAITING {
            tokio::task::yield_now().await;
        }
        assert_eq!(tx.capacity(), 0, "the command channel is full");
        drop(tx);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        stop_tx
            .send(Stop {
                mode: ShutdownMode::Cease,
                done: done_tx,
            })
            .unwrap();
        tokio::time::timeout(Duration::from_secs(60), task.run(rx, stop_rx))
            .await
            .expect("the engine task stops");
        done_rx.await.expect("the stop is acknowledged");
        // The engine is gone: every sender gets its answer or an error.
        while finished.load(Ordering::SeqCst) < WAITING {
            tokio::task::yield_now().await;
        }
        // The stop is looked at before each pass of the loop; queued on the command channel it would have come
        // after the 1024 commands in the channel and the senders waiting behind them.
        let n = answered.load(Ordering::SeqCst);
        assert!(
            n < 1024,
            "{n} of {WAITING} queued commands were served before the stop"
        );
    }
}
