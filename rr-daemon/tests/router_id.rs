//! `CALICO_ROUTER_ID` as calico-node reads it: `hash` gives the router id confd's `hashToIPv4` derives from
//! the node name, an address is used as it is, and `--router-id` wins over the variable. Checked on the wire:
//! the BGP identifier a real BIRD client sees in the reflector's OPEN.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::bird::{Bird, BirdNeighbor, BirdSpec};
use common::daemon::Daemon;
use common::rr::{NodeDef, Topology};
use common::{free_port, require, wait_for};

const T: Duration = Duration::from_secs(45);
const B: u8 = 65;

/// The BGP identifier BIRD's protocol `rr1` learned from the reflector (`Neighbor ID` once Established).
fn neighbor_id(b: &Bird) -> String {
    b.wait_established("rr1", T);
    wait_for("BIRD shows the neighbor id", T, || {
        let out = b.birdc("show protocols all rr1");
        out.lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("Neighbor ID:")
                    .map(|v| v.trim().to_string())
            })
            .ok_or(out)
    })
}

#[test]
fn calico_router_id_hash_address_and_flag() {
    require(&["bird", "birdc"]);
    let rr_ip = Ipv4Addr::new(127, 0, B, 1);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    // The reflector's node name is what the hash is taken of.
    let node = "kube-node-1";
    topo.nodes
        .push(NodeDef::reflector(node, rr_ip, "244.0.0.1".parse().expect("ip")));
    let mut spec = BirdSpec::client(2, free_port("127.0.0.1"), 64512);
    spec.addr = Ipv4Addr::new(127, 0, B, 2);
    spec.name = format!("bird{B}-2");
    spec.neighbors
        .push(BirdNeighbor::new("rr1", rr_ip, rr_port, 64512));
    topo.nodes.push(NodeDef::client("node2", spec.addr, spec.port));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("calico.yaml");
    std::fs::write(&file, topo.yaml()).expect("yaml");
    let args = vec![
        "--datastore".to_string(),
        "file".into(),
        "--file".into(),
        file.display().to_string(),
    ];
    let bird = Bird::start(spec);

    // CALICO_ROUTER_ID=hash: the first four bytes of SHA-256("kube-node-1") = 22 5c fc 61 (computed with
    // `printf %s kube-node-1 | sha256sum`).
    let rr = Daemon::start(node, &args, &[("CALICO_ROUTER_ID", "hash".into())]);
    assert_eq!(neighbor_id(&bird), "34.92.252.97");
    assert_eq!(rr.get("/status").expect("status")["router_id"], "34.92.252.97");
    drop(rr);

    // An address.
    let rr = Daemon::start(node, &args, &[("CALICO_ROUTER_ID", "10.65.0.7".into())]);
    wait_for("BIRD sees the new router id", T, || {
        let id = neighbor_id(&bird);
        if id == "10.65.0.7" { Ok(()) } else { Err(id) }
    });
    drop(rr);

    // The flag wins over the variable.
    let mut flagged = args.clone();
    flagged.extend(["--router-id".to_string(), "10.65.0.8".into()]);
    let rr = Daemon::start(node, &flagged, &[("CALICO_ROUTER_ID", "hash".into())]);
    wait_for("BIRD sees the flag's router id", T, || {
        let id = neighbor_id(&bird);
        if id == "10.65.0.8" { Ok(()) } else { Err(id) }
    });
    drop(rr);

    // A bad value stops start-up, naming the setting.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rr-daemon"))
        .args(&args)
        .args(["--nodename", node, "--check-config"])
        .env("CALICO_ROUTER_ID", "hashed")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CALICO_ROUTER_ID"), "{err}");
}
