//! Prometheus metrics (prometheus-client) served on `/metrics`, named in the conventions of bird_exporter and
//! GoBGP's exporter under the `calico_rr_` prefix, plus the standard `process_*` series.
//!
//! Three sources:
//! - event counters the engine task increments as things happen (sessions established/closed, bytes sent,
//!   malformed messages, rejected connections) and datastore series the watcher sets;
//! - a [`Snapshot`] of every peer (state, prefix counts per family, message and NOTIFICATION counts, flaps)
//!   and of the update groups, rebuilt by the engine task once a second and on every session change, and
//!   encoded by [`SnapshotCollector`] at scrape time, so per-peer series appear and disappear with the peers;
//! - [`ProcessCollector`], which reads `/proc/self` at scrape time (RSS, CPU seconds, open and max fds).
//!
//! Per-peer labels: `peer` (session name), `address`, `role` (`rr-client`, `reflector-mesh`, ...), and
//! `family` (`ipv4-unicast`, `ipv6-unicast`) on prefix counts. Every metric name is listed in `NAMES`;
//! `docs/operations.md` describes them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::reconcile::PeerSpec;

/// The daemon's version.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit it was built from (`RR_GIT_COMMIT` at build time, else `git rev-parse`, else `unknown`).
pub(crate) const GIT_COMMIT: &str = env!("RR_GIT_COMMIT");

/// Every series name `/metrics` can carry (counters with their `_total`).
#[cfg(test)]
pub(crate) const NAMES: &[&str] = &[
    "calico_rr_build_info",
    "calico_rr_peers_configured",
    "calico_rr_peers_established",
    "calico_rr_peers_disabled",
    "calico_rr_loc_rib_prefixes",
    "calico_rr_attribute_sets",
    "calico_rr_update_groups",
    "calico_rr_update_group_members",
    "calico_rr_sessions_established_total",
    "calico_rr_sessions_closed_total",
    "calico_rr_received_messages_total",
    "calico_rr_sent_bytes_total",
    "calico_rr_malformed_messages_total",
    "calico_rr_connections_rejected_total",
    "calico_rr_session_failures_total",
    "calico_rr_rfc7606_events_total",
    "calico_rr_datastore_synced",
    "calico_rr_datastore_revision",
    "calico_rr_datastore_errors_total",
    "calico_rr_datastore_last_sync_timestamp_seconds",
    "calico_rr_bmp_collector_up",
    "calico_rr_bmp_queue_overflows_total",
    "calico_rr_mrt_update_records_dropped_total",
    "calico_rr_peer_up",
    "calico_rr_peer_state",
    "calico_rr_peer_uptime_seconds",
    "calico_rr_peer_prefixes_received",
    "calico_rr_peer_prefixes_accepted",
    "calico_rr_peer_prefixes_advertised",
    "calico_rr_peer_updates_received_total",
    "calico_rr_peer_updates_sent_total",
    "calico_rr_peer_messages_received_total",
    "calico_rr_peer_messages_sent_total",
    "calico_rr_peer_notifications_received_total",
    "calico_rr_peer_notifications_sent_total",
    "calico_rr_peer_flaps_total",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
];

type KindLabel = [(&'static str, &'static str); 1];

/// Labels of the RFC 7606 event counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub(crate) struct Rfc7606Labels {
    /// The peer's session name.
    pub peer: String,
    /// `attribute-discard`, `treat-as-withdraw`, `afi-safi-disable` or `session-reset`.
    pub treatment: String,
}

/// Every metric the daemon exports.
#[derive(Default)]
pub(crate) struct Metrics {
    /// Peers the datastore asks for.
    pub peers_configured: Gauge,
    /// Sessions in Established (kept current between snapshots).
    pub peers_established: Gauge,
    /// Peers the datastore asks for that are not started (e.g. an unreadable TCP-MD5 password).
    pub peers_disabled: Gauge,
    /// Sessions that reached Established.
    pub sessions_established: Counter,
    /// Established sessions that ended.
    pub sessions_closed: Counter,
    /// BGP messages received, all peers.
    pub received_messages: Counter,
    /// BGP bytes queued for sending, all peers.
    pub sent_bytes: Counter,
    /// Messages that failed to decode.
    pub malformed_messages: Counter,
    /// Connections refused with Cease / Connection Rejected.
    pub connections_rejected: Counter,
    /// Connections that ended with a NOTIFICATION before Established.
    pub session_failures: Counter,
    /// RFC 7606 events per peer and treatment.
    pub rfc7606_events: Family<Rfc7606Labels, Counter>,
    /// 1 when the datastore watch is in step.
    pub datastore_synced: Gauge,
    /// Revision of the last datastore state applied.
    pub datastore_revision: Gauge,
    /// Datastore errors by kind (`unavailable`: the watch lost its store; `invalid_record`: a record rejected).
    pub datastore_errors: Family<KindLabel, Counter>,
    /// Unix time of the last datastore state applied while in step.
    pub datastore_last_sync: Gauge<f64, AtomicU64>,
    /// Per-peer and update-group state, rebuilt by the engine task.
    pub snapshot: Arc<Mutex<Snapshot>>,
    /// 1 while connected to the BMP collector (label `collector`: `HOST:PORT` as configured).
    pub bmp_collector_up: Family<CollectorLabel, Gauge>,
    /// Times a BMP collector's queue overflowed (connection dropped, table re-sent on reconnect).
    pub bmp_queue_overflows: Family<CollectorLabel, Counter>,
    /// BGP4MP update-log records dropped because the writer did not keep up.
    pub mrt_update_records_dropped: Counter,
}

/// The `collector` label of the BMP series.
pub(crate) type CollectorLabel = [(&'static str, String); 1];

/// Direction of a counted message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Dir {
    /// From the peer.
    In = 0,
    /// To the peer.
    Out = 1,
}

/// Message counts of one peer, kept by the engine task (the engine counts received UPDATEs itself).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct WireCounts {
    /// Messages by direction ([`Dir`] as index).
    pub messages: [u64; 2],
    /// UPDATEs by direction.
    pub updates: [u64; 2],
    /// NOTIFICATIONs by (direction, code, subcode).
    pub notifications: BTreeMap<(Dir, u8, u8), u64>,
}

impl WireCounts {
    /// Counts one message of BGP type `kind` (and, for a NOTIFICATION, its code and subcode).
    pub(crate) fn count(&mut self, dir: Dir, kind: u8, notification: Option<(u8, u8)>) {
        self.messages[dir as usize] += 1;
        if kind == 2 {
            self.updates[dir as usize] += 1;
        }
        if let Some((code, sub)) = notification {
            *self.notifications.entry((dir, code, sub)).or_default() += 1;
        }
    }

    /// Counts every whole message in `bytes` (one or more framed BGP messages, as handed to a writer).
    pub(crate) fn count_frames(&mut self, dir: Dir, bytes: &[u8]) {
        let mut rest = bytes;
        while rest.len() >= 19 {
            let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            let kind = rest[18];
            let notification = (kind == 3 && rest.len() >= 21).then(|| (rest[19], rest[20]));
            self.count(dir, kind, notification);
            if len < 19 || len > rest.len() {
                break;
            }
            rest = &rest[len..];
        }
    }
}

/// One peer as the metrics show it. Its labels are rendered at scrape time: with 20,000 configured peers a
/// snapshot holding three strings per peer cost 6.8 MB.
#[derive(Clone, Debug)]
pub(crate) struct PeerSample {
    /// The daemon's spec of the peer (its name and role); `None` for a peer the daemon does not know.
    pub spec: Option<Arc<PeerSpec>>,
    /// Peer address.
    pub address: IpAddr,
    /// FSM state as BGP4-MIB `bgpPeerState` numbers it: idle(1) connect(2) active(3) opensent(4)
    /// openconfirm(5) established(6).
    pub state: i64,
    /// Seconds in Established (0 when not).
    pub uptime_secs: f64,
    /// Adj-RIB-In paths per family.
    pub received: [usize; 2],
    /// Adj-RIB-In paths that are Loc-RIB candidates, per family.
    pub accepted: [usize; 2],
    /// Paths advertised to this peer, per family.
    pub advertised: [usize; 2],
    /// UPDATEs received (the engine's count).
    pub updates_received: u64,
    /// Other message counts.
    pub wire: WireCounts,
    /// Established sessions that ended.
    pub flaps: u64,
}

/// What the engine task last published.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    /// Every configured peer.
    pub peers: Vec<PeerSample>,
    /// Loc-RIB prefixes.
    pub loc_rib_prefixes: usize,
    /// Interned attribute sets.
    pub attribute_sets: usize,
    /// Members of each live update group, by group index.
    pub update_groups: BTreeMap<usize, usize>,
}

const FAMILIES: [&str; 2] = ["ipv4-unicast", "ipv6-unicast"];

/// Encodes the [`Snapshot`] at scrape time.
#[derive(Debug)]
pub(crate) struct SnapshotCollector(Arc<Mutex<Snapshot>>);

impl Default for PeerSample {
    fn default() -> Self {
        PeerSample {
            spec: None,
            address: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            state: 0,
            uptime_secs: 0.0,
            received: [0; 2],
            accepted: [0; 2],
            advertised: [0; 2],
            updates_received: 0,
            wire: WireCounts::default(),
            flaps: 0,
        }
    }
}

fn peer_labels(p: &PeerSample) -> Vec<(&'static str, String)> {
    let address = p.address.to_string();
    let name = p
        .spec
        .as_ref()
        .map_or_else(|| address.clone(), |s| s.name.clone());
    vec![
        ("peer", name),
        ("address", address),
        (
            "role",
            p.spec.as_ref().map_or_else(String::new, |s| s.role.to_string()),
        ),
    ]
}

fn with(
    mut l: Vec<(&'static str, String)>,
    k: &'static str,
    v: impl ToString,
) -> Vec<(&'static str, String)> {
    l.push((k, v.to_string()));
    l
}

/// One metric family: `rows` of (labels, value), encoded as a gauge or a counter.
fn family(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    counter: bool,
    rows: Vec<(Vec<(&'static str, String)>, f64)>,
) -> Result<(), std::fmt::Error> {
    let kind = if counter {
        MetricType::Counter
    } else {
        MetricType::Gauge
    };
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for (labels, v) in rows {
        let fam = m.encode_family(&labels)?;
        if counter {
            ConstCounter::new(v).encode(fam)?;
        } else {
            ConstGauge::new(v).encode(fam)?;
        }
    }
    Ok(())
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.lock().map_err(|_| std::fmt::Error)?.clone();
        let g = |v: usize| v as f64;
        let per_peer = |f: &dyn Fn(&PeerSample) -> f64| -> Vec<_> {
            s.peers.iter().map(|p| (peer_labels(p), f(p))).collect()
        };
        let per_family = |f: &dyn Fn(&PeerSample) -> [usize; 2]| -> Vec<_> {
            s.peers
                .iter()
                .flat_map(|p| {
                    let v = f(p);
                    (0..2).map(move |i| (with(peer_labels(p), "family", FAMILIES[i]), g(v[i])))
                })
                .collect()
        };
        let notifications = |dir: Dir| -> Vec<_> {
            s.peers
                .iter()
                .flat_map(|p| {
                    p.wire
                        .notifications
                        .iter()
                        .filter(move |((d, _, _), _)| *d == dir)
                        .map(move |((_, code, sub), n)| {
                            let name = bgp_wire::Notification::new(*code, *sub).description();
                            let l = with(
                                with(with(peer_labels(p), "code", code), "subcode", sub),
                                "name",
                                name,
                            );
                            (l, *n as f64)
                        })
                })
                .collect()
        };
        family(
            &mut enc,
            "loc_rib_prefixes",
            "Prefixes in the Loc-RIB",
            false,
            vec![(vec![], g(s.loc_rib_prefixes))],
        )?;
        family(
            &mut enc,
            "attribute_sets",
            "Interned path attribute sets",
            false,
            vec![(vec![], g(s.attribute_sets))],
        )?;
        family(
            &mut enc,
            "update_groups",
            "Live update groups",
            false,
            vec![(vec![], g(s.update_groups.len()))],
        )?;
        let groups = s
            .update_groups
            .iter()
            .map(|(k, n)| (vec![("group", k.to_string())], g(*n)))
            .collect();
        family(
            &mut enc,
            "update_group_members",
            "Established members of each update group",
            false,
            groups,
        )?;
        family(
            &mut enc,
            "peer_up",
            "1 when the session is Established",
            false,
            per_peer(&|p| f64::from(u8::from(p.state == 6))),
        )?;
        family(
            &mut enc,
            "peer_state",
            "FSM state as BGP4-MIB numbers it: 1 idle, 2 connect, 3 active, 4 opensent, 5 openconfirm, 6 established",
            false,
            per_peer(&|p| p.state as f64),
        )?;
        family(
            &mut enc,
            "peer_uptime_seconds",
            "Seconds since the session reached Established (0 when down)",
            false,
            per_peer(&|p| p.uptime_secs),
        )?;
        family(
            &mut enc,
            "peer_prefixes_received",
            "Paths in the peer's Adj-RIB-In",
            false,
            per_family(&|p| p.received),
        )?;
        family(
            &mut enc,
            "peer_prefixes_accepted",
            "Paths of the peer that are Loc-RIB candidates",
            false,
            per_family(&|p| p.accepted),
        )?;
        family(
            &mut enc,
            "peer_prefixes_advertised",
            "Paths advertised to the peer (its update group's Adj-RIB-Out less its own routes)",
            false,
            per_family(&|p| p.advertised),
        )?;
        family(
            &mut enc,
            "peer_updates_received",
            "UPDATE messages received",
            true,
            per_peer(&|p| p.updates_received as f64),
        )?;
        family(
            &mut enc,
            "peer_updates_sent",
            "UPDATE messages sent",
            true,
            per_peer(&|p| p.wire.updates[Dir::Out as usize] as f64),
        )?;
        family(
            &mut enc,
            "peer_messages_received",
            "BGP messages received",
            true,
            per_peer(&|p| p.wire.messages[Dir::In as usize] as f64),
        )?;
        family(
            &mut enc,
            "peer_messages_sent",
            "BGP messages sent",
            true,
            per_peer(&|p| p.wire.messages[Dir::Out as usize] as f64),
        )?;
        family(
            &mut enc,
            "peer_notifications_received",
            "NOTIFICATIONs received by code and subcode",
            true,
            notifications(Dir::In),
        )?;
        family(
            &mut enc,
            "peer_notifications_sent",
            "NOTIFICATIONs sent by code and subcode",
            true,
            notifications(Dir::Out),
        )?;
        family(
            &mut enc,
            "peer_flaps",
            "Established sessions that ended",
            true,
            per_peer(&|p| p.flaps as f64),
        )?;
        Ok(())
    }
}

/// The standard `process_*` series, read from `/proc/self` at scrape time.
#[derive(Debug)]
pub(crate) struct ProcessCollector {
    start: f64,
}

fn proc_value(file: &str, key: &str) -> Option<f64> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// CPU seconds (user + system) from `/proc/self/stat`, in clock ticks of 1/100 s (Linux's USER_HZ).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let one = |v: Option<f64>| v.map(|v| vec![(vec![], v)]).unwrap_or_default();
        let rss = proc_value("/proc/self/status", "VmRSS:").map(|kb| kb * 1024.0);
        let fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as f64);
        let max = proc_value("/proc/self/limits", "Max open files");
        family(
            &mut enc,
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            false,
            one(rss),
        )?;
        family(
            &mut enc,
            "process_cpu_seconds",
            "User and system CPU time in seconds",
            true,
            one(cpu_seconds()),
        )?;
        family(
            &mut enc,
            "process_open_fds",
            "Open file descriptors",
            false,
            one(fds),
        )?;
        family(
            &mut enc,
            "process_max_fds",
            "Maximum number of open file descriptors",
            false,
            one(max),
        )?;
        family(
            &mut enc,
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch",
            false,
            one(Some(self.start)),
        )?;
        Ok(())
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Metrics {
    /// Records that the datastore state at `revision` was applied; `synced` when the watch is in step.
    pub(crate) fn datastore_applied(&self, revision: u64, synced: bool) {
        self.datastore_revision
            .set(i64::try_from(revision).unwrap_or(i64::MAX));
        if synced {
            self.datastore_last_sync.set(unix_now());
        }
    }

    /// Counts a datastore error of `kind` (`unavailable`, `invalid_record`).
    pub(crate) fn datastore_error(&self, kind: &'static str) {
        self.datastore_errors.get_or_create(&[("kind", kind)]).inc();
    }

    /// Registers every metric under the `calico_rr_` prefix, and the `process_*` series.
    pub(crate) fn register(&self, root: &mut Registry) {
        root.register_collector(Box::new(ProcessCollector { start: unix_now() }));
        let r = root.sub_registry_with_prefix("calico_rr");
        r.register(
            "build",
            "Version and git commit of the running daemon",
            Info::new(vec![("version", VERSION), ("git_commit", GIT_COMMIT)]),
        );
        r.register(
            "peers_configured",
            "Peers the datastore asks for",
            self.peers_configured.clone(),
        );
        r.register(
            "peers_established",
            "Sessions in Established",
            self.peers_established.clone(),
        );
        r.register(
            "peers_disabled",
            "Peers the datastore asks for that are not started (e.g. an unreadable TCP-MD5 password)",
            self.peers_disabled.clone(),
        );
        r.register(
            "sessions_established",
            "Sessions that reached Established",
            self.sessions_established.clone(),
        );
        r.register(
            "sessions_closed",
            "Established sessions that ended",
            self.sessions_closed.clone(),
        );
        r.register(
            "received_messages",
            "BGP messages received",
            self.received_messages.clone(),
        );
        r.register(
            "sent_bytes",
            "BGP bytes queued for sending",
            self.sent_bytes.clone(),
        );
        r.register(
            "malformed_messages",
            "Received messages that failed to decode",
            self.malformed_messages.clone(),
        );
        r.register(
            "session_failures",
            "Connections that ended with a NOTIFICATION before Established",
            self.session_failures.clone(),
        );
        r.register(
            "rfc7606_events",
            "Malformed UPDATEs handled by RFC 7606 error handling, per peer and treatment",
            self.rfc7606_events.clone(),
        );
        r.register(
            "connections_rejected",
            "Connections refused with Cease / Connection Rejected",
            self.connections_rejected.clone(),
        );
        r.register(
            "datastore_synced",
            "1 when the datastore watch is in step",
            self.datastore_synced.clone(),
        );
        r.register(
            "datastore_revision",
            "Revision of the last datastore state applied",
            self.datastore_revision.clone(),
        );
        r.register(
            "datastore_errors",
            "Datastore errors: kind=unavailable (watch lost its store), kind=invalid_record (record rejected)",
            self.datastore_errors.clone(),
        );
        r.register(
            "datastore_last_sync_timestamp_seconds",
            "Unix time of the last datastore state applied while in step",
            self.datastore_last_sync.clone(),
        );
        r.register(
            "bmp_collector_up",
            "1 while connected to the BMP collector",
            self.bmp_collector_up.clone(),
        );
        r.register(
            "bmp_queue_overflows",
            "Times a BMP collector did not keep up: its connection was dropped and the table re-sent on reconnect",
            self.bmp_queue_overflows.clone(),
        );
        r.register(
            "mrt_update_records_dropped",
            "BGP4MP update-log records dropped because the writer did not keep up",
            self.mrt_update_records_dropped.clone(),
        );
        r.register_collector(Box::new(SnapshotCollector(Arc::clone(&self.snapshot))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_counted_by_type_and_notification_code() {
        let mut c = WireCounts::default();
        let mut bytes = Vec::new();
        for (kind, body) in [(4u8, vec![]), (2, vec![0, 0, 0, 0]), (3, vec![6, 4])] {
            bytes.extend_from_slice(&[0xff; 16]);
            bytes.extend_from_slice(&(19 + body.len() as u16).to_be_bytes());
            bytes.push(kind);
            bytes.extend_from_slice(&body);
        }
        c.count_frames(Dir::Out, &bytes);
        assert_eq!(c.messages, [0, 3]);
        assert_eq!(c.updates, [0, 1]);
        assert_eq!(c.notifications.get(&(Dir::Out, 6, 4)), Some(&1));
    }

    #[test]
    fn every_registered_series_is_listed() {
        let m = Metrics::default();
        m.datastore_error("unavailable");
        m.snapshot.lock().unwrap().peers.push(PeerSample {
            wire: WireCounts {
                notifications: [((Dir::In, 6, 2), 1), ((Dir::Out, 6, 4), 1)]
                    .into_iter()
                    .collect(),
                ..WireCounts::default()
            },
            ..PeerSample::default()
        });
        m.snapshot.lock().unwrap().update_groups.insert(0, 1);
        m.rfc7606_events
            .get_or_create(&Rfc7606Labels {
                peer: "p".into(),
                treatment: "treat-as-withdraw".into(),
            })
            .inc();
        let collector = [("collector", "127.0.0.1:11019".to_string())];
        m.bmp_collector_up.get_or_create(&collector).set(1);
        m.bmp_queue_overflows.get_or_create(&collector).inc();
        let mut r = Registry::default();
        m.register(&mut r);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        let mut seen: Vec<&str> = out
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.split(['{', ' ']).next().unwrap())
            .collect();
        seen.sort_unstable();
        seen.dedup();
        let mut names = NAMES.to_vec();
        names.sort_unstable();
        assert_eq!(seen, names, "{out}");
    }
}
