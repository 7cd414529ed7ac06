//! Peering scenarios as table tests: resources + identity in, the expected session list out.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use datastore::identity::Identity;
use datastore::model::{AsNumber, NextHopMode, SourceAddress};
use datastore::peering::{
    DesiredSession, PeeringTracker, SessionOrigin, SessionRole, compute, significant_change,
    snapshot_significantly_changed,
};
use datastore::{Resource, Snapshot, parse_manifests};

fn snap(yaml: &str) -> Snapshot {
    let (resources, invalid) = parse_manifests("test.yaml", yaml);
    assert!(invalid.is_empty(), "fixture has invalid documents: {invalid:?}");
    Snapshot::from_resources(resources)
}

fn node(name: &str, labels: &str, bgp: &str) -> String {
    format!(
        "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: {name}\n  labels: {{{labels}}}\nspec:\n  bgp: {{{bgp}}}\n"
    )
}

fn peer(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: {name}\nspec: {{{spec}}}\n"
    )
}

fn config(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata:\n  name: {name}\nspec: {{{spec}}}\n"
    )
}

const NO_MESH: &str = "nodeToNodeMeshEnabled: false";

/// One line per session: `ip:port role as<remote> local<local> origin` (`origin~` for reverse peerings).
fn show(s: &DesiredSession) -> String {
    let origin = match &s.origin {
        SessionOrigin::BgpPeer { name, reverse: true } => format!("{name}~"),
        SessionOrigin::BgpPeer { name, reverse: false } => name.clone(),
        SessionOrigin::NodeMesh => "mesh".to_string(),
        other => format!("{other:?}"),
    };
    let addr = if s.peer_ip.is_ipv6() {
        format!("[{}]", s.peer_ip)
    } else {
        s.peer_ip.to_string()
    };
    format!(
        "{addr}:{} {} as{} local{} {origin}",
        s.peer_port, s.role, s.remote_as, s.local_as
    )
}

fn sessions(snap: &Snapshot, id: &Identity) -> Vec<String> {
    compute(snap, id).sessions.iter().map(show).collect()
}

fn id(name: &str) -> Identity {
    Identity::named(name)
}

fn documented_setup() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/reflector-setup.yaml"
    ))
    .unwrap()
}

#[test]
fn documented_in_cluster_reflector_setup() {
    let s = snap(&documented_setup());
    let table: &[(&str, &[&str])] = &[
        (
            "rr-1",
            &[
                "10.0.0.2:179 reflector-mesh as64512 local64512 peer-with-route-reflectors",
                "10.0.0.11:179 rr-client as64512 local64512 peer-with-route-reflectors~",
                "10.0.0.12:179 rr-client as64512 local64512 peer-with-route-reflectors~",
                "10.0.0.13:179 rr-client as64512 local64512 peer-with-route-reflectors~",
            ],
        ),
        (
            "rr-2",
            &[
                "10.0.0.1:179 reflector-mesh as64512 local64512 peer-with-route-reflectors",
                "10.0.0.11:179 rr-client as64512 local64512 peer-with-route-reflectors~",
                "10.0.0.12:179 rr-client as64512 local64512 peer-with-route-reflectors~",
                "10.0.0.13:179 rr-client as64512 local64512 peer-with-route-reflectors~",
            ],
        ),
        // A client's own view (no cluster id): plain iBGP to both reflectors.
        (
            "node-1",
            &[
                "10.0.0.1:179 ibgp as64512 local64512 peer-with-route-reflectors",
                "10.0.0.2:179 ibgp as64512 local64512 peer-with-route-reflectors",
            ],
        ),
    ];
    for (me, want) in table {
        let p = compute(&s, &id(me));
        assert_eq!(p.sessions.iter().map(show).collect::<Vec<_>>(), *want, "as {me}");
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        for sess in &p.sessions {
            assert!(!sess.options.passive, "node-scoped peerings are never passive");
            assert_eq!(sess.local_ip.to_string(), p.local.ipv4.unwrap().to_string());
        }
    }
}

#[test]
fn global_peerings_between_calico_nodes_wait_on_the_higher_address_side() {
    // confd: a global BGPPeer whose peer is a Calico node is passive where the peer address sorts higher;
    // node-scoped and reverse peerings (a reflector's sessions to its clients) stay active on both ends.
    let s = snap(
        &(config("default", NO_MESH)
            + &node(
                "rr-1",
                "route-reflector: 'true'",
                "ipv4Address: 10.0.0.1/24, routeReflectorClusterID: 244.0.0.1",
            )
            + &node(
                "rr-2",
                "route-reflector: 'true'",
                "ipv4Address: 10.0.0.2/24, routeReflectorClusterID: 244.0.0.1",
            )
            + &node("node-1", "", "ipv4Address: 10.0.0.11/24")
            + &peer("rr-mesh", "peerSelector: route-reflector == 'true'")
            + &peer("external", "peerIP: 10.0.0.200, asNumber: 64512")),
    );
    let passive = |me: &str| -> Vec<(String, bool)> {
        compute(&s, &id(me))
            .sessions
            .iter()
            .map(|x| (x.peer_ip.to_string(), x.options.passive))
            .collect()
    };
    let own =
        |v: &[(&str, bool)]| -> Vec<(String, bool)> { v.iter().map(|(a, b)| (a.to_string(), *b)).collect() };
    // rr-1: rr-2 (a node, higher address) connects to us; the external router is not a node: we connect.
    assert_eq!(
        passive("rr-1"),
        own(&[("10.0.0.2", true), ("10.0.0.11", false), ("10.0.0.200", false)])
    );
    assert_eq!(
        passive("rr-2"),
        own(&[("10.0.0.1", false), ("10.0.0.11", false), ("10.0.0.200", false)])
    );
    // node-1 peers with both reflectors through the global BGPPeer. As strings "10.0.0.1" < "10.0.0.11" <
    // "10.0.0.2": node-1 connects to rr-1 and waits for rr-2 (which, seeing a reverse peering, connects).
    assert_eq!(
        passive("node-1"),
        own(&[("10.0.0.1", false), ("10.0.0.2", true), ("10.0.0.200", false)])
    );
}

#[test]
fn global_peer_pointing_at_a_standalone_reflector() {
    let base = config("default", NO_MESH)
        + &node("n1", "", "ipv4Address: 10.1.0.1/24")
        + &node("n2", "", "ipv4Address: 10.1.0.2/24, asNumber: 64512")
        + &node("n3", "", "ipv4Address: 10.1.0.3/24, asNumber: 65009")
        + &peer("to-rr", "peerIP: 10.1.0.100, asNumber: 64512");
    let s = snap(&base);
    let standalone = Identity {
        node_name: "rr-standalone".into(),
        ipv4: Some(Ipv4Addr::new(10, 1, 0, 100)),
        cluster_id: Some(Ipv4Addr::new(244, 0, 0, 9)),
        ..Identity::default()
    };
    // Every node holds the global peering, so every node is a client; n3 speaks its own AS.
    let want = [
        "10.1.0.1:179 rr-client as64512 local64512 to-rr~",
        "10.1.0.2:179 rr-client as64512 local64512 to-rr~",
        "10.1.0.3:179 ebgp as65009 local64512 to-rr~",
    ];
    assert_eq!(sessions(&s, &standalone), want);
    let p = compute(&s, &standalone);
    assert!(!p.local.has_node);
    assert_eq!(p.local.router_id(), Some(Ipv4Addr::new(10, 1, 0, 100)));

    // Configured with another AS, the peering (AS 64512) does not point at us.
    let other_as = Identity {
        as_number: Some(AsNumber(65000)),
        ..standalone.clone()
    };
    assert!(sessions(&s, &other_as).is_empty());

    // Without a configured AS the standalone adopts the AS the peering names (as the old container did).
    let s2 = snap(
        &(config("default", NO_MESH)
            + &node("n1", "", "ipv4Address: 10.1.0.1/24")
            + &peer("to-rr", "peerIP: 10.1.0.100, asNumber: 65123")),
    );
    assert_eq!(
        sessions(&s2, &standalone),
        ["10.1.0.1:179 ebgp as64512 local65123 to-rr~"]
    );

    // A standalone reflector is never in the node-to-node mesh.
    let s3 = snap(&(node("n1", "", "ipv4Address: 10.1.0.1/24") + &peer("to-rr", "peerIP: 10.1.0.100")));
    assert_eq!(
        sessions(&s3, &standalone),
        ["10.1.0.1:179 rr-client as64512 local64512 to-rr~"]
    );
}

#[test]
fn node_specific_peers() {
    let s = snap(
        &(config("default", NO_MESH)
            + &node(
                "rr",
                "",
                "ipv4Address: 10.2.0.1/24, routeReflectorClusterID: 244.0.0.1",
            )
            + &node("n1", "", "ipv4Address: 10.2.0.11/24")
            + &node("n2", "", "ipv4Address: 10.2.0.12/24")
            + &node("n3", "", "ipv4Address: 10.2.0.13/24")
            + &peer("n1-to-rr", "node: n1, peerIP: 10.2.0.1, asNumber: 64512")
            + &peer("n2-to-rr", "node: n2, peerIP: 10.2.0.1")
            + &peer("n3-elsewhere", "node: n3, peerIP: 10.2.0.200, asNumber: 64512")
            + &peer("rr-edge", "node: rr, peerIP: 198.51.100.1, asNumber: 65100")
            + &peer("n1-edge", "node: n1, peerIP: 198.51.100.2, asNumber: 65100")),
    );
    assert_eq!(
        sessions(&s, &id("rr")),
        [
            "10.2.0.11:179 rr-client as64512 local64512 n1-to-rr~",
            "10.2.0.12:179 rr-client as64512 local64512 n2-to-rr~",
            "198.51.100.1:179 ebgp as65100 local64512 rr-edge",
        ]
    );
    assert_eq!(
        sessions(&s, &id("n1")),
        [
            "10.2.0.1:179 ibgp as64512 local64512 n1-to-rr",
            "198.51.100.2:179 ebgp as65100 local64512 n1-edge"
        ]
    );
}

#[test]
fn two_reflectors_sharing_a_cluster_id_form_a_non_client_mesh() {
    let s = snap(
        &(config("default", NO_MESH)
            + &node(
                "rr-a",
                "rr: 'yes'",
                "ipv4Address: 10.3.0.1/24, routeReflectorClusterID: 244.0.0.1",
            )
            + &node(
                "rr-b",
                "rr: 'yes'",
                "ipv4Address: 10.3.0.2/24, routeReflectorClusterID: 244.0.0.1",
            )
            + &node("c1", "", "ipv4Address: 10.3.0.11/24")
            + &peer("rr-mesh", "nodeSelector: has(rr), peerSelector: has(rr)")
            + &peer("clients", "nodeSelector: '!has(rr)', peerSelector: has(rr)")),
    );
    for (me, other) in [("rr-a", "10.3.0.2"), ("rr-b", "10.3.0.1")] {
        let got = sessions(&s, &id(me));
        assert_eq!(
            got,
            [
                format!("{other}:179 reflector-mesh as64512 local64512 rr-mesh"),
                "10.3.0.11:179 rr-client as64512 local64512 clients~".to_string(),
            ],
            "as {me}"
        );
    }
}

#[test]
fn separate_reflector_groups_fall_out_of_the_data() {
    let mut y = config("default", NO_MESH);
    for (rr, ip, cid, group) in [
        ("rr-a1", "10.4.1.1", "244.0.0.1", "a"),
        ("rr-a2", "10.4.1.2", "244.0.0.1", "a"),
        ("rr-b1", "10.4.2.1", "244.0.0.2", "b"),
        ("rr-b2", "10.4.2.2", "244.0.0.2", "b"),
    ] {
        y += &node(
            rr,
            &format!("rr-group: {group}"),
            &format!("ipv4Address: {ip}/16, routeReflectorClusterID: {cid}"),
        );
    }
    for (n, ip, rack) in [
        ("r1n1", "10.4.1.11", "1"),
        ("r1n2", "10.4.1.12", "1"),
        ("r2n1", "10.4.2.11", "2"),
    ] {
        y += &node(n, &format!("rack: '{rack}'"), &format!("ipv4Address: {ip}/16"));
    }
    y += &peer(
        "rack1",
        "nodeSelector: rack == '1', peerSelector: rr-group == 'a'",
    );
    y += &peer(
        "rack2",
        "nodeSelector: rack == '2', peerSelector: rr-group == 'b'",
    );
    y += &peer(
        "reflectors",
        "nodeSelector: has(rr-group), peerSelector: has(rr-group)",
    );
    let s = snap(&y);
    assert_eq!(
        sessions(&s, &id("rr-a1")),
        [
            "10.4.1.2:179 reflector-mesh as64512 local64512 reflectors",
            "10.4.1.11:179 rr-client as64512 local64512 rack1~",
            "10.4.1.12:179 rr-client as64512 local64512 rack1~",
            "10.4.2.1:179 rr-client as64512 local64512 reflectors",
            "10.4.2.2:179 rr-client as64512 local64512 reflectors",
        ]
    );
    assert_eq!(
        sessions(&s, &id("rr-b2")),
        [
            "10.4.1.1:179 rr-client as64512 local64512 reflectors",
            "10.4.1.2:179 rr-client as64512 local64512 reflectors",
            "10.4.2.1:179 reflector-mesh as64512 local64512 reflectors",
            "10.4.2.11:179 rr-client as64512 local64512 rack2~",
        ]
    );
    assert_eq!(
        sessions(&s, &id("r2n1")),
        [
            "10.4.2.1:179 ibgp as64512 local64512 rack2",
            "10.4.2.2:179 ibgp as64512 local64512 rack2"
        ]
    );
}

#[test]
fn external_ebgp_edge_router_with_port_and_options() {
    let s = snap(
        &(config("default", "nodeToNodeMeshEnabled: false, asNumber: 64600")
            + &node(
                "rr",
                "route-reflector: 'true'",
                "ipv4Address: 10.5.0.1/24, routeReflectorClusterID: 244.0.0.1",
            )
            + &peer(
                "edge",
                "nodeSelector: route-reflector == 'true', peerIP: '192.0.2.10:1179', asNumber: 65200, \
                 password: {secretKeyRef: {name: bgp-secrets, key: edge}}, keepaliveTime: 10s, \
                 maxRestartTime: 2m0s, ttlSecurity: 1, nextHopMode: Keep, numAllowedLocalASNumbers: 1, \
                 sourceAddress: None, filters: [f1, f2], reachableBy: 10.5.0.254",
            )
            + &peer(
                "edge-v6",
                "node: rr, peerIP: '[2001:db8::10]:1179', asNumber: 65200, keepOriginalNextHop: true",
            )
            + &peer(
                "tor",
                "node: rr, peerIP: 192.0.2.20, asNumber: 64600, keepOriginalNextHop: true",
            )
            + &peer(
                "local-as",
                "node: rr, peerIP: 192.0.2.30, asNumber: 65300, localASNumber: 65300",
            )),
    );
    let p = compute(&s, &id("rr"));
    let got: Vec<String> = p.sessions.iter().map(show).collect();
    assert_eq!(
        got,
        [
            "192.0.2.10:1179 ebgp as65200 local64600 edge",
            "192.0.2.20:179 rr-client as64600 local64600 tor",
            // localASNumber makes this iBGP from our side, and we reflect for it.
            "192.0.2.30:179 rr-client as65300 local65300 local-as",
        ]
    );
    // The IPv6 peer needs a local IPv6 address: warned, not created.
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("IPv6") && w.contains("2001:db8::10")),
        "{:?}",
        p.warnings
    );
    let o = &p.sessions[0].options;
    let r = o.password.as_ref().unwrap();
    assert_eq!((r.name.as_str(), r.key.as_str()), ("bgp-secrets", "edge"));
    assert_eq!(o.keepalive_time, Some(Duration::from_secs(10)));
    assert_eq!(o.restart_time, Some(Duration::from_secs(120)));
    assert_eq!(o.ttl_security, Some(1));
    assert_eq!(o.next_hop_mode, Some(NextHopMode::Keep));
    assert_eq!(o.num_allowed_local_as, Some(1));
    assert_eq!(o.source_address, SourceAddress::None);
    assert_eq!(o.filters, ["f1", "f2"]);
    assert_eq!(
        o.reachable_by.map(|a| a.to_string()).as_deref(),
        Some("10.5.0.254")
    );
    assert!(!o.passive);
    assert_eq!(p.sessions[0].peer_node, None);
    // keepOriginalNextHop only applies to eBGP.
    assert_eq!(p.sessions[1].options.next_hop_mode, None);
}

#[test]
fn external_ibgp_router_without_cluster_id_is_a_plain_non_client() {
    let s = snap(
        &(config("default", NO_MESH)
            + &node("n", "", "ipv4Address: 10.6.0.1/24")
            + &peer("tor", "peerIP: 10.6.0.254, asNumber: 64512")),
    );
    assert_eq!(
        sessions(&s, &id("n")),
        ["10.6.0.254:179 external-ibgp as64512 local64512 tor"]
    );
}

#[test]
fn ipv6_only_and_dual_stack_nodes() {
    let y = config("default", NO_MESH)
        + &node(
            "rr",
            "rr: 'y'",
            "ipv4Address: 10.7.0.1/24, ipv6Address: 'fd00:7::1/64', routeReflectorClusterID: 244.0.0.1",
        )
        + &node("v6only", "", "ipv6Address: 'fd00:7::11/64'")
        + &node(
            "dual",
            "",
            "ipv4Address: 10.7.0.12/24, ipv6Address: 'fd00:7::12/64'",
        )
        + &node("v4only", "", "ipv4Address: 10.7.0.13/24")
        + &peer("to-rr", "nodeSelector: '!has(rr)', peerSelector: has(rr)")
        + &peer("v4-pin", "node: v4only, peerIP: 10.7.0.1, asNumber: 64512");
    let s = snap(&y);
    let p = compute(&s, &id("rr"));
    assert_eq!(
        p.sessions.iter().map(show).collect::<Vec<_>>(),
        [
            "10.7.0.12:179 rr-client as64512 local64512 to-rr~",
            "10.7.0.13:179 rr-client as64512 local64512 to-rr~",
            "[fd00:7::11]:179 rr-client as64512 local64512 to-rr~",
            "[fd00:7::12]:179 rr-client as64512 local64512 to-rr~",
        ]
    );
    for sess in &p.sessions {
        assert_eq!(sess.local_ip.is_ipv6(), sess.peer_ip.is_ipv6());
    }
    // The same reflector without an IPv6 address keeps only IPv4 sessions and warns about the rest.
    let s4 = snap(&y.replace(", ipv6Address: 'fd00:7::1/64'", ""));
    let p4 = compute(&s4, &id("rr"));
    assert_eq!(
        p4.sessions.iter().map(show).collect::<Vec<_>>(),
        [
            "10.7.0.12:179 rr-client as64512 local64512 to-rr~",
            "10.7.0.13:179 rr-client as64512 local64512 to-rr~"
        ]
    );
    assert_eq!(
        p4.warnings.iter().filter(|w| w.contains("no local IPv6")).count(),
        2,
        "{:?}",
        p4.warnings
    );
    // An IPv6-only reflector peering by peerIP reverses only over IPv6.
    let s6 = snap(
        &(config("default", NO_MESH)
            + &node(
                "rr6",
                "",
                "ipv6Address: 'fd00:7::1/64', routeReflectorClusterID: 244.0.0.1",
            )
            + &node(
                "dual",
                "",
                "ipv4Address: 10.7.0.12/24, ipv6Address: 'fd00:7::12/64'",
            )
            + &peer("to-rr6", "peerIP: 'fd00:7::1', asNumber: 64512")),
    );
    assert_eq!(
        sessions(&s6, &id("rr6")),
        ["[fd00:7::12]:179 rr-client as64512 local64512 to-rr6~"]
    );
}

#[test]
fn node_without_an_ip_gives_a_warning_not_a_session() {
    let s = snap(
        &(config("default", NO_MESH)
            + &node(
                "rr",
                "rr: 'y'",
                "ipv4Address: 10.8.0.1/24, routeReflectorClusterID: 244.0.0.1",
            )
            + "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: bare}\n"
            + &node("ok", "", "ipv4Address: 10.8.0.2/24")
            + &peer("to-rr", "nodeSelector: all(), peerSelector: has(rr)")),
    );
    let p = compute(&s, &id("rr"));
    assert_eq!(
        p.sessions.iter().map(show).collect::<Vec<_>>(),
        ["10.8.0.2:179 rr-client as64512 local64512 to-rr~"]
    );
    assert!(
        p.warnings.iter().any(|w| w.contains("\"bare\"")),
        "{:?}",
        p.warnings
    );
    // Our own node without an address: no sessions, a warning.
    let p = compute(&s, &id("bare"));
    assert!(p.sessions.is_empty());
    assert!(
        p.warnings.iter().any(|w| w.contains("no IPv4 or IPv6 address")),
        "{:?}",
        p.warnings
    );
    // An unknown node name with nothing configured.
    let p = compute(&s, &id("ghost"));
    assert!(p.sessions.is_empty() && !p.warnings.is_empty());
}

#[test]
fn as_mismatch_is_not_a_client() {
    let s = snap(
        &(config("default", NO_MESH)
            + &node("rr", "rr: 'y'", "ipv4Address: 10.9.0.1/24, routeReflectorClusterID: 244.0.0.1")
            + &node("same", "", "ipv4Address: 10.9.0.2/24")
            + &node("other", "", "ipv4Address: 10.9.0.3/24, asNumber: 65001")
            + &node("pinned", "", "ipv4Address: 10.9.0.4/24")
            + &peer("sel", "nodeSelector: all(), peerSelector: has(rr)")
            // Names our IP with an AS we do not have: does not point at us.
            + &peer("wrong-as", "node: pinned, peerIP: 10.9.0.1, asNumber: 65099")),
    );
    assert_eq!(
        sessions(&s, &id("rr")),
        [
            "10.9.0.2:179 rr-client as64512 local64512 sel~",
            "10.9.0.3:179 ebgp as65001 local64512 sel~",
            "10.9.0.4:179 rr-client as64512 local64512 sel~",
        ]
    );
    let p = compute(&s, &id("rr"));
    assert!(!p.sessions[1].role.is_client() && p.sessions[1].role.is_ebgp());
}

#[test]
fn gaining_and_losing_a_cluster_id() {
    let with = |cid: &str| {
        snap(
            &(config("default", "asNumber: 64512")
                + &node("x", "rr: 'y'", &format!("ipv4Address: 10.10.0.5/24{cid}"))
                + &node("a", "", "ipv4Address: 10.10.0.2/24")
                + &node("b", "", "ipv4Address: 10.10.0.9/24")
                + &node(
                    "other-rr",
                    "",
                    "ipv4Address: 10.10.0.7/24, routeReflectorClusterID: 244.0.0.7",
                )
                + &peer("to-rr", "nodeSelector: '!has(rr)', peerSelector: has(rr)")),
        )
    };
    // Without a cluster id (mesh enabled): plain iBGP sessions from the BGPPeer; they take the mesh's place.
    let plain = Arc::new(with(""));
    let p = compute(&plain, &id("x"));
    assert_eq!(
        p.sessions.iter().map(show).collect::<Vec<_>>(),
        [
            "10.10.0.2:179 ibgp as64512 local64512 to-rr~",
            "10.10.0.7:179 ibgp as64512 local64512 to-rr~",
            "10.10.0.9:179 ibgp as64512 local64512 to-rr~",
        ]
    );
    let s_mesh = snap(
        &(config("default", "asNumber: 64512")
            + &node("x", "", "ipv4Address: 10.10.0.5/24")
            + &node("a", "", "ipv4Address: 10.10.0.2/24")
            + &node("b", "", "ipv4Address: 10.10.0.9/24")
            + &node(
                "other-rr",
                "",
                "ipv4Address: 10.10.0.7/24, routeReflectorClusterID: 244.0.0.7",
            )),
    );
    let pm = compute(&s_mesh, &id("x"));
    assert_eq!(
        pm.sessions.iter().map(show).collect::<Vec<_>>(),
        [
            "10.10.0.2:179 node-mesh as64512 local64512 mesh",
            "10.10.0.9:179 node-mesh as64512 local64512 mesh"
        ]
    );
    // The side whose address sorts higher waits.
    assert!(
        !pm.sessions[0].options.passive,
        "10.10.0.2 < 10.10.0.5: we connect"
    );
    assert!(pm.sessions[1].options.passive, "10.10.0.9 > 10.10.0.5: we wait");

    // Gaining a cluster id: out of the mesh, every peer becomes a client.
    let rr = Arc::new(with(", routeReflectorClusterID: 244.0.0.5"));
    assert_eq!(
        sessions(&rr, &id("x")),
        [
            "10.10.0.2:179 rr-client as64512 local64512 to-rr~",
            "10.10.0.7:179 rr-client as64512 local64512 to-rr~",
            "10.10.0.9:179 rr-client as64512 local64512 to-rr~",
        ]
    );
    // The tracker recomputes on each change and reports the new list; losing the id restores the old one.
    let mut t = PeeringTracker::new();
    let first = t.update(&plain, &id("x")).map(|s| s.len());
    assert_eq!(first, Some(3));
    assert!(
        t.update(&plain, &id("x")).is_none(),
        "same snapshot: nothing to do"
    );
    let roles: Vec<SessionRole> = t.update(&rr, &id("x")).unwrap().iter().map(|s| s.role).collect();
    assert!(roles.iter().all(|r| r.is_client()));
    let back: Vec<SessionRole> = t
        .update(&Arc::new(with("")), &id("x"))
        .unwrap()
        .iter()
        .map(|s| s.role)
        .collect();
    assert!(back.iter().all(|r| *r == SessionRole::NonClientIbgp));
    assert_eq!(t.recomputations(), 3);
}

#[test]
fn mesh_ports_and_listen_port_overrides() {
    let s = snap(
        &(config("default", "listenPort: 1234")
            + &config("node.a", "listenPort: 1790")
            + &node("me", "", "ipv4Address: 10.11.0.1/24")
            + &node("a", "", "ipv4Address: 10.11.0.2/24")
            + &node("b", "", "ipv4Address: 10.11.0.3/24")
            + &peer("to-a", "node: me, peerIP: 10.11.0.2, asNumber: 64512")
            + &peer("to-b-port", "node: me, peerIP: '10.11.0.3:2000', asNumber: 64512")),
    );
    // peerIP without a port takes the Calico node's listen port; explicit peerings beat the mesh.
    assert_eq!(
        sessions(&s, &id("me")),
        [
            "10.11.0.2:1790 ibgp as64512 local64512 to-a",
            "10.11.0.3:1234 node-mesh as64512 local64512 mesh",
            "10.11.0.3:2000 ibgp as64512 local64512 to-b-port",
        ]
    );
    assert_eq!(compute(&s, &id("me")).local.listen_port, 1234);
    assert_eq!(compute(&s, &id("a")).local.listen_port, 1790);
    // A reverse peering only applies when the port in peerIP is ours.
    let s2 = snap(
        &(config("default", NO_MESH)
            + &node(
                "rr",
                "",
                "ipv4Address: 10.11.0.1/24, routeReflectorClusterID: 244.0.0.1",
            )
            + &node("c", "", "ipv4Address: 10.11.0.5/24")
            + &peer("right-port", "node: c, peerIP: '10.11.0.1:179', asNumber: 64512")
            + &node("d", "", "ipv4Address: 10.11.0.6/24")
            + &peer("wrong-port", "node: d, peerIP: '10.11.0.1:1790', asNumber: 64512")),
    );
    assert_eq!(
        sessions(&s2, &id("rr")),
        ["10.11.0.5:179 rr-client as64512 local64512 right-port~"]
    );
}

#[test]
fn first_writer_wins_and_no_self_peering() {
    let s = snap(
        &(config("default", NO_MESH)
            + &node("rr", "rr: 'y'", "ipv4Address: 10.12.0.1/24, routeReflectorClusterID: 244.0.0.1")
            + &node("c", "", "ipv4Address: 10.12.0.2/24")
            // Global and node-scoped peerings to the same address: the global one is emitted first.
            + &peer("z-global", "peerIP: 192.0.2.50, asNumber: 65050")
            + &peer("a-node", "node: rr, peerIP: 192.0.2.50, asNumber: 65051")
            // Two node-scoped peerings to the same address: name order decides.
            + &peer("b-first", "node: rr, peerIP: 192.0.2.60, asNumber: 65060")
            + &peer("c-second", "node: rr, peerIP: 192.0.2.60, asNumber: 65061")
            // An explicit forward peering to c beats the implicit reverse of c's selector peering.
            + &peer("c-to-rr", "node: c, peerSelector: has(rr)")
            + &peer("rr-to-c", "node: rr, peerIP: 10.12.0.2, asNumber: 64512, keepaliveTime: 7s")
            // A peering that names our own address is not a session with ourselves.
            + &peer("self", "node: rr, peerIP: 10.12.0.1, asNumber: 64512")),
    );
    let p = compute(&s, &id("rr"));
    assert_eq!(
        p.sessions.iter().map(show).collect::<Vec<_>>(),
        [
            "10.12.0.2:179 rr-client as64512 local64512 rr-to-c",
            "192.0.2.50:179 ebgp as65050 local64512 z-global",
            "192.0.2.60:179 ebgp as65060 local64512 b-first",
        ]
    );
    assert_eq!(p.sessions[0].options.keepalive_time, Some(Duration::from_secs(7)));
}

#[test]
fn manual_reverse_peering_is_not_generated() {
    let y = |mode: &str| {
        snap(
            &(config("default", NO_MESH)
                + &node(
                    "rr",
                    "rr: 'y'",
                    "ipv4Address: 10.13.0.1/24, routeReflectorClusterID: 244.0.0.1",
                )
                + &node("c", "", "ipv4Address: 10.13.0.2/24")
                + &peer(
                    "c-to-rr",
                    &format!("node: c, peerSelector: has(rr), reversePeering: {mode}"),
                )),
        )
    };
    assert_eq!(
        sessions(&y("Auto"), &id("rr")),
        ["10.13.0.2:179 rr-client as64512 local64512 c-to-rr~"]
    );
    assert!(sessions(&y("Manual"), &id("rr")).is_empty());
}

#[test]
fn reverse_peering_uses_the_forward_local_as() {
    let s = snap(
        &(config("default", NO_MESH)
            + &node(
                "rr",
                "",
                "ipv4Address: 10.14.0.1/24, routeReflectorClusterID: 244.0.0.1",
            )
            + &node("c", "", "ipv4Address: 10.14.0.2/24")
            + &peer(
                "c-to-rr",
                "node: c, peerIP: 10.14.0.1, asNumber: 64512, localASNumber: 65444",
            )),
    );
    assert_eq!(
        sessions(&s, &id("rr")),
        ["10.14.0.2:179 ebgp as65444 local64512 c-to-rr~"]
    );
}

#[test]
fn significant_changes_only() {
    let base = documented_setup();
    let a = snap(&base);
    let annotated = snap(&base.replace("name: node-1\n", "name: node-1\n      annotations: {note: x}\n"));
    assert!(
        !snapshot_significantly_changed(&a, &annotated),
        "annotations do not matter"
    );
    let pool = snap(&base.replace("192.168.0.0/16", "192.169.0.0/16"));
    assert!(
        !snapshot_significantly_changed(&a, &pool),
        "IP pools do not matter"
    );
    let log = snap(&base.replace("logSeverityScreen: Info", "logSeverityScreen: Debug"));
    assert!(
        !snapshot_significantly_changed(&a, &log),
        "log level does not matter"
    );
    for changed in [
        base.replace("10.0.0.13/24", "10.0.0.14/24"),
        base.replace("kubernetes.io/hostname: node-3", "kubernetes.io/hostname: node-x"),
        base.replace(
            "routeReflectorClusterID: 244.0.0.1\n  - apiVersion",
            "routeReflectorClusterID: 244.0.0.2\n  - apiVersion",
        ),
        base.replace("asNumber: 64512", "asNumber: 64513"),
        base.replace("nodeToNodeMeshEnabled: false", "nodeToNodeMeshEnabled: true"),
        base.replace("route-reflector == 'true'", "has(route-reflector)"),
        base.replace("name: node-2\n", "name: node-2b\n"),
    ] {
        assert!(snapshot_significantly_changed(&a, &snap(&changed)), "{changed}");
    }
    let n = |y: &str| parse_manifests("x", y).0.remove(0);
    let n1 = n(&node("n", "a: b", "ipv4Address: 10.0.0.1/24"));
    let mut n1_annotated = n1.clone();
    n1_annotated
        .metadata_mut()
        .annotations
        .insert("k".into(), "v".into());
    assert!(!significant_change(Some(&n1), Some(&n1_annotated)));
    assert!(significant_change(
        Some(&n1),
        Some(&n(&node("n", "a: c", "ipv4Address: 10.0.0.1/24")))
    ));
    assert!(significant_change(None, Some(&n1)));
    assert!(significant_change(Some(&n1), None));
    let pool = Resource::from(datastore::conformance::sample_pool("p").unwrap());
    assert!(!significant_change(None, Some(&pool)));
}

#[test]
fn shared_cluster_id_with_disjoint_clients_is_flagged() {
    use datastore::peering::shared_cluster_id_warnings;
    // The documented setup: both reflectors serve every client. Fine.
    assert!(shared_cluster_id_warnings(&snap(&documented_setup())).is_empty());
    // Racks pinned to different reflectors that share a cluster id: the calico#2735 trap.
    let s = snap(
        &(config("default", NO_MESH)
            + &node(
                "rr-1",
                "rr: '1'",
                "ipv4Address: 10.20.0.1/24, routeReflectorClusterID: 244.0.0.1",
            )
            + &node(
                "rr-2",
                "rr: '2'",
                "ipv4Address: 10.20.0.2/24, routeReflectorClusterID: 244.0.0.1",
            )
            + &node("a", "rack: '1'", "ipv4Address: 10.20.0.11/24")
            + &node("b", "rack: '2'", "ipv4Address: 10.20.0.12/24")
            + &node("c", "rack: '3'", "ipv4Address: 10.20.0.13/24")
            + &peer("rack1", "nodeSelector: rack == '1', peerSelector: rr == '1'")
            + &peer("rack2", "nodeSelector: rack == '2', peerSelector: rr == '2'")
            + &peer("rack3", "nodeSelector: rack == '3', peerSelector: has(rr)")),
    );
    let w = shared_cluster_id_warnings(&s);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].cluster_id, Ipv4Addr::new(244, 0, 0, 1));
    assert_eq!(w[0].reflectors, ["rr-1", "rr-2"]);
    assert_eq!(w[0].partial_clients, ["a", "b"]);
    assert!(w[0].to_string().contains("244.0.0.1"));
    // Different cluster ids per reflector: no trap.
    let fixed = snap(
        &(config("default", NO_MESH)
            + &node(
                "rr-1",
                "rr: '1'",
                "ipv4Address: 10.20.0.1/24, routeReflectorClusterID: 244.0.0.1",
            )
            + &node(
                "rr-2",
                "rr: '2'",
                "ipv4Address: 10.20.0.2/24, routeReflectorClusterID: 244.0.0.2",
            )
            + &node("a", "rack: '1'", "ipv4Address: 10.20.0.11/24")
            + &peer("rack1", "nodeSelector: rack == '1', peerSelector: rr == '1'")),
    );
    assert!(shared_cluster_id_warnings(&fixed).is_empty());
}
