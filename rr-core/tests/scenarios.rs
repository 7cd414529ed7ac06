//! Multi-speaker scenarios on virtual time (see `harness`).

mod harness;

use std::time::Duration;

use bgp_wire::{AfiSafi, AttrValue, Capability, Community, Message, Update};
use bytes::Bytes;
use harness::*;
use rr_core::best_path::Step;
use rr_core::{DownReason, EngineConfig, Prefix, Role, State};

const AS: u32 = 64512;

fn rr_cfg(rid: &str, cluster: &str) -> EngineConfig {
    let mut c = EngineConfig::new(v4(rid), AS);
    c.cluster_id = Some(v4(cluster));
    c
}

fn pfx(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn value(u: &Update, code: u8) -> Option<&AttrValue> {
    u.value(code)
}

/// A reflector with two scripted clients, both sessions up and the initial End-of-RIBs drained.
fn two_clients() -> (Net, usize, usize, usize) {
    let mut net = Net::default();
    let rr = net.add_engine("10.0.0.1", rr_cfg("10.0.0.1", "1.1.1.1"));
    let c1 = net.add_script("10.0.0.11", AS, "10.0.0.11", modern_caps(AS));
    let c2 = net.add_script("10.0.0.12", AS, "10.0.0.12", modern_caps(AS));
    net.peer(rr, c1, Role::RrClient, |_| {});
    net.peer(rr, c2, Role::RrClient, |_| {});
    assert!(net.script(c1).established && net.script(c2).established);
    for c in [c1, c2] {
        let eors: Vec<_> = net
            .take_updates(c)
            .iter()
            .filter_map(Update::end_of_rib)
            .collect();
        assert_eq!(
            eors,
            vec![AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST],
            "initial table ends with EoR"
        );
    }
    (net, rr, c1, c2)
}

#[test]
fn client_routes_are_reflected_with_rfc4456_attributes() {
    let (mut net, rr, c1, c2) = two_clients();
    let extra = vec![
        AttrValue::LocalPref(200),
        AttrValue::MultiExitDisc(5),
        AttrValue::Communities(vec![Community(0xFDE8_0001)]),
    ];
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24", "10.1.1.0/24"], "10.0.0.11", extra)),
    );
    let got = net.take_updates(c2);
    assert_eq!(got.len(), 1, "both prefixes packed in one UPDATE");
    let u = &got[0];
    assert_eq!(announced_v4(&got), vec!["10.1.0.0/24", "10.1.1.0/24"]);
    assert_eq!(value(u, 1), Some(&AttrValue::Origin(bgp_wire::Origin::Igp)));
    assert_eq!(
        value(u, 2),
        Some(&AttrValue::AsPath(bgp_wire::AsPath::new())),
        "AS_PATH untouched"
    );
    assert_eq!(
        value(u, 3),
        Some(&AttrValue::NextHop(v4("10.0.0.11"))),
        "NEXT_HOP untouched"
    );
    assert_eq!(value(u, 4), Some(&AttrValue::MultiExitDisc(5)));
    assert_eq!(
        value(u, 5),
        Some(&AttrValue::LocalPref(200)),
        "LOCAL_PREF untouched"
    );
    assert_eq!(
        value(u, 8),
        Some(&AttrValue::Communities(vec![Community(0xFDE8_0001)]))
    );
    assert_eq!(
        value(u, 9),
        Some(&AttrValue::OriginatorId(v4("10.0.0.11"))),
        "ORIGINATOR_ID set"
    );
    assert_eq!(
        value(u, 10),
        Some(&AttrValue::ClusterList(vec![v4("1.1.1.1")])),
        "cluster id prepended"
    );
    assert!(
        net.take_updates(c1).is_empty(),
        "never sent back to the originator"
    );
    let r = net.engine(rr).route(&pfx("10.1.0.0/24")).unwrap();
    assert_eq!(r.deciding_step, Step::OnlyPath);
    assert_eq!(r.paths.len(), 1);
}

#[test]
fn withdrawals_propagate() {
    let (mut net, rr, c1, c2) = two_clients();
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24", "10.1.1.0/24"], "10.0.0.11", vec![])),
    );
    assert_eq!(
        announced_v4(&net.take_updates(c2)),
        vec!["10.1.0.0/24", "10.1.1.0/24"]
    );
    net.script_send(c1, Message::Update(withdraw(&["10.1.0.0/24"])));
    let got = net.take_updates(c2);
    assert_eq!(got.len(), 1);
    let w: Vec<String> = got[0].withdrawals().map(|(_, n)| n.prefix.to_string()).collect();
    assert_eq!(w, vec!["10.1.0.0/24"]);
    assert_eq!(net.engine(rr).loc_rib_len(), 1);
    assert!(net.engine(rr).route(&pfx("10.1.0.0/24")).is_none());
}

#[test]
fn best_path_change_withdraws_from_the_new_source() {
    let (mut net, rr, c1, c2) = two_clients();
    net.script_send(
        c1,
        Message::Update(announce(&["10.9.0.0/24"], "10.0.0.11", vec![])),
    );
    assert_eq!(announced_v4(&net.take_updates(c2)), vec!["10.9.0.0/24"]);
    // c2 announces the same prefix with a higher LOCAL_PREF: it becomes best; c2 must not keep
    // c1's path from us, and c1 now receives c2's.
    net.script_send(
        c2,
        Message::Update(announce(
            &["10.9.0.0/24"],
            "10.0.0.12",
            vec![AttrValue::LocalPref(300)],
        )),
    );
    let to_c2 = net.take_updates(c2);
    assert_eq!(to_c2.len(), 1);
    assert_eq!(to_c2[0].withdrawals().count(), 1);
    let to_c1 = net.take_updates(c1);
    assert_eq!(value(&to_c1[0], 3), Some(&AttrValue::NextHop(v4("10.0.0.12"))));
    let r = net.engine(rr).route(&pfx("10.9.0.0/24")).unwrap();
    assert_eq!(r.deciding_step, Step::LocalPref);
}

/// Two reflectors meshed as non-clients (both connect: collision detection picks one session),
/// each with one scripted client.
fn two_reflectors(cluster1: &str, cluster2: &str) -> (Net, usize, usize, usize, usize) {
    let mut net = Net::default();
    let r1 = net.add_engine("10.0.0.1", rr_cfg("10.0.0.1", cluster1));
    let r2 = net.add_engine("10.0.0.2", rr_cfg("10.0.0.2", cluster2));
    let c1 = net.add_script("10.0.0.11", AS, "10.0.0.11", modern_caps(AS));
    let c2 = net.add_script("10.0.0.12", AS, "10.0.0.12", modern_caps(AS));
    net.peer(r1, r2, Role::NonClient, |_| {});
    net.peer(r2, r1, Role::NonClient, |_| {});
    net.peer(r1, c1, Role::RrClient, |_| {});
    net.peer(r2, c2, Role::RrClient, |_| {});
    net.run_for(Duration::from_secs(1));
    for e in [r1, r2] {
        let states: Vec<State> = net.engine(e).peers().map(|p| p.state).collect();
        assert_eq!(states, vec![State::Established, State::Established]);
    }
    net.take_updates(c1);
    net.take_updates(c2);
    (net, r1, r2, c1, c2)
}

#[test]
fn reflectors_in_one_cluster_drop_each_others_reflections() {
    let (mut net, r1, r2, c1, c2) = two_reflectors("1.1.1.1", "1.1.1.1");
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24"], "10.0.0.11", vec![])),
    );
    net.run_for(Duration::from_secs(1));
    assert!(
        net.take_updates(c2).is_empty(),
        "same cluster: the reflection is a loop"
    );
    assert!(net.engine(r2).route(&pfx("10.1.0.0/24")).is_none());
    let looped: u64 = net.engine(r2).peers().map(|p| p.stats.looped_paths).sum();
    assert_eq!(looped, 1);
    assert!(net.engine(r1).route(&pfx("10.1.0.0/24")).is_some());
    assert!(net.take_updates(c1).is_empty());
}

#[test]
fn reflectors_in_two_clusters_pass_routes_without_echo() {
    let (mut net, r1, _r2, c1, c2) = two_reflectors("1.1.1.1", "2.2.2.2");
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24"], "10.0.0.11", vec![])),
    );
    net.run_for(Duration::from_secs(1));
    let got = net.take_updates(c2);
    assert_eq!(announced_v4(&got), vec!["10.1.0.0/24"]);
    assert_eq!(value(&got[0], 9), Some(&AttrValue::OriginatorId(v4("10.0.0.11"))));
    assert_eq!(
        value(&got[0], 10),
        Some(&AttrValue::ClusterList(vec![v4("2.2.2.2"), v4("1.1.1.1")]))
    );
    assert_eq!(value(&got[0], 3), Some(&AttrValue::NextHop(v4("10.0.0.11"))));
    // r2 learned it from a non-client: clients only, so nothing goes back to r1.
    let r2_id = net.engine(r1).peer_by_addr(ip("10.0.0.2")).unwrap();
    assert_eq!(
        net.engine(r1).adj_rib_in(r2_id).count(),
        0,
        "no echo to the originating reflector"
    );
    assert!(net.take_updates(c1).is_empty());
}

#[test]
fn non_client_routes_reach_clients_only() {
    let mut net = Net::default();
    let rr = net.add_engine("10.0.0.1", rr_cfg("10.0.0.1", "1.1.1.1"));
    let c1 = net.add_script("10.0.0.11", AS, "10.0.0.11", modern_caps(AS));
    let n1 = net.add_script("10.0.0.21", AS, "10.0.0.21", modern_caps(AS));
    let n2 = net.add_script("10.0.0.22", AS, "10.0.0.22", modern_caps(AS));
    net.peer(rr, c1, Role::RrClient, |_| {});
    net.peer(rr, n1, Role::NonClient, |_| {});
    net.peer(rr, n2, Role::NonClient, |_| {});
    for n in [c1, n1, n2] {
        net.take_updates(n);
    }
    net.script_send(
        n1,
        Message::Update(announce(&["10.2.0.0/24"], "10.0.0.21", vec![])),
    );
    let to_c1 = net.take_updates(c1);
    assert_eq!(announced_v4(&to_c1), vec!["10.2.0.0/24"]);
    assert_eq!(
        value(&to_c1[0], 9),
        Some(&AttrValue::OriginatorId(v4("10.0.0.21")))
    );
    assert!(
        net.take_updates(n2).is_empty(),
        "non-client to non-client is not reflected"
    );
    assert!(net.take_updates(n1).is_empty());
    // A client route goes to every non-client.
    net.script_send(
        c1,
        Message::Update(announce(&["10.3.0.0/24"], "10.0.0.11", vec![])),
    );
    assert_eq!(announced_v4(&net.take_updates(n1)), vec!["10.3.0.0/24"]);
    assert_eq!(announced_v4(&net.take_updates(n2)), vec!["10.3.0.0/24"]);
}

#[test]
fn graceful_restart_keeps_stale_routes_until_end_of_rib() {
    let mut net = Net::default();
    let rr = net.add_engine("10.0.0.1", rr_cfg("10.0.0.1", "1.1.1.1"));
    let mut caps = modern_caps(AS);
    caps.push(gr_cap(120, false, true));
    let c1 = net.add_script("10.0.0.11", AS, "10.0.0.11", caps);
    let c2 = net.add_script("10.0.0.12", AS, "10.0.0.12", modern_caps(AS));
    let p1 = net.peer(rr, c1, Role::RrClient, |_| {});
    net.peer(rr, c2, Role::RrClient, |_| {});
    net.take_updates(c2);
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24", "10.1.1.0/24"], "10.0.0.11", vec![])),
    );
    // Its End-of-RIB ends the engine's start-up selection deferral (the other client has no GR).
    net.script_end_of_rib(c1);
    assert_eq!(announced_v4(&net.take_updates(c2)).len(), 2);

    net.script_crash(c1);
    let info = net.engine(rr).peer_info_of(p1).unwrap();
    assert_eq!(info.prefixes_stale, 2, "routes kept as stale");
    let all = net.engine(rr).peers().find(|p| p.id == p1).unwrap();
    assert_eq!(all.prefixes_stale, 2, "the whole-table listing counts the same");
    assert!(
        net.take_updates(c2).is_empty(),
        "no withdrawal while the peer restarts"
    );
    assert!(net.engine(rr).route(&pfx("10.1.0.0/24")).unwrap().paths[0].stale);

    // The client comes back (restarting, forwarding preserved) and re-announces one prefix.
    let mut caps = modern_caps(AS);
    caps.push(gr_cap(120, true, true));
    net.script(c1).caps = caps;
    net.run_for(Duration::from_secs(10));
    assert!(net.script(c1).established);
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24"], "10.0.0.11", vec![])),
    );
    assert!(
        net.engine(rr).route(&pfx("10.1.1.0/24")).is_some(),
        "still stale before EoR"
    );
    net.script_send(
        c1,
        Message::Update(Update::end_of_rib_marker(AfiSafi::IPV4_UNICAST)),
    );
    let got = net.take_updates(c2);
    let w: Vec<String> = got
        .iter()
        .flat_map(|u| u.withdrawals().map(|(_, n)| n.prefix.to_string()))
        .collect();
    assert_eq!(
        w,
        vec!["10.1.1.0/24"],
        "only the route not re-announced is swept at EoR"
    );
    assert_eq!(net.engine(rr).peer_info_of(p1).unwrap().prefixes_stale, 0);
    assert!(net.engine(rr).route(&pfx("10.1.0.0/24")).is_some());
}

#[test]
fn graceful_restart_timer_sweeps_stale_routes() {
    let mut net = Net::default();
    let rr = net.add_engine("10.0.0.1", rr_cfg("10.0.0.1", "1.1.1.1"));
    let mut caps = modern_caps(AS);
    caps.push(gr_cap(60, false, true));
    let c1 = net.add_script("10.0.0.11", AS, "10.0.0.11", caps);
    let c2 = net.add_script("10.0.0.12", AS, "10.0.0.12", modern_caps(AS));
    net.peer(rr, c1, Role::RrClient, |_| {});
    net.peer(rr, c2, Role::RrClient, |_| {});
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24"], "10.0.0.11", vec![])),
    );
    net.script_end_of_rib(c1);
    net.take_updates(c2);
    net.script(c1).accept = false;
    net.script_crash(c1);
    net.run_for(Duration::from_secs(59));
    assert!(net.take_updates(c2).is_empty());
    net.run_for(Duration::from_secs(2));
    let got = net.take_updates(c2);
    assert_eq!(
        got.iter().map(|u| u.withdrawals().count()).sum::<usize>(),
        1,
        "swept at the restart time"
    );
    assert_eq!(net.engine(rr).loc_rib_len(), 0);
}

#[test]
fn route_refresh_resends_the_table() {
    let (mut net, rr, c1, c2) = two_clients();
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24", "10.1.1.0/24"], "10.0.0.11", vec![])),
    );
    net.take_updates(c2);
    net.script_send(c2, refresh_v4());
    let got = net.take_updates(c2);
    assert_eq!(
        announced_v4(&got),
        vec!["10.1.0.0/24", "10.1.1.0/24"],
        "table re-sent"
    );
    // And the other direction: the engine asks a peer to re-send.
    let p1 = net.engine(rr).peer_by_addr(ip("10.0.0.11")).unwrap();
    let now = net.now;
    assert!(net.engine(rr).route_refresh(now, p1));
    net.pump();
    let asked = net
        .script(c1)
        .received
        .iter()
        .filter(|m| matches!(m, Message::RouteRefresh(_)))
        .count();
    assert_eq!(asked, 2, "one ROUTE-REFRESH per negotiated family");
}

#[test]
fn malformed_update_is_treated_as_withdraw_and_session_stays_up() {
    let (mut net, rr, c1, c2) = two_clients();
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24"], "10.0.0.11", vec![])),
    );
    assert_eq!(announced_v4(&net.take_updates(c2)).len(), 1);
    // Same prefix, MULTI_EXIT_DISC with length 3 (RFC 7606 section 7.4: treat-as-withdraw).
    let body: &[u8] = &[
        0, 0, // withdrawn length
        0, 20, // attributes length
        0x40, 1, 1, 0, // ORIGIN IGP
        0x40, 2, 0, // AS_PATH empty
        0x40, 3, 4, 10, 0, 0, 11, // NEXT_HOP
        0x80, 4, 3, 0, 0, 1, // MED, bad length
        24, 10, 1, 0, // 10.1.0.0/24
    ];
    let mut frame = vec![0xff; 16];
    frame.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    frame.push(2);
    frame.extend_from_slice(body);
    net.script_send_raw(c1, Bytes::from(frame));
    let got = net.take_updates(c2);
    assert_eq!(
        got.iter().map(|u| u.withdrawals().count()).sum::<usize>(),
        1,
        "treated as withdraw"
    );
    assert!(net.engine(rr).route(&pfx("10.1.0.0/24")).is_none());
    assert!(net.script(c1).established, "session stays up");
    assert!(
        !net.script(c1)
            .received
            .iter()
            .any(|m| matches!(m, Message::Notification(_)))
    );
    let p1 = net.engine(rr).peer_by_addr(ip("10.0.0.11")).unwrap();
    let info = net.engine(rr).peer_info_of(p1).unwrap();
    assert_eq!(info.state, State::Established);
    assert_eq!(info.stats.treat_as_withdraw, 1);
}

#[test]
fn max_prefix_closes_with_cease_subcode_1() {
    let mut net = Net::default();
    let rr = net.add_engine("10.0.0.1", rr_cfg("10.0.0.1", "1.1.1.1"));
    let c1 = net.add_script("10.0.0.11", AS, "10.0.0.11", modern_caps(AS));
    let c2 = net.add_script("10.0.0.12", AS, "10.0.0.12", modern_caps(AS));
    let p1 = net.peer(rr, c1, Role::RrClient, |c| c.max_prefixes = Some(2));
    net.peer(rr, c2, Role::RrClient, |_| {});
    net.take_updates(c2);
    net.script_send(
        c1,
        Message::Update(announce(
            &["10.1.0.0/24", "10.1.1.0/24", "10.1.2.0/24"],
            "10.0.0.11",
            vec![],
        )),
    );
    let n = net
        .script(c1)
        .received
        .iter()
        .find_map(|m| match m {
            Message::Notification(n) => Some(n.clone()),
            _ => None,
        })
        .expect("notification");
    assert_eq!((n.code, n.subcode), (6, 1));
    assert_eq!(
        &n.data[..],
        &[0, 1, 1, 0, 0, 0, 2],
        "AFI, SAFI, upper bound (RFC 4486)"
    );
    assert!(!net.script(c1).established);
    let down = &net.enode(rr).down;
    assert!(matches!(&down[0], (p, DownReason::NotificationSent(n)) if *p == p1 && n.subcode == 1));
    assert!(
        net.take_updates(c2).is_empty(),
        "over-limit routes never reflected"
    );
    assert_eq!(net.engine(rr).loc_rib_len(), 0);
}

#[test]
fn add_path_sends_every_path_to_capable_clients_and_best_to_others() {
    let mut net = Net::default();
    let rr = net.add_engine("10.0.0.1", rr_cfg("10.0.0.1", "1.1.1.1"));
    let c1 = net.add_script("10.0.0.11", AS, "10.0.0.11", modern_caps(AS));
    let c2 = net.add_script("10.0.0.12", AS, "10.0.0.12", modern_caps(AS));
    let mut caps = modern_caps(AS);
    caps.push(Capability::AddPath(vec![(
        AfiSafi::IPV4_UNICAST,
        bgp_wire::AddPathMode::Receive,
    )]));
    let c3 = net.add_script("10.0.0.13", AS, "10.0.0.13", caps);
    let c4 = net.add_script("10.0.0.14", AS, "10.0.0.14", modern_caps(AS));
    for c in [c1, c2, c3, c4] {
        net.peer(rr, c, Role::RrClient, |p| p.add_path_send_max = Some(usize::MAX));
    }
    for c in [c1, c2, c3, c4] {
        net.take_updates(c);
    }
    net.script_send(
        c1,
        Message::Update(announce(&["10.5.0.0/24"], "10.0.0.11", vec![])),
    );
    net.script_send(
        c2,
        Message::Update(announce(&["10.5.0.0/24"], "10.0.0.12", vec![])),
    );
    let to_c3 = net.take_updates(c3);
    let ids: std::collections::BTreeSet<u32> = to_c3
        .iter()
        .flat_map(|u| u.announced().map(|(_, n)| n.path_id.unwrap()))
        .collect();
    assert_eq!(ids.len(), 2, "both ECMP paths with distinct path ids");
    let to_c4 = net.take_updates(c4);
    let last = to_c4.last().unwrap();
    assert_eq!(
        value(last, 3),
        Some(&AttrValue::NextHop(v4("10.0.0.11"))),
        "best only: lower router id wins"
    );
    assert_eq!(
        net.engine(rr).route(&pfx("10.5.0.0/24")).unwrap().deciding_step,
        Step::RouterId
    );
}

#[test]
fn ebgp_peers_get_the_ebgp_treatment() {
    let mut net = Net::default();
    let rr = net.add_engine("10.0.0.1", rr_cfg("10.0.0.1", "1.1.1.1"));
    let c1 = net.add_script("10.0.0.11", AS, "10.0.0.11", modern_caps(AS));
    let e1 = net.add_script("10.0.0.31", 65001, "10.0.0.31", modern_caps(65001));
    net.peer(rr, c1, Role::RrClient, |_| {});
    net.peer(rr, e1, Role::Ebgp, |_| {});
    net.take_updates(c1);
    net.take_updates(e1);
    let mut u = announce(
        &["10.7.0.0/24"],
        "10.0.0.31",
        vec![AttrValue::MultiExitDisc(9), AttrValue::LocalPref(999)],
    );
    u.attributes[1] =
        bgp_wire::PathAttribute::new(AttrValue::AsPath(bgp_wire::AsPath::from_sequence([65001])));
    net.script_send(e1, Message::Update(u));
    let to_c1 = net.take_updates(c1);
    assert_eq!(
        value(&to_c1[0], 5),
        Some(&AttrValue::LocalPref(100)),
        "LOCAL_PREF added towards iBGP"
    );
    assert_eq!(
        value(&to_c1[0], 9),
        None,
        "eBGP routes are not reflected: no ORIGINATOR_ID"
    );
    net.script_send(
        c1,
        Message::Update(announce(
            &["10.8.0.0/24"],
            "10.0.0.11",
            vec![AttrValue::LocalPref(7)],
        )),
    );
    let to_e1 = net.take_updates(e1);
    let u = &to_e1[0];
    assert_eq!(
        value(u, 2),
        Some(&AttrValue::AsPath(bgp_wire::AsPath::from_sequence([AS]))),
        "AS prepended"
    );
    assert_eq!(
        value(u, 3),
        Some(&AttrValue::NextHop(v4("10.0.0.1"))),
        "next hop self towards eBGP"
    );
    assert_eq!(value(u, 5), None, "no LOCAL_PREF to eBGP");
    assert_eq!(value(u, 9), None);
    assert_eq!(value(u, 10), None);
}

#[test]
fn update_groups_share_one_encoding() {
    let mut net = Net::default();
    let rr = net.add_engine("10.0.0.1", rr_cfg("10.0.0.1", "1.1.1.1"));
    let clients: Vec<usize> = (0..5)
        .map(|i| {
            let a = format!("10.0.0.{}", 11 + i);
            net.add_script(&a, AS, &a, modern_caps(AS))
        })
        .collect();
    for &c in &clients {
        net.peer(rr, c, Role::RrClient, |_| {});
    }
    assert_eq!(net.engine(rr).update_groups(), 1);
    for &c in &clients {
        net.take_updates(c);
    }
    net.script_send(
        clients[0],
        Message::Update(announce(&["10.1.0.0/24"], "10.0.0.11", vec![])),
    );
    for &c in &clients[1..] {
        assert_eq!(announced_v4(&net.take_updates(c)), vec!["10.1.0.0/24"]);
    }
}

#[test]
fn connection_collision_keeps_one_session() {
    let mut net = Net::default();
    let r1 = net.add_engine("10.0.0.1", rr_cfg("10.0.0.1", "1.1.1.1"));
    let r2 = net.add_engine("10.0.0.2", rr_cfg("10.0.0.2", "2.2.2.2"));
    let now = net.now;
    // Configure both sides before any I/O so both connect at once (RFC 4271 section 6.8).
    let p12 = net
        .engine(r1)
        .add_peer(now, rr_core::PeerConfig::new(ip("10.0.0.2"), AS, Role::NonClient))
        .unwrap();
    let p21 = net
        .engine(r2)
        .add_peer(now, rr_core::PeerConfig::new(ip("10.0.0.1"), AS, Role::NonClient))
        .unwrap();
    net.pump();
    // Both connections reached OpenSent; one was closed with Cease 7, the other carries the session.
    net.run_for(Duration::from_secs(300));
    for (e, p) in [(r1, p12), (r2, p21)] {
        let info = net.engine(e).peer_info_of(p).unwrap();
        assert_eq!(info.state, State::Established);
        assert_eq!(
            info.stats.established_transitions, 1,
            "the surviving session never flapped"
        );
    }
    assert!(net.enode(r1).down.is_empty() && net.enode(r2).down.is_empty());
}

#[test]
fn ipv6_routes_are_reflected_through_mp_reach() {
    let (mut net, rr, c1, c2) = two_clients();
    net.script_send(
        c1,
        Message::Update(announce6(
            &["fd00:1::/64", "fd00:2::/64"],
            "fd00::11",
            Some("fe80::11"),
        )),
    );
    let got = net.take_updates(c2);
    assert_eq!(got.len(), 1);
    let m = got[0].mp_reach().expect("MP_REACH_NLRI");
    assert_eq!(m.afi_safi, AfiSafi::IPV6_UNICAST);
    assert_eq!(
        m.next_hop,
        bgp_wire::MpNextHop::Ipv6 {
            global: "fd00::11".parse().unwrap(),
            link_local: Some("fe80::11".parse().unwrap())
        },
        "IPv6 next hops untouched"
    );
    let mut got_p: Vec<String> = m.nlri.iter().map(|n| n.prefix.to_string()).collect();
    got_p.sort();
    assert_eq!(got_p, vec!["fd00:1::/64", "fd00:2::/64"]);
    assert_eq!(value(&got[0], 9), Some(&AttrValue::OriginatorId(v4("10.0.0.11"))));
    net.script_send(c1, Message::Update(withdraw6(&["fd00:1::/64"])));
    let got = net.take_updates(c2);
    let w: Vec<String> = got
        .iter()
        .flat_map(|u| u.withdrawals().map(|(_, n)| n.prefix.to_string()))
        .collect();
    assert_eq!(w, vec!["fd00:1::/64"]);
    assert_eq!(net.engine(rr).loc_rib_len(), 1);
}

#[test]
fn two_octet_as_peer_gets_as_trans_and_as4_path() {
    let mut net = Net::default();
    let mut cfg = rr_cfg("10.0.0.1", "1.1.1.1");
    cfg.local_as = 4_200_000_000;
    let rr = net.add_engine("10.0.0.1", cfg);
    let caps4 = modern_caps(4_200_000_000);
    let c1 = net.add_script("10.0.0.11", 4_200_000_000, "10.0.0.11", caps4);
    // An old eBGP speaker without the 4-octet AS capability.
    let old = net.add_script("10.0.0.41", 65001, "10.0.0.41", vec![Capability::RouteRefresh]);
    net.peer(rr, c1, Role::RrClient, |_| {});
    net.peer(rr, old, Role::Ebgp, |_| {});
    assert!(net.script(old).established);
    net.take_updates(old);
    net.script_send(
        c1,
        Message::Update(announce(&["10.6.0.0/24"], "10.0.0.11", vec![])),
    );
    let got = net.take_updates(old);
    let u = &got[0];
    // Decoded with a 2-octet context: AS_PATH carries AS_TRANS, AS4_PATH the real AS.
    assert_eq!(
        value(u, 2),
        Some(&AttrValue::AsPath(bgp_wire::AsPath::from_sequence([23456])))
    );
    assert_eq!(
        value(u, 17),
        Some(&AttrValue::As4Path(bgp_wire::AsPath::from_sequence([
            4_200_000_000
        ])))
    );
}

#[test]
fn llgr_keeps_routes_with_llgr_stale_after_the_restart_timer() {
    let mut net = Net::default();
    let rr = net.add_engine("10.0.0.1", rr_cfg("10.0.0.1", "1.1.1.1"));
    let mut caps = modern_caps(AS);
    caps.push(gr_cap(10, false, true));
    caps.push(llgr_cap(100));
    let c1 = net.add_script("10.0.0.11", AS, "10.0.0.11", caps.clone());
    let c2 = net.add_script("10.0.0.12", AS, "10.0.0.12", caps);
    for c in [c1, c2] {
        net.peer(rr, c, Role::RrClient, |p| {
            p.graceful_restart.llgr_stale_time = Some(3600)
        });
    }
    net.take_updates(c2);
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24"], "10.0.0.11", vec![])),
    );
    net.script_end_of_rib(c1);
    net.script_end_of_rib(c2);
    net.take_updates(c2);
    net.script(c1).accept = false;
    net.script_crash(c1);
    net.run_for(Duration::from_secs(11));
    let got = net.take_updates(c2);
    assert_eq!(
        announced_v4(&got),
        vec!["10.1.0.0/24"],
        "re-advertised in the LLGR phase"
    );
    assert_eq!(
        value(got.last().unwrap(), 8),
        Some(&AttrValue::Communities(vec![Community::LLGR_STALE])),
        "with LLGR_STALE (RFC 9494)"
    );
    net.run_for(Duration::from_secs(100));
    let got = net.take_updates(c2);
    assert_eq!(
        got.iter().map(|u| u.withdrawals().count()).sum::<usize>(),
        1,
        "removed at the LLGR stale time"
    );
    assert_eq!(net.engine(rr).loc_rib_len(), 0);
}

#[test]
fn enhanced_route_refresh_both_directions() {
    let mut net = Net::default();
    let rr = net.add_engine("10.0.0.1", rr_cfg("10.0.0.1", "1.1.1.1"));
    let mut caps = modern_caps(AS);
    caps.push(Capability::EnhancedRouteRefresh);
    let c1 = net.add_script("10.0.0.11", AS, "10.0.0.11", caps.clone());
    let c2 = net.add_script("10.0.0.12", AS, "10.0.0.12", caps);
    net.peer(rr, c1, Role::RrClient, |_| {});
    net.peer(rr, c2, Role::RrClient, |_| {});
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24", "10.1.1.0/24"], "10.0.0.11", vec![])),
    );
    net.take_updates(c2);
    // c2 asks: BoRR, the table, EoRR (RFC 7313 section 4).
    net.script_send(c2, refresh_v4());
    let order: Vec<String> = net
        .script(c2)
        .received
        .iter()
        .filter_map(|m| match m {
            Message::RouteRefresh(r) => Some(format!("rr{}", r.subtype.0)),
            Message::Update(u) if u.end_of_rib().is_none() => Some("update".into()),
            _ => None,
        })
        .collect();
    assert_eq!(order.first().map(String::as_str), Some("rr1"));
    assert_eq!(order.last().map(String::as_str), Some("rr2"));
    assert!(order.contains(&"update".to_string()));
    // c1 refreshes its own routes: BoRR, only one prefix, EoRR: the other is purged.
    let rr_msg = |subtype| {
        Message::RouteRefresh(bgp_wire::RouteRefresh {
            afi: bgp_wire::Afi::IPV4,
            safi: bgp_wire::Safi::UNICAST,
            subtype: bgp_wire::RouteRefreshSubtype(subtype),
        })
    };
    net.take_updates(c2);
    net.script_send(c1, rr_msg(1));
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24"], "10.0.0.11", vec![])),
    );
    assert!(
        net.engine(rr).route(&pfx("10.1.1.0/24")).is_some(),
        "kept until EoRR"
    );
    net.script_send(c1, rr_msg(2));
    assert!(
        net.engine(rr).route(&pfx("10.1.1.0/24")).is_none(),
        "purged at EoRR"
    );
    let w: Vec<String> = net
        .take_updates(c2)
        .iter()
        .flat_map(|u| u.withdrawals().map(|(_, n)| n.prefix.to_string()))
        .collect();
    assert_eq!(w, vec!["10.1.1.0/24"]);
}

#[test]
fn congested_member_falls_behind_and_catches_up_from_adj_rib_out() {
    let (mut net, rr, c1, c2) = two_clients();
    let c3 = net.add_script("10.0.0.13", AS, "10.0.0.13", modern_caps(AS));
    net.peer(rr, c3, Role::RrClient, |_| {});
    net.take_updates(c3);
    net.congest(rr, c2, true);
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24", "10.1.1.0/24"], "10.0.0.11", vec![])),
    );
    net.script_send(c1, Message::Update(withdraw(&["10.1.0.0/24"])));
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.2.0/24"], "10.0.0.11", vec![])),
    );
    assert!(
        net.take_updates(c2).is_empty(),
        "nothing queued for a congested member"
    );
    assert_eq!(
        announced_v4(&net.take_updates(c3)),
        vec!["10.1.1.0/24", "10.1.2.0/24"],
        "others unaffected"
    );
    net.congest(rr, c2, false);
    let got = net.take_updates(c2);
    assert_eq!(
        announced_v4(&got),
        vec!["10.1.1.0/24", "10.1.2.0/24"],
        "caught up to the current state"
    );
    assert!(
        got.len() <= 2,
        "one withdrawal message and one packed announcement"
    );
    // Back in the shared stream.
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.3.0/24"], "10.0.0.11", vec![])),
    );
    assert_eq!(announced_v4(&net.take_updates(c2)), vec!["10.1.3.0/24"]);
}

/// Regression (found by the daemon's slow-peer test): a member whose congestion cleared catches up
/// at the next flush, after that flush's own changes were diffed. Those changes must reach it too.
#[test]
fn changes_in_the_flush_that_runs_a_catch_up_are_not_lost() {
    let (mut net, rr, c1, c2) = two_clients();
    net.congest(rr, c2, true);
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24", "10.1.1.0/24"], "10.0.0.11", vec![])),
    );
    assert!(net.take_updates(c2).is_empty());
    // Drained, and before the engine flushes, more changes arrive in the same batch of events.
    net.congest_quiet(rr, c2, false);
    net.script_deliver_now(
        c1,
        Message::Update(announce(&["10.1.2.0/24"], "10.0.0.11", vec![])),
    );
    net.pump();
    let mut got = announced_v4(&net.take_updates(c2));
    got.sort();
    assert_eq!(got, vec!["10.1.0.0/24", "10.1.1.0/24", "10.1.2.0/24"]);
}

/// A member is never sent withdrawals of prefixes it alone announced, in the stream or at catch-up.
#[test]
fn catch_up_sends_no_withdrawals_of_the_members_own_prefixes() {
    let (mut net, rr, c1, c2) = two_clients();
    net.congest(rr, c2, true);
    net.script_send(
        c2,
        Message::Update(announce(&["10.2.0.0/24", "10.2.1.0/24"], "10.0.0.12", vec![])),
    );
    net.script_send(c2, Message::Update(withdraw(&["10.2.0.0/24"])));
    net.congest(rr, c2, false);
    let got = net.take_updates(c2);
    assert!(
        got.iter().all(|u| u.withdrawals().next().is_none()),
        "withdrawals of its own prefixes: {got:?}"
    );
    // c1 holds 10.2.1.0/24 only.
    let _ = net.take_updates(c1);
    net.script_send(c2, Message::Update(withdraw(&["10.2.1.0/24"])));
    assert!(
        net.take_updates(c2)
            .iter()
            .all(|u| u.withdrawals().next().is_none()),
        "the stream withdrew the member's own prefix back to it"
    );
    let w: Vec<String> = net
        .take_updates(c1)
        .iter()
        .flat_map(|u| u.withdrawals().map(|(_, n)| n.prefix.to_string()))
        .collect();
    assert_eq!(w, vec!["10.2.1.0/24"]);
}

/// The initial table of a joining member and a route refresh are served from the group's cached,
/// per-bucket encodings: after prefixes moved between attribute sets, were withdrawn and came back
/// (so that some cached buckets are stale and others not), both must still be exactly the current
/// table.
#[test]
fn joiner_and_refresh_get_the_current_table_after_churn() {
    let (mut net, rr, c1, c2) = two_clients();
    let names: Vec<String> = (0..200).map(|i| format!("10.9.{i}.0/24")).collect();
    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    net.script_send(c1, Message::Update(announce(&all, "10.0.0.11", vec![])));
    // A route refresh encodes (and caches) the bucket.
    net.take_updates(c2);
    net.script_send(c2, refresh_v4());
    assert_eq!(announced_v4(&net.take_updates(c2)).len(), 200);
    // 0..150 move to a second attribute set; 100..180 are withdrawn; 160..170 come back with MED 7.
    net.script_send(
        c1,
        Message::Update(announce(
            &all[..150],
            "10.0.0.11",
            vec![AttrValue::MultiExitDisc(5)],
        )),
    );
    net.script_send(c1, Message::Update(withdraw(&all[100..180])));
    net.script_send(
        c1,
        Message::Update(announce(
            &all[160..170],
            "10.0.0.11",
            vec![AttrValue::MultiExitDisc(7)],
        )),
    );
    let mut want: Vec<(String, Option<u32>)> = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let med = match i {
            0..100 => Some(5),
            160..170 => Some(7),
            180.. => None,
            _ => continue,
        };
        want.push((n.clone(), med));
    }
    want.sort();
    let table = |updates: Vec<Update>| {
        let mut got: Vec<(String, Option<u32>)> = Vec::new();
        for u in &updates {
            let med = match u.value(4) {
                Some(AttrValue::MultiExitDisc(m)) => Some(*m),
                _ => None,
            };
            for (_, n) in u.announced() {
                got.push((n.prefix.to_string(), med));
            }
        }
        got.sort();
        got
    };
    let c3 = net.add_script("10.0.0.13", AS, "10.0.0.13", modern_caps(AS));
    net.peer(rr, c3, Role::RrClient, |_| {});
    assert_eq!(
        table(net.take_updates(c3)),
        want,
        "a joining member's initial table"
    );
    net.take_updates(c2);
    net.script_send(c2, refresh_v4());
    assert_eq!(table(net.take_updates(c2)), want, "a route refresh");
}

/// A caller can send session traffic at once and batch route changes: `poll_queued` never flushes,
/// `has_pending_changes` tells whether a flush has work, and `flush` produces the UPDATEs.
#[test]
fn route_changes_wait_for_an_explicit_flush_with_poll_queued() {
    let (mut net, rr, c1, c2) = two_clients();
    net.script_deliver_now(
        c1,
        Message::Update(announce(&["10.1.0.0/24"], "10.0.0.11", vec![])),
    );
    let e = net.engine(rr);
    assert!(e.has_pending_changes());
    assert!(e.poll_queued().is_none(), "nothing is sent before the flush");
    e.flush();
    assert!(!e.has_pending_changes());
    assert!(
        matches!(e.poll_queued(), Some(rr_core::Output::Send { .. })),
        "the flush queued the reflected UPDATE"
    );
    net.pump();
    // (The UPDATE taken out above is gone; the next change arrives through the normal path.)
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.1.0/24"], "10.0.0.11", vec![])),
    );
    assert_eq!(announced_v4(&net.take_updates(c2)), vec!["10.1.1.0/24"]);
}

#[test]
fn add_path_receive_keeps_each_path_by_id() {
    let mut net = Net::default();
    let rr = net.add_engine("10.0.0.1", rr_cfg("10.0.0.1", "1.1.1.1"));
    let mut caps = modern_caps(AS);
    caps.push(Capability::AddPath(vec![(
        AfiSafi::IPV4_UNICAST,
        bgp_wire::AddPathMode::Send,
    )]));
    let c1 = net.add_script("10.0.0.11", AS, "10.0.0.11", caps);
    let c2 = net.add_script("10.0.0.12", AS, "10.0.0.12", modern_caps(AS));
    let p1 = net.peer(rr, c1, Role::RrClient, |_| {});
    net.peer(rr, c2, Role::RrClient, |_| {});
    net.take_updates(c2);
    let with_id = |id: u32, nh: &str| {
        let mut u = announce(&["10.4.0.0/24"], nh, vec![]);
        u.nlri[0].path_id = Some(id);
        u
    };
    net.script_send(c1, Message::Update(with_id(7, "10.0.0.11")));
    net.script_send(c1, Message::Update(with_id(9, "10.0.0.111")));
    assert_eq!(
        net.engine(rr).adj_rib_in(p1).count(),
        2,
        "keyed by (prefix, path id)"
    );
    let r = net.engine(rr).route(&pfx("10.4.0.0/24")).unwrap();
    assert_eq!(r.paths.len(), 2);
    assert_eq!((r.paths[0].path_id, r.deciding_step), (7, Step::PathId));
    let got = net.take_updates(c2);
    assert_eq!(
        value(got.last().unwrap(), 3),
        Some(&AttrValue::NextHop(v4("10.0.0.11")))
    );
    let mut w = withdraw(&["10.4.0.0/24"]);
    w.withdrawn[0].path_id = Some(7);
    net.script_send(c1, Message::Update(w));
    let got = net.take_updates(c2);
    assert_eq!(
        value(got.last().unwrap(), 3),
        Some(&AttrValue::NextHop(v4("10.0.0.111"))),
        "fails over to path 9"
    );
}

#[test]
fn new_connection_from_a_gr_peer_replaces_the_established_session() {
    let mut net = Net::default();
    let rr = net.add_engine("10.0.0.1", rr_cfg("10.0.0.1", "1.1.1.1"));
    let mut caps = modern_caps(AS);
    caps.push(gr_cap(120, false, true));
    let c1 = net.add_script("10.0.0.11", AS, "10.0.0.11", caps);
    let c2 = net.add_script("10.0.0.12", AS, "10.0.0.12", modern_caps(AS));
    let p1 = net.peer(rr, c1, Role::RrClient, |_| {});
    net.peer(rr, c2, Role::RrClient, |_| {});
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24", "10.1.1.0/24"], "10.0.0.11", vec![])),
    );
    net.take_updates(c2);
    // c1 restarts: the reflector still thinks the old session is up when the new OPEN arrives.
    net.script_forget(c1);
    let mut caps = modern_caps(AS);
    caps.push(gr_cap(120, true, true));
    net.script(c1).caps = caps;
    assert!(net.script_connect(c1, rr));
    assert!(net.script(c1).established, "the new connection is accepted");
    assert!(matches!(net.enode(rr).down.last(), Some((p, DownReason::Replaced)) if *p == p1));
    assert_eq!(
        net.engine(rr).peer_info_of(p1).unwrap().prefixes_stale,
        2,
        "RFC 4724: routes kept stale"
    );
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.1.0/24"], "10.0.0.11", vec![])),
    );
    net.script_send(
        c1,
        Message::Update(Update::end_of_rib_marker(AfiSafi::IPV4_UNICAST)),
    );
    let w: Vec<String> = net
        .take_updates(c2)
        .iter()
        .flat_map(|u| u.withdrawals().map(|(_, n)| n.prefix.to_string()))
        .collect();
    assert_eq!(w, vec!["10.1.0.0/24"]);
}

#[test]
fn new_connection_while_established_without_gr_is_rejected_with_cease_7() {
    let (mut net, rr, c1, _c2) = two_clients();
    let p1 = net.engine(rr).peer_by_addr(ip("10.0.0.11")).unwrap();
    net.script_forget(c1);
    assert!(net.script_connect(c1, rr));
    let n = net
        .script(c1)
        .received
        .iter()
        .find_map(|m| match m {
            Message::Notification(n) => Some(n.clone()),
            _ => None,
        })
        .expect("notification on the new connection");
    assert_eq!((n.code, n.subcode), (6, 7), "connection collision resolution");
    assert_eq!(
        net.engine(rr).peer_info_of(p1).unwrap().state,
        State::Established,
        "old session kept"
    );
}

#[test]
fn stale_path_timer_sweeps_when_end_of_rib_never_comes() {
    let mut net = Net::default();
    let rr = net.add_engine("10.0.0.1", rr_cfg("10.0.0.1", "1.1.1.1"));
    let mut caps = modern_caps(AS);
    caps.push(gr_cap(120, true, true));
    let c1 = net.add_script("10.0.0.11", AS, "10.0.0.11", caps);
    let c2 = net.add_script("10.0.0.12", AS, "10.0.0.12", modern_caps(AS));
    let p1 = net.peer(rr, c1, Role::RrClient, |_| {});
    net.peer(rr, c2, Role::RrClient, |_| {});
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24"], "10.0.0.11", vec![])),
    );
    net.take_updates(c2);
    net.script_crash(c1);
    net.run_for(Duration::from_secs(10));
    assert!(net.script(c1).established, "back, but it never sends End-of-RIB");
    assert_eq!(net.engine(rr).peer_info_of(p1).unwrap().prefixes_stale, 1);
    net.run_for(Duration::from_secs(355));
    assert_eq!(
        net.engine(rr).peer_info_of(p1).unwrap().prefixes_stale,
        0,
        "stale-path timer (360 s)"
    );
    let w: usize = net.take_updates(c2).iter().map(|u| u.withdrawals().count()).sum();
    assert_eq!(w, 1);
}

#[test]
fn malformed_atomic_aggregate_is_discarded_and_the_route_kept() {
    let (mut net, rr, c1, c2) = two_clients();
    // ATOMIC_AGGREGATE with length 1 (RFC 7606 section 7.6: attribute discard).
    let body: &[u8] = &[
        0, 0, // withdrawn length
        0, 18, // attributes length
        0x40, 1, 1, 0, // ORIGIN IGP
        0x40, 2, 0, // AS_PATH empty
        0x40, 3, 4, 10, 0, 0, 11, // NEXT_HOP
        0x40, 6, 1, 0, // ATOMIC_AGGREGATE, bad length
        24, 10, 1, 0, // 10.1.0.0/24
    ];
    let mut frame = vec![0xff; 16];
    frame.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    frame.push(2);
    frame.extend_from_slice(body);
    net.script_send_raw(c1, Bytes::from(frame));
    let got = net.take_updates(c2);
    assert_eq!(announced_v4(&got), vec!["10.1.0.0/24"], "route kept");
    assert_eq!(value(&got[0], 6), None, "the malformed attribute is discarded");
    assert!(net.engine(rr).route(&pfx("10.1.0.0/24")).is_some());
    assert!(net.script(c1).established);
}

#[test]
fn max_prefix_counts_each_family_and_withdrawals() {
    let mut net = Net::default();
    let rr = net.add_engine("10.0.0.1", rr_cfg("10.0.0.1", "1.1.1.1"));
    let c1 = net.add_script("10.0.0.11", AS, "10.0.0.11", modern_caps(AS));
    let p1 = net.peer(rr, c1, Role::RrClient, |c| c.max_prefixes = Some(2));
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24", "10.1.1.0/24"], "10.0.0.11", vec![])),
    );
    net.script_send(
        c1,
        Message::Update(announce6(&["fd00:1::/64", "fd00:2::/64"], "fd00::11", None)),
    );
    net.script_send(c1, Message::Update(withdraw(&["10.1.0.0/24"])));
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.2.0/24"], "10.0.0.11", vec![])),
    );
    assert!(net.script(c1).established, "2 per family, withdrawals counted");
    assert_eq!(net.engine(rr).peer_info_of(p1).unwrap().prefixes_received, 4);
    net.script_send(c1, Message::Update(announce6(&["fd00:3::/64"], "fd00::11", None)));
    let n = net
        .script(c1)
        .received
        .iter()
        .find_map(|m| match m {
            Message::Notification(n) => Some(n.clone()),
            _ => None,
        })
        .expect("notification");
    assert_eq!((n.code, n.subcode), (6, 1));
    assert_eq!(&n.data[..3], &[0, 2, 1], "the IPv6 unicast family is named");
}
