//! Connections: outgoing attempts (a bounded number in flight, the rest queued), and incoming ones accepted
//! for a configured peer or rejected with a NOTIFICATION.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bgp_wire::notification::{cease, code};
use bgp_wire::{EncodeCtx, Message, Notification};
use bytes::BytesMut;
use rr_core::{ConnId, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{Instrument, debug, info, info_span, warn};

use super::{EngineCmd, EngineTask};
use crate::reconcile::PeerSpec;
use crate::sockopt;

/// Outgoing connection timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Outgoing connection attempts in flight at once; the rest wait in order. At start-up with thousands of
/// configured peers, every one is attempted at once: unbounded, that is thousands of sockets (file
/// descriptors) and tasks at the same moment, and the memory they took stays with the process.
pub(super) const MAX_CONNECTS_IN_FLIGHT: usize = 512;

impl EngineTask {
    /// Starts an outgoing attempt, or queues it while [`MAX_CONNECTS_IN_FLIGHT`] are under way.
    pub(super) fn connect(&mut self, peer: PeerId, conn: ConnId, remote: IpAddr, local: Option<IpAddr>) {
        if self.spec_of(peer).is_none() {
            return;
        }
        self.connecting.insert(conn);
        self.pending_peer.insert(conn, peer);
        if self.connects_in_flight < MAX_CONNECTS_IN_FLIGHT {
            self.spawn_connect(peer, conn, remote, local);
        } else {
            self.connect_queue.push_back((peer, conn, remote, local));
        }
    }

    /// An attempt of the current engine ended: start queued ones in its slot (skipping those the engine
    /// gave up on meanwhile, which it no longer expects an answer for).
    pub(super) fn connect_finished(&mut self) {
        self.connects_in_flight = self.connects_in_flight.saturating_sub(1);
        while self.connects_in_flight < MAX_CONNECTS_IN_FLIGHT {
            let Some((peer, conn, remote, local)) = self.connect_queue.pop_front() else {
                break;
            };
            if self.cancelled.remove(&conn) || self.spec_of(peer).is_none() {
                self.connecting.remove(&conn);
                self.pending_peer.remove(&conn);
                continue;
            }
            self.spawn_connect(peer, conn, remote, local);
        }
    }

    pub(super) fn spawn_connect(
        &mut self,
        peer: PeerId,
        conn: ConnId,
        remote: IpAddr,
        local: Option<IpAddr>,
    ) {
        let Some(spec) = self.spec_of(peer).cloned() else {
            return;
        };
        self.connects_in_flight += 1;
        let tx = self.tx.clone();
        let span = info_span!("peer", name = %spec.name, addr = %spec.addr);
        tokio::spawn(
            async move {
                let res =
                    tokio::time::timeout(CONNECT_TIMEOUT, connect_socket(remote, spec.port, local, &spec))
                        .await;
                let cmd = match res {
                    Ok(Ok(stream)) => EngineCmd::Connected { conn, stream },
                    Ok(Err(e)) => EngineCmd::ConnectFailed {
                        conn,
                        error: e.to_string(),
                    },
                    Err(_) => EngineCmd::ConnectFailed {
                        conn,
                        error: "timed out".into(),
                    },
                };
                let _ = tx.send(cmd).await;
            }
            .instrument(span),
        );
    }

    pub(super) fn incoming(&mut self, stream: TcpStream, remote: SocketAddr, local: SocketAddr) {
        let now = self.now();
        let ip = canonical(remote.ip());
        // RFC 5082 section 3: "discards incoming packets whose TTL is less than 255 - (trusted hop count) + 1".
        // On an accepted connection: the SYN's TTL (saved by the listener) is checked, then the socket drops
        // every later segment below the minimum and sends with TTL 255, as an outgoing GTSM connection does.
        if let Some(hops) = self
            .engine
            .as_ref()
            .and_then(|e| e.peer_by_addr(ip))
            .and_then(|id| self.peers.get(&id))
            .and_then(|p| p.spec.ttl_security)
            && let Err(e) = sockopt::accept_gtsm(&stream, local.is_ipv6(), hops)
        {
            warn!(%remote, error = %e, "GTSM check failed on an accepted connection: refused");
            tokio::spawn(reject(
                stream,
                Notification::new(code::CEASE, cease::CONNECTION_REJECTED),
            ));
            return;
        }
        let accepted = self
            .engine
            .as_mut()
            .and_then(|e| e.handle_incoming(now, ip, Some(local.ip())));
        match accepted {
            Some((peer, conn)) => {
                debug!(%remote, conn = conn.get(), "accepted");
                self.start_conn(conn, peer, stream);
            }
            None => {
                // RFC 4486 section 4: "If a BGP speaker decides to disallow a BGP connection (e.g., the peer is
                // not configured locally) after the speaker accepts a transport protocol connection, then the
                // BGP speaker SHOULD send a NOTIFICATION message with the Error Code Cease and the Error
                // Subcode 'Connection Rejected'."
                self.metrics.connections_rejected.inc();
                if let Some(suppressed) = self.reject_log.check(tokio::time::Instant::now()) {
                    info!(%remote, suppressed,
                          "connection from an address we have no (enabled) peering for: rejected");
                }
                tokio::spawn(reject(
                    stream,
                    Notification::new(code::CEASE, cease::CONNECTION_REJECTED),
                ));
            }
        }
    }
}

pub(super) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Opens an outgoing BGP connection with the peer's socket options.
async fn connect_socket(
    remote: IpAddr,
    port: u16,
    local: Option<IpAddr>,
    spec: &PeerSpec,
) -> std::io::Result<TcpStream> {
    let sock = if remote.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    if let Some(l) = local {
        sock.bind(SocketAddr::new(l, 0))?;
    }
    if let Some(pw) = &spec.password {
        sockopt::set_tcp_md5(&sock, remote, Some(pw.as_bytes()))?;
    }
    if let Some(h) = spec.ttl_security {
        sockopt::set_gtsm(&sock, remote.is_ipv6(), h)?;
    }
    sock.connect(SocketAddr::new(remote, port)).await
}

/// Sends `n` on a connection we refuse, then closes it.
pub(super) async fn reject(mut stream: TcpStream, n: Notification) {
    let mut buf = BytesMut::new();
    if Message::Notification(n)
        .encode(&EncodeCtx::default(), &mut buf)
        .is_ok()
    {
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(&buf)).await;
    }
    let _ = stream.shutdown().await;
    // Closing with the peer's OPEN still unread makes the kernel send a RST, and the peer may then lose
    // the NOTIFICATION (it sees "broken pipe" instead). Read and discard until it closes, for 2 s at most.
    let drain = async {
        let mut sink = [0u8; 4096];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}
