//! The embedding API on virtual time: local routes, Loc-RIB change outputs, identity changes.

mod harness;

use std::time::Duration;

use bgp_wire::{AttrValue, Message};
use harness::*;
use rr_core::attrs::{Origin, RouteAttrs};
use rr_core::{EngineConfig, OriginateError, PeerId, Prefix, Role, State};

const AS: u32 = 64512;

fn pfx(s: &str) -> Prefix {
    s.parse().unwrap()
}

/// A reflector with two scripted clients and an eBGP peer, sessions up, initial tables drained.
fn net() -> (Net, usize, usize, usize, usize) {
    let mut net = Net::default();
    let mut cfg = EngineConfig::new(v4("10.0.0.1"), AS);
    cfg.cluster_id = Some(v4("1.1.1.1"));
    cfg.selection_deferral = None;
    let rr = net.add_engine("10.0.0.1", cfg);
    let c1 = net.add_script("10.0.0.11", AS, "10.0.0.11", modern_caps(AS));
    let c2 = net.add_script("10.0.0.12", AS, "10.0.0.12", modern_caps(AS));
    let x = net.add_script("10.0.0.21", 65001, "10.0.0.21", modern_caps(65001));
    net.peer(rr, c1, Role::RrClient, |_| {});
    net.peer(rr, c2, Role::RrClient, |_| {});
    net.peer(rr, x, Role::Ebgp, |_| {});
    for s in [c1, c2, x] {
        assert!(net.script(s).established);
        net.take_updates(s);
    }
    (net, rr, c1, c2, x)
}

fn local_attrs(nh: &str) -> RouteAttrs {
    RouteAttrs::new(Origin::Igp, Some(ip(nh)))
}

#[test]
fn a_local_route_goes_to_every_peer_as_our_own_and_its_withdrawal_follows() {
    let (mut net, rr, c1, c2, x) = net();
    let now = net.now;
    let mut attrs = local_attrs("10.0.0.99");
    // Reflection attributes given by the caller are not sent: the route is ours, not reflected.
    attrs.originator_id = Some(v4("9.9.9.9"));
    attrs.cluster_list = vec![v4("8.8.8.8")];
    net.engine(rr).originate(now, pfx("10.9.0.0/16"), attrs).unwrap();
    net.pump();
    for c in [c1, c2] {
        let got = net.take_updates(c);
        assert_eq!(announced_v4(&got), vec!["10.9.0.0/16"]);
        let u = &got[0];
        assert_eq!(
            u.value(3),
            Some(&AttrValue::NextHop(v4("10.0.0.99"))),
            "next hop as given"
        );
        assert_eq!(
            u.value(5),
            Some(&AttrValue::LocalPref(100)),
            "LOCAL_PREF to internal peers"
        );
        assert_eq!(u.value(9), None, "no ORIGINATOR_ID on our own route");
        assert_eq!(u.value(10), None, "no CLUSTER_LIST on our own route");
    }
    let got = net.take_updates(x);
    assert_eq!(announced_v4(&got), vec!["10.9.0.0/16"]);
    assert_eq!(
        got[0].value(2),
        Some(&AttrValue::AsPath(bgp_wire::AsPath::from_sequence([AS]))),
        "our AS prepended towards eBGP"
    );
    assert_eq!(got[0].value(5), None, "no LOCAL_PREF to an external peer");
    let r = net.engine(rr).route(&pfx("10.9.0.0/16")).unwrap();
    assert_eq!(r.paths[0].peer, PeerId::LOCAL);
    assert_eq!(
        net.engine(rr).local_routes().collect::<Vec<_>>(),
        vec![pfx("10.9.0.0/16")]
    );

    assert!(net.engine(rr).withdraw_local(now, &pfx("10.9.0.0/16")));
    assert!(
        !net.engine(rr).withdraw_local(now, &pfx("10.9.0.0/16")),
        "already withdrawn"
    );
    net.pump();
    for s in [c1, c2, x] {
        let got = net.take_updates(s);
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0]
                .withdrawn
                .iter()
                .map(|n| n.prefix.to_string())
                .collect::<Vec<_>>(),
            vec!["10.9.0.0/16"]
        );
    }
    assert!(net.engine(rr).route(&pfx("10.9.0.0/16")).is_none());
}

#[test]
fn a_local_route_needs_a_next_hop_of_its_family() {
    let (mut net, rr, c1, ..) = net();
    let now = net.now;
    let e = net.engine(rr);
    assert_eq!(
        e.originate(now, pfx("10.9.0.0/16"), local_attrs("2001:db8::1")),
        Err(OriginateError::NextHop(pfx("10.9.0.0/16")))
    );
    assert_eq!(
        e.originate(now, pfx("10.9.0.0/16"), RouteAttrs::new(Origin::Igp, None)),
        Err(OriginateError::NextHop(pfx("10.9.0.0/16")))
    );
    net.pump();
    assert!(net.take_updates(c1).is_empty());
    assert_eq!(net.engine(rr).local_routes().count(), 0);
}

#[test]
fn loc_rib_changes_are_reported_once_asked_for() {
    let (mut net, rr, c1, c2, _) = net();
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24"], "10.0.0.11", vec![])),
    );
    assert!(net.enode(rr).loc_changes.is_empty(), "off by default");
    let p1 = net.engine(rr).peer_by_addr(ip("10.0.0.11")).unwrap();
    let p2 = net.engine(rr).peer_by_addr(ip("10.0.0.12")).unwrap();

    // Turning it on reports the table as it is.
    net.engine(rr).set_loc_rib_events(true);
    net.pump();
    let seen = |net: &mut Net| -> Vec<(String, Option<PeerId>)> {
        let Node::Engine(e) = &mut net.nodes[rr] else {
            unreachable!()
        };
        e.loc_changes
            .drain(..)
            .map(|(p, b)| (p.to_string(), b.map(|b| b.peer)))
            .collect()
    };
    assert_eq!(seen(&mut net), vec![("10.1.0.0/24".into(), Some(p1))]);

    // A better path from c2 (LOCAL_PREF 200) becomes best; a worse one would not be reported.
    net.script_send(
        c2,
        Message::Update(announce(
            &["10.1.0.0/24"],
            "10.0.0.12",
            vec![AttrValue::LocalPref(200)],
        )),
    );
    assert_eq!(seen(&mut net), vec![("10.1.0.0/24".into(), Some(p2))]);
    net.script_send(
        c1,
        Message::Update(announce(
            &["10.1.0.0/24"],
            "10.0.0.11",
            vec![AttrValue::LocalPref(50)],
        )),
    );
    assert_eq!(seen(&mut net), vec![], "the best path did not change");

    // A change and its reversal inside one batch are not reported.
    net.script_deliver_now(c2, Message::Update(withdraw(&["10.1.0.0/24"])));
    net.script_deliver_now(
        c2,
        Message::Update(announce(
            &["10.1.0.0/24"],
            "10.0.0.12",
            vec![AttrValue::LocalPref(200)],
        )),
    );
    net.pump();
    assert_eq!(seen(&mut net), vec![]);

    net.script_send(c2, Message::Update(withdraw(&["10.1.0.0/24"])));
    assert_eq!(seen(&mut net), vec![("10.1.0.0/24".into(), Some(p1))]);
    net.script_send(c1, Message::Update(withdraw(&["10.1.0.0/24"])));
    assert_eq!(seen(&mut net), vec![("10.1.0.0/24".into(), None)]);

    // Local routes are Loc-RIB changes too.
    let now = net.now;
    net.engine(rr)
        .originate(now, pfx("10.9.0.0/16"), local_attrs("10.0.0.1"))
        .unwrap();
    net.pump();
    assert_eq!(seen(&mut net), vec![("10.9.0.0/16".into(), Some(PeerId::LOCAL))]);

    net.engine(rr).set_loc_rib_events(false);
    net.engine(rr).withdraw_local(now, &pfx("10.9.0.0/16"));
    net.pump();
    assert_eq!(seen(&mut net), vec![], "off again");
}

#[test]
fn a_cluster_id_change_resends_with_the_new_cluster_list_and_keeps_sessions() {
    let (mut net, rr, c1, c2, _) = net();
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24"], "10.0.0.11", vec![])),
    );
    let got = net.take_updates(c2);
    assert_eq!(
        got[0].value(10),
        Some(&AttrValue::ClusterList(vec![v4("1.1.1.1")]))
    );
    take_refreshes(&mut net, c1);
    let now = net.now;
    net.engine(rr)
        .set_identity(now, v4("10.0.0.1"), AS, Some(v4("2.2.2.2")))
        .unwrap();
    net.pump();
    assert!(net.enode(rr).down.is_empty(), "no session reset");
    let got = net.take_updates(c2);
    assert_eq!(announced_v4(&got), vec!["10.1.0.0/24"], "re-sent");
    assert_eq!(
        got[0].value(10),
        Some(&AttrValue::ClusterList(vec![v4("2.2.2.2")]))
    );
    assert_eq!(
        take_refreshes(&mut net, c1),
        vec![0, 0],
        "routes asked again for the loop check"
    );
}

#[test]
fn a_router_id_change_resets_every_session_and_reopens_with_the_new_id() {
    let (mut net, rr, c1, c2, x) = net();
    let now = net.now;
    net.engine(rr)
        .set_identity(now, v4("10.0.0.100"), AS, Some(v4("1.1.1.1")))
        .unwrap();
    net.pump();
    assert_eq!(net.enode(rr).down.len(), 3, "every session reset");
    net.run_for(Duration::from_secs(120));
    for s in [c1, c2, x] {
        assert!(net.script(s).established);
        let opens = net.opens_received(s);
        assert_eq!(opens.last().unwrap().bgp_id.addr(), v4("10.0.0.100"));
    }
    assert_eq!(
        net.engine(rr).set_identity(now, v4("0.0.0.0"), AS, None),
        Err(rr_core::ConfigError::Identity)
    );
}

#[test]
fn an_as_change_resets_only_the_peers_that_use_the_engine_as() {
    let mut net = Net::default();
    let mut cfg = EngineConfig::new(v4("10.0.0.1"), AS);
    cfg.selection_deferral = None;
    let rr = net.add_engine("10.0.0.1", cfg);
    let c1 = net.add_script("10.0.0.11", AS, "10.0.0.11", modern_caps(AS));
    let x = net.add_script("10.0.0.21", 65001, "10.0.0.21", modern_caps(65001));
    net.peer(rr, c1, Role::RrClient, |c| c.local_as = Some(AS));
    let px = net.peer(rr, x, Role::Ebgp, |_| {});
    let now = net.now;
    net.engine(rr)
        .set_identity(now, v4("10.0.0.1"), 64999, None)
        .unwrap();
    net.pump();
    let down: Vec<PeerId> = net.enode(rr).down.iter().map(|d| d.0).collect();
    assert_eq!(down, vec![px]);
    net.run_for(Duration::from_secs(120));
    assert_eq!(net.opens_received(x).last().unwrap().asn(), 64999);
    assert!(net.engine(rr).peers().all(|p| p.state == State::Established));
}
