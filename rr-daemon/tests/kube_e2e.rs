//! rr-daemon on the Kubernetes datastore: two reflector processes read their Calico nodes (core/v1 Nodes with
//! `projectcalico.org/*` annotations) and the Calico CRDs from the in-process fake API server of the datastore
//! tests, mesh by cluster id, and reflect between real BIRD clients. Annotating a client node with the
//! reflectors' cluster id (`kubectl annotate node ... projectcalico.org/RouteReflectorClusterID=...`) turns it
//! from a client into a reflector peer, live.

mod common;
#[path = "../../datastore/tests/kube_support/mod.rs"]
mod kube_support;

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::bird::{Bird, BirdNeighbor, BirdSpec};
use common::{ChildGuard, free_port, require, wait_for};
use kube_support::{FakeApiServer, Groups};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(45);
const BASE: u8 = 41;
const CLUSTER_ID: &str = "244.0.0.1";

/// rr-daemon with `--datastore kubernetes`.
struct KubeRr {
    name: String,
    dir: tempfile::TempDir,
    ctl: PathBuf,
    _guard: ChildGuard,
}

impl KubeRr {
    fn start(node: &str, kubeconfig: &Path) -> KubeRr {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctl = dir.path().join("ctl.sock");
        let log = std::fs::File::create(dir.path().join("rr.log")).expect("log");
        let metrics = free_port("127.0.0.1");
        let child = Command::new(env!("CARGO_BIN_EXE_rr-daemon"))
            .args(["--datastore", "kubernetes", "--kubeconfig"])
            .arg(kubeconfig)
            .arg("--control-socket")
            .arg(&ctl)
            .args([
                "--metrics-addr",
                &format!("127.0.0.1:{metrics}"),
                "--nodename",
                node,
                // As in common::rr: nodes that never run a BIRD would hold every route for the 120 s default.
                "--selection-deferral-secs",
                "10",
            ])
            .env("RUST_LOG", "info,rr_daemon=debug,datastore=debug")
            .env_remove("IP")
            .env_remove("NODENAME")
            .env_remove("DATASTORE_TYPE")
            .env_remove("KUBECONFIG")
            .env_remove("CALICO_API_GROUP")
            .env_remove("NAMESPACE")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn rr-daemon");
        let rr = KubeRr {
            name: node.into(),
            dir,
            ctl,
            _guard: ChildGuard::new(node, child),
        };
        wait_for("rr-daemon control socket", Duration::from_secs(20), || {
            rr.get("/status")
                .map(|_| ())
                .map_err(|e| format!("{e}; log: {}", rr.log()))
        });
        rr
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rr.log")).unwrap_or_default()
    }

    /// GET on the control API (HTTP/1.0-style, `Connection: close`).
    fn get(&self, path: &str) -> Result<Value, String> {
        let mut s = UnixStream::connect(&self.ctl).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: rr\r\nConnection: close\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header end")?;
        if head.split_whitespace().nth(1) != Some("200") {
            return Err(format!("{head}: {body}"));
        }
        serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))
    }

    fn peer(&self, addr: Ipv4Addr) -> Option<Value> {
        let peers = self.get("/peers").ok()?;
        peers
            .as_array()?
            .iter()
            .find(|p| p["address"] == addr.to_string())
            .cloned()
    }

    fn wait_peer(&self, addr: Ipv4Addr, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        wait_for(&format!("{}: peer {addr} {what}", self.name), T, || {
            match self.peer(addr) {
                Some(p) if f(&p) => Ok(p),
                other => Err(format!(
                    "{other:?}; peers: {:?}; log tail: {}",
                    self.get("/peers"),
                    tail(&self.log())
                )),
            }
        })
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, BASE, n)
}

/// A core/v1 Node as the kubelet and `kubectl annotate/label` leave it.
fn k8s_node(name: &str, addr: Ipv4Addr, cluster_id: Option<&str>, reflector_label: bool) -> Value {
    let mut ann = json!({"projectcalico.org/IPv4Address": format!("{addr}/32")});
    if let Some(c) = cluster_id {
        ann["projectcalico.org/RouteReflectorClusterID"] = json!(c);
    }
    let mut labels = json!({"kubernetes.io/hostname": name});
    if reflector_label {
        labels["route-reflector"] = json!("true");
    }
    json!({"metadata": {"name": name, "annotations": ann, "labels": labels}, "spec": {}})
}

#[test]
fn two_reflectors_on_the_kubernetes_datastore_mesh_reflect_and_follow_annotations() {
    require(&["bird"]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(FakeApiServer::start(Groups::V1Crds));

    let rr_port = free_port("127.0.0.1");
    let (p2, p3) = (free_port("127.0.0.1"), free_port("127.0.0.1"));
    server.put_node(k8s_node("rr1", ip(1), Some(CLUSTER_ID), true));
    server.put_node(k8s_node("rr2", ip(11), Some(CLUSTER_ID), true));
    server.put_node(k8s_node("node2", ip(2), None, false));
    server.put_node(k8s_node("node3", ip(3), None, false));
    server.put_calico(
        "bgpconfigurations",
        json!({"metadata": {"name": "default"},
        "spec": {"nodeToNodeMeshEnabled": false, "asNumber": 64512, "listenPort": rr_port, "bindMode": "NodeIP"}}),
    );
    for (node, port) in [("node2", p2), ("node3", p3)] {
        server.put_calico(
            "bgpconfigurations",
            json!({"metadata": {"name": format!("node.{node}")},
            "spec": {"listenPort": port}}),
        );
    }
    // Calico's documented reflector peering.
    server.put_calico(
        "bgppeers",
        json!({"metadata": {"name": "peer-with-route-reflectors"},
        "spec": {"nodeSelector": "all()", "peerSelector": "route-reflector == 'true'"}}),
    );

    let rr1 = KubeRr::start("rr1", &server.kubeconfig_path());
    let rr2 = KubeRr::start("rr2", &server.kubeconfig_path());
    let mut birds = Vec::new();
    for (n, port) in [(2u8, p2), (3u8, p3)] {
        let mut spec = BirdSpec::client(n, port, 64512);
        spec.addr = ip(n);
        spec.name = format!("bird{BASE}-{n}");
        spec.neighbors
            .push(BirdNeighbor::new("rr1", ip(1), rr_port, 64512));
        spec.neighbors
            .push(BirdNeighbor::new("rr2", ip(11), rr_port, 64512));
        birds.push(Bird::start(spec));
    }
    for b in &birds {
        b.wait_established("rr1", T);
        b.wait_established("rr2", T);
    }
    // Same cluster id: the reflectors are non-client peers of each other (a mesh), the nodes are clients.
    let p = rr1.wait_peer(ip(11), "Established", |p| p["state"] == "Established");
    assert_eq!(p["role"], "reflector-mesh", "{p}");
    let p = rr2.wait_peer(ip(1), "Established", |p| p["state"] == "Established");
    assert_eq!(p["role"], "reflector-mesh", "{p}");
    assert_eq!(rr1.peer(ip(3)).expect("node3")["role"], "rr-client");

    // Reflection: node2's prefix reaches node3 (from both reflectors) with ORIGINATOR_ID = node2.
    wait_for("10.2.0.0/26 at bird3 via both reflectors", T, || {
        let routes = birds[1].bgp_routes("10.2.0.0/26");
        if routes.len() >= 2 {
            Ok(routes)
        } else {
            Err(format!("{routes:?}"))
        }
    })
    .iter()
    .for_each(|r| assert_eq!(r.attr("originator_id"), Some("127.0.41.2"), "{r:?}"));

    // kubectl annotate node node3 projectcalico.org/RouteReflectorClusterID=244.0.0.1: node3 becomes a
    // reflector peer (non-client) of both reflectors, without restarting them.
    server.put_node(k8s_node("node3", ip(3), Some(CLUSTER_ID), false));
    for rr in [&rr1, &rr2] {
        rr.wait_peer(ip(3), "role reflector-mesh", |p| p["role"] == "reflector-mesh");
    }
    // node2 is still a client.
    assert_eq!(rr1.peer(ip(2)).expect("node2")["role"], "rr-client");
    // And removing the annotation makes it a client again.
    server.put_node(k8s_node("node3", ip(3), None, false));
    rr1.wait_peer(ip(3), "role rr-client", |p| p["role"] == "rr-client");
    drop(birds);
    drop(server);
}
