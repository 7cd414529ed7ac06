//! `/metrics` scraped during a run with BIRD 2 clients: the per-peer series match the sessions' real states
//! and the prefix counts each BIRD announced and received; a reset and a peer's shutdown show up as
//! NOTIFICATIONs by code and as flaps. The Grafana dashboard and the alert rules in deploy/ use only metrics
//! that this scrape carries.

mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use common::bird::{Bird, BirdNeighbor, BirdSpec};
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, require, wait_for};

const RR_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 1, 1);
const T: Duration = Duration::from_secs(30);

/// One sample: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut map = BTreeMap::new();
        // Label values here hold no `",` sequence, so splitting on it is exact.
        for kv in labels.split("\",").filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').expect("label");
            map.insert(k.to_string(), v.trim_matches('"').to_string());
        }
        out.push((name.to_string(), map, value.parse().expect("value")));
    }
    out
}

/// The value of `name` for peer `peer` with the extra labels `extra`; `None` when absent.
fn value(samples: &[Sample], name: &str, peer: &str, extra: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && l.get("peer").map(String::as_str) == Some(peer)
                && extra
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.2)
}

/// BGP paths BIRD holds from the reflector, per family (IPv4, IPv6).
fn bird_received(b: &Bird) -> [usize; 2] {
    let mut n = [0; 2];
    for r in b.routes().iter().filter(|r| r.is_bgp()) {
        n[usize::from(r.prefix.contains(':'))] += 1;
    }
    n
}

/// Metric names (`calico_rr_*`, `process_*`) used in a dashboard or rules file.
fn used_metrics(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for prefix in ["calico_rr_", "process_"] {
        let mut rest = text;
        while let Some(i) = rest.find(prefix) {
            let name: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[i + name.len()..];
            out.push(name);
        }
    }
    out.sort();
    out.dedup();
    out
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn per_peer_metrics_match_sessions_and_counts() {
    require(&["bird"]);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes.push(NodeDef::reflector(
        "rr1",
        RR_IP,
        "244.0.0.1".parse().expect("cluster id"),
    ));
    let mut specs = Vec::new();
    // Distinct counts per client and family, so that a count in the wrong series cannot pass.
    for (n, v4, v6) in [(2u8, 3u8, 1u8), (3, 1, 2), (4, 2, 0)] {
        let port = free_port("127.0.0.1");
        let mut spec = BirdSpec::client(n, port, 64512);
        spec.routes4 = (0..v4).map(|i| format!("10.{n}.{i}.0/26")).collect();
        spec.routes6 = (0..v6).map(|i| format!("fd00:{n:x}:{i:x}::/122")).collect();
        spec.neighbors
            .push(BirdNeighbor::new("rr1", RR_IP, rr_port, 64512));
        topo.nodes
            .push(NodeDef::client(&format!("node{n}"), spec.addr, port));
        specs.push(spec);
    }
    let rr = Rr::start("rr1", &topo.yaml(), &[]);
    let birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    for b in &birds {
        b.wait_established("rr1", T);
    }
    let total: [usize; 2] = birds.iter().fold([0, 0], |a, b| {
        [a[0] + b.spec.routes4.len(), a[1] + b.spec.routes6.len()]
    });

    // Every client up, with its own routes received and everyone else's advertised, as BIRD itself sees it.
    let samples = wait_for("per-peer metrics in step with the BIRDs", T, || {
        let (code, text) = rr.metrics_get("/metrics");
        if code != 200 {
            return Err(format!("HTTP {code}"));
        }
        let s = parse(&text);
        for b in &birds {
            let node = format!("node{}", b.spec.addr.octets()[3]);
            let got = |name: &str, extra: &[(&str, &str)]| value(&s, name, &node, extra);
            let addr = b.spec.addr.to_string();
            let labels = [("address", addr.as_str()), ("role", "rr-client")];
            if got("calico_rr_peer_up", &labels) != Some(1.0)
                || got("calico_rr_peer_state", &labels) != Some(6.0)
            {
                return Err(format!("{node} not up: {text}"));
            }
            let own = [b.spec.routes4.len(), b.spec.routes6.len()];
            let at_bird = bird_received(b);
            for (i, fam) in ["ipv4-unicast", "ipv6-unicast"].into_iter().enumerate() {
                let f = [("family", fam)];
                let want = (own[i] as f64, (total[i] - own[i]) as f64);
                let recv = got("calico_rr_peer_prefixes_received", &f);
                let acc = got("calico_rr_peer_prefixes_accepted", &f);
                let adv = got("calico_rr_peer_prefixes_advertised", &f);
                if recv != Some(want.0)
                    || acc != Some(want.0)
                    || adv != Some(want.1)
                    || at_bird[i] != want.1 as usize
                {
                    return Err(format!(
                        "{node} {fam}: received {recv:?} accepted {acc:?} advertised {adv:?} (BIRD holds {}), want {want:?}",
                        at_bird[i]
                    ));
                }
            }
            let ups = got("calico_rr_peer_updates_received_total", &[]).unwrap_or(0.0);
            let sent = got("calico_rr_peer_updates_sent_total", &[]).unwrap_or(0.0);
            if ups < 1.0 || sent < 1.0 || got("calico_rr_peer_uptime_seconds", &[]).is_none() {
                return Err(format!("{node}: updates in {ups} out {sent}"));
            }
            if got("calico_rr_peer_flaps_total", &[]) != Some(0.0) {
                return Err(format!("{node}: flaps before any reset"));
            }
        }
        Ok(s)
    });
    let one = |name: &str| samples.iter().find(|x| x.0 == name).map(|x| x.2);
    assert_eq!(one("calico_rr_peers_established"), Some(3.0));
    assert_eq!(
        one("calico_rr_loc_rib_prefixes"),
        Some((total[0] + total[1]) as f64)
    );
    assert_eq!(
        one("calico_rr_update_groups"),
        Some(1.0),
        "three alike clients share a group"
    );
    let build = samples
        .iter()
        .find(|x| x.0 == "calico_rr_build_info")
        .expect("build info");
    assert_eq!(
        build.1.get("version").map(String::as_str),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert!(one("process_resident_memory_bytes").is_some_and(|v| v > 1e6));
    assert!(one("process_open_fds").is_some_and(|v| v >= 3.0));

    // An operator reset sends Cease / Administrative Reset (6/4); BIRD's shutdown of its session sends Cease /
    // Administrative Shutdown (6/2). Each is one flap of that peer once it is back.
    let (code, body) = rr.post("/peers/node2/reset");
    assert_eq!(code, 200, "{body}");
    let out = birds[1].birdc("disable rr1");
    assert!(out.contains("disabled"), "{out}");
    wait_for("node3 down in the metrics", T, || {
        let s = parse(&rr.metrics_get("/metrics").1);
        match value(&s, "calico_rr_peer_up", "node3", &[]) {
            Some(0.0) => Ok(()),
            v => Err(format!("{v:?}")),
        }
    });
    birds[1].birdc("enable rr1");
    for b in &birds {
        b.wait_established("rr1", T);
    }
    // A record the datastore rejects is counted (and everything else carries on).
    let mut yaml = topo.yaml();
    yaml.push_str("---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: broken\nspec:\n  peerIP: not-an-ip\n");
    rr.write_yaml(&yaml);
    let text = wait_for("notifications, flaps and datastore errors", T, || {
        let text = rr.metrics_get("/metrics").1;
        let s = parse(&text);
        let sent = value(
            &s,
            "calico_rr_peer_notifications_sent_total",
            "node2",
            &[("code", "6"), ("subcode", "4")],
        );
        let recv = value(
            &s,
            "calico_rr_peer_notifications_received_total",
            "node3",
            &[("code", "6"), ("subcode", "2")],
        );
        let flaps = ["node2", "node3", "node4"].map(|p| value(&s, "calico_rr_peer_flaps_total", p, &[]));
        let up = ["node2", "node3", "node4"].map(|p| value(&s, "calico_rr_peer_up", p, &[]));
        let invalid = s
            .iter()
            .find(|x| {
                x.0 == "calico_rr_datastore_errors_total"
                    && x.1.get("kind").is_some_and(|k| k == "invalid_record")
            })
            .map(|x| x.2);
        if sent == Some(1.0)
            && recv == Some(1.0)
            && flaps == [Some(1.0), Some(1.0), Some(0.0)]
            && up == [Some(1.0); 3]
            && invalid == Some(1.0)
        {
            Ok(text)
        } else {
            Err(format!(
                "sent 6/4 {sent:?}, received 6/2 {recv:?}, flaps {flaps:?}, up {up:?}, invalid records {invalid:?}"
            ))
        }
    });
    assert!(
        text.contains("name=\"administrative reset\""),
        "notification names are plain: {text}"
    );

    // The dashboard and the alert rules use only metrics this scrape carries.
    let scraped: Vec<String> = parse(&text).into_iter().map(|s| s.0).collect();
    for file in [
        "deploy/grafana/calico-rr-dashboard.json",
        "deploy/prometheus/calico-rr-alerts.yaml",
    ] {
        let body = std::fs::read_to_string(repo().join(file)).expect(file);
        let used = used_metrics(&body);
        assert!(used.len() > 5, "{file}: {used:?}");
        let missing: Vec<&String> = used.iter().filter(|m| !scraped.contains(m)).collect();
        assert!(
            missing.is_empty(),
            "{file} uses metrics /metrics does not have: {missing:?}"
        );
    }
}
