//! Route policy end to end: BGPFilters named by a BGPPeer's `filters` applied on the wire to real BIRD
//! clients (an export filter hiding one node's blocks from some clients, an import filter dropping a node's
//! blocks for everyone, both edited live without a session reset), and `nextHopMode` / `keepOriginalNextHop`
//! towards an external BIRD router; and one filter case with a GoBGP client.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::bird::{Bird, BirdNeighbor, BirdSpec};
use common::gobgp::Gobgp;
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, require, wait_for};

const T: Duration = Duration::from_secs(40);

fn has(b: &Bird, prefix: &str) -> bool {
    !b.bgp_routes(prefix).is_empty()
}

/// Waits until every `(client, prefix, present)` holds.
fn wait_routes(what: &str, want: &[(&Bird, &str, bool)]) {
    wait_for(what, T, || {
        let wrong: Vec<String> = want
            .iter()
            .filter(|(b, p, present)| has(b, p) != *present)
            .map(|(b, p, present)| format!("{} {} {p}", b.spec.name, if *present { "lacks" } else { "has" }))
            .collect();
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("; "))
        }
    });
}

fn transitions(rr: &Rr, name: &str) -> u64 {
    rr.peer(name)
        .and_then(|p| p["established_transitions"].as_u64())
        .unwrap_or_default()
}

fn client(b: u8, n: u8, rr_ip: Ipv4Addr, rr_port: u16) -> BirdSpec {
    let port = free_port("127.0.0.1");
    let mut spec = BirdSpec::client(n, port, 64512);
    spec.addr = Ipv4Addr::new(127, 0, b, n);
    spec.name = format!("bird{b}-{n}");
    spec.routes6 = vec![];
    spec.neighbors
        .push(BirdNeighbor::new("rr1", rr_ip, rr_port, 64512));
    spec
}

fn filter(name: &str, lists: &str) -> String {
    format!(
        "---\napiVersion: projectcalico.org/v3\nkind: BGPFilter\nmetadata: {{name: {name}}}\nspec:\n{lists}"
    )
}

/// node3 and node4 peer with the reflector through a BGPPeer naming filters; node2 through the usual one.
/// `hide-node2` (export) hides node2's block from node3 and node4; `drop-node4` (import) drops node4's block
/// at the reflector, so nobody gets it. Then both are edited live.
#[test]
fn bgp_filters_on_the_wire_and_edited_live() {
    require(&["bird"]);
    const B: u8 = 18;
    let rr_ip = Ipv4Addr::new(127, 0, B, 1);
    let rr_port = free_port("127.0.0.1");
    let specs: Vec<BirdSpec> = (2..=4).map(|n| client(B, n, rr_ip, rr_port)).collect();
    let mut topo = Topology::calico_rr(rr_port);
    topo.peers[0].1 = "{nodeSelector: \"!has(filtered)\", peerSelector: route-reflector == 'true'}".into();
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    for s in &specs {
        let n = NodeDef::client(&format!("node{}", s.addr.octets()[3]), s.addr, s.port);
        topo.nodes.push(if s.addr.octets()[3] == 2 {
            n
        } else {
            n.label("filtered", "true")
        });
    }
    let filtered_peer = |filters: &str| {
        (
            "filtered-clients".to_string(),
            format!(
                "{{nodeSelector: filtered == 'true', peerSelector: route-reflector == 'true', filters: [{filters}]}}"
            ),
        )
    };
    topo.peers.push(filtered_peer(""));
    let hide2 = filter(
        "hide-node2",
        "  exportV4:\n    - {action: Reject, matchOperator: In, cidr: 10.2.0.0/16}\n",
    );
    let drop4 = filter(
        "drop-node4",
        "  importV4:\n    - {action: Reject, matchOperator: Equal, cidr: 10.4.0.0/26}\n",
    );
    let rr = Rr::start("rr1", &(topo.yaml() + &hide2 + &drop4), &[]);
    let birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    let [b2, b3, b4] = [&birds[0], &birds[1], &birds[2]];
    for n in ["node2", "node3", "node4"] {
        rr.wait_established(n, T);
    }
    // No filter named yet: everyone has everyone's block.
    wait_routes(
        "full mesh of routes",
        &[
            (b2, "10.3.0.0/26", true),
            (b2, "10.4.0.0/26", true),
            (b3, "10.2.0.0/26", true),
            (b3, "10.4.0.0/26", true),
            (b4, "10.2.0.0/26", true),
            (b4, "10.3.0.0/26", true),
        ],
    );
    let before: Vec<u64> = ["node2", "node3", "node4"]
        .iter()
        .map(|n| transitions(&rr, n))
        .collect();

    // Name both filters.
    topo.peers.pop();
    topo.peers.push(filtered_peer("hide-node2, drop-node4"));
    rr.write_yaml(&(topo.yaml() + &hide2 + &drop4));
    wait_routes(
        "filters applied",
        &[
            (b3, "10.2.0.0/26", false),
            (b4, "10.2.0.0/26", false),
            (b2, "10.4.0.0/26", false),
            (b3, "10.4.0.0/26", false),
        ],
    );
    let p3 = rr.peer("node3").expect("node3");
    assert_eq!(
        (p3["import_rules"].as_u64(), p3["export_rules"].as_u64()),
        (Some(1), Some(1)),
        "{p3}"
    );
    // What the filters do not name is untouched.
    assert!(has(b2, "10.3.0.0/26") && has(b4, "10.3.0.0/26"));
    // The import filter drops node4's block at the reflector, which still holds it in the Adj-RIB-In.
    match rr.try_get("/routes?prefix=10.4.0.0/26") {
        Err(e) => assert!(e.contains("no route"), "{e}"),
        Ok(r) => panic!("10.4.0.0/26 is in the Loc-RIB: {r}"),
    }
    let p4 = rr.peer("node4").expect("node4");
    assert_eq!(p4["prefixes_received"], 1, "kept in the Adj-RIB-In: {p4}");
    let updates_from_4 = p4["updates_received"].clone();

    // Edit the filters live: hide node3's block instead of node2's, and make drop-node4 drop nothing (the
    // loosened import filter re-evaluates the kept routes: node4 sends nothing again).
    let hide3 = filter(
        "hide-node2",
        "  exportV4:\n    - {action: Reject, matchOperator: In, cidr: 10.3.0.0/16}\n",
    );
    let drop_none = filter(
        "drop-node4",
        "  importV4:\n    - {action: Reject, matchOperator: Equal, cidr: 10.99.0.0/26}\n",
    );
    rr.write_yaml(&(topo.yaml() + &hide3 + &drop_none));
    wait_routes(
        "filters edited",
        &[
            (b4, "10.2.0.0/26", true),
            (b3, "10.2.0.0/26", true),
            (b4, "10.3.0.0/26", false),
            (b2, "10.4.0.0/26", true),
            (b3, "10.4.0.0/26", true),
        ],
    );
    assert!(has(b2, "10.3.0.0/26"), "node2 is not filtered");
    let after: Vec<u64> = ["node2", "node3", "node4"]
        .iter()
        .map(|n| transitions(&rr, n))
        .collect();
    assert_eq!(before, after, "no session reset");
    // node4 sent nothing since: its route came back from the kept Adj-RIB-In, not from a route refresh.
    let p4 = rr.peer("node4").expect("node4");
    assert_eq!(p4["updates_received"], updates_from_4, "{p4}");
}

/// nextHopMode towards an eBGP router: Keep (and the deprecated keepOriginalNextHop) pass the client's next
/// hop through; Auto, BIRD's default, puts the reflector's address.
#[test]
fn next_hop_mode_towards_an_ebgp_router() {
    require(&["bird"]);
    const B: u8 = 19;
    const EXT_AS: u32 = 64999;
    let rr_ip = Ipv4Addr::new(127, 0, B, 1);
    let rr_port = free_port("127.0.0.1");
    let ext_ip = Ipv4Addr::new(127, 0, B, 9);
    let ext_port = free_port("127.0.0.1");
    let c2 = client(B, 2, rr_ip, rr_port);
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    topo.nodes.push(NodeDef::client("node2", c2.addr, c2.port));
    let tor = |extra: &str| {
        (
            "tor".to_string(),
            format!("{{node: rr1, peerIP: '{ext_ip}:{ext_port}', asNumber: {EXT_AS}{extra}}}"),
        )
    };
    topo.peers.push(tor(", nextHopMode: Keep"));
    let mut ext = BirdSpec::client(9, ext_port, EXT_AS);
    ext.addr = ext_ip;
    ext.name = format!("bird{B}-ext");
    ext.routes4 = vec![];
    ext.routes6 = vec![];
    ext.neighbors
        .push(BirdNeighbor::new("rr1", rr_ip, rr_port, 64512));

    let rr = Rr::start("rr1", &topo.yaml(), &[]);
    let _b2 = Bird::start(c2);
    let ext = Bird::start(ext);
    rr.wait_established("node2", T);
    let ext_name = ext_ip.to_string();
    rr.wait_established(&ext_name, T);
    let next_hop = |want: &str| {
        wait_for(&format!("the router sees next hop {want}"), T, || {
            let r = ext.bgp_routes("10.2.0.0/26");
            match r.first().and_then(|r| r.attr("next_hop")) {
                Some(nh) if nh == want => Ok(()),
                _ => Err(format!("{r:?}")),
            }
        });
    };
    // Keep: the client's own next hop (100.64.0.2), not the reflector's address.
    next_hop("100.64.0.2");
    let r = ext.bgp_routes("10.2.0.0/26");
    assert_eq!(
        r[0].attr("as_path"),
        Some("64512"),
        "eBGP still prepends our AS: {r:?}"
    );
    // Auto (the default): our session address towards eBGP.
    topo.peers.pop();
    topo.peers.push(tor(""));
    rr.write_yaml(&topo.yaml());
    next_hop(&rr_ip.to_string());
    // The deprecated keepOriginalNextHop means Keep on an eBGP session.
    topo.peers.pop();
    topo.peers.push(tor(", keepOriginalNextHop: true"));
    rr.write_yaml(&topo.yaml());
    next_hop("100.64.0.2");
    // The client (iBGP, Auto) got nothing rewritten either way: there is nothing from the router to check,
    // so check the reflector's unhonoured list no longer names the next hop settings.
    assert!(
        !rr.log().contains("spec.keepOriginalNextHop") && !rr.log().contains("spec.nextHopMode"),
        "{}",
        rr.log()
    );
}

/// A GoBGP client behind a filter (next hops outside 127/8): its block 10.51/16 is dropped on import until the
/// filter is edited, and node2's block is sent to it with a priority set by the export filter (LOCAL_PREF
/// `2147483647 - 512`).
#[test]
fn a_filter_with_a_gobgp_client() {
    require(&["bird", "gobgpd"]);
    const B: u8 = 20;
    let rr_ip = Ipv4Addr::new(127, 0, B, 1);
    let rr_port = free_port("127.0.0.1");
    let c2 = client(B, 2, rr_ip, rr_port);
    let gobgp_ip = Ipv4Addr::new(127, 0, B, 5);
    let gobgp_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.peers[0].1 = "{nodeSelector: \"!has(filtered)\", peerSelector: route-reflector == 'true'}".into();
    topo.peers.push((
        "filtered-clients".into(),
        "{nodeSelector: filtered == 'true', peerSelector: route-reflector == 'true', filters: [gobgp-policy]}".into(),
    ));
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    topo.nodes.push(NodeDef::client("node2", c2.addr, c2.port));
    topo.nodes
        .push(NodeDef::client("node5", gobgp_ip, gobgp_port).label("filtered", "true"));
    let export = "  exportV4:\n    - {action: Accept, matchOperator: In, cidr: 10.2.0.0/16, \
                  operations: [{setPriority: {value: 512}}]}\n";
    let strict = filter(
        "gobgp-policy",
        &format!("{export}  importV4:\n    - {{action: Reject, matchOperator: In, cidr: 10.51.0.0/16}}\n"),
    );
    let rr = Rr::start("rr1", &(topo.yaml() + &strict), &[]);
    let b2 = Bird::start(c2);
    let gobgp = Gobgp::start(
        &format!("gobgp{B}"),
        gobgp_ip,
        gobgp_port,
        64512,
        &[(rr_ip, rr_port)],
    );
    rr.wait_established("node2", T);
    rr.wait_established("node5", T);
    // 10.50.0.0/26 goes second on the session: once node2 has it, the reflector has processed 10.51.0.0/26.
    gobgp.announce("10.51.0.0/26", "100.64.20.5", 2_147_482_623);
    gobgp.announce("10.50.0.0/26", "100.64.20.5", 2_147_482_623);
    wait_for("node2 has 10.50.0.0/26 with GoBGP's next hop", T, || {
        let r = b2.bgp_routes("10.50.0.0/26");
        match r.first().and_then(|r| r.attr("next_hop")) {
            Some("100.64.20.5") => Ok(()),
            _ => Err(format!("{r:?}")),
        }
    });
    wait_for(
        "GoBGP has node2's block with the priority set by the export filter",
        T,
        || {
            let p = gobgp.learned("10.2.0.0/26");
            match p.first() {
                Some(p) if p.local_pref == Some(2_147_483_647 - 512) => Ok(()),
                _ => Err(format!("{p:?}")),
            }
        },
    );
    wait_for("the reflector holds both GoBGP paths", T, || {
        let p = rr.peer("node5").expect("node5");
        (p["prefixes_received"] == 2).then_some(()).ok_or(p.to_string())
    });
    assert!(!has(&b2, "10.51.0.0/26"), "import filter");
    let before = (transitions(&rr, "node2"), transitions(&rr, "node5"));

    // Drop the import rule: the kept path is accepted and reflected.
    rr.write_yaml(&(topo.yaml() + &filter("gobgp-policy", export)));
    wait_routes("import rule removed", &[(&b2, "10.51.0.0/26", true)]);
    assert_eq!(
        before,
        (transitions(&rr, "node2"), transitions(&rr, "node5")),
        "no session reset"
    );
}
