//! Control API answers and metric gauges, computed on the engine task (the only owner of the engine).

use rr_core::{PeerInfo, State};
use serde_json::{Value, json};

use super::{ControlReq, EngineTask};

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
                    "uptime_secs": now.as_millis() / 1000,
                }))
            }
            ControlReq::Peers => {
                let infos: Vec<PeerInfo> = engine.peers().collect();
                let mut v: Vec<Value> = infos.iter().map(|p| self.peer_json(p)).collect();
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
                                "as_path": a.as_path.asns().collect::<Vec<u32>>(),
                                "communities": a.communities.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
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

    pub(super) fn update_gauges(&self) {
        let Some(e) = self.engine.as_ref() else { return };
        let mut est = 0i64;
        let mut received = 0i64;
        for p in e.peers() {
            if p.state == State::Established {
                est += 1;
            }
            received += p.prefixes_received as i64;
        }
        self.metrics.peers_configured.set(self.peers.len() as i64);
        self.metrics.peers_established.set(est);
        self.metrics.paths_received.set(received);
        self.metrics.loc_rib_prefixes.set(e.loc_rib_len() as i64);
        self.metrics.attribute_sets.set(e.attr_sets() as i64);
    }
}
