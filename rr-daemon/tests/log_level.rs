//! The log level changes at run time: BGPConfiguration `logSeverityScreen` (when `RUST_LOG` is unset), the
//! control API's `POST /log-level` for everything or for one peer, and `RUST_LOG` winning over the datastore.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::raw::RawPeer;
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, wait_for};

const T: Duration = Duration::from_secs(30);

fn topology(port: u16, severity: &str, clients: &[u8]) -> String {
    let mut topo = Topology::calico_rr(port);
    topo.nodes.push(NodeDef::reflector(
        "rr1",
        Ipv4Addr::new(127, 0, 1, 1),
        "244.0.0.1".parse().expect("cluster id"),
    ));
    for n in clients {
        topo.nodes.push(NodeDef::client(
            &format!("node{n}"),
            Ipv4Addr::new(127, 0, 1, *n),
            1,
        ));
    }
    topo.yaml().replacen(
        "spec: {nodeToNodeMeshEnabled: false,",
        &format!("spec: {{logSeverityScreen: {severity}, nodeToNodeMeshEnabled: false,"),
        1,
    )
}

/// Waits until the daemon has `n` peers configured (its log lines for them are written by then).
fn wait_peers(rr: &Rr, n: usize) {
    wait_for(&format!("{n} peers"), T, || {
        let p = rr.get("/peers");
        match p.as_array().map(Vec::len) {
            Some(k) if k == n => Ok(()),
            k => Err(format!("{k:?}")),
        }
    });
}

fn logged(rr: &Rr, what: &str, node: &str) -> bool {
    rr.log().lines().any(|l| l.contains(what) && l.contains(node))
}

fn configured(rr: &Rr, node: &str) -> bool {
    logged(rr, "peer configured", node)
}

#[test]
fn log_severity_screen_and_control_api_change_the_level_live() {
    let port = free_port("127.0.0.1");
    let rr_addr = SocketAddr::from(([127, 0, 1, 1], port));
    let rr = Rr::start_without_rust_log("rr1", &topology(port, "Warning", &[2]), &[]);
    wait_peers(&rr, 1);
    assert!(
        !configured(&rr, "node2"),
        "Warning hides info lines: {}",
        rr.log()
    );

    // logSeverityScreen: Info, applied live: the next peer's info line shows.
    rr.write_yaml(&topology(port, "Info", &[2, 3]));
    wait_peers(&rr, 2);
    assert!(configured(&rr, "node3"), "{}", rr.log());

    // The control API: error for everything...
    let (code, v) = rr.post("/log-level?level=error");
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["filter"], "error", "{v}");
    rr.write_yaml(&topology(port, "Info", &[2, 3, 4]));
    wait_peers(&rr, 3);
    assert!(!configured(&rr, "node4"), "{}", rr.log());
    // ...but info for one peer, by its span: node3's "session established" line is logged, node2's not.
    let (code, v) = rr.post("/log-level?level=info&peer=node3");
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["filter"], "error,[peer{name=node3}]=info", "{v}");
    let _p2 = wait_for("node2 established", T, || {
        RawPeer::establish(Ipv4Addr::new(127, 0, 1, 2), rr_addr)
    });
    let _p3 = wait_for("node3 established", T, || {
        RawPeer::establish(Ipv4Addr::new(127, 0, 1, 3), rr_addr)
    });
    rr.wait_established("node2", T);
    rr.wait_established("node3", T);
    assert!(logged(&rr, "session established", "node3"), "{}", rr.log());
    assert!(!logged(&rr, "session established", "node2"), "{}", rr.log());
    let (code, v) = rr.post("/log-level?level=loud");
    assert_eq!(code, 400, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("unknown level")),
        "{v}"
    );
}

#[test]
fn rust_log_wins_over_log_severity_screen() {
    // Rr::start sets RUST_LOG=info,rr_daemon=debug: logSeverityScreen Error is ignored.
    let rr = Rr::start("rr1", &topology(free_port("127.0.0.1"), "Error", &[2]), &[]);
    wait_peers(&rr, 1);
    assert!(configured(&rr, "node2"), "{}", rr.log());
}
