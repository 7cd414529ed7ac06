//! Reflection end to end: BIRD 2 clients configured as calico-node configures BIRD and a GoBGP client, all
//! announcing IPv4 and IPv6 prefixes through one rr-daemon (RFC 4456), on loopback.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::bird::{Bird, BirdNeighbor, BirdSpec};
use common::gobgp::Gobgp;
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, require, wait_for};

const RR_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 1, 1);
const CLUSTER: &str = "244.0.0.1";
const T: Duration = Duration::from_secs(30);

fn bird_client(n: u8, rr_port: u16) -> (NodeDef, BirdSpec) {
    let port = free_port("127.0.0.1");
    let mut spec = BirdSpec::client(n, port, 64512);
    spec.neighbors
        .push(BirdNeighbor::new("rr1", RR_IP, rr_port, 64512));
    (NodeDef::client(&format!("node{n}"), spec.addr, port), spec)
}

/// Checks a reflected path as BIRD shows it.
fn check_bird_path(b: &Bird, prefix: &str, originator: Ipv4Addr, next_hop: &str) -> Result<(), String> {
    let routes = b.bgp_routes(prefix);
    let r = routes
        .iter()
        .find(|r| r.attr("originator_id") == Some(&originator.to_string()))
        .ok_or_else(|| {
            format!(
                "{}: no path for {prefix} from {originator}: {routes:?}",
                b.spec.name
            )
        })?;
    // RFC 4456 section 8: ORIGINATOR_ID is the originator's router id; the reflector prepends its cluster id.
    if r.attr("cluster_list") != Some(CLUSTER) {
        return Err(format!("{prefix}: cluster_list {:?}", r.attr("cluster_list")));
    }
    // NEXT_HOP and LOCAL_PREF go through the reflector unchanged.
    if r.attr("next_hop") != Some(next_hop) {
        return Err(format!(
            "{prefix}: next_hop {:?} != {next_hop}",
            r.attr("next_hop")
        ));
    }
    if r.attr("local_pref") != Some("2147482623") {
        return Err(format!("{prefix}: local_pref {:?}", r.attr("local_pref")));
    }
    if r.attr("as_path").is_some_and(|p| !p.is_empty()) {
        return Err(format!("{prefix}: iBGP AS_PATH changed: {:?}", r.attr("as_path")));
    }
    Ok(())
}

#[test]
fn bird_and_gobgp_clients_receive_each_others_routes() {
    require(&["bird", "gobgpd"]);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes.push(NodeDef::reflector(
        "rr1",
        RR_IP,
        CLUSTER.parse().expect("cluster id"),
    ));
    let mut specs = Vec::new();
    for n in [2u8, 3, 4] {
        let (node, mut spec) = bird_client(n, rr_port);
        if n != 2 {
            // Clients 3 and 4 both announce 10.99.0.0/24: client 2 must see both paths through ADD-PATH.
            spec.routes4.push("10.99.0.0/24".into());
        }
        topo.nodes.push(node);
        specs.push(spec);
    }
    let gobgp_ip = Ipv4Addr::new(127, 0, 1, 5);
    let gobgp_port = free_port("127.0.0.1");
    topo.nodes.push(NodeDef::client("node5", gobgp_ip, gobgp_port));

    let rr = Rr::start("rr1", &topo.yaml(), &[]);
    let mut birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    let gobgp = Gobgp::start("gobgp5", gobgp_ip, gobgp_port, 64512, &[(RR_IP, rr_port)]);
    gobgp.announce("10.5.0.0/26", "100.64.0.5", 2_147_482_623);
    gobgp.announce("fd00:5::/122", "fd00:64::5", 2_147_482_623);

    for b in &birds {
        b.wait_established("rr1", T);
    }
    for n in ["node2", "node3", "node4", "node5"] {
        rr.wait_established(n, T);
    }

    // Every BIRD client gets every other client's IPv4 and IPv6 routes, reflected per RFC 4456.
    for b in &birds {
        for other in [2u8, 3, 4, 5] {
            if Ipv4Addr::new(127, 0, 1, other) == b.spec.addr {
                continue;
            }
            let orig = Ipv4Addr::new(127, 0, 1, other);
            wait_for(
                &format!("{} has routes of client {other}", b.spec.name),
                T,
                || {
                    check_bird_path(
                        b,
                        &format!("10.{other}.0.0/26"),
                        orig,
                        &format!("100.64.0.{other}"),
                    )?;
                    check_bird_path(
                        b,
                        &format!("fd00:{other:x}::/122"),
                        orig,
                        &format!("fd00:64::{other:x}"),
                    )
                },
            );
        }
        // Its own routes are not reflected back to it.
        let own = format!("10.{}.0.0/26", b.spec.addr.octets()[3]);
        assert!(
            b.bgp_routes(&own).is_empty(),
            "{} got its own route back",
            b.spec.name
        );
    }

    // The GoBGP client gets the BIRD clients' routes with ORIGINATOR_ID and CLUSTER_LIST.
    for n in [2u8, 3, 4] {
        for prefix in [format!("10.{n}.0.0/26"), format!("fd00:{n:x}::/122")] {
            wait_for(&format!("gobgp has {prefix}"), T, || {
                let paths = gobgp.learned(&prefix);
                let p = paths.first().ok_or_else(|| {
                    format!(
                        "no path: {}",
                        gobgp.cli(&[
                            "global",
                            "rib",
                            "-a",
                            if prefix.contains(':') { "ipv6" } else { "ipv4" }
                        ])
                    )
                })?;
                let want_nh = if prefix.contains(':') {
                    format!("fd00:64::{n:x}")
                } else {
                    format!("100.64.0.{n}")
                };
                if p.originator_id.as_deref() != Some(&format!("127.0.1.{n}"))
                    || p.cluster_list != vec![CLUSTER.to_string()]
                    || p.next_hop.as_deref() != Some(&want_nh)
                    || p.local_pref != Some(2_147_482_623)
                {
                    return Err(format!("{p:?}"));
                }
                Ok(())
            });
        }
    }

    // ADD-PATH: both paths of 10.99.0.0/24 reach client 2 and the GoBGP client.
    wait_for("two paths of 10.99.0.0/24 at bird2", T, || {
        let r = birds[0].bgp_routes("10.99.0.0/24");
        let mut nh: Vec<_> = r
            .iter()
            .filter_map(|r| r.attr("next_hop").map(str::to_string))
            .collect();
        nh.sort();
        if nh == ["100.64.0.3", "100.64.0.4"] {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    });
    wait_for("two paths of 10.99.0.0/24 at gobgp", T, || {
        let p = gobgp.learned("10.99.0.0/24");
        if p.len() == 2 {
            Ok(())
        } else {
            Err(format!("{p:?}"))
        }
    });

    // Withdrawals propagate: client 2 drops its IPv4 prefix, GoBGP withdraws its IPv6 one.
    birds[0].set_routes(Vec::new(), vec!["fd00:2::/122".into()]);
    gobgp.withdraw("fd00:5::/122");
    wait_for("withdrawals at bird3", T, || {
        let b = &birds[1];
        if !b.bgp_routes("10.2.0.0/26").is_empty() {
            return Err("10.2.0.0/26 still there".into());
        }
        if !b.bgp_routes("fd00:5::/122").is_empty() {
            return Err("fd00:5::/122 still there".into());
        }
        // Unrelated routes stay.
        check_bird_path(b, "fd00:2::/122", Ipv4Addr::new(127, 0, 1, 2), "fd00:64::2")?;
        check_bird_path(b, "10.5.0.0/26", gobgp_ip, "100.64.0.5")
    });
    wait_for("withdrawal at gobgp", T, || {
        if gobgp.learned("10.2.0.0/26").is_empty() {
            Ok(())
        } else {
            Err("still there".into())
        }
    });
    // One of the two ADD-PATH paths withdrawn: the other stays.
    let (r4, r6) = (vec!["10.3.0.0/26".to_string()], birds[1].spec.routes6.clone());
    birds[1].set_routes(r4, r6);
    wait_for("one path of 10.99.0.0/24 left at bird2", T, || {
        let r = birds[0].bgp_routes("10.99.0.0/24");
        if r.len() == 1 && r[0].attr("next_hop") == Some("100.64.0.4") {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    });

    // The control API shows the reflector's view.
    let routes = rr.get("/routes?prefix=10.99.0.0/24");
    assert_eq!(routes[0]["paths"].as_array().map(Vec::len), Some(1), "{routes}");
    let status = rr.get("/status");
    assert_eq!(status["cluster_id"], CLUSTER, "{status}");
    assert_eq!(status["established"], 4, "{status}");
    let (code, metrics) = rr.metrics_get("/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("calico_rr_peers_established 4"), "{metrics}");
    assert_eq!(rr.metrics_get("/readyz").0, 200);
    drop(gobgp);
    for b in &mut birds {
        b.kill();
    }
}
