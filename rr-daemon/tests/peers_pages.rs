//! Issue 14: `GET /peers` answers one bounded page (`limit`, `after=ADDRESS`) in the order of the address as
//! text, and walking the pages yields every configured peer exactly once, engine peers and peers not started
//! (an unreadable TCP-MD5 password) alike, in the order of a single page holding them all. A cursor whose peer
//! has been removed meanwhile still works.
//!
//! No speaker runs: the peers are configured and stay in Connect/Active, which is all `/peers` needs.

mod common;

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, wait_for};
use serde_json::Value;

const B: u8 = 174;
/// Client nodes (engine peers).
const CLIENTS: u8 = 23;
/// BGPPeers by address whose password Secret is missing (shown as Disabled).
const DISABLED: u8 = 3;

fn addresses(page: &Value) -> Vec<String> {
    page.as_array()
        .expect("a list")
        .iter()
        .map(|p| p["address"].as_str().expect("address").to_string())
        .collect()
}

/// Every peer, page by page as `rr-cli peers` fetches them: (addresses in order, pages).
fn walk(rr: &Rr, limit: usize) -> (Vec<String>, usize) {
    let (mut all, mut pages) = (Vec::new(), 0);
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            None => format!("/peers?limit={limit}"),
            Some(a) => format!("/peers?limit={limit}&after={a}"),
        };
        let page = addresses(&rr.get(&path));
        pages += 1;
        assert!(page.len() <= limit, "page of {} > limit {limit}", page.len());
        after = page.last().cloned();
        let n = page.len();
        all.extend(page);
        if n < limit {
            return (all, pages);
        }
        assert!(pages < 1000, "the pages do not end");
    }
}

/// The reflector, the `clients` (last octet, BGP port) and the disabled BGPPeers.
fn topology(rr_port: u16, clients: &[(u8, u16)]) -> Topology {
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes.push(NodeDef::reflector(
        "rr1",
        Ipv4Addr::new(127, 0, B, 1),
        "244.0.0.1".parse().expect("ip"),
    ));
    for &(c, port) in clients {
        topo.nodes.push(NodeDef::client(
            &format!("node{c}"),
            Ipv4Addr::new(127, 0, B, c),
            port,
        ));
    }
    for d in 0..DISABLED {
        topo.peers.push((
            format!("locked-{d}"),
            format!(
                "{{nodeSelector: route-reflector == 'true', peerIP: 127.0.{B}.{}, asNumber: 64512, \
                 password: {{secretKeyRef: {{name: missing, key: k{d}}}}}}}",
                200 + d
            ),
        ));
    }
    topo
}

#[test]
fn peer_pages_partition_the_peers_in_a_stable_order() {
    let rr_port = free_port("127.0.0.1");
    // Ports nobody listens on: the sessions never come up.
    let clients: Vec<(u8, u16)> = (10..10 + CLIENTS).map(|c| (c, free_port("127.0.0.1"))).collect();
    let topo = topology(rr_port, &clients);
    let secrets = tempfile::tempdir().expect("secrets dir");
    let secrets_arg = secrets.path().display().to_string();
    let rr = Rr::start("rr1", &topo.yaml(), &["--secrets-dir", &secrets_arg]);

    let mut want: Vec<String> = clients.iter().map(|(c, _)| format!("127.0.{B}.{c}")).collect();
    want.extend((0..DISABLED).map(|d| format!("127.0.{B}.{}", 200 + d)));
    want.sort();
    let total = want.len();
    let whole = wait_for("every peer configured", Duration::from_secs(30), || {
        let v = rr.get("/peers");
        if v.as_array().map(Vec::len) == Some(total) {
            Ok(v)
        } else {
            Err(v.to_string())
        }
    });
    // One page holding them all: sorted by the address as text (127.0.174.10 before 127.0.174.2xx).
    assert_eq!(addresses(&whole), want);
    let disabled = whole
        .as_array()
        .expect("list")
        .iter()
        .filter(|p| p["state"] == "Disabled")
        .count();
    assert_eq!(disabled, usize::from(DISABLED), "{whole}");

    for limit in [1, 4, 5, total - 1, total, total + 1] {
        let (got, pages) = walk(&rr, limit);
        let distinct: HashSet<&String> = got.iter().collect();
        assert_eq!(
            distinct.len(),
            got.len(),
            "a peer twice with limit {limit}: {got:?}"
        );
        assert_eq!(got, want, "limit {limit}");
        // A page shorter than the limit ends the walk; an exact multiple costs one empty page.
        assert_eq!(pages, total / limit + 1, "limit {limit}");
    }
    // The same request, the same page.
    assert_eq!(
        rr.get("/peers?limit=4&after=127.0.174.15"),
        rr.get("/peers?limit=4&after=127.0.174.15")
    );

    // Bad requests are refused, naming the problem.
    for bad in [
        "/peers?limit=0",
        "/peers?limit=10001",
        "/peers?limit=x",
        "/peers?after=node10",
    ] {
        let (code, body) = rr.try_get_status(bad);
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(body["error"].is_string(), "{bad}: {body}");
    }

    // The cursor's peer is removed between two pages: the next page starts after its address all the same.
    let cursor = "127.0.174.15";
    let rest: Vec<String> = want.iter().filter(|a| a.as_str() > cursor).cloned().collect();
    let others: Vec<(u8, u16)> = clients.iter().copied().filter(|&(c, _)| c != 15).collect();
    let without = topology(rr_port, &others);
    rr.write_yaml(&without.yaml());
    wait_for("node15 removed", Duration::from_secs(30), || {
        let v = rr.get("/peers");
        if v.as_array().map(Vec::len) == Some(total - 1) {
            Ok(())
        } else {
            Err(v.to_string())
        }
    });
    assert_eq!(addresses(&rr.get(&format!("/peers?after={cursor}"))), rest);
}
