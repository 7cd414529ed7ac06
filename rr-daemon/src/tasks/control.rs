//! Control API answers and metric gauges, computed on the engine task (the only owner of the engine).

use rr_core::{PeerInfo, State};
use serde_json::{Value, json};

use super::{ControlReq, EngineTask};
use crate::metrics::{PeerSample, Snapshot};

fn state_name(s: State) -> &'static str {
    match s {
        State::Idle => "Idle",
        State::Connect => "Connect",
        State::Active => "Active",
        State::OpenSent => "OpenSent",
        State::OpenConfirm => "OpenConfirm",
        State::Established => "Established",
        _ => "Unknown",
    }
}

impl EngineTask {
    fn peer_json(&self, p: &PeerInfo) -> Value {
        let spec = self
            .by_id
            .get(&p.id)
            .and_then(|a| self.peers.get(a))
            .map(|e| &e.spec);
        let now = self.now();
        json!({
            "name": spec.map(|s| s.name.clone()),
            "address": p.config.remote_addr.to_string(),
            "port": spec.map(|s| s.port),
            "remote_as": p.config.remote_as,
            "role": spec.map(|s| s.role.to_string()),
            "origin": spec.map(|s| s.origin.clone()),
            "state": state_name(p.state),
            "established_for_secs": p.established_since.map(|t| (now - t).as_secs()),
            "prefixes_received": p.prefixes_received,
            "prefixes_advertised": p.prefixes_advertised,
            "prefixes_stale": p.prefixes_stale,
            "updates_received": p.stats.updates_received,
            "messages_sent": p.stats.messages_sent,
            "established_transitions": p.stats.established_transitions,
            "treat_as_withdraw": p.stats.treat_as_withdraw,
            "last_down": p.last_down.as_ref().map(|r| r.to_string()),
            "last_down_secs_ago": p.last_down_at.map(|t| (now - t).as_secs()),
            "md5": spec.is_some_and(|s| s.password.is_some()),
            "ttl_security": spec.and_then(|s| s.ttl_security),
            "negotiated": p.negotiated.as_ref().map(|n| json!({
                "hold_time_secs": n.hold_time.as_secs(),
                "families": format!("{:?}", n.families),
                "add_path_tx": format!("{:?}", n.add_path_tx),
                "add_path_rx": format!("{:?}", n.add_path_rx),
                "graceful_restart": n.peer_gr.is_some(),
                "route_refresh": n.route_refresh,
            })),
        })
    }

    fn find_peer(&self, name: &str) -> Option<rr_core::PeerId> {
        self.peers
            .iter()
            .find(|(a, e)| e.spec.name == name || a.to_string() == name)
            .map(|(_, e)| e.id)
    }

    pub(super) fn control(&mut self, req: ControlReq) -> Result<Value, String> {
        let now = self.now();
        let Some(engine) = self.engine.as_mut() else {
            return match req {
                ControlReq::Status => Ok(json!({"node": self.node_name, "ready": false, "peers": 0})),
                _ => Err("the reflector has not read its datastore yet".into()),
            };
        };
        match req {
            ControlReq::Status => {
                let established = engine.peers().filter(|p| p.state == State::Established).count();
                let id = self.identity;
                let h = self.health.borrow().clone();
                Ok(json!({
                    "node": self.node_name,
                    "router_id": id.map(|i| i.router_id.to_string()),
                    "cluster_id": id.and_then(|i| i.cluster_id).map(|c| c.to_string()),
                    "local_as": id.map(|i| i.local_as),
                    "listen_port": self.listen_port,
                    "listeners": self.listeners.iter().map(|l| format!("{}:{}", l.ip, l.port)).collect::<Vec<_>>(),
                    "peers": self.peers.len(),
                    "established": established,
                    "prefixes": engine.loc_rib_len(),
                    "attribute_sets": engine.attr_sets(),
                    "datastore_synced": h.datastore_synced,
                    "datastore_problem": h.datastore_problem,
                    "uptime_secs": now.as_millis() / 1000,
                }))
            }
            ControlReq::Peers => {
                let infos: Vec<PeerInfo> = engine.peers().collect();
                let mut v: Vec<Value> = infos.iter().map(|p| self.peer_json(p)).collect();
                v.extend(self.disabled.iter().map(|d| {
                    json!({
                        "name": d.name,
                        "address": d.addr.to_string(),
                        "port": d.port,
                        "remote_as": d.remote_as,
                        "role": d.role.to_string(),
                        "origin": d.origin,
                        "state": "Disabled",
                        "disabled_reason": d.reason,
                        "md5": true,
                    })
                }));
                v.sort_by(|a, b| a["address"].as_str().cmp(&b["address"].as_str()));
                Ok(Value::Array(v))
            }
            ControlReq::Routes { prefix } => {
                let prefixes: Vec<rr_core::Prefix> = match prefix {
                    Some(p) => vec![p.parse().map_err(|e| format!("bad prefix {p:?}: {e}"))?],
                    None => {
                        let mut all: Vec<_> = engine.prefixes().collect();
                        all.sort_by_key(|p| p.to_string());
                        all
                    }
                };
                let mut out = Vec::new();
                for p in prefixes {
                    let Some(r) = engine.route(&p) else { continue };
                    let paths: Vec<Value> = r
                        .paths
                        .iter()
                        .map(|path| {
                            let a = &path.attrs;
                            json!({
                                "from": self.by_id.get(&path.peer).map(|x| x.to_string()),
                                "path_id": path.path_id,
                                "best": path.best,
                                "stale": path.stale,
                                "next_hop": a.next_hop.map(|n| n.to_string()),
                                "local_pref": a.local_pref,
                                "med": a.med,
                                "origin": format!("{:?}", a.origin),
                                "as_path": a.as_path.iter().flat_map(|s| s.asns.iter().copied()).collect::<Vec<u32>>(),
                                "communities": a.communities.iter().map(|c| format!("{}:{}", c >> 16, c & 0xffff)).collect::<Vec<_>>(),
                                "originator_id": a.originator_id.map(|o| o.to_string()),
                                "cluster_list": a.cluster_list.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                            })
                        })
                        .collect();
                    out.push(json!({
                        "prefix": r.prefix.to_string(),
                        "best_reason": format!("{:?}", r.deciding_step),
                        "paths": paths,
                    }));
                }
                Ok(Value::Array(out))
            }
            ControlReq::Reset { name } => {
                let id = self.find_peer(&name).ok_or_else(|| format!("no peer {name:?}"))?;
                let engine = self.engine.as_mut().ok_or("no engine")?;
                engine
                    .reset_peer(now, id, Some("reset by operator"))
                    .map_err(|e| e.to_string())?;
                Ok(json!({"reset": name}))
            }
            ControlReq::Refresh { name } => {
                let id = self.find_peer(&name).ok_or_else(|| format!("no peer {name:?}"))?;
                let engine = self.engine.as_mut().ok_or("no engine")?;
                if engine.route_refresh(now, id) {
                    Ok(json!({"refresh": name}))
                } else {
                    Err(format!(
                        "peer {name:?} is not established or did not negotiate route refresh"
                    ))
                }
            }
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
        for p in e.peers() {
            let entry = self.by_id.get(&p.id).and_then(|a| self.peers.get(a));
            let up = p.state == State::Established;
            if let Some(g) = p.update_group.filter(|_| up) {
                *snap.update_groups.entry(g).or_default() += 1;
            }
            snap.peers.push(PeerSample {
                name: entry.map_or_else(|| p.config.remote_addr.to_string(), |e| e.spec.name.clone()),
                address: p.config.remote_addr.to_string(),
                role: entry.map_or_else(String::new, |e| e.spec.role.to_string()),
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
