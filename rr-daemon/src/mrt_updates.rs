//! BGP4MP update logging (`--mrt-updates-dir`, `--mrt-updates-interval`), like gobgpd's `mrt-dump` of type
//! `updates`: every UPDATE received from a peer in Established, as received, and every session going up or
//! down, as MRT BGP4MP_ET records (RFC 6396 section 4.4, microsecond timestamps) written with `bgp-wire`'s
//! [`MrtWriter`] into `updates.YYYYMMDDTHHMMSSZ.mrt`, a new file every interval.
//!
//! - UPDATEs: BGP4MP_MESSAGE_AS4 (RFC 6396 section 4.4.3) when the session negotiated 4-octet AS numbers,
//!   BGP4MP_MESSAGE otherwise; the `_ADDPATH` subtypes (RFC 8050) when the peer sends path identifiers.
//! - State changes: BGP4MP_STATE_CHANGE_AS4, OpenConfirm (5) to Established (6) when a session comes up and
//!   Established (6) to Idle (1) when it ends. Transitions before Established are not logged.
//!
//! The engine task hands the records over a bounded queue ([`crate::tasks::monitor`]), never waiting for
//! this task: when the disk does not keep up, records are dropped and counted in
//! `calico_rr_mrt_update_records_dropped_total`. A write error is logged (once per file) and the next file
//! is tried at the next interval.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use bgp_wire::mrt::{Bgp4mp, Bgp4mpMessage, Bgp4mpPeer, MrtBody, MrtRecord, MrtWriter, StateChange};
use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tracing::{info, warn};

use crate::tasks::monitor::{MonItem, PeerMeta, SinkHandle};

/// RFC 4271 section 8.2.2 state numbers as RFC 6396 section 4.4.1 writes them.
const IDLE: u16 = 1;
const OPEN_CONFIRM: u16 = 5;
const ESTABLISHED: u16 = 6;

/// Records written in one go.
const WRITE_BATCH: usize = 512;

/// Runs until the engine task is gone or the daemon stops.
pub(crate) async fn run(dir: PathBuf, interval: Duration, mut sink: SinkHandle) {
    let mut file: Option<(PathBuf, tokio::fs::File)> = None;
    let mut failed = false;
    let mut rotate = tokio::time::interval(interval);
    rotate.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    rotate.tick().await;
    loop {
        let mut batch = Vec::new();
        tokio::select! {
            item = sink.rx.recv() => match item {
                Some(MonItem::Terminate) | None => break,
                Some(i) => batch.push(i),
            },
            _ = rotate.tick() => {
                if let Some((path, mut f)) = file.take() {
                    let _ = f.flush().await;
                    info!(file = %path.display(), "BGP4MP update log rotated");
                }
                failed = false;
                continue;
            }
        }
        let mut terminate = false;
        while batch.len() < WRITE_BATCH {
            match sink.rx.try_recv() {
                Ok(MonItem::Terminate) => {
                    terminate = true;
                    break;
                }
                Ok(i) => batch.push(i),
                Err(_) => break,
            }
        }
        let bytes = encode(&batch);
        if !bytes.is_empty()
            && !failed
            && let Err(e) = write(&dir, &mut file, &bytes).await
        {
            warn!(dir = %dir.display(), error = format!("{e:#}"),
                  "BGP4MP update log: write failed; trying again with the next file");
            file = None;
            failed = true;
        }
        if terminate {
            break;
        }
    }
    if let Some((_, mut f)) = file {
        let _ = f.flush().await;
    }
}

/// Appends `bytes` to the current file, opening a new one first if there is none.
async fn write(
    dir: &Path,
    file: &mut Option<(PathBuf, tokio::fs::File)>,
    bytes: &[u8],
) -> anyhow::Result<()> {
    if file.is_none() {
        let stamp: String = crate::tasks::rfc3339(SystemTime::now())
            .chars()
            .filter(|c| *c != '-' && *c != ':')
            .collect();
        let path = dir.join(format!("updates.{stamp}.mrt"));
        let f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        info!(file = %path.display(), "BGP4MP update log");
        *file = Some((path, f));
    }
    if let Some((path, f)) = file.as_mut() {
        f.write_all(bytes)
            .await
            .with_context(|| format!("writing {}", path.display()))?;
        f.flush().await?;
    }
    Ok(())
}

/// The MRT records of a batch of items.
fn encode(items: &[MonItem]) -> Vec<u8> {
    let mut w = MrtWriter::new(Vec::new());
    for item in items {
        let (at, body) = match item {
            MonItem::PeerUp { peer, at, .. } => (*at, state_change(peer, OPEN_CONFIRM, ESTABLISHED)),
            MonItem::PeerDown { peer, at, .. } => (*at, state_change(peer, ESTABLISHED, IDLE)),
            MonItem::Update { peer, frame, at, .. } => (*at, message(peer, frame)),
            _ => continue,
        };
        let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let rec = MrtRecord {
            timestamp: u32::try_from(d.as_secs()).unwrap_or(u32::MAX),
            microseconds: Some(d.subsec_micros()),
            body: MrtBody::Bgp4mp(body),
        };
        if let Err(e) = w.write(&rec) {
            warn!(error = %e, "BGP4MP record not encoded");
        }
    }
    w.into_inner()
}

/// The session of a record: both addresses in the peer's family (an IPv4 peer on an IPv6 socket is
/// written with its IPv4 local address).
fn session(peer: &PeerMeta) -> Bgp4mpPeer {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let peer_ip = canon(peer.addr);
    let mut local_ip = canon(peer.local.ip());
    if local_ip.is_ipv4() != peer_ip.is_ipv4() {
        local_ip = match peer_ip {
            IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
    }
    Bgp4mpPeer {
        peer_as: peer.asn,
        local_as: peer.local_as,
        interface_index: 0,
        peer_ip,
        local_ip,
    }
}

fn state_change(peer: &PeerMeta, old_state: u16, new_state: u16) -> Bgp4mp {
    Bgp4mp::StateChange(StateChange {
        as4: true,
        peer: session(peer),
        old_state,
        new_state,
    })
}

fn message(peer: &PeerMeta, frame: &Bytes) -> Bgp4mp {
    Bgp4mp::Message(Bgp4mpMessage {
        // RFC 6396 section 4.4.3: the AS4 subtype "is used to encode BGP messages ... with 4-byte AS
        // numbers"; a session without them keeps 2-octet AS numbers in its messages.
        as4: peer.as4,
        local: false,
        add_path: !peer.add_path_rx.is_empty(),
        peer: session(peer),
        message: frame.clone(),
    })
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::sync::Arc;

    use bgp_wire::bmp::PeerDownReason;
    use bgp_wire::mrt::{MrtReader, bgp4mp_subtype};
    use rr_core::{Family, FamilySet};

    use super::*;

    fn peer(as4: bool, add_path: bool) -> Arc<PeerMeta> {
        let mut add_path_rx = FamilySet::EMPTY;
        if add_path {
            add_path_rx.insert(Family::Ipv4Unicast);
        }
        Arc::new(PeerMeta {
            addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
            asn: 64512,
            bgp_id: Ipv4Addr::new(192, 0, 2, 7),
            local_as: 64512,
            as4,
            add_path_rx,
            families: FamilySet::EMPTY,
            local: "[::ffff:192.0.2.1]:179".parse::<SocketAddr>().unwrap(),
            remote: "192.0.2.7:40000".parse().unwrap(),
            post_policy: false,
        })
    }

    /// The records read back by bgp-wire's own MRT reader: subtypes by the session's AS size and ADD-PATH,
    /// state changes 5→6 and 6→1, the frame byte for byte, an IPv4 local address for an IPv4 peer accepted
    /// on a dual-stack socket, microsecond timestamps.
    #[test]
    fn records_read_back() {
        let at = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let frame = bgp_wire::Message::keepalive_bytes();
        let items = vec![
            MonItem::PeerUp {
                peer: peer(true, false),
                sent_open: Bytes::new(),
                received_open: Bytes::new(),
                at,
            },
            MonItem::Update {
                peer: peer(true, false),
                frame: frame.clone(),
                post: Vec::new(),
                at,
            },
            MonItem::Update {
                peer: peer(false, true),
                frame: frame.clone(),
                post: Vec::new(),
                at,
            },
            MonItem::PageEnd { next: None },
            MonItem::PeerDown {
                peer: peer(true, false),
                reason: PeerDownReason::RemoteNoNotification,
                at,
            },
        ];
        let bytes = encode(&items);
        let recs: Vec<MrtRecord> = MrtReader::new(bytes.as_slice())
            .map(|r| r.expect("bgp-wire reads the record").record)
            .collect();
        assert_eq!(recs.len(), 4, "one record per session event");
        for r in &recs {
            assert_eq!((r.timestamp, r.microseconds), (1_700_000_000, Some(123_456)));
        }
        let body = |i: usize| match &recs[i].body {
            MrtBody::Bgp4mp(b) => b.clone(),
            other => panic!("not BGP4MP: {other:?}"),
        };
        let Bgp4mp::StateChange(up) = body(0) else {
            panic!("not a state change")
        };
        assert_eq!((up.old_state, up.new_state), (OPEN_CONFIRM, ESTABLISHED));
        assert_eq!(up.peer.local_ip, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        let Bgp4mp::Message(m) = body(1) else {
            panic!("not a message")
        };
        assert_eq!(m.subtype(), bgp4mp_subtype::MESSAGE_AS4);
        assert_eq!(m.message, frame);
        let Bgp4mp::Message(m) = body(2) else {
            panic!("not a message")
        };
        assert_eq!(m.subtype(), bgp4mp_subtype::MESSAGE_ADDPATH);
        let Bgp4mp::StateChange(down) = body(3) else {
            panic!("not a state change")
        };
        assert_eq!((down.old_state, down.new_state), (ESTABLISHED, IDLE));
    }
}
