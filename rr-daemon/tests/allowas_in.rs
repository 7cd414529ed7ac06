//! `numAllowedLocalASNumbers` (allowas-in, BIRD's `allow local as N`) on the AS-loop check: a route from an
//! eBGP BIRD router whose AS_PATH holds the reflector's AS is dropped by default and accepted, and reflected
//! to a client (itself configured with `allow local as 1`), once the BGPPeer allows our AS once.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::bird::{Bird, BirdNeighbor, BirdSpec};
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, require, wait_for};

const T: Duration = Duration::from_secs(30);
const B: u8 = 14;
const EXT_AS: u32 = 64999;

fn has_route(b: &Bird, prefix: &str) -> Result<(), String> {
    if b.bgp_routes(prefix).is_empty() {
        Err(format!("{prefix} missing"))
    } else {
        Ok(())
    }
}

#[test]
fn allowas_in_with_a_bird_router() {
    require(&["bird"]);
    let rr_ip = Ipv4Addr::new(127, 0, B, 1);
    let rr_port = free_port("127.0.0.1");
    let ext_ip = Ipv4Addr::new(127, 0, B, 9);
    let ext_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    // A client node, as calico-node's BIRD.
    let client_port = free_port("127.0.0.1");
    let mut client = BirdSpec::client(2, client_port, 64512);
    client.addr = Ipv4Addr::new(127, 0, B, 2);
    client.name = format!("bird{B}-2");
    // BIRD checks AS loops on iBGP sessions too: a calico-node client gets `allow local as` from its own
    // BGPPeer's numAllowedLocalASNumbers, as here.
    let mut to_rr = BirdNeighbor::new("rr1", rr_ip, rr_port, 64512);
    to_rr.allow_local_as = Some(1);
    client.neighbors.push(to_rr);
    topo.nodes
        .push(NodeDef::client("node2", client.addr, client_port));
    let ext_peer = |allow: Option<u32>| {
        (
            "tor".to_string(),
            format!(
                "{{node: rr1, peerIP: '{ext_ip}:{ext_port}', asNumber: {EXT_AS}{}}}",
                allow
                    .map(|n| format!(", numAllowedLocalASNumbers: {n}"))
                    .unwrap_or_default()
            ),
        )
    };
    topo.peers.push(ext_peer(None));

    // The external router announces 10.9.0.0/26 with our AS already in the path (it came from another site
    // of AS 64512); 10.9.1.0/26 is added later as a marker.
    let mut ext = BirdSpec::client(9, ext_port, EXT_AS);
    ext.addr = ext_ip;
    ext.name = format!("bird{B}-ext");
    ext.routes4 = vec!["10.9.0.0/26".into()];
    ext.routes6 = vec![];
    ext.prepend = vec![("10.9.0.0/26".into(), 64512)];
    ext.neighbors
        .push(BirdNeighbor::new("rr1", rr_ip, rr_port, 64512));

    let rr = Rr::start("rr1", &topo.yaml(), &[]);
    let b2 = Bird::start(client);
    let mut ext = Bird::start(ext);
    rr.wait_established("node2", T);
    rr.wait_established(&ext_ip.to_string(), T);
    b2.wait_established("rr1", T);
    // The marker, sent after the looped route on the same session: once the client has it, the reflector has
    // processed (and dropped) the looped one.
    ext.set_routes(vec!["10.9.0.0/26".into(), "10.9.1.0/26".into()], vec![]);
    wait_for("client has the marker", T, || has_route(&b2, "10.9.1.0/26"));
    assert!(b2.bgp_routes("10.9.0.0/26").is_empty(), "looped route reflected");
    // Not in the Loc-RIB: the control API answers 400 "no route".
    if let Ok(r) = rr.try_get("/routes?prefix=10.9.0.0/26") {
        assert!(
            r.as_array()
                .is_none_or(|a| a.is_empty() || a[0]["paths"].as_array().is_none_or(Vec::is_empty)),
            "{r}"
        );
    }

    // Allow our AS once: the session restarts with the new check and the route is accepted and reflected.
    topo.peers.pop();
    topo.peers.push(ext_peer(Some(1)));
    rr.write_yaml(&topo.yaml());
    wait_for("the reflector accepted the route", T, || {
        let r = rr.try_get("/routes?prefix=10.9.0.0/26")?;
        if r[0]["paths"].as_array().is_some_and(|p| !p.is_empty()) {
            Ok(())
        } else {
            Err(format!("{r} {}", rr.get("/peers")))
        }
    });
    wait_for("client has the route with our AS in its path", T, || {
        has_route(&b2, "10.9.0.0/26")
    });
    let routes = b2.bgp_routes("10.9.0.0/26");
    let path = routes[0].attr("as_path").unwrap_or_default().to_string();
    assert!(
        path.contains(&format!("{EXT_AS} 64512")),
        "AS path {path:?}: {routes:?}"
    );
}
