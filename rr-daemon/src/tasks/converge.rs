//! The engine task converging on the datastore: peer diff, listeners, identity changes, shutdown.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rr_core::{Engine, EngineConfig, PeerId};
use tokio::net::TcpListener;
use tracing::{Instrument, error, info, info_span, warn};

use super::session_io::WriteCmd;
use super::{EngineCmd, EngineTask, Listener, PeerEntry};
use crate::config::ShutdownMode;
use crate::metrics::WireCounts;
use crate::reconcile::Desired;
use crate::sockopt;

impl EngineTask {
    /// Converges on a new desired state: the engine identity, the listeners, then the peers (added, updated
    /// in place, or removed with Cease "Peer De-configured"); peers that did not change are not touched.
    pub(super) fn apply_desired(&mut self, d: Desired) {
        let now = self.now();
        self.node_name = d.node_name.clone();
        if self.identity != Some(d.identity) {
            let new = d.identity;
            match (self.identity, self.engine.as_mut()) {
                (Some(old), Some(e)) => {
                    // The engine changes its identity in place and resets only the sessions the change
                    // affects (router id: all; AS: those using it; cluster id: none, the routes are sent
                    // again with the new CLUSTER_LIST), with Cease "Other Configuration Change" (RFC 4486).
                    match e.set_identity(now, new.router_id, new.local_as, new.cluster_id) {
                        Ok(()) => {
                            warn!(%old, %new, "identity changed: resetting the sessions it affects");
                            self.identity = Some(new);
                        }
                        Err(err) => {
                            warn!(%old, %new, error = %err, "identity change refused: keeping the old one")
                        }
                    }
                }
                _ => {
                    let mut cfg = EngineConfig::new(new.router_id, new.local_as);
                    cfg.cluster_id = new.cluster_id;
                    cfg.rng_seed = self.rng_seed;
                    cfg.selection_deferral = self.selection_deferral;
                    self.engine = Some(Engine::new(cfg));
                    // A new engine holds nothing: the next pass sets it up for the connections there are.
                    self.pacing.on = false;
                    self.identity = Some(new);
                }
            }
            info!(router_id = %new.router_id, cluster_id = %new.cluster_id.map_or_else(String::new, |c| c.to_string()),
                  local_as = new.local_as, node = %d.node_name, "engine identity");
        }

        self.ensure_listeners(&d.listen_ips, d.listen_port);

        let wanted: HashSet<IpAddr> = d.peers.iter().map(|p| p.addr).collect();
        let gone: Vec<(PeerId, IpAddr, String)> = self
            .peers
            .values()
            .filter(|e| !wanted.contains(&e.spec.addr))
            .map(|e| (e.id, e.spec.addr, e.spec.name.clone()))
            .collect();
        for (id, addr, name) in gone {
            info!(peer = %name, %addr, "peer de-configured");
            if let Some(e) = self.engine.as_mut()
                && let Err(err) = e.remove_peer(now, id)
            {
                warn!(%addr, error = %err, "remove peer");
            }
            // Act on the NOTIFICATION and the session-down now, while the peer's name is still known.
            self.drain_queued();
            self.peers.remove(&id);
            self.failures.forget(&id);
            self.set_listener_md5(addr, None);
        }
        for spec in d.peers {
            let addr = spec.addr;
            let known = self.engine.as_ref().and_then(|e| e.peer_by_addr(addr));
            match known.and_then(|id| self.peers.get_mut(&id)) {
                // Unchanged: keep the new copy, so the entry and the reconciler's last `Desired` share one.
                Some(entry) if entry.spec == spec => entry.spec = spec,
                Some(entry) => {
                    let id = entry.id;
                    let md5_changed = entry.spec.password != spec.password;
                    let cfg_changed = entry.spec.config != spec.config;
                    entry.spec = Arc::clone(&spec);
                    if md5_changed {
                        self.set_listener_md5(addr, spec.password.as_deref());
                    }
                    if cfg_changed && let Some(e) = self.engine.as_mut() {
                        info!(peer = %spec.name, %addr, "peer configuration changed");
                        if let Err(err) = e.update_peer(now, id, spec.config.clone()) {
                            warn!(%addr, error = %err, "update peer");
                        }
                    } else if md5_changed && let Some(e) = self.engine.as_mut() {
                        // The key protects new connections only: reset so the session comes back signed.
                        let _ = e.reset_peer(now, id, Some("TCP-MD5 key changed"));
                    }
                }
                None => {
                    self.set_listener_md5(addr, spec.password.as_deref());
                    let Some(e) = self.engine.as_mut() else { continue };
                    match e.add_peer(now, spec.config.clone()) {
                        Ok(id) => {
                            info!(peer = %spec.name, %addr, port = spec.port, role = %spec.role,
                                  origin = %spec.origin, "peer configured");
                            self.peers.insert(
                                id,
                                PeerEntry {
                                    id,
                                    spec,
                                    wire: WireCounts::default(),
                                    last_down_at: None,
                                },
                            );
                        }
                        Err(err) => warn!(%addr, error = %err, "add peer"),
                    }
                }
            }
        }
        self.metrics.peers_configured.set(self.peers.len() as i64);
        self.metrics.peers_disabled.set(d.disabled.len() as i64);
        self.disabled = d.disabled;
    }

    fn set_listener_md5(&self, addr: IpAddr, key: Option<&str>) {
        for l in &self.listeners {
            if l.ip.is_ipv4() != addr.is_ipv4() {
                continue;
            }
            match sockopt::set_tcp_md5(&*l.sock, addr, key.map(str::as_bytes)) {
                Ok(()) => {}
                // Removing a key that was never installed.
                Err(_) if key.is_none() => {}
                Err(e) => warn!(%addr, error = %e, "TCP-MD5 on listener"),
            }
        }
    }

    /// Binds (or re-binds, after a listenPort or bindMode change) the BGP listeners. Listeners already bound
    /// where they are wanted stay; an address that cannot be bound (its port taken by another socket) is
    /// retried once a second by [`EngineTask::retry_listeners`], logged once until it succeeds.
    pub(super) fn ensure_listeners(&mut self, ips: &[IpAddr], port: u16) {
        let ips: Vec<IpAddr> = if ips.is_empty() {
            vec![IpAddr::from([0u8; 4])]
        } else {
            ips.to_vec()
        };
        self.listen_wanted = Some((ips.clone(), port));
        let same = self.listen_port == port
            && self.listeners.len() == ips.len()
            && self
                .listeners
                .iter()
                .all(|l| ips.contains(&l.ip) && l.port == port);
        if same {
            return;
        }
        let (keep, stop): (Vec<Listener>, Vec<Listener>) = self
            .listeners
            .drain(..)
            .partition(|l| l.port == port && ips.contains(&l.ip));
        self.listeners = keep;
        for l in stop {
            l.task.abort();
            // The aborted accept task still holds the socket until it is next polled: stop it listening now,
            // so that the new listener can bind the same address and port (a bindMode change).
            let _ = socket2::SockRef::from(&*l.sock).shutdown(std::net::Shutdown::Both);
        }
        self.listen_port = port;
        for ip in ips {
            if self.listeners.iter().any(|l| l.ip == ip) {
                continue;
            }
            let addr = SocketAddr::new(ip, port);
            let sock = match bind_listener(addr) {
                Ok(s) => Arc::new(s),
                Err(e) => {
                    if self.listen_failing.insert(addr) {
                        error!(%addr, error = %e, "cannot bind the BGP listener (retrying every second)");
                    }
                    continue;
                }
            };
            self.listen_failing.remove(&addr);
            info!(%addr, "BGP listener bound");
            let tx = self.tx.clone();
            let s2 = sock.clone();
            let task = tokio::spawn(
                async move {
                    loop {
                        match s2.accept().await {
                            Ok((stream, remote)) => {
                                let local = stream.local_addr().unwrap_or(addr);
                                if tx
                                    .send(EngineCmd::Incoming {
                                        stream,
                                        remote,
                                        local,
                                    })
                                    .await
                                    .is_err()
                                {
                                    return;
                                }
                            }
                            Err(e) => {
                                warn!(error = %e, "accept");
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            }
                        }
                    }
                }
                .instrument(info_span!("listener", %addr)),
            )
            .abort_handle();
            self.listeners.push(Listener { ip, port, sock, task });
        }
        // Keys for peers already configured.
        let keyed: Vec<(IpAddr, String)> = self
            .peers
            .values()
            .filter_map(|p| p.spec.password.clone().map(|k| (p.spec.addr, k)))
            .collect();
        for (a, k) in keyed {
            self.set_listener_md5(a, Some(&k));
        }
        self.health
            .send_modify(|h| h.listening = !self.listeners.is_empty());
    }

    /// Binds the wanted listeners that could not be bound before (called once a second).
    pub(super) fn retry_listeners(&mut self) {
        if let Some((ips, port)) = self.listen_wanted.clone()
            && self.listeners.len() < ips.len().max(1)
        {
            self.ensure_listeners(&ips, port);
        }
    }

    /// SIGTERM/SIGINT.
    pub(super) async fn shutdown(&mut self, mode: ShutdownMode) {
        let now = self.now();
        for l in self.listeners.drain(..) {
            l.task.abort();
        }
        if let Some(e) = self.engine.as_mut() {
            match mode {
                // RFC 4724 section 4: the receiving speaker keeps the routes of a peer whose session ends
                // without a NOTIFICATION, marked stale, until the restarting speaker comes back.
                ShutdownMode::Graceful => e.close_all_for_restart(now),
                // RFC 8203/9003: Cease / Administrative Shutdown with a message the operator can read.
                ShutdownMode::Cease => e.shutdown(now, Some("route reflector shutting down")),
            }
        }
        self.drain();
        if let Some(m) = self.monitor.as_mut() {
            // RFC 7854 section 4.5: a Termination to each collector before the connection closes.
            m.terminate();
        }
        let graceful = mode == ShutdownMode::Graceful;
        let conns: Vec<_> = self.conns.drain().collect();
        info!(connections = conns.len(), %mode, "shutting down");
        for (_, h) in conns {
            let _ = h.tx.try_send(WriteCmd::Close);
            if graceful {
                // Dropping the queue after Close: the writer closes the socket without a NOTIFICATION.
                drop(h);
            }
        }
        // Let writers flush their last NOTIFICATIONs.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    s.set_reuseaddr(true)?;
    // RFC 5082 section 3: a GTSM peer that connects to us drops our SYN-ACK unless it arrives with TTL 255,
    // and accepted sockets inherit the listener's TTL for it. TTL 255 is harmless to every other peer.
    sockopt::set_ttl_255(&s, addr.is_ipv6())?;
    // Keep each SYN's headers so that GTSM peers' handshakes can be checked on accept.
    sockopt::save_syn(&s)?;
    if addr.is_ipv6() {
        // One listener per family: an IPv6 wildcard must not also take IPv4 (that is the IPv4 listener's).
        sockopt::set_v6_only(&s)?;
    }
    s.bind(addr)?;
    s.listen(1024)
}
