//! End to end on the etcd datastore: a real etcd, resources written with `etcdctl` as calicoctl stores them,
//! the rr-daemon binary, and BIRD 2 clients configured as calico-node configures BIRD, all on loopback.
//!
//! A new client node comes up right after its write; a deleted node's session closes; etcd down for 30 s
//! costs no session and no route, and the daemon reconciles (here through a relist after compaction) when
//! etcd is back.

mod common;
#[path = "../../datastore/tests/etcd_support/mod.rs"]
mod etcd_support;

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::bird::{Bird, BirdNeighbor, BirdSpec};
use common::{ChildGuard, free_port, require, wait_for};
use etcd_support::{EtcdServer, Pki};
use serde_json::Value;

const RR_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 1, 1);
const CLUSTER: &str = "244.0.0.1";
const T: Duration = Duration::from_secs(30);
const PREFIX: &str = "/calico/resources/v3/projectcalico.org";

/// rr-daemon on the etcd datastore.
struct RrEtcd {
    dir: tempfile::TempDir,
    ctl: PathBuf,
    metrics_port: u16,
    _guard: ChildGuard,
}

impl RrEtcd {
    fn start(node: &str, endpoint: &str) -> RrEtcd {
        let args = [
            "--datastore",
            "etcdv3",
            "--etcd-endpoints",
            endpoint,
            "--nodename",
            node,
        ];
        Self::start_with(node, &args, &[])
    }

    /// Starts rr-daemon with these arguments and environment (after clearing the datastore variables).
    fn start_with(node: &str, args: &[&str], env: &[(&str, String)]) -> RrEtcd {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctl = dir.path().join("ctl.sock");
        let metrics_port = free_port("127.0.0.1");
        let log = std::fs::File::create(dir.path().join("rr.log")).expect("log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rr-daemon"));
        for var in [
            "IP",
            "IP6",
            "NODENAME",
            "DATASTORE_TYPE",
            "ETCD_ENDPOINTS",
            "KUBECONFIG",
            "ETCD_CA_CERT_FILE",
            "ETCD_CERT_FILE",
            "ETCD_KEY_FILE",
        ] {
            cmd.env_remove(var).env_remove(format!("CALICO_{var}"));
        }
        cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        // As in common::rr: nodes that never run a BIRD would hold every route for the 120 s default.
        let child = cmd
            .args(args)
            .args(["--selection-deferral-secs", "10"])
            .arg("--control-socket")
            .arg(&ctl)
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .env("RUST_LOG", "info,rr_daemon=debug,datastore=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn rr-daemon");
        let rr = RrEtcd {
            dir,
            ctl,
            metrics_port,
            _guard: ChildGuard::new(node, child),
        };
        wait_for("rr-daemon control socket", Duration::from_secs(20), || {
            rr.try_get("/status")
                .map(|_| ())
                .map_err(|e| format!("{e}; log: {}", rr.log()))
        });
        rr
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rr.log")).unwrap_or_default()
    }

    fn try_get(&self, path: &str) -> Result<Value, String> {
        let mut s = UnixStream::connect(&self.ctl).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: rr\r\nConnection: close\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header end")?;
        if !head.starts_with("HTTP/1.1 200") {
            return Err(format!("{head}: {body}"));
        }
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(body)
        } else {
            body.to_string()
        };
        serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))
    }

    fn get(&self, path: &str) -> Value {
        self.try_get(path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    fn peer_state(&self, name: &str) -> String {
        self.get("/peers")
            .as_array()
            .and_then(|a| a.iter().find(|p| p["name"] == name).cloned())
            .and_then(|p| p["state"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    fn has_peer(&self, name: &str) -> bool {
        self.get("/peers")
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p["name"] == name))
    }

    fn synced(&self) -> bool {
        self.get("/status")["datastore_synced"] == true
    }

    fn metrics(&self) -> String {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).expect("metrics");
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: rr\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut buf = String::new();
        s.read_to_string(&mut buf).expect("read");
        buf
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// calicoctl's JSON for the resources of this test.
fn node_json(name: &str, ip: Ipv4Addr, cluster_id: Option<&str>) -> String {
    let (labels, rr) = match cluster_id {
        Some(c) => (
            r#""labels":{"route-reflector":"true"},"#.to_string(),
            format!(r#","routeReflectorClusterID":"{c}""#),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        r#"{{"kind":"Node","apiVersion":"projectcalico.org/v3","metadata":{{"name":"{name}",{labels}"uid":"0f0c-{name}","creationTimestamp":"2026-11-25T10:00:00Z"}},"spec":{{"bgp":{{"ipv4Address":"{ip}/32"{rr}}},"orchRefs":[{{"nodeName":"{name}","orchestrator":"k8s"}}]}},"status":{{}}}}"#
    )
}

fn node_port_json(name: &str, port: u16) -> String {
    format!(
        r#"{{"kind":"BGPConfiguration","apiVersion":"projectcalico.org/v3","metadata":{{"name":"node.{name}"}},"spec":{{"listenPort":{port}}}}}"#
    )
}

fn put_client(etcd: &EtcdServer, n: u8, port: u16) {
    let name = format!("node{n}");
    etcd.put(
        &format!("{PREFIX}/bgpconfigurations/node.{name}"),
        &node_port_json(&name, port),
    );
    etcd.put(
        &format!("{PREFIX}/nodes/{name}"),
        &node_json(&name, Ipv4Addr::new(127, 0, 1, n), None),
    );
}

fn bird_client(n: u8, rr_port: u16) -> (BirdSpec, u16) {
    let port = free_port("127.0.0.1");
    let mut spec = BirdSpec::client(n, port, 64512);
    spec.neighbors
        .push(BirdNeighbor::new("rr1", RR_IP, rr_port, 64512));
    (spec, port)
}

fn has_route(b: &Bird, prefix: &str) -> bool {
    !b.bgp_routes(prefix).is_empty()
}

#[test]
fn etcd_datastore_end_to_end_with_bird_clients() {
    require(&["bird", "birdc"]);
    let mut etcd = EtcdServer::start();
    let rr_port = free_port("127.0.0.1");

    // The documented reflector setup, as calicoctl stores it.
    etcd.put(
        &format!("{PREFIX}/bgpconfigurations/default"),
        &format!(
            r#"{{"kind":"BGPConfiguration","apiVersion":"projectcalico.org/v3","metadata":{{"name":"default"}},"spec":{{"logSeverityScreen":"Info","nodeToNodeMeshEnabled":false,"asNumber":64512,"listenPort":{rr_port}}}}}"#
        ),
    );
    etcd.put(
        &format!("{PREFIX}/bgppeers/peer-with-route-reflectors"),
        r#"{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{"name":"peer-with-route-reflectors"},"spec":{"nodeSelector":"all()","peerSelector":"route-reflector == 'true'"}}"#,
    );
    etcd.put(
        &format!("{PREFIX}/nodes/rr1"),
        &node_json("rr1", RR_IP, Some(CLUSTER)),
    );
    let (spec2, port2) = bird_client(2, rr_port);
    let (spec3, port3) = bird_client(3, rr_port);
    put_client(&etcd, 2, port2);
    put_client(&etcd, 3, port3);

    let bird2 = Bird::start(spec2);
    let mut bird3 = Bird::start(spec3);
    let rr = RrEtcd::start("rr1", &etcd.endpoint());
    for b in [&bird2, &bird3] {
        b.wait_established("rr1", T);
    }
    wait_for("reflected routes", T, || {
        if has_route(&bird2, "10.3.0.0/26") && has_route(&bird3, "10.2.0.0/26") {
            Ok(())
        } else {
            Err(format!("rr peers: {}", rr.get("/peers")))
        }
    });
    assert!(rr.synced(), "{}", rr.get("/status"));
    assert_eq!(rr.get("/status")["cluster_id"], CLUSTER);

    // A new client node: its BIRD is running; the session follows the etcd write.
    let (spec4, port4) = bird_client(4, rr_port);
    let bird4 = Bird::start(spec4);
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    put_client(&etcd, 4, port4);
    wait_for(
        "node4 configured at the reflector",
        Duration::from_secs(1),
        || {
            if rr.has_peer("node4") {
                Ok(())
            } else {
                Err(format!("{}", rr.get("/peers")))
            }
        },
    );
    let configured = t0.elapsed();
    wait_for("node4 Established", T, || {
        let s = rr.peer_state("node4");
        if s == "Established" { Ok(()) } else { Err(s) }
    });
    let up = t0.elapsed();
    eprintln!("node4: configured {configured:?}, Established {up:?} after its etcd write");
    assert!(
        up < Duration::from_secs(1),
        "a new client must come up within 1 s of its write; took {up:?}"
    );
    wait_for("node4's routes at node2", T, || {
        if has_route(&bird2, "10.4.0.0/26") {
            Ok(())
        } else {
            Err("not yet".into())
        }
    });

    // A deleted node: its session closes, its routes go; the others stay.
    etcd.ctl_ok(&["del", &format!("{PREFIX}/nodes/node3")]);
    wait_for("node3 session closed", Duration::from_secs(5), || {
        let s = bird3.proto_state("rr1");
        if s.starts_with("Established") {
            Err(s)
        } else {
            Ok(())
        }
    });
    wait_for(
        "node3's routes withdrawn at node2",
        Duration::from_secs(5),
        || {
            if has_route(&bird2, "10.3.0.0/26") {
                Err("still there".into())
            } else {
                Ok(())
            }
        },
    );
    bird3.kill();
    assert!(bird2.proto_state("rr1").starts_with("Established"));
    assert!(bird4.proto_state("rr1").starts_with("Established"));

    // etcd down for 30 s: not synced, but every session and route stays.
    etcd.stop();
    wait_for("datastore reported not synced", Duration::from_secs(10), || {
        if rr.synced() {
            Err(format!("{}", rr.get("/status")))
        } else {
            Ok(())
        }
    });
    assert!(
        rr.metrics().contains("calico_rr_datastore_synced 0"),
        "the metric shows the outage"
    );
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(30) {
        for (b, other) in [(&bird2, "10.4.0.0/26"), (&bird4, "10.2.0.0/26")] {
            assert!(
                b.proto_state("rr1").starts_with("Established"),
                "{} lost its session during the outage",
                b.spec.name
            );
            assert!(
                has_route(b, other),
                "{} lost {other} during the outage",
                b.spec.name
            );
        }
        assert_eq!(rr.peer_state("node2"), "Established");
        assert_eq!(rr.peer_state("node4"), "Established");
        std::thread::sleep(Duration::from_secs(2));
    }

    // While the reflector cannot see it, node4 is deleted and the history compacted; when etcd is back the
    // reflector relists and reconciles: node4's session closes, node2's stays.
    let other = etcd.restart_elsewhere();
    etcd.del_on(other, &format!("{PREFIX}/nodes/node4"));
    let now = etcd.revision_on(other);
    etcd.ctl_ok_on(other, &["compact", &now.to_string()]);
    etcd.restart();
    wait_for("datastore synced again", T, || {
        if rr.synced() {
            Ok(())
        } else {
            Err(format!("{}", rr.get("/status")))
        }
    });
    wait_for(
        "node4 session closed after the relist",
        Duration::from_secs(10),
        || {
            let s = bird4.proto_state("rr1");
            if s.starts_with("Established") {
                Err(s)
            } else {
                Ok(())
            }
        },
    );
    assert!(
        bird2.proto_state("rr1").starts_with("Established"),
        "node2 kept its session"
    );
    assert!(
        rr.log().contains("relisting") || rr.log().contains("compact"),
        "relist logged"
    );
}

/// The daemon configured like the container it replaces (`DATASTORE_TYPE`, `ETCD_ENDPOINTS`,
/// `ETCD_CA_CERT_FILE`/`ETCD_CERT_FILE`/`ETCD_KEY_FILE`, one of them with the `CALICO_` prefix) reads its
/// identity from an etcd that requires client certificates; with a CA that did not sign etcd's certificate it
/// stays not ready and says why.
#[test]
fn etcd_with_client_certificates_from_the_environment() {
    let pki = Pki::new();
    let server = pki.issue("server");
    let client = pki.issue("client");
    let etcd = EtcdServer::start_tls(server, client.clone());
    let rr_port = free_port("127.0.0.1");
    etcd.put(
        &format!("{PREFIX}/bgpconfigurations/default"),
        &format!(
            r#"{{"kind":"BGPConfiguration","apiVersion":"projectcalico.org/v3","metadata":{{"name":"default"}},"spec":{{"nodeToNodeMeshEnabled":false,"asNumber":64512,"listenPort":{rr_port}}}}}"#
        ),
    );
    etcd.put(
        &format!("{PREFIX}/nodes/rr1"),
        &node_json("rr1", RR_IP, Some(CLUSTER)),
    );

    let env = |ca: &std::path::Path| {
        vec![
            ("DATASTORE_TYPE", "etcdv3".to_string()),
            ("NODENAME", "rr1".to_string()),
            ("ETCD_ENDPOINTS", etcd.endpoint()),
            ("CALICO_ETCD_CA_CERT_FILE", ca.display().to_string()),
            ("ETCD_CERT_FILE", client.cert.display().to_string()),
            ("ETCD_KEY_FILE", client.key.display().to_string()),
        ]
    };
    let rr = RrEtcd::start_with("rr1", &[], &env(&client.ca));
    wait_for("identity read over TLS", T, || {
        let st = rr.get("/status");
        if st["datastore_synced"] == true && st["cluster_id"] == CLUSTER {
            Ok(())
        } else {
            Err(format!("{st}; log: {}", rr.log()))
        }
    });
    assert_eq!(rr.get("/status")["listen_port"], rr_port);

    let other = Pki::new();
    let rr_bad = RrEtcd::start_with("rr1", &[], &env(&other.path("ca.pem")));
    wait_for("the TLS failure in the log", T, || {
        if rr_bad.log().contains("TLS handshake failed") {
            Ok(())
        } else {
            Err(rr_bad.log())
        }
    });
    assert_ne!(rr_bad.get("/status")["datastore_synced"], true);
}

/// Started while etcd is down, the daemon waits (not ready, nothing configured) and takes its identity and
/// peers from etcd as soon as etcd comes up.
#[test]
fn daemon_started_before_etcd() {
    let mut etcd = EtcdServer::start();
    let rr_port = free_port("127.0.0.1");
    etcd.put(
        &format!("{PREFIX}/bgpconfigurations/default"),
        &format!(
            r#"{{"kind":"BGPConfiguration","apiVersion":"projectcalico.org/v3","metadata":{{"name":"default"}},"spec":{{"nodeToNodeMeshEnabled":false,"asNumber":64512,"listenPort":{rr_port}}}}}"#
        ),
    );
    etcd.put(
        &format!("{PREFIX}/nodes/rr1"),
        &node_json("rr1", RR_IP, Some(CLUSTER)),
    );
    etcd.stop();

    let rr = RrEtcd::start("rr1", &etcd.endpoint());
    std::thread::sleep(Duration::from_secs(2));
    let st = rr.get("/status");
    assert_ne!(st["datastore_synced"], true, "{st}");
    assert_eq!(st["peers"], 0, "{st}");

    etcd.restart();
    wait_for("identity read once etcd is up", T, || {
        let st = rr.get("/status");
        if st["datastore_synced"] == true && st["cluster_id"] == CLUSTER {
            Ok(())
        } else {
            Err(format!("{st}; log: {}", rr.log()))
        }
    });
}

/// Two reflector instances, each with its own Node in etcd and its own cluster id, mesh purely from the
/// data: client 2 peers only with rr1, client 3 only with rr2, and each gets the other's routes through the
/// reflector mesh with both cluster ids in CLUSTER_LIST (RFC 4456 section 8).
#[test]
fn two_reflectors_mesh_from_etcd_data() {
    require(&["bird", "birdc"]);
    let etcd = EtcdServer::start();
    let rr_port = free_port("127.0.0.1");
    let rr_ips = [Ipv4Addr::new(127, 0, 7, 1), Ipv4Addr::new(127, 0, 7, 11)];
    let cids = ["244.0.7.1", "244.0.7.2"];
    etcd.put(
        &format!("{PREFIX}/bgpconfigurations/default"),
        &format!(
            r#"{{"kind":"BGPConfiguration","apiVersion":"projectcalico.org/v3","metadata":{{"name":"default"}},"spec":{{"nodeToNodeMeshEnabled":false,"asNumber":64512,"listenPort":{rr_port},"bindMode":"NodeIP"}}}}"#
        ),
    );
    let peer = |name: &str, node_sel: &str, peer_sel: &str| {
        etcd.put(
            &format!("{PREFIX}/bgppeers/{name}"),
            &format!(
                r#"{{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{{"name":"{name}"}},"spec":{{"nodeSelector":"{node_sel}","peerSelector":"{peer_sel}"}}}}"#
            ),
        );
    };
    peer("rr-mesh", "has(route-reflector)", "has(route-reflector)");
    peer("clients-of-r0", "has(uses-r0)", "rack == 'r0'");
    peer("clients-of-r1", "has(uses-r1)", "rack == 'r1'");
    for i in 0..2 {
        let name = format!("rr{}", i + 1);
        etcd.put(
            &format!("{PREFIX}/nodes/{name}"),
            &format!(
                r#"{{"kind":"Node","apiVersion":"projectcalico.org/v3","metadata":{{"name":"{name}","labels":{{"route-reflector":"true","rack":"r{i}"}}}},"spec":{{"bgp":{{"ipv4Address":"{}/32","routeReflectorClusterID":"{}"}}}}}}"#,
                rr_ips[i], cids[i]
            ),
        );
    }
    let mut birds = Vec::new();
    for (n, i) in [(2u8, 0usize), (3, 1)] {
        let port = free_port("127.0.0.1");
        let mut spec = BirdSpec::client(n, port, 64512);
        spec.addr = Ipv4Addr::new(127, 0, 7, n);
        spec.name = format!("bird7-{n}");
        spec.neighbors.push(BirdNeighbor::new(
            &format!("rr{}", i + 1),
            rr_ips[i],
            rr_port,
            64512,
        ));
        let name = format!("node{n}");
        etcd.put(
            &format!("{PREFIX}/bgpconfigurations/node.{name}"),
            &node_port_json(&name, port),
        );
        etcd.put(
            &format!("{PREFIX}/nodes/{name}"),
            &format!(
                r#"{{"kind":"Node","apiVersion":"projectcalico.org/v3","metadata":{{"name":"{name}","labels":{{"uses-r{i}":"true"}}}},"spec":{{"bgp":{{"ipv4Address":"{}/32"}}}}}}"#,
                spec.addr
            ),
        );
        birds.push(Bird::start(spec));
    }
    let rr1 = RrEtcd::start("rr1", &etcd.endpoint());
    let rr2 = RrEtcd::start("rr2", &etcd.endpoint());
    birds[0].wait_established("rr1", T);
    birds[1].wait_established("rr2", T);
    wait_for("rr1 meshed with rr2", T, || {
        let s = rr1.peer_state("rr2");
        if s == "Established" {
            Ok(())
        } else {
            Err(format!("{s}; {}", rr1.get("/peers")))
        }
    });
    assert_eq!(rr2.get("/status")["cluster_id"], cids[1]);
    for (b, prefix, list) in [
        (&birds[1], "10.2.0.0/26", format!("{} {}", cids[1], cids[0])),
        (&birds[0], "10.3.0.0/26", format!("{} {}", cids[0], cids[1])),
    ] {
        wait_for(&format!("{prefix} at {}", b.spec.name), T, || {
            let r = b.bgp_routes(prefix);
            match r.first() {
                Some(r) if r.attr("cluster_list") == Some(list.as_str()) => Ok(()),
                _ => Err(format!("{r:?}")),
            }
        });
    }
}
