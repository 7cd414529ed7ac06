//! BGP passwords (TCP-MD5, RFC 2385) from every datastore, with real BIRD clients (`password "..."`):
//! `BGPPeer.password.secretKeyRef` read from `--secrets-dir` (file and etcd datastores), from the Kubernetes
//! API with the etcd datastore (Kubernetes credentials present, as calico-node does), and from the
//! Kubernetes datastore; BGPConfiguration `nodeMeshPassword`. A rotated password (the Secret and BIRD's
//! `password` both changed) re-establishes that session alone, within seconds: another session's
//! `established_transitions` and BIRD's state-change time do not move. A peer whose Secret does not exist
//! is not started (fail closed) until the Secret is created, which the watch notices by itself.

mod common;
#[path = "../../datastore/tests/etcd_support/mod.rs"]
mod etcd_support;
#[path = "../../datastore/tests/kube_support/mod.rs"]
mod kube_support;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::bird::{Bird, BirdNeighbor, BirdSpec};
use common::daemon::{Daemon, tail};
use common::{free_port, require, wait_for};
use etcd_support::EtcdServer;
use kube_support::{FakeApiServer, Groups};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(45);
const CLUSTER: &str = "244.0.0.1";
const PREFIX: &str = "/calico/resources/v3/projectcalico.org";

fn ip(base: u8, n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, base, n)
}

/// A Calico-like BIRD client `127.0.B.n` with one neighbor, the reflector, signed with `password`.
fn bird(base: u8, n: u8, rr: Ipv4Addr, rr_port: u16, password: Option<&str>) -> BirdSpec {
    let mut spec = BirdSpec::client(n, free_port("127.0.0.1"), 64512);
    spec.addr = ip(base, n);
    spec.name = format!("bird{base}-{n}");
    let mut nb = BirdNeighbor::new("rr1", rr, rr_port, 64512);
    nb.password = password.map(str::to_string);
    spec.neighbors.push(nb);
    spec
}

/// Changes BIRD's password for the reflector and reconfigures (BIRD restarts that protocol).
fn set_bird_password(b: &mut Bird, password: &str) {
    b.spec.neighbors[0].password = Some(password.to_string());
    std::fs::write(b.dir.path().join("bird.conf"), b.spec.config()).expect("bird.conf");
    let out = b.birdc("configure");
    assert!(out.contains("Reconfigur"), "birdc configure: {out}");
}

/// When BIRD's protocol `rr1` last changed state (`show protocols`, the Since column).
fn bird_since(b: &Bird) -> String {
    b.birdc("show protocols")
        .lines()
        .find(|l| l.split_whitespace().next() == Some("rr1"))
        .and_then(|l| l.split_whitespace().nth(4).map(str::to_string))
        .unwrap_or_default()
}

fn has_route(b: &Bird, prefix: &str) -> bool {
    !b.bgp_routes(prefix).is_empty()
}

/// Both clients up and signed, routes reflected between them.
fn both_up(rr: &Daemon, birds: &[Bird]) {
    for b in birds {
        b.wait_established("rr1", T);
        let p = rr.wait_peer(b.spec.addr, "Established", |p| p["state"] == "Established");
        assert_eq!(p["md5"], true, "{p}");
    }
    wait_for("routes reflected over the signed sessions", T, || {
        if has_route(&birds[0], "10.3.0.0/26") && has_route(&birds[1], "10.2.0.0/26") {
            Ok(())
        } else {
            Err(format!("{:?}", rr.get("/peers")))
        }
    });
}

/// Rotates client 0's password with `rotate_secret` and BIRD's config: its session comes back, signed with
/// the new key; client 1's session is not touched.
fn rotation(rr: &Daemon, birds: &mut [Bird], new_password: &str, rotate_secret: impl FnOnce()) {
    let (a, b) = (birds[0].spec.addr, birds[1].spec.addr);
    let a_before = rr.transitions(a);
    let b_before = rr.transitions(b);
    let b_since = bird_since(&birds[1]);
    assert!(a_before >= 1 && b_before >= 1, "{a_before} {b_before}");
    let started = std::time::Instant::now();
    rotate_secret();
    set_bird_password(&mut birds[0], new_password);
    let p = rr.wait_peer(a, "re-established with the new key", |p| {
        p["state"] == "Established" && p["established_transitions"].as_u64() > Some(a_before)
    });
    eprintln!(
        "{}: rotated password in use after {} ms (transitions {a_before} -> {}; {})",
        rr.name,
        started.elapsed().as_millis(),
        p["established_transitions"],
        birds[0].spec.name
    );
    assert_eq!(p["md5"], true, "{p}");
    birds[0].wait_established("rr1", T);
    wait_for("routes again after the rotation", T, || {
        if has_route(
            &birds[1],
            &format!("10.{}.0.0/26", birds[0].spec.addr.octets()[3]),
        ) {
            Ok(())
        } else {
            Err(format!("{:?}", rr.get("/peers")))
        }
    });
    // The other session: same transition count, still Established, BIRD saw no state change.
    assert_eq!(rr.transitions(b), b_before, "{}", tail(&rr.log()));
    assert_eq!(rr.peer(b).expect("peer")["state"], "Established");
    assert_eq!(
        bird_since(&birds[1]),
        b_since,
        "{}",
        birds[1].birdc("show protocols")
    );
}

fn secrets_dir(dir: &Path, secret: &str, keys: &[(&str, &str)]) -> PathBuf {
    let root = dir.join("secrets");
    std::fs::create_dir_all(root.join(secret)).expect("mkdir");
    for (k, v) in keys {
        write_atomic(&root.join(secret).join(k), &format!("{v}\n"));
    }
    root
}

/// Replaces a file as the kubelet updates a mounted Secret (a new file renamed over the old).
fn write_atomic(path: &Path, content: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// A file datastore: reflector rr1 at `127.0.B.1`, clients node2 and node3 each with its own BGPPeer and key.
fn file_yaml(base: u8, rr_port: u16, ports: [u16; 2], mesh_password: bool) -> String {
    let mut y = format!(
        "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {{name: default}}\n\
         spec: {{nodeToNodeMeshEnabled: {mesh_password}, asNumber: 64512, listenPort: {rr_port}{}}}\n",
        if mesh_password {
            ", nodeMeshPassword: {secretKeyRef: {name: bgp-secrets, key: mesh}}"
        } else {
            ""
        }
    );
    let rr_node = if mesh_password {
        // A plain Calico node in the mesh (no cluster id).
        format!(
            "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{name: rr1}}\n\
             spec: {{bgp: {{ipv4Address: {}/32}}}}\n",
            ip(base, 1)
        )
    } else {
        format!(
            "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{name: rr1, labels: {{route-reflector: 'true'}}}}\n\
             spec: {{bgp: {{ipv4Address: {}/32, routeReflectorClusterID: {CLUSTER}}}}}\n",
            ip(base, 1)
        )
    };
    y.push_str(&rr_node);
    for (i, n) in [2u8, 3].into_iter().enumerate() {
        y.push_str(&format!(
            "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{name: node{n}, labels: {{client: node{n}}}}}\n\
             spec: {{bgp: {{ipv4Address: {}/32}}}}\n\
             ---\napiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {{name: node.node{n}}}\n\
             spec: {{listenPort: {}}}\n",
            ip(base, n),
            ports[i]
        ));
        if !mesh_password {
            y.push_str(&format!(
                "---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {{name: node{n}-to-rr}}\n\
                 spec: {{nodeSelector: client == 'node{n}', peerSelector: route-reflector == 'true', \
                 password: {{secretKeyRef: {{name: bgp-secrets, key: node{n}}}}}}}\n"
            ));
        }
    }
    y
}

fn file_datastore_args(dir: &Path, yaml: &str, secrets: &Path) -> Vec<String> {
    let path = dir.join("calico.yaml");
    std::fs::write(&path, yaml).expect("yaml");
    vec![
        "--datastore".into(),
        "file".into(),
        "--file".into(),
        path.display().to_string(),
        "--secrets-dir".into(),
        secrets.display().to_string(),
    ]
}

#[test]
fn file_datastore_secrets_dir_passwords_and_rotation() {
    require(&["bird", "birdc"]);
    const B: u8 = 60;
    let rr_port = free_port("127.0.0.1");
    let specs = [
        bird(B, 2, ip(B, 1), rr_port, Some("two-0ld")),
        bird(B, 3, ip(B, 1), rr_port, Some("three-k3y")),
    ];
    let tmp = tempfile::tempdir().expect("tempdir");
    let secrets = secrets_dir(
        tmp.path(),
        "bgp-secrets",
        &[("node2", "two-0ld"), ("node3", "three-k3y")],
    );
    let yaml = file_yaml(B, rr_port, [specs[0].port, specs[1].port], false);
    let rr = Daemon::start("rr1", &file_datastore_args(tmp.path(), &yaml, &secrets), &[]);
    let mut birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    both_up(&rr, &birds);
    let file = secrets.join("bgp-secrets/node2");
    rotation(&rr, &mut birds, "two-n3w", || write_atomic(&file, "two-n3w\n"));
}

#[test]
fn node_mesh_password_from_the_secrets_dir() {
    require(&["bird", "birdc"]);
    const B: u8 = 61;
    let rr_port = free_port("127.0.0.1");
    let specs = [
        bird(B, 2, ip(B, 1), rr_port, Some("m3sh")),
        bird(B, 3, ip(B, 1), rr_port, Some("not-the-mesh-key")),
    ];
    let tmp = tempfile::tempdir().expect("tempdir");
    let secrets = secrets_dir(tmp.path(), "bgp-secrets", &[("mesh", "m3sh")]);
    let yaml = file_yaml(B, rr_port, [specs[0].port, specs[1].port], true);
    let rr = Daemon::start("rr1", &file_datastore_args(tmp.path(), &yaml, &secrets), &[]);
    let birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    birds[0].wait_established("rr1", T);
    let p = rr.wait_peer(ip(B, 2), "Established", |p| p["state"] == "Established");
    assert_eq!(p["role"], "node-mesh", "{p}");
    assert_eq!(p["md5"], true, "{p}");
    // The wrong key: its segments are dropped by the kernel, the session never comes up.
    let p3 = rr.peer(ip(B, 3)).expect("node3");
    assert_eq!(p3["md5"], true, "{p3}");
    wait_for("bird3 tried to connect", T, || {
        let s = birds[1].proto_state("rr1");
        if s.contains("Connect") || s.contains("Active") {
            Ok(())
        } else {
            Err(s)
        }
    });
    assert_ne!(rr.peer(ip(B, 3)).expect("node3")["state"], "Established");
    assert!(!birds[1].proto_state("rr1").starts_with("Established"));
}

/// calicoctl's JSON for the etcd keys.
fn etcd_topology(etcd: &EtcdServer, base: u8, rr_port: u16, ports: [u16; 2]) {
    etcd.put(
        &format!("{PREFIX}/bgpconfigurations/default"),
        &json!({"kind": "BGPConfiguration", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "default"},
                "spec": {"nodeToNodeMeshEnabled": false, "asNumber": 64512, "listenPort": rr_port}})
        .to_string(),
    );
    etcd.put(
        &format!("{PREFIX}/nodes/rr1"),
        &json!({"kind": "Node", "apiVersion": "projectcalico.org/v3",
                "metadata": {"name": "rr1", "labels": {"route-reflector": "true"}},
                "spec": {"bgp": {"ipv4Address": format!("{}/32", ip(base, 1)), "routeReflectorClusterID": CLUSTER}}})
        .to_string(),
    );
    for (i, n) in [2u8, 3].into_iter().enumerate() {
        let name = format!("node{n}");
        etcd.put(
            &format!("{PREFIX}/nodes/{name}"),
            &json!({"kind": "Node", "apiVersion": "projectcalico.org/v3",
                    "metadata": {"name": name, "labels": {"client": name}},
                    "spec": {"bgp": {"ipv4Address": format!("{}/32", ip(base, n))}}})
            .to_string(),
        );
        etcd.put(
            &format!("{PREFIX}/bgpconfigurations/node.{name}"),
            &json!({"kind": "BGPConfiguration", "apiVersion": "projectcalico.org/v3",
                    "metadata": {"name": format!("node.{name}")}, "spec": {"listenPort": ports[i]}})
            .to_string(),
        );
        etcd.put(
            &format!("{PREFIX}/bgppeers/{name}-to-rr"),
            &json!({"kind": "BGPPeer", "apiVersion": "projectcalico.org/v3", "metadata": {"name": format!("{name}-to-rr")},
                    "spec": {"nodeSelector": format!("client == '{name}'"), "peerSelector": "route-reflector == 'true'",
                             "password": {"secretKeyRef": {"name": "bgp-secrets", "key": name}}}})
            .to_string(),
        );
    }
}

fn etcd_args(etcd: &EtcdServer) -> Vec<String> {
    vec![
        "--datastore".into(),
        "etcdv3".into(),
        "--etcd-endpoints".into(),
        etcd.endpoint(),
    ]
}

#[test]
fn etcd_datastore_with_secrets_dir() {
    require(&["bird", "birdc", "etcd", "etcdctl"]);
    const B: u8 = 62;
    let etcd = EtcdServer::start();
    let rr_port = free_port("127.0.0.1");
    let specs = [
        bird(B, 2, ip(B, 1), rr_port, Some("etcd-two")),
        bird(B, 3, ip(B, 1), rr_port, Some("etcd-three")),
    ];
    etcd_topology(&etcd, B, rr_port, [specs[0].port, specs[1].port]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let secrets = secrets_dir(
        tmp.path(),
        "bgp-secrets",
        &[("node2", "etcd-two"), ("node3", "etcd-three")],
    );
    let mut args = etcd_args(&etcd);
    args.extend(["--secrets-dir".into(), secrets.display().to_string()]);
    let rr = Daemon::start("rr1", &args, &[]);
    let birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    both_up(&rr, &birds);
}

#[test]
fn etcd_datastore_with_kubernetes_secrets_and_rotation() {
    require(&["bird", "birdc", "etcd", "etcdctl"]);
    const B: u8 = 63;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(FakeApiServer::start(Groups::V1Crds));
    server.put_secret(
        "kube-system",
        "bgp-secrets",
        &[("node2", "k8s-two"), ("node3", "k8s-three")],
    );
    let etcd = EtcdServer::start();
    let rr_port = free_port("127.0.0.1");
    let specs = [
        bird(B, 2, ip(B, 1), rr_port, Some("k8s-two")),
        bird(B, 3, ip(B, 1), rr_port, Some("k8s-three")),
    ];
    etcd_topology(&etcd, B, rr_port, [specs[0].port, specs[1].port]);
    // etcd datastore, Kubernetes credentials present: the Secrets come from the Kubernetes API.
    let rr = Daemon::start(
        "rr1",
        &etcd_args(&etcd),
        &[("KUBECONFIG", server.kubeconfig_path().display().to_string())],
    );
    let mut birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    both_up(&rr, &birds);
    // The Secret is watched by name (list + watch with a field selector), as calico-node does.
    let selectors = server.field_selectors();
    assert!(
        selectors
            .iter()
            .any(|(v, p, f)| v == "watch" && p == "secrets" && f == "metadata.name=bgp-secrets"),
        "{selectors:?}"
    );
    rotation(&rr, &mut birds, "k8s-two-rotated", || {
        server.put_secret(
            "kube-system",
            "bgp-secrets",
            &[("node2", "k8s-two-rotated"), ("node3", "k8s-three")],
        );
    });
    drop(birds);
    drop(server);
}

/// A core/v1 Node as the kubelet and `kubectl annotate/label` leave it.
fn k8s_node(name: &str, addr: Ipv4Addr, cluster_id: Option<&str>) -> Value {
    let mut ann = json!({"projectcalico.org/IPv4Address": format!("{addr}/32")});
    let mut labels = json!({"kubernetes.io/hostname": name, "client": name});
    if let Some(c) = cluster_id {
        ann["projectcalico.org/RouteReflectorClusterID"] = json!(c);
        labels["route-reflector"] = json!("true");
    }
    json!({"metadata": {"name": name, "annotations": ann, "labels": labels}, "spec": {}})
}

#[test]
fn kubernetes_datastore_passwords_and_rotation() {
    require(&["bird", "birdc"]);
    const B: u8 = 64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(FakeApiServer::start(Groups::V1Crds));
    server.put_secret("kube-system", "bgp-secrets", &[("node2", "kdd-two")]);
    // node3's Secret does not exist yet.
    let rr_port = free_port("127.0.0.1");
    let specs = [
        bird(B, 2, ip(B, 1), rr_port, Some("kdd-two")),
        bird(B, 3, ip(B, 1), rr_port, Some("kdd-three")),
    ];
    server.put_node(k8s_node("rr1", ip(B, 1), Some(CLUSTER)));
    server.put_calico(
        "bgpconfigurations",
        json!({"metadata": {"name": "default"},
               "spec": {"nodeToNodeMeshEnabled": false, "asNumber": 64512, "listenPort": rr_port}}),
    );
    for (spec, secret) in specs.iter().zip(["bgp-secrets", "other-secret"]) {
        let name = format!("node{}", spec.addr.octets()[3]);
        server.put_node(k8s_node(&name, spec.addr, None));
        server.put_calico(
            "bgpconfigurations",
            json!({"metadata": {"name": format!("node.{name}")}, "spec": {"listenPort": spec.port}}),
        );
        server.put_calico(
            "bgppeers",
            json!({"metadata": {"name": format!("{name}-to-rr")},
                   "spec": {"nodeSelector": format!("client == '{name}'"),
                            "peerSelector": "route-reflector == 'true'",
                            "password": {"secretKeyRef": {"name": secret, "key": name}}}}),
        );
    }
    let args = vec![
        "--datastore".to_string(),
        "kubernetes".into(),
        "--kubeconfig".into(),
        server.kubeconfig_path().display().to_string(),
    ];
    let rr = Daemon::start("rr1", &args, &[]);
    let mut birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    // Fail closed: not started, and /peers says why.
    let p = rr.wait_peer(ip(B, 3), "Disabled", |p| p["state"] == "Disabled");
    let reason = p["disabled_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("other-secret/node3"), "{p}");
    // The Secret is created (and nothing else changes): the watch starts the peer, signed.
    server.put_secret("kube-system", "other-secret", &[("node3", "kdd-three")]);
    both_up(&rr, &birds);
    rotation(&rr, &mut birds, "kdd-two-rotated", || {
        server.put_secret("kube-system", "bgp-secrets", &[("node2", "kdd-two-rotated")]);
    });
    drop(birds);
    drop(server);
}
