//! `rr-cli get|apply|delete|reflector` against the file datastore: manifests round-trip, reflector changes
//! land on the node, stale writes and invalid manifests are refused with a clear message. The same commands
//! against a real etcd (the `datastore` crate's fixture: Debian `etcd-server`).

#[path = "../../datastore/tests/etcd_support/mod.rs"]
mod etcd_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs rr-cli on the file datastore `store` with `args`, with no datastore variables inherited.
fn cli(store: &Path, args: &[&str]) -> Out {
    let file = store.to_str().expect("utf-8 path");
    cli_on(&["--datastore", "file", "--file", file], args)
}

/// Runs rr-cli with the datastore flags `store` and `args`, with no datastore variables inherited.
fn cli_on(store: &[&str], args: &[&str]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rr-cli"));
    cmd.args(args).args(store);
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

fn ok(store: &Path, args: &[&str]) -> String {
    let o = cli(store, args);
    assert_eq!(o.code, 0, "rr-cli {args:?} failed: {}{}", o.stdout, o.stderr);
    o.stdout
}

fn json(store: &Path, args: &[&str]) -> Value {
    let out = ok(store, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("rr-cli {args:?}: not JSON ({e}): {out}"))
}

#[test]
fn apply_get_delete_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store.yaml");
    let example = repo().join("examples/calico.yaml");
    let example = example.to_str().expect("utf-8 path");

    let out = ok(&store, &["apply", "-f", example]);
    for id in [
        "BGPConfiguration/default",
        "Node/rr1",
        "Node/node-a",
        "Node/node-b",
        "BGPPeer/peer-with-route-reflectors",
    ] {
        assert!(
            out.contains(&format!("{id} created")),
            "apply output lacks {id}: {out}"
        );
    }

    let nodes = json(&store, &["get", "nodes", "-o", "json"]);
    let names: Vec<&str> = nodes["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|n| n["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["node-a", "node-b", "rr1"]);
    let rr1 = json(&store, &["get", "node", "rr1", "-o", "json"]);
    assert_eq!(rr1["spec"]["bgp"]["routeReflectorClusterID"], "244.0.0.1");
    assert_eq!(rr1["metadata"]["labels"]["route-reflector"], "true");
    assert_eq!(rr1["kind"], "Node");

    let table = ok(&store, &["get", "bgppeers"]);
    let mut lines = table.lines();
    let header = lines.next().expect("header");
    assert!(
        header.starts_with("NAME") && header.contains("PEERSELECTOR"),
        "{table}"
    );
    let row = lines.next().expect("one peer");
    assert!(
        row.starts_with("peer-with-route-reflectors") && row.contains("route-reflector =="),
        "{table}"
    );

    // `get -o yaml` output is a manifest that applies back unchanged.
    let yaml = ok(&store, &["get", "bgpconfigurations", "default", "-o", "yaml"]);
    assert!(yaml.contains("listenPort: 1790"), "{yaml}");
    let edited = dir.path().join("edited.yaml");
    std::fs::write(&edited, yaml.replace("listenPort: 1790", "listenPort: 1791")).expect("write");
    let out = ok(&store, &["apply", "-f", edited.to_str().expect("path")]);
    assert!(out.contains("BGPConfiguration/default configured"), "{out}");
    let cfg = json(&store, &["get", "bgpconfiguration", "default", "-o", "json"]);
    assert_eq!(cfg["spec"]["listenPort"], 1791);
    // Re-applying the same objects changes nothing and says so.
    let out = ok(&store, &["apply", "-f", example]);
    assert!(out.contains("Node/rr1 unchanged"), "{out}");
    assert!(
        out.contains("BGPConfiguration/default configured"),
        "1791 goes back to 1790: {out}"
    );
    let out = ok(&store, &["apply", "-f", example]);
    assert!(
        !out.contains("configured") && out.contains("BGPConfiguration/default unchanged"),
        "{out}"
    );

    let out = ok(&store, &["delete", "bgppeer", "peer-with-route-reflectors"]);
    assert!(out.contains("deleted"), "{out}");
    let gone = cli(&store, &["get", "bgppeer", "peer-with-route-reflectors"]);
    assert_eq!(gone.code, 1, "{}", gone.stdout);
    assert!(gone.stderr.contains("not found"), "{}", gone.stderr);
    let again = cli(&store, &["delete", "bgppeer", "peer-with-route-reflectors"]);
    assert_eq!(again.code, 1);
    assert_eq!(
        cli(
            &store,
            &[
                "delete",
                "bgppeer",
                "peer-with-route-reflectors",
                "--ignore-not-found"
            ]
        )
        .code,
        0
    );
    let bad_kind = cli(&store, &["get", "widgets"]);
    assert_ne!(bad_kind.code, 0);
    assert!(bad_kind.stderr.contains("unknown kind"), "{}", bad_kind.stderr);
}

#[test]
fn reflector_add_list_remove() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("calico.yaml");
    std::fs::copy(repo().join("examples/calico.yaml"), &store).expect("copy example");

    let list = ok(&store, &["reflector", "list"]);
    let row = list
        .lines()
        .find(|l| l.contains("rr1"))
        .unwrap_or_else(|| panic!("{list}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells, ["244.0.0.1", "rr1", "127.0.1.1", "2"], "{list}");

    let out = ok(
        &store,
        &["reflector", "add", "node-a", "--cluster-id", "244.0.0.1"],
    );
    assert!(
        out.contains("Node/node-a is a reflector with cluster id 244.0.0.1"),
        "{out}"
    );
    let node = json(&store, &["get", "node", "node-a", "-o", "json"]);
    assert_eq!(node["spec"]["bgp"]["routeReflectorClusterID"], "244.0.0.1");
    assert_eq!(node["metadata"]["labels"]["route-reflector"], "true");
    assert_eq!(
        node["spec"]["bgp"]["ipv4Address"], "127.0.1.2/32",
        "the rest of the node is kept"
    );

    // Two reflectors of one cluster, each with node-b as its only client (computed by the peering function).
    let topo = json(&store, &["reflector", "list", "-o", "json"]);
    // -o yaml prints the same document as YAML, not the table.
    let yaml = ok(&store, &["reflector", "list", "-o", "yaml"]);
    let from_yaml: Value =
        serde_yaml_ng::from_str(&yaml).unwrap_or_else(|e| panic!("not YAML ({e}): {yaml}"));
    assert_eq!(from_yaml, topo, "{yaml}");
    let members = topo["clusters"][0]["reflectors"].as_array().expect("reflectors");
    assert_eq!(members.len(), 2, "{topo}");
    for m in members {
        assert_eq!(m["clients"], 1, "{topo}");
        assert_eq!(m["client_names"], serde_json::json!(["node-b"]), "{topo}");
    }
    assert_eq!(topo["warnings"], serde_json::json!([]), "{topo}");

    let out = ok(&store, &["reflector", "remove", "node-a"]);
    assert!(out.contains("no longer a reflector"), "{out}");
    let node = json(&store, &["get", "node", "node-a", "-o", "json"]);
    assert!(
        node["spec"]["bgp"].get("routeReflectorClusterID").is_none(),
        "{node}"
    );
    assert!(node["metadata"].get("labels").is_none(), "{node}");

    let missing = cli(
        &store,
        &["reflector", "add", "rr-standalone", "--cluster-id", "244.0.0.9"],
    );
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("not found") && missing.stderr.contains("standalone"),
        "{}",
        missing.stderr
    );
}

#[test]
fn topology_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("calico.yaml");
    // rr-a and rr-b share cluster id 244.0.0.1, but zone a only peers with rr-a and zone b only with rr-b;
    // rr-c is alone in 244.0.0.2 and has no clients; n3 is in no zone.
    let mut y = String::from(
        "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\n\
         spec: {nodeToNodeMeshEnabled: false, asNumber: 64512}\n",
    );
    for (name, ip, labels, cid) in [
        (
            "rr-a",
            "10.0.0.1",
            "route-reflector: 'true', group: a",
            Some("244.0.0.1"),
        ),
        (
            "rr-b",
            "10.0.0.2",
            "route-reflector: 'true', group: b",
            Some("244.0.0.1"),
        ),
        (
            "rr-c",
            "10.0.0.3",
            "route-reflector: 'true', group: c",
            Some("244.0.0.2"),
        ),
        ("n1", "10.0.1.1", "zone: a", None),
        ("n2", "10.0.1.2", "zone: b", None),
        ("n3", "10.0.1.3", "other: x", None),
    ] {
        y.push_str(&format!(
            "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{name: {name}, labels: {{{labels}}}}}\n\
             spec: {{bgp: {{ipv4Address: {ip}/24{}}}}}\n",
            cid.map(|c| format!(", routeReflectorClusterID: {c}")).unwrap_or_default()
        ));
    }
    for zone in ["a", "b"] {
        y.push_str(&format!(
            "---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {{name: zone-{zone}}}\n\
             spec: {{nodeSelector: zone == '{zone}', peerSelector: group == '{zone}'}}\n"
        ));
    }
    std::fs::write(&store, y).expect("write");

    let o = cli(&store, &["reflector", "list"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let rows: Vec<Vec<&str>> = o
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["244.0.0.1", "rr-a", "10.0.0.1", "1"],
            vec!["244.0.0.1", "rr-b", "10.0.0.2", "1"],
            vec!["244.0.0.2", "rr-c", "10.0.0.3", "0"],
        ],
        "{}",
        o.stdout
    );
    let w = &o.stderr;
    assert!(
        w.contains("reflectors rr-a and rr-b share the cluster id but have disjoint client sets"),
        "{w}"
    );
    assert!(
        w.contains("cluster 244.0.0.2 has a single reflector (rr-c)"),
        "{w}"
    );
    assert!(w.contains("reflector rr-c has no clients"), "{w}");
    assert!(w.contains("clients of no reflector: n3"), "{w}");
    assert!(!w.contains("244.0.0.1 has a single"), "{w}");
}

#[test]
fn stale_resource_version_is_a_clean_conflict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("calico.yaml");
    std::fs::copy(repo().join("examples/calico.yaml"), &store).expect("copy example");
    let before = std::fs::read_to_string(&store).expect("read");

    let stale = dir.path().join("stale.yaml");
    std::fs::write(
        &stale,
        "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: node-a, resourceVersion: '999999'}\n\
         spec: {bgp: {ipv4Address: 127.0.1.22/32}}\n",
    )
    .expect("write");
    let o = cli(&store, &["apply", "-f", stale.to_str().expect("path")]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains("Node/node-a") && o.stderr.contains("conflict"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("expected revision 999999"), "{}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    assert_eq!(
        std::fs::read_to_string(&store).expect("read"),
        before,
        "nothing written"
    );
    let node = json(&store, &["get", "node", "node-a", "-o", "json"]);
    assert_eq!(node["spec"]["bgp"]["ipv4Address"], "127.0.1.2/32");
}

#[test]
fn invalid_manifest_names_file_document_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store.yaml");
    let manifest = dir.path().join("bad.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: good}\nspec: {bgp: {ipv4Address: 10.0.0.1/24}}\n\
         ---\napiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\n\
         spec: {asNumber: banana}\n",
    )
    .expect("write");
    let o = cli(&store, &["apply", "-f", manifest.to_str().expect("path")]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("bad.yaml#2"), "document named: {}", o.stderr);
    assert!(o.stderr.contains("spec.asNumber"), "field named: {}", o.stderr);
    assert!(o.stderr.contains("banana"), "value shown: {}", o.stderr);
    assert!(o.stderr.contains("nothing applied"), "{}", o.stderr);
    let get = cli(&store, &["get", "node", "good"]);
    assert_eq!(
        get.code, 1,
        "the valid document was not applied either: {}",
        get.stdout
    );

    std::fs::write(&manifest, "kind: Node\nmetadata: {name: x\n").expect("write");
    let o = cli(&store, &["apply", "-f", manifest.to_str().expect("path")]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("bad.yaml#1"), "{}", o.stderr);
}

#[test]
fn etcd_apply_reflector_and_stale_write() {
    let etcd = etcd_support::EtcdServer::start();
    let endpoint = etcd.endpoint();
    let store = ["--datastore", "etcdv3", "--etcd-endpoints", endpoint.as_str()];
    let run = |args: &[&str]| {
        let o = cli_on(&store, args);
        assert_eq!(o.code, 0, "rr-cli {args:?} failed: {}{}", o.stdout, o.stderr);
        o.stdout
    };
    let example = repo().join("examples/calico.yaml");
    let out = run(&["apply", "-f", example.to_str().expect("path")]);
    assert!(out.contains("Node/rr1 created"), "{out}");
    let nodes: Value = serde_json::from_str(&run(&["get", "nodes", "-o", "json"])).expect("json");
    assert_eq!(nodes["items"].as_array().map(Vec::len), Some(3), "{nodes}");

    // The Calico key layout, readable by calico-node and calicoctl.
    let out = run(&["reflector", "add", "node-a", "--cluster-id", "244.0.0.7"]);
    assert!(out.contains("244.0.0.7"), "{out}");
    let raw = etcd.ctl_ok(&[
        "get",
        "--print-value-only",
        "/calico/resources/v3/projectcalico.org/nodes/node-a",
    ]);
    let v: Value = serde_json::from_str(raw.trim()).expect("stored JSON");
    assert_eq!(v["spec"]["bgp"]["routeReflectorClusterID"], "244.0.0.7", "{raw}");
    assert_eq!(v["metadata"]["labels"]["route-reflector"], "true", "{raw}");

    // A copy taken before someone else's write is refused; a fresh one applies.
    let copy = run(&["get", "node", "node-a", "-o", "yaml"]);
    assert!(copy.contains("resourceVersion"), "{copy}");
    run(&["reflector", "remove", "node-a"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let stale = dir.path().join("node-a.yaml");
    std::fs::write(&stale, copy.replace("127.0.1.2/32", "127.0.1.20/32")).expect("write");
    let o = cli_on(&store, &["apply", "-f", stale.to_str().expect("path")]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("conflict on Node \"node-a\""), "{}", o.stderr);
    let now: Value = serde_json::from_str(&run(&["get", "node", "node-a", "-o", "json"])).expect("json");
    assert_eq!(now["spec"]["bgp"]["ipv4Address"], "127.0.1.2/32", "{now}");
    assert!(
        now["spec"]["bgp"].get("routeReflectorClusterID").is_none(),
        "{now}"
    );
    let fresh = run(&["get", "node", "node-a", "-o", "yaml"]);
    std::fs::write(&stale, fresh.replace("127.0.1.2/32", "127.0.1.20/32")).expect("write");
    let out = run(&["apply", "-f", stale.to_str().expect("path")]);
    assert!(out.contains("Node/node-a configured"), "{out}");

    // The daemon's variables select the backend too (etcdv3 is the default when ETCD_ENDPOINTS is set).
    let o = Command::new(env!("CARGO_BIN_EXE_rr-cli"))
        .args(["get", "node", "node-a", "-o", "json"])
        .env_remove("DATASTORE_TYPE")
        .env_remove("CALICO_DATASTORE_TYPE")
        .env_remove("ETCD_ENDPOINTS")
        .env("CALICO_ETCD_ENDPOINTS", &endpoint)
        .output()
        .expect("run rr-cli");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let via_env: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        via_env["spec"]["bgp"]["ipv4Address"], "127.0.1.20/32",
        "{via_env}"
    );

    let out = run(&["delete", "node", "node-b"]);
    assert!(out.contains("deleted"), "{out}");
    let list: Value = serde_json::from_str(&run(&["reflector", "list", "-o", "json"])).expect("json");
    assert_eq!(list["clusters"][0]["reflectors"][0]["clients"], 1, "{list}");
}

const FILTER: &str = r#"
apiVersion: projectcalico.org/v3
kind: BGPFilter
metadata: {name: no-node-b}
spec:
  exportV4:
    - {action: Reject, matchOperator: In, cidr: 10.2.0.0/16, prefixLength: {min: 24}}
    - action: Accept
      operations: [{addCommunity: {value: "65000:7"}}]
  importV6:
    - {action: Reject, matchOperator: Equal, cidr: "fd00::/64"}
"#;

/// `get/apply/delete bgpfilters` on the file datastore and on etcd (stored under the Calico key).
#[test]
fn bgpfilters_apply_get_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("filter.yaml");
    std::fs::write(&manifest, FILTER).expect("write");
    let manifest = manifest.to_str().expect("path");

    let etcd = etcd_support::EtcdServer::start();
    let endpoint = etcd.endpoint();
    let file = dir.path().join("store.yaml");
    let file = file.to_str().expect("path").to_string();
    let stores: [Vec<&str>; 2] = [
        vec!["--datastore", "file", "--file", file.as_str()],
        vec!["--datastore", "etcdv3", "--etcd-endpoints", endpoint.as_str()],
    ];
    for store in &stores {
        let run = |args: &[&str]| {
            let o = cli_on(store, args);
            assert_eq!(
                o.code, 0,
                "rr-cli {args:?} on {store:?}: {}{}",
                o.stdout, o.stderr
            );
            o.stdout
        };
        let out = run(&["apply", "-f", manifest]);
        assert!(out.contains("BGPFilter/no-node-b created"), "{out}");
        let table = run(&["get", "bgpfilters"]);
        assert!(table.contains("EXPORTV4"), "{table}");
        assert!(table.contains("no-node-b"), "{table}");
        assert!(table.contains("2 rules"), "{table}");
        let got: Value =
            serde_json::from_str(&run(&["get", "bgpfilter", "no-node-b", "-o", "json"])).expect("json");
        assert_eq!(got["kind"], "BGPFilter", "{got}");
        assert_eq!(got["spec"]["exportV4"][0]["cidr"], "10.2.0.0/16", "{got}");
        assert_eq!(got["spec"]["exportV4"][0]["prefixLength"]["min"], 24, "{got}");
        assert_eq!(
            got["spec"]["exportV4"][1]["operations"][0]["addCommunity"]["value"], "65000:7",
            "{got}"
        );
        assert_eq!(got["spec"]["importV6"][0]["matchOperator"], "Equal", "{got}");
        // Re-applying what `get -o yaml` printed changes nothing, and says so.
        let yaml = run(&["get", "bgpfilters", "no-node-b", "-o", "yaml"]);
        let again = dir.path().join("again.yaml");
        std::fs::write(&again, yaml).expect("write");
        let out = run(&["apply", "-f", again.to_str().expect("path")]);
        assert!(out.contains("BGPFilter/no-node-b unchanged"), "{out}");
        let out = run(&["delete", "bgpfilters", "no-node-b"]);
        assert!(out.contains("deleted"), "{out}");
        let o = cli_on(store, &["get", "bgpfilter", "no-node-b"]);
        assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    }
    // In etcd it lives where calicoctl puts it.
    let o = cli_on(&stores[1], &["apply", "-f", manifest]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let raw = etcd.ctl_ok(&[
        "get",
        "--print-value-only",
        "/calico/resources/v3/projectcalico.org/bgpfilters/no-node-b",
    ]);
    let v: Value = serde_json::from_str(raw.trim()).expect("stored JSON");
    assert_eq!(v["spec"]["exportV4"][0]["action"], "Reject", "{raw}");
}

#[test]
fn completion_and_man_pages() {
    let o = cli_on(&[], &["completion", "bash"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("_rr__cli()") && o.stdout.contains("reflector"),
        "{}",
        o.stdout
    );
    let o = cli_on(&[], &["completion", "zsh"]);
    assert!(
        o.code == 0 && o.stdout.contains("#compdef rr-cli"),
        "{}",
        o.stdout
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let man = dir.path().join("man1");
    let o = cli_on(&[], &["man", man.to_str().expect("path")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let top = std::fs::read_to_string(man.join("rr-cli.1")).expect("rr-cli.1");
    assert!(top.contains(".TH rr-cli") && top.contains("reflector"), "{top}");
    assert!(man.join("rr-cli-peers.1").is_file(), "one page per subcommand");
    let o = cli_on(&[], &["--version"]);
    assert!(
        o.stdout
            .starts_with(&format!("rr-cli {} (", env!("CARGO_PKG_VERSION"))),
        "{}",
        o.stdout
    );
}

/// `reflector list` names every setting that applies to a reflector and that the daemon does not honour.
#[test]
fn reflector_list_names_unhonoured_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store.yaml");
    let example = std::fs::read_to_string(repo().join("examples/calico.yaml")).expect("example");
    let edited = example.replace(
        "  peerSelector: route-reflector == 'true'",
        "  peerSelector: route-reflector == 'true'\n  filters: [no-node-b, not-created]",
    );
    assert_ne!(edited, example, "the example's BGPPeer changed shape");
    let manifest = dir.path().join("m.yaml");
    std::fs::write(&manifest, format!("{edited}\n---\n{FILTER}")).expect("write");
    ok(&store, &["apply", "-f", manifest.to_str().expect("path")]);
    let o = cli(&store, &["reflector", "list"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains(
            "setting not honoured by the reflector: BGPPeer/peer-with-route-reflectors spec.filters = not-created"
        ),
        "{}",
        o.stderr
    );
    let v = json(&store, &["reflector", "list", "-o", "json"]);
    let u = v["unhonoured"].as_array().expect("unhonoured");
    assert_eq!(u.len(), 1, "{v}");
    assert_eq!(u[0]["field"], "spec.filters", "{v}");
    // no-node-b exists and is applied; the filter that does not exist is the one named.
    assert_eq!(u[0]["value"], "not-created", "{v}");
    assert_eq!(u[0]["reason"], "not_found", "{v}");
}
