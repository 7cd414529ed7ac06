//! Peering computation at scale: 5000 nodes and 3000 BGPPeers (confd once burned CPU at ~2600 BGPPeers).
//!
//! Run: `cargo bench -p benches --bench peering`.
//!
//! The data set is the documented reflector setup grown large: 5000 nodes spread over 50 racks, two
//! reflectors per rack with a per-rack cluster id, a selector peering from each rack to its reflectors
//! (50 BGPPeers), a reflector mesh peering, and 2949 node-specific peerings (per-node edge routers and
//! explicit pins to reflectors), for 3000 BGPPeers in all.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use datastore::identity::Identity;
use datastore::model::{
    AsNumber, BgpConfiguration, BgpPeer, Metadata, Node, NodeAddress, NodeBgpSpec, PeerIp,
};
use datastore::peering::{PeeringTracker, compute, snapshot_significantly_changed};
use datastore::{Resource, Snapshot};

const NODES: usize = 5000;
const RACKS: usize = 50;
const PEERS: usize = 3000;

fn ip(n: usize) -> String {
    format!("10.{}.{}.{}", 100 + n / 65536, (n / 256) % 256, n % 256)
}

fn build() -> Snapshot {
    let mut rs: Vec<Resource> = Vec::new();
    let mut cfg = BgpConfiguration::new("default");
    cfg.spec.node_to_node_mesh_enabled = Some(false);
    cfg.spec.as_number = Some(AsNumber(64512));
    rs.push(cfg.into());
    for i in 0..NODES {
        let rack = i % RACKS;
        let is_rr = i < RACKS * 2;
        let mut labels = vec![("rack".to_string(), format!("r{rack}"))];
        if is_rr {
            labels.push(("route-reflector".to_string(), "true".to_string()));
        }
        let mut n = Node {
            metadata: Metadata::with_labels(format!("node-{i}"), labels),
            ..Node::default()
        };
        n.spec.bgp = Some(NodeBgpSpec {
            ipv4_address: format!("{}/16", ip(i)).parse::<NodeAddress>().ok(),
            route_reflector_cluster_id: is_rr.then(|| std::net::Ipv4Addr::new(244, 0, 0, rack as u8 + 1)),
            ..NodeBgpSpec::default()
        });
        rs.push(n.into());
    }
    let mut peers = 0;
    for rack in 0..RACKS {
        let mut p = BgpPeer::new(format!("rack-{rack}"));
        p.spec.node_selector = format!("rack == 'r{rack}' && !has(route-reflector)").parse().ok();
        p.spec.peer_selector = format!("rack == 'r{rack}' && route-reflector == 'true'")
            .parse()
            .ok();
        rs.push(p.into());
        peers += 1;
    }
    let mut mesh = BgpPeer::new("reflector-mesh");
    mesh.spec.node_selector = "route-reflector == 'true'".parse().ok();
    mesh.spec.peer_selector = "route-reflector == 'true'".parse().ok();
    rs.push(mesh.into());
    peers += 1;
    let mut k = 0;
    while peers < PEERS {
        let node = RACKS * 2 + k;
        let mut p = BgpPeer::new(format!("pin-{k}"));
        p.spec.node = Some(format!("node-{node}"));
        if k % 2 == 0 {
            // Explicit pin from a client to its rack's first reflector.
            p.spec.peer_ip = ip(node % RACKS).parse::<PeerIp>().ok();
            p.spec.as_number = Some(AsNumber(64512));
        } else {
            p.spec.peer_ip = format!("192.0.{}.{}:1179", (k / 256) % 256, k % 256)
                .parse::<PeerIp>()
                .ok();
            p.spec.as_number = Some(AsNumber(65000 + (k % 100) as u32));
        }
        rs.push(p.into());
        peers += 1;
        k += 1;
    }
    Snapshot::from_resources(rs)
}

fn bench(c: &mut Criterion) {
    let snap = Arc::new(build());
    assert_eq!(snap.nodes.len(), NODES);
    assert_eq!(snap.peers.len(), PEERS);
    let rr = Identity::named("node-0");
    let client = Identity::named(format!("node-{}", RACKS * 2 + 7));
    let p = compute(&snap, &rr);
    assert!(
        p.sessions.len() > NODES / RACKS,
        "a reflector has its rack's clients: {}",
        p.sessions.len()
    );

    let mut g = c.benchmark_group("peering_5000_nodes_3000_bgppeers");
    g.sample_size(20);
    g.bench_function("compute_reflector", |b| {
        b.iter(|| black_box(compute(black_box(&snap), &rr)))
    });
    g.bench_function("compute_client", |b| {
        b.iter(|| black_box(compute(black_box(&snap), &client)))
    });
    let mut edited = (*snap).clone();
    if let Some(n) = edited.nodes.get_mut("node-4999") {
        n.metadata.annotations.insert("note".into(), "irrelevant".into());
    }
    g.bench_function("significance_check", |b| {
        b.iter(|| {
            black_box(snapshot_significantly_changed(
                black_box(&snap),
                black_box(&edited),
            ))
        })
    });
    let edited = Arc::new(edited);
    g.bench_function("tracker_insignificant_update", |b| {
        let mut t = PeeringTracker::new();
        t.update(&snap, &rr);
        b.iter(|| black_box(t.update(&edited, &rr).is_some()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
