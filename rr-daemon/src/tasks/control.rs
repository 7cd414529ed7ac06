//! Control API answers and metric gauges, computed on the engine task (the only owner of the engine).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use control_api::{
    DownKind, LastDown, Negotiated, Peer, PeerState, PeersQuery, RefreshDone, ResetDone, Route, RoutePath,
    RoutesQuery, Status,
};
use rr_core::attrs::Origin;
use rr_core::best_path::Step;
use rr_core::{DownReason, Engine, Family, FamilySet, PeerInfo, State};

use super::{Answer, ControlReq, EngineTask};
use crate::metrics::{PeerSample, Snapshot};

fn peer_state(s: State) -> PeerState {
    match s {
        State::Idle => PeerState::Idle,
        State::Connect => PeerState::Connect,
        State::Active => PeerState::Active,
        State::OpenSent => PeerState::OpenSent,
        State::OpenConfirm => PeerState::OpenConfirm,
        State::Established => PeerState::Established,
        _ => PeerState::Unknown,
    }
}

/// Families as their plain names (`ipv4-unicast`, `ipv6-unicast`), owned.
fn family_names(set: FamilySet) -> Vec<String> {
    families(set).into_iter().map(str::to_string).collect()
}

/// Families as their plain names (`ipv4-unicast`, `ipv6-unicast`).
pub(super) fn families(set: FamilySet) -> Vec<&'static str> {
    Family::ALL
        .into_iter()
        .filter(|f| set.contains(*f))
        .map(|f| match f {
            Family::Ipv4Unicast => "ipv4-unicast",
            Family::Ipv6Unicast => "ipv6-unicast",
            _ => "other",
        })
        .collect()
}

/// The best-path step as a plain name, with the RFC rule it applies.
fn step_name(s: Step) -> &'static str {
    match s {
        Step::OnlyPath => "only path",
        Step::LlgrStale => "not LLGR-stale (RFC 9494 4.3)",
        Step::LocalPref => "higher LOCAL_PREF",
        Step::AsPathLength => "shorter AS_PATH",
        Step::Origin => "lower ORIGIN",
        Step::Med => "lower MED",
        Step::EbgpOverIbgp => "eBGP over iBGP",
        Step::IgpCost => "lower IGP cost",
        Step::RouterId => "lower router id / ORIGINATOR_ID",
        Step::ClusterListLength => "shorter CLUSTER_LIST",
        Step::PeerAddress => "lower peer address",
        Step::PathId => "lower path id",
        _ => "other",
    }
}

fn origin_name(o: Origin) -> &'static str {
    match o {
        Origin::Igp => "igp",
        Origin::Egp => "egp",
        Origin::Incomplete => "incomplete",
        _ => "unknown",
    }
}

/// `2026-12-04T19:30:00Z` for a wall-clock time (UTC; days to civil date after H. Hinnant's algorithm).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Why the last session ended: for a NOTIFICATION its code, subcode, name and the shutdown message (RFC 9003)
/// when there is one; `at` when the daemon saw it happen.
fn last_down(r: &DownReason, at: Option<SystemTime>) -> LastDown {
    let mut d = LastDown {
        reason: DownKind::Other,
        code: None,
        subcode: None,
        name: None,
        message: None,
        at: at.map(rfc3339),
    };
    match r {
        DownReason::NotificationSent(n) | DownReason::NotificationReceived(n) => {
            d.reason = if matches!(r, DownReason::NotificationSent(_)) {
                DownKind::NotificationSent
            } else {
                DownKind::NotificationReceived
            };
            d.code = Some(n.code);
            d.subcode = Some(n.subcode);
            d.name = Some(n.description().to_string());
            d.message = n.shutdown_message().and_then(Result::ok).map(|m| m.to_string());
        }
        DownReason::ConnectionLost => d.reason = DownKind::ConnectionLost,
        DownReason::Replaced => d.reason = DownKind::Replaced,
        _ => {}
    }
    d
}

impl EngineTask {
    fn peer(&self, p: &PeerInfo) -> Peer {
        let entry = self.peers.get(&p.id);
        let spec = entry.map(|e| &e.spec);
        let now = self.now();
        Peer {
            name: spec.map(|s| s.name.clone()),
            address: p.config.remote_addr.to_string(),
            port: spec.map(|s| s.port),
            remote_as: p.config.remote_as,
            role: spec.map(|s| s.role.to_string()),
            origin: spec.map(|s| s.origin.clone()),
            state: peer_state(p.state),
            disabled_reason: None,
            established_for_secs: p.established_since.map(|t| (now - t).as_secs()),
            prefixes_received: p.prefixes_received,
            prefixes_advertised: p.prefixes_advertised,
            prefixes_stale: p.prefixes_stale,
            updates_received: p.stats.updates_received,
            messages_sent: p.stats.messages_sent,
            established_transitions: p.stats.established_transitions,
            treat_as_withdraw: p.stats.treat_as_withdraw,
            last_down: p
                .last_down
                .as_ref()
                .map(|r| last_down(r, entry.and_then(|e| e.last_down_at))),
            md5: spec.is_some_and(|s| s.password.is_some()),
            ttl_security: spec.and_then(|s| s.ttl_security),
            // Rules of the import and export policy (BGPPeer.filters), 0 without filters.
            import_rules: p.config.import_policy.rules().len(),
            export_rules: p.config.export_policy.rules().len(),
            negotiated: p.negotiated.as_ref().map(|n| Negotiated {
                hold_time_secs: n.hold_time.as_secs(),
                families: family_names(n.families),
                add_path_tx: family_names(n.add_path_tx),
                add_path_rx: family_names(n.add_path_rx),
                graceful_restart: n.peer_gr.is_some(),
                route_refresh: n.route_refresh,
            }),
        }
    }

    /// One page of `GET /peers`: the `limit` peers (engine and disabled alike) whose address text comes
    /// first after `after`. One pass over the daemon's peer map keeps only `limit` keys (a bounded heap),
    /// and only the page's peers are looked up in the engine ([`Engine::peer_infos_of`]): the engine task
    /// is held for a page, not for the whole peer table.
    fn peers_page(&self, q: &PeersQuery) -> Result<Vec<Peer>, String> {
        let (after, limit) = page_bounds(q)?;
        let keys = self
            .peers
            .values()
            .map(|e| (e.spec.addr.to_string(), Slot::Engine(e.id)))
            .chain(
                self.disabled
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (d.addr.to_string(), Slot::Disabled(i))),
            );
        let page = first_after(keys, after.as_deref(), limit);
        let Some(engine) = self.engine.as_ref() else {
            return Err("the reflector has not read its datastore yet".into());
        };
        let ids: Vec<rr_core::PeerId> = page
            .iter()
            .filter_map(|(_, s)| match s {
                Slot::Engine(id) => Some(*id),
                Slot::Disabled(_) => None,
            })
            .collect();
        let mut infos = engine.peer_infos_of(&ids).into_iter().peekable();
        let mut out = Vec::with_capacity(page.len());
        for (_, slot) in page {
            match slot {
                Slot::Engine(id) => {
                    if let Some(info) = infos.next_if(|i| i.id == id) {
                        out.push(self.peer(&info));
                    }
                }
                Slot::Disabled(i) => {
                    let d = &self.disabled[i];
                    out.push(Peer {
                        name: Some(d.name.clone()),
                        address: d.addr.to_string(),
                        port: Some(d.port),
                        remote_as: d.remote_as,
                        role: Some(d.role.to_string()),
                        origin: Some(d.origin.clone()),
                        state: PeerState::Disabled,
                        disabled_reason: Some(d.reason.clone()),
                        md5: true,
                        ..Peer::default()
                    });
                }
            }
        }
        Ok(out)
    }

    fn find_peer(&self, name: &str) -> Option<rr_core::PeerId> {
        self.peers
            .values()
            .find(|e| e.spec.name == name || e.spec.addr.to_string() == name)
            .map(|e| e.id)
    }

    /// The status before the engine runs, and the fields every status shares.
    fn status_base(&self) -> Status {
        Status {
            version: crate::metrics::VERSION.to_string(),
            git_commit: crate::metrics::GIT_COMMIT.to_string(),
            node: self.node_name.clone(),
            ..Status::default()
        }
    }

    pub(super) fn control(&mut self, req: ControlReq) -> Result<Answer, String> {
        let now = self.now();
        let Some(engine) = self.engine.as_mut() else {
            return match req {
                ControlReq::Status => Ok(Answer::Status(self.status_base())),
                _ => Err("the reflector has not read its datastore yet".into()),
            };
        };
        match req {
            ControlReq::Status => {
                let engine = &*engine;
                let established = engine.peers().filter(|p| p.state == State::Established).count();
                let id = self.identity;
                let h = self.health.borrow().clone();
                Ok(Answer::Status(Status {
                    ready: true,
                    router_id: id.map(|i| i.router_id.to_string()),
                    cluster_id: id.and_then(|i| i.cluster_id).map(|c| c.to_string()),
                    local_as: id.map(|i| i.local_as),
                    listen_port: self.listen_port,
                    listeners: self
                        .listeners
                        .iter()
                        .map(|l| format!("{}:{}", l.ip, l.port))
                        .collect(),
                    peers: self.peers.len(),
                    established,
                    prefixes: engine.loc_rib_len(),
                    attribute_sets: engine.attr_sets(),
                    selection_deferred: engine.selection_deferred(),
                    // The peers whose End-of-RIB the deferral still waits for (RFC 4724 section 4.1).
                    selection_deferral_waiting: engine
                        .selection_deferral_waiting()
                        .iter()
                        .map(|id| {
                            self.peers
                                .get(id)
                                .map_or_else(|| id.to_string(), |e| e.spec.name.clone())
                        })
                        .collect(),
                    datastore_synced: h.datastore_synced,
                    datastore_problem: h.datastore_problem,
                    uptime_secs: now.as_millis() / 1000,
                    ..self.status_base()
                }))
            }
            ControlReq::Peers(q) => self.peers_page(&q).map(Answer::Peers),
            ControlReq::Routes(q) => {
                let prefixes: Vec<rr_core::Prefix> = match q.prefix.filter(|p| !p.is_empty()) {
                    Some(p) => vec![lookup(engine, &p)?],
                    None => {
                        // One bounded page per request: a full-table answer would hold the engine task (and
                        // its keepalives) for seconds and its memory for good (issue 14 item 4).
                        let limit = q.limit.unwrap_or(RoutesQuery::DEFAULT_LIMIT);
                        if !(1..=RoutesQuery::MAX_LIMIT).contains(&limit) {
                            return Err(format!(
                                "limit must be 1 to {}, not {limit}",
                                RoutesQuery::MAX_LIMIT
                            ));
                        }
                        let after: Option<rr_core::Prefix> = q
                            .after
                            .filter(|a| !a.is_empty())
                            .map(|a| a.parse().map_err(|e| format!("bad after= prefix {a:?}: {e}")))
                            .transpose()?;
                        engine.prefixes_page(after.as_ref(), limit)
                    }
                };
                let mut out = Vec::new();
                for p in prefixes {
                    let Some(r) = engine.route(&p) else { continue };
                    let paths = r
                        .paths
                        .iter()
                        .map(|path| {
                            let a = &path.attrs;
                            RoutePath {
                                from: self.peers.get(&path.peer).map(|e| e.spec.addr.to_string()),
                                path_id: path.path_id,
                                best: path.best,
                                stale: path.stale,
                                next_hop: a.next_hop.map(|n| n.to_string()),
                                local_pref: a.local_pref,
                                med: a.med,
                                origin: origin_name(a.origin).to_string(),
                                as_path: a.as_path.asns().collect(),
                                communities: a.communities.iter().map(|c| c.to_string()).collect(),
                                originator_id: a.originator_id.map(|o| o.to_string()),
                                cluster_list: a.cluster_list.iter().map(|c| c.to_string()).collect(),
                            }
                        })
                        .collect();
                    out.push(Route {
                        prefix: r.prefix.to_string(),
                        best_reason: step_name(r.deciding_step).to_string(),
                        paths,
                    });
                }
                Ok(Answer::Routes(out))
            }
            ControlReq::Reset { name } => {
                let id = self.find_peer(&name).ok_or_else(|| format!("no peer {name:?}"))?;
                let engine = self.engine.as_mut().ok_or("no engine")?;
                let state = engine.peer_info_of(id).map_or(State::Idle, |p| p.state);
                if state != State::Established {
                    return Err(format!(
                        "peer {name:?} is not up (state {}): nothing to reset",
                        peer_state(state)
                    ));
                }
                engine
                    .reset_peer(now, id, Some("reset by operator"))
                    .map_err(|e| e.to_string())?;
                Ok(Answer::Reset(ResetDone { reset: name }))
            }
            ControlReq::Refresh { name } => {
                let id = self.find_peer(&name).ok_or_else(|| format!("no peer {name:?}"))?;
                let engine = self.engine.as_mut().ok_or("no engine")?;
                if engine.route_refresh(now, id) {
                    Ok(Answer::Refresh(RefreshDone { refresh: name }))
                } else {
                    Err(format!(
                        "peer {name:?} is not established or did not negotiate route refresh"
                    ))
                }
            }
            ControlReq::Rib(q) => self.rib_page(&q).map(Answer::Rib),
        }
    }

    /// Refreshes the gauges and the per-peer metrics snapshot (once a second).
    pub(super) fn update_gauges(&self) {
        let Some(e) = self.engine.as_ref() else { return };
        let now = self.now();
        let mut snap = Snapshot {
            loc_rib_prefixes: e.loc_rib_len(),
            attribute_sets: e.attr_sets(),
            ..Snapshot::default()
        };
        let peers = e.peers();
        snap.peers.reserve_exact(self.peers.len());
        for p in peers {
            let entry = self.peers.get(&p.id);
            let up = p.state == State::Established;
            if let Some(g) = p.update_group.filter(|_| up) {
                *snap.update_groups.entry(g).or_default() += 1;
            }
            snap.peers.push(PeerSample {
                spec: entry.map(|e| Arc::clone(&e.spec)),
                address: p.config.remote_addr,
                state: mib_state(p.state),
                uptime_secs: p.established_since.map_or(0.0, |t| (now - t).as_secs_f64()),
                received: p.received_by_family,
                accepted: p.accepted_by_family,
                advertised: p.advertised_by_family,
                updates_received: p.stats.updates_received,
                wire: entry.map(|e| e.wire.clone()).unwrap_or_default(),
                flaps: p.stats.established_transitions - u64::from(up),
            });
        }
        let established = snap.peers.iter().filter(|p| p.state == 6).count();
        self.metrics.peers_configured.set(self.peers.len() as i64);
        self.metrics.peers_established.set(established as i64);
        if let Ok(mut s) = self.metrics.snapshot.lock() {
            *s = snap;
        }
    }
}

/// Where a peer of a `/peers` page is found: the engine, or the disabled peers (by index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Engine(rr_core::PeerId),
    Disabled(usize),
}

/// The cursor and page size of a `GET /peers` request: `after` as an address (in its canonical text, the
/// order's key), `limit` 1 to [`PeersQuery::MAX_LIMIT`] ([`PeersQuery::DEFAULT_LIMIT`] when absent).
fn page_bounds(q: &PeersQuery) -> Result<(Option<String>, usize), String> {
    let limit = q.limit.unwrap_or(PeersQuery::DEFAULT_LIMIT);
    if !(1..=PeersQuery::MAX_LIMIT).contains(&limit) {
        return Err(format!(
            "limit must be 1 to {}, not {limit}",
            PeersQuery::MAX_LIMIT
        ));
    }
    let after = q
        .after
        .as_deref()
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse::<std::net::IpAddr>()
                .map(|ip| ip.to_string())
                .map_err(|_| {
                    format!(
                        "bad after= address {a:?}: give the address of the last peer of the previous page"
                    )
                })
        })
        .transpose()?;
    Ok((after, limit))
}

/// The `limit` smallest keys after `after`, in order: a max-heap evicting its largest, so memory is bounded
/// by `limit` whatever the number of keys.
fn first_after<T: Ord>(
    keys: impl Iterator<Item = (String, T)>,
    after: Option<&str>,
    limit: usize,
) -> Vec<(String, T)> {
    let mut heap = std::collections::BinaryHeap::with_capacity(limit + 1);
    for k in keys {
        if after.is_some_and(|a| k.0.as_str() <= a) {
            continue;
        }
        heap.push(k);
        if heap.len() > limit {
            heap.pop();
        }
    }
    heap.into_sorted_vec()
}

/// The Loc-RIB prefix `query` names: a prefix as given (it must be in the Loc-RIB), or an address, looked up
/// by longest match.
fn lookup(engine: &Engine, query: &str) -> Result<rr_core::Prefix, String> {
    if query.contains('/') {
        let p: rr_core::Prefix = query.parse().map_err(|e| format!("bad prefix {query:?}: {e}"))?;
        return engine
            .route(&p)
            .map(|_| p)
            .ok_or_else(|| format!("no route for {p} in the Loc-RIB"));
    }
    let addr: std::net::IpAddr = query
        .parse()
        .map_err(|_| format!("bad prefix or address {query:?}"))?;
    let host: rr_core::Prefix = match addr {
        std::net::IpAddr::V4(a) => format!("{a}/32"),
        std::net::IpAddr::V6(a) => format!("{a}/128"),
    }
    .parse()
    .map_err(|e| format!("bad address {query:?}: {e}"))?;
    engine
        .prefixes()
        .filter(|p| p.contains(&host))
        .max_by_key(|p| p.len())
        .ok_or_else(|| format!("no route covers {addr} in the Loc-RIB"))
}

/// BGP4-MIB `bgpPeerState` numbering (RFC 4273): idle(1), connect(2), active(3), opensent(4), openconfirm(5),
/// established(6).
fn mib_state(s: State) -> i64 {
    match s {
        State::Idle => 1,
        State::Connect => 2,
        State::Active => 3,
        State::OpenSent => 4,
        State::OpenConfirm => 5,
        State::Established => 6,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(after: Option<&str>, limit: Option<usize>) -> PeersQuery {
        PeersQuery {
            after: after.map(str::to_string),
            limit,
        }
    }

    #[test]
    fn peers_page_bounds_check_limit_and_after() {
        let default = PeersQuery::DEFAULT_LIMIT;
        assert_eq!(page_bounds(&query(None, None)), Ok((None, default)));
        assert_eq!(page_bounds(&query(None, Some(1))), Ok((None, 1)));
        assert_eq!(
            page_bounds(&query(Some("127.0.1.2"), Some(PeersQuery::MAX_LIMIT))),
            Ok((Some("127.0.1.2".into()), PeersQuery::MAX_LIMIT))
        );
        // The canonical text, the order's key.
        assert_eq!(
            page_bounds(&query(Some("FD00:0::0001"), None)),
            Ok((Some("fd00::1".into()), default))
        );
        assert_eq!(page_bounds(&query(Some(""), None)), Ok((None, default)));
        for (after, limit) in [
            (None, Some(0)),
            (None, Some(PeersQuery::MAX_LIMIT + 1)),
            (Some("node-a"), None),
            (Some("10.0.0.0/8"), None),
        ] {
            assert!(page_bounds(&query(after, limit)).is_err(), "{after:?} {limit:?}");
        }
    }

    #[test]
    fn pages_partition_the_keys_in_order() {
        let keys: Vec<(String, usize)> = [3u8, 10, 2, 1, 20, 7, 100]
            .iter()
            .enumerate()
            .map(|(i, k)| (format!("127.0.1.{k}"), i))
            .collect();
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = first_after(keys.iter().cloned(), after.as_deref(), 3);
            assert!(page.len() <= 3);
            after = page.last().map(|k| k.0.clone());
            let n = page.len();
            all.extend(page);
            if n < 3 {
                break;
            }
        }
        let mut want = keys.clone();
        want.sort();
        assert_eq!(all, want);
        assert_eq!(
            first_after(keys.into_iter(), Some("127.0.1.3"), 10)
                .iter()
                .map(|k| k.0.as_str())
                .collect::<Vec<_>>(),
            ["127.0.1.7"]
        );
    }
}
