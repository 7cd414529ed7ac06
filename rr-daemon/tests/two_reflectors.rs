//! Two rr-daemon processes on loopback, with the same and with different cluster ids (RFC 4456 sections 7
//! and 8): routes reach every client exactly as the RFC allows.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::bird::{Bird, BirdNeighbor, BirdSpec};
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, require, wait_for};

const T: Duration = Duration::from_secs(30);

struct Net {
    rrs: Vec<Rr>,
    birds: Vec<Bird>,
}

/// Two reflectors (`127.0.<base>.1`, `127.0.<base>.11`) meshed with each other; client 2 peers with the
/// reflectors in `c2`, client 3 with those in `c3` (indexes 0/1).
fn build(base: u8, cids: [&str; 2], c2: &[usize], c3: &[usize]) -> Net {
    let rr_ips = [Ipv4Addr::new(127, 0, base, 1), Ipv4Addr::new(127, 0, base, 11)];
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    // Both reflectors listen on one port, each on its own address.
    topo.bind_mode = Some("NodeIP".into());
    topo.peers.clear();
    // Reflectors mesh with each other; clients peer with the reflectors of their rack.
    topo.peers.push((
        "rr-mesh".into(),
        "{nodeSelector: has(route-reflector), peerSelector: has(route-reflector)}".into(),
    ));
    for (i, ip) in rr_ips.iter().enumerate() {
        topo.nodes.push(
            NodeDef::reflector(&format!("rr{}", i + 1), *ip, cids[i].parse().expect("ip"))
                .label("rack", &format!("r{i}")),
        );
    }
    let mut specs = Vec::new();
    for (n, which) in [(2u8, c2), (3u8, c3)] {
        let port = free_port("127.0.0.1");
        let mut spec = BirdSpec::client(n, port, 64512);
        spec.addr = Ipv4Addr::new(127, 0, base, n);
        spec.name = format!("bird{base}-{n}");
        let mut node = NodeDef::client(&format!("node{n}"), spec.addr, port);
        for &i in which {
            spec.neighbors.push(BirdNeighbor::new(
                &format!("rr{}", i + 1),
                rr_ips[i],
                rr_port,
                64512,
            ));
            node = node.label(&format!("uses-r{i}"), "true");
        }
        topo.nodes.push(node);
        specs.push(spec);
    }
    for i in 0..2 {
        topo.peers.push((
            format!("clients-of-r{i}"),
            format!("{{nodeSelector: has(uses-r{i}), peerSelector: rack == 'r{i}'}}"),
        ));
    }
    let yaml = topo.yaml();
    let rrs = vec![Rr::start("rr1", &yaml, &[]), Rr::start("rr2", &yaml, &[])];
    let birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    for (b, which) in birds.iter().zip([c2, c3]) {
        for &i in which {
            b.wait_established(&format!("rr{}", i + 1), T);
        }
    }
    rrs[0].wait_established("rr2", T);
    Net { rrs, birds }
}

fn cluster_lists(b: &Bird, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = b
        .bgp_routes(prefix)
        .iter()
        .map(|r| r.attr("cluster_list").unwrap_or("").to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn different_cluster_ids_reflect_between_reflectors() {
    require(&["bird"]);
    // Client 2 only on rr1 (244.0.0.1), client 3 only on rr2 (244.0.0.2). The reflectors are clients of each
    // other, so client 2's route reaches client 3 with both cluster ids, the nearest first.
    let net = build(9, ["244.0.0.1", "244.0.0.2"], &[0], &[1]);
    let role = net.rrs[0].peer("rr2").expect("rr2")["role"].clone();
    assert_eq!(
        role, "rr-client",
        "different cluster ids: the other reflector is a client"
    );
    wait_for("client 3 has client 2's route through both reflectors", T, || {
        let r = net.birds[1].bgp_routes("10.2.0.0/26");
        let Some(r) = r.first() else {
            return Err("missing".into());
        };
        if r.attr("cluster_list") == Some("244.0.0.2 244.0.0.1")
            && r.attr("originator_id") == Some("127.0.9.2")
        {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    });
    wait_for("client 2 has client 3's IPv6 route", T, || {
        let l = cluster_lists(&net.birds[0], "fd00:3::/122");
        if l == ["244.0.0.1 244.0.0.2"] {
            Ok(())
        } else {
            Err(format!("{l:?}"))
        }
    });
}

#[test]
fn same_cluster_id_shared_clients_get_one_path_per_reflector() {
    require(&["bird"]);
    // Both clients on both reflectors of one cluster: each reflector reflects directly; a route reflected by
    // one reflector to the other carries the shared cluster id and is dropped there (RFC 4456 section 8).
    let net = build(10, ["244.0.0.1", "244.0.0.1"], &[0, 1], &[0, 1]);
    let role = net.rrs[0].peer("rr2").expect("rr2")["role"].clone();
    assert_eq!(
        role, "reflector-mesh",
        "same cluster id: the other reflector is a non-client"
    );
    wait_for("client 3 has client 2's route from both reflectors", T, || {
        let l = cluster_lists(&net.birds[1], "10.2.0.0/26");
        if l == ["244.0.0.1", "244.0.0.1"] {
            Ok(())
        } else {
            Err(format!("{l:?}"))
        }
    });
    // The reflectors learned client 2's route once each, from client 2: the copy from the other reflector was
    // dropped by the cluster-list loop check.
    for rr in &net.rrs {
        let r = rr.get("/routes?prefix=10.2.0.0/26");
        let paths = r[0]["paths"].as_array().cloned().unwrap_or_default();
        assert_eq!(paths.len(), 1, "{}: {r}", rr.name);
        assert_eq!(paths[0]["from"], "127.0.10.2", "{r}");
    }
}

#[test]
fn same_cluster_id_disjoint_clients_do_not_see_each_other() {
    require(&["bird"]);
    // The topology trap of projectcalico/calico#2735: clients on different reflectors sharing a cluster id.
    // RFC 4456 section 8 makes rr2 drop client 2's route (its own cluster id is in the CLUSTER_LIST).
    let net = build(11, ["244.0.0.1", "244.0.0.1"], &[0], &[1]);
    wait_for("rr2 got client 3's route", T, || {
        // An absent prefix is an error ("no route for ..."): retry until it is there.
        let r = net.rrs[1].try_get("/routes?prefix=10.3.0.0/26")?;
        if r.as_array().is_some_and(|a| !a.is_empty()) {
            Ok(())
        } else {
            Err(r.to_string())
        }
    });
    // Give reflection time to happen if it (wrongly) would.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        net.birds[1].bgp_routes("10.2.0.0/26").is_empty(),
        "client 3 must not get client 2's route"
    );
    assert!(
        net.birds[0].bgp_routes("10.3.0.0/26").is_empty(),
        "client 2 must not get client 3's route"
    );
    let r = net.rrs[1].try_get("/routes?prefix=10.2.0.0/26");
    assert!(
        r.as_ref().is_err_and(|e| e.contains("no route for 10.2.0.0/26")),
        "rr2 must drop the looped route: {r:?}"
    );
}
