//! `rr-cli explain NODE [REFLECTOR]` and `rr-cli reflector check` on file datastores built for each case:
//! the BGPPeer and selector that pair a node with a reflector, each side's role with the cluster-id
//! reasoning, the reasons when they are not paired, and the exit codes.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs rr-cli on the file datastore `store`, with no datastore variables inherited.
fn cli(store: &Path, args: &[&str]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rr-cli"));
    cmd.args(args).args(["--datastore", "file", "--file"]).arg(store);
    for var in ["DATASTORE_TYPE", "ETCD_ENDPOINTS", "KUBECONFIG"] {
        cmd.env_remove(var).env_remove(format!("CALICO_{var}"));
    }
    let o = cmd.output().expect("run rr-cli");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn node(name: &str, ip: &str, labels: &str, cid: Option<&str>, asn: Option<u32>) -> String {
    format!(
        "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{name: {name}, labels: {{{labels}}}}}\n\
         spec: {{bgp: {{ipv4Address: {ip}/24{}{}}}}}\n",
        cid.map(|c| format!(", routeReflectorClusterID: {c}"))
            .unwrap_or_default(),
        asn.map(|a| format!(", asNumber: {a}")).unwrap_or_default(),
    )
}

fn peer(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {{name: {name}}}\nspec: {{{spec}}}\n"
    )
}

const CONFIG: &str = "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\n\
                      spec: {nodeToNodeMeshEnabled: false, asNumber: 64512}\n";

/// Two zones, each with its own reflector of one shared cluster id, an eBGP router, and a node in no zone.
fn zones(dir: &Path) -> std::path::PathBuf {
    let mut y = String::from(CONFIG);
    y += &node(
        "rr-a",
        "10.0.0.1",
        "route-reflector: 'true', group: a",
        Some("244.0.0.1"),
        None,
    );
    y += &node(
        "rr-b",
        "10.0.0.2",
        "route-reflector: 'true', group: b",
        Some("244.0.0.1"),
        None,
    );
    y += &node("n1", "10.0.1.1", "zone: a", None, None);
    y += &node("n2", "10.0.1.2", "zone: b", None, Some(65001));
    y += &node("n3", "10.0.1.3", "other: x", None, None);
    y += &peer("zone-a", "nodeSelector: zone == 'a', peerSelector: group == 'a'");
    y += &peer("zone-b", "nodeSelector: zone == 'b', peerSelector: group == 'b'");
    y += &peer(
        "rr-mesh",
        "nodeSelector: route-reflector == 'true', peerSelector: route-reflector == 'true'",
    );
    let p = dir.join("calico.yaml");
    std::fs::write(&p, y).expect("write store");
    p
}

#[test]
fn explain_names_the_bgppeer_selector_and_roles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = zones(dir.path());

    let o = cli(&store, &["explain", "n1", "rr-a"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let t = &o.stdout;
    assert!(t.starts_with("n1 and rr-a: 1 session(s)"), "{t}");
    assert!(
        t.contains("from BGPPeer zone-a (reverse): rr-client: rr-a has cluster id 244.0.0.1 and n1 has none; same AS 64512"),
        "{t}"
    );
    assert!(t.contains("on n1: n1 sees rr-a as ibgp"), "{t}");
    assert!(
        t.contains("+ zone-a: reverse, on n1: nodeSelector `zone == 'a'` matches n1; peerSelector `group == 'a'` matches rr-a"),
        "{t}"
    );
    assert!(t.contains("- zone-b: "), "{t}");
    assert!(
        t.contains("node-to-node mesh: off: BGPConfiguration default has nodeToNodeMeshEnabled: false"),
        "{t}"
    );

    // The same pair as data.
    let o = cli(&store, &["explain", "n1", "rr-a", "-o", "json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).expect("json");
    assert_eq!(v[0]["paired"], true);
    assert_eq!(v[0]["sessions"][0]["role"], "rr-client");
    assert_eq!(v[0]["sessions"][0]["origin"], "zone-a");
    assert_eq!(v[0]["sessions"][0]["peer_ip"], "10.0.1.1");
    assert_eq!(v[0]["node_sessions"][0]["role"], "ibgp");
    assert_eq!(v[0]["node_sessions"][0]["peer_ip"], "10.0.0.1");

    // Two reflectors of one cluster id: a non-client mesh session.
    let o = cli(&store, &["explain", "rr-b", "rr-a"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout
            .contains("from BGPPeer rr-mesh: reflector-mesh (non-client): both have cluster id 244.0.0.1"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("on rr-b: rr-b sees rr-a as reflector-mesh"),
        "{}",
        o.stdout
    );

    // A client in another AS: eBGP, with the AS reasoning.
    let o = cli(&store, &["explain", "n2", "rr-b"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout
            .contains("eBGP: n2's AS 65001 differs from the local AS 64512"),
        "{}",
        o.stdout
    );
}

#[test]
fn explain_says_why_there_is_no_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = zones(dir.path());

    // n1 is in zone a: rr-b is not its reflector.
    let o = cli(&store, &["explain", "n1", "rr-b"]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let t = &o.stdout;
    assert!(t.starts_with("n1 and rr-b: no session"), "{t}");
    assert!(
        t.contains(
            "- zone-a: on rr-b: nodeSelector `zone == 'a'` does not match rr-b (labels {group=b, route-reflector=true}); \
             on n1: peerSelector `group == 'a'` does not match rr-b (labels {group=b, route-reflector=true})"
        ),
        "{t}"
    );
    assert!(
        t.contains("- zone-b: on rr-b: nodeSelector `zone == 'b'` does not match rr-b"),
        "{t}"
    );
    assert!(
        t.contains("on n1: nodeSelector `zone == 'b'` does not match n1 (labels {zone=a})"),
        "{t}"
    );

    // Without REFLECTOR: every reflector; n3 has none, so exit 1 with one block per reflector.
    let o = cli(&store, &["explain", "n3"]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("n3 and rr-a: no session"), "{}", o.stdout);
    assert!(o.stdout.contains("n3 and rr-b: no session"), "{}", o.stdout);
    // n1 has one of the two: exit 0.
    let o = cli(&store, &["explain", "n1"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("n1 and rr-a: 1 session(s)"), "{}", o.stdout);
    assert!(o.stdout.contains("n1 and rr-b: no session"), "{}", o.stdout);

    // Unknown names are errors that say so.
    let o = cli(&store, &["explain", "nope", "rr-a"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("no Node \"nope\""), "{}", o.stderr);
    let o = cli(&store, &["explain", "n1", "nope"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("no Node \"nope\""), "{}", o.stderr);
}

#[test]
fn explain_reports_manual_reverse_peering_and_mesh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("calico.yaml");
    // Mesh on; rr is a reflector, so it stays out of the mesh; the only BGPPeer is one-way.
    let mut y = String::from(
        "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\nspec: {asNumber: 64512}\n",
    );
    y += &node(
        "rr",
        "10.0.0.1",
        "route-reflector: 'true'",
        Some("244.0.0.9"),
        None,
    );
    y += &node("n1", "10.0.1.1", "", None, None);
    y += &peer(
        "one-way",
        "node: n1, peerSelector: route-reflector == 'true', reversePeering: Manual",
    );
    std::fs::write(&store, y).expect("write");
    let o = cli(&store, &["explain", "n1", "rr"]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let t = &o.stdout;
    assert!(
        t.contains("- one-way: applies on n1 (node: n1; peerSelector"),
        "{t}"
    );
    assert!(
        t.contains("but reversePeering: Manual: rr does not peer back"),
        "{t}"
    );
    assert!(
        t.contains("node-to-node mesh: on, but rr has cluster id 244.0.0.9: reflectors do not join the node-to-node mesh"),
        "{t}"
    );
}

#[test]
fn reflector_check_exits_non_zero_on_findings() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Findings: rr-b's only zone node is in another AS (eBGP, not a client); n2 and n3 are clients of no
    // reflector.
    let store = zones(dir.path());
    let o = cli(&store, &["reflector", "check"]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("reflector rr-b has no clients"), "{}", o.stdout);
    assert!(
        o.stdout.contains("clients of no reflector: n2, n3"),
        "{}",
        o.stdout
    );
    assert!(o.stderr.contains("finding(s)"), "{}", o.stderr);
    let o = cli(&store, &["reflector", "check", "-o", "json"]);
    assert_eq!(o.code, 1);
    let v: Value = serde_json::from_str(&o.stdout).expect("json");
    assert!(!v["warnings"].as_array().expect("warnings").is_empty());

    // A clean topology: two labelled reflectors of one cluster, both serving every node.
    let clean = dir.path().join("clean.yaml");
    let mut y = String::from(CONFIG);
    y += &node(
        "rr-a",
        "10.0.0.1",
        "route-reflector: 'true'",
        Some("244.0.0.1"),
        None,
    );
    y += &node(
        "rr-b",
        "10.0.0.2",
        "route-reflector: 'true'",
        Some("244.0.0.1"),
        None,
    );
    y += &node("n1", "10.0.1.1", "", None, None);
    y += &node("n2", "10.0.1.2", "", None, None);
    y += &peer(
        "peer-with-route-reflectors",
        "nodeSelector: all(), peerSelector: route-reflector == 'true'",
    );
    std::fs::write(&clean, y).expect("write");
    let o = cli(&clean, &["reflector", "check"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert_eq!(o.stdout.trim(), "no findings");
}

/// A standalone reflector (no Node, its identity from rr-daemon's flags): explained from the same flags, its
/// session with a node found through the BGPPeer that names it and the node's BGPPeer that points at its
/// address; without the flags, the error says what to give.
#[test]
fn explain_a_standalone_reflector_from_its_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut y = String::from(CONFIG);
    y += &node("n1", "10.0.1.1", "zone: a", None, None);
    y += &peer("rr-s-clients", "node: rr-s, peerSelector: all()");
    y += &peer(
        "to-rr-s",
        "nodeSelector: all(), peerIP: 10.0.0.9, asNumber: 64512",
    );
    let store = dir.path().join("calico.yaml");
    std::fs::write(&store, y).expect("write store");

    let o = cli(&store, &["explain", "n1", "rr-s"]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains("no Node \"rr-s\"") && o.stderr.contains("--ip"),
        "{}",
        o.stderr
    );

    let o = cli(
        &store,
        &[
            "explain",
            "n1",
            "rr-s",
            "--ip",
            "10.0.0.9",
            "--cluster-id",
            "244.0.0.9",
            "-o",
            "json",
        ],
    );
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).expect("json");
    assert_eq!(v[0]["paired"], true, "{}", o.stdout);
    assert_eq!(v[0]["sessions"][0]["role"], "rr-client", "{}", o.stdout);
    assert_eq!(v[0]["sessions"][0]["peer_ip"], "10.0.1.1", "{}", o.stdout);
    assert_eq!(v[0]["node_sessions"][0]["peer_ip"], "10.0.0.9", "{}", o.stdout);

    let o = cli(
        &store,
        &[
            "explain",
            "n1",
            "rr-s",
            "--ip",
            "10.0.0.9",
            "--cluster-id",
            "244.0.0.9",
        ],
    );
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout
            .contains("reflector rr-s: 10.0.0.9, AS 64512, cluster id 244.0.0.9"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("on n1: n1 sees rr-s as"), "{}", o.stdout);

    // Flags for a reflector that is a Node are refused.
    std::fs::write(
        &store,
        format!(
            "{}{}",
            std::fs::read_to_string(&store).unwrap(),
            node("rr-s", "10.0.0.9", "", Some("244.0.0.9"), None)
        ),
    )
    .unwrap();
    let o = cli(&store, &["explain", "n1", "rr-s", "--ip", "10.0.0.9"]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("is a Node"), "{}", o.stderr);
}
