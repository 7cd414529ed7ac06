//! Route-selection deferral of a restarting speaker (RFC 4724 section 4.1) on virtual time: after
//! it starts, the engine announces nothing (no route, no End-of-RIB) until every configured peer
//! with graceful restart has sent End-of-RIB, or the Selection_Deferral_Timer expires.

mod harness;

use std::time::Duration;

use bgp_wire::{Capability, Message, Update};
use harness::*;
use rr_core::{EngineConfig, Role};

const AS: u32 = 64512;

fn gr_caps() -> Vec<Capability> {
    let mut caps = modern_caps(AS);
    caps.push(gr_cap(120, false, true));
    caps
}

/// End-of-RIB markers among `updates`, and whether every announcement came before the first one.
fn eor_after_routes(updates: &[Update]) -> (usize, bool) {
    let first_eor = updates.iter().position(|u| u.end_of_rib().is_some());
    let last_route = updates.iter().rposition(|u| u.announced().next().is_some());
    let eors = updates.iter().filter(|u| u.end_of_rib().is_some()).count();
    let ordered = match (first_eor, last_route) {
        (Some(e), Some(r)) => r < e,
        _ => true,
    };
    (eors, ordered)
}

struct Rig {
    net: Net,
    rr: usize,
    clients: Vec<usize>,
}

/// A reflector with three GR-capable clients; client 3 refuses connections (it is not back yet).
/// The reflector retries every 5 s.
fn rig(deferral: Option<Duration>) -> Rig {
    let mut net = Net::default();
    let mut cfg = EngineConfig::new("10.0.0.1".parse().unwrap(), AS);
    cfg.selection_deferral = deferral;
    let rr = net.add_engine("10.0.0.1", cfg);
    let clients: Vec<usize> = (1..=3)
        .map(|n| net.add_script(&format!("10.0.0.1{n}"), AS, &format!("10.0.0.1{n}"), gr_caps()))
        .collect();
    net.script(clients[2]).accept = false;
    for &c in &clients {
        net.peer(rr, c, Role::RrClient, |p| {
            p.connect_retry = Duration::from_secs(5);
            p.connect_retry_max = Duration::from_secs(5);
        });
    }
    for (i, &c) in clients.iter().enumerate().take(2) {
        let pfx = format!("10.{}.0.0/24", i + 1);
        let nh = format!("10.0.0.1{}", i + 1);
        net.script_send(c, Message::Update(announce(&[pfx.as_str()], &nh, vec![])));
        net.script_end_of_rib(c);
    }
    Rig { net, rr, clients }
}

#[test]
fn nothing_is_announced_until_the_late_peer_sent_end_of_rib() {
    let Rig { mut net, rr, clients } = rig(Some(Duration::from_secs(120)));
    let (c1, c2, c3) = (clients[0], clients[1], clients[2]);
    net.run_for(Duration::from_secs(20));
    assert!(net.script(c1).established && net.script(c2).established);
    assert!(!net.script(c3).established);
    // RFC 4724 section 4.1: selection deferred; no route and no End-of-RIB to anyone yet.
    assert!(net.engine(rr).selection_deferred());
    assert!(
        net.take_updates(c1).is_empty(),
        "nothing announced to client 1 while deferring"
    );
    assert!(
        net.take_updates(c2).is_empty(),
        "nothing announced to client 2 while deferring"
    );
    let waiting = net.engine(rr).selection_deferral_waiting();
    assert_eq!(
        waiting.len(),
        1,
        "only the absent client 3 is waited for: {waiting:?}"
    );
    // The OPENs carry the Restart State bit while deferring, and the Forwarding State bit.
    let open = net.opens_received(c1).pop().expect("OPEN");
    let gr = open
        .capabilities()
        .find_map(|c| match c {
            Capability::GracefulRestart(g) => Some(g.clone()),
            _ => None,
        })
        .expect("GR capability");
    assert!(gr.restart_state, "R bit while deferring");
    assert!(gr.families.iter().all(|f| f.forwarding), "F bit on every family");

    // Client 3 comes back 20 s late, announces and sends End-of-RIB: selection runs at once.
    net.script(c3).accept = true;
    net.run_for(Duration::from_secs(6));
    assert!(net.script(c3).established);
    assert!(
        net.take_updates(c1).is_empty(),
        "still deferred before client 3's End-of-RIB"
    );
    net.script_send(
        c3,
        Message::Update(announce(&["10.3.0.0/24"], "10.0.0.13", vec![])),
    );
    net.script_end_of_rib(c3);
    assert!(!net.engine(rr).selection_deferred());
    let ended = net.enode(rr).deferral_ended.clone();
    assert_eq!(ended.len(), 1);
    assert!(ended[0].2.is_empty(), "ended by End-of-RIB, nobody left waiting");
    for (c, others) in [
        (c1, ["10.2.0.0/24", "10.3.0.0/24"]),
        (c2, ["10.1.0.0/24", "10.3.0.0/24"]),
        (c3, ["10.1.0.0/24", "10.2.0.0/24"]),
    ] {
        let got = net.take_updates(c);
        assert_eq!(
            announced_v4(&got),
            others,
            "client {c} gets every other client's route"
        );
        let (eors, ordered) = eor_after_routes(&got);
        assert_eq!(eors, 2, "one End-of-RIB per family");
        assert!(ordered, "End-of-RIB only after the routes");
    }
    // Later sessions no longer carry the Restart State bit.
    net.script_crash(c1);
    net.run_for(Duration::from_secs(10));
    assert!(net.script(c1).established);
    let open = net.opens_received(c1).pop().expect("OPEN");
    assert!(
        open.capabilities()
            .any(|c| matches!(c, Capability::GracefulRestart(g) if !g.restart_state))
    );
}

#[test]
fn the_selection_deferral_timer_releases_the_routes_of_those_back() {
    let Rig { mut net, rr, clients } = rig(Some(Duration::from_secs(60)));
    let (c1, c2) = (clients[0], clients[1]);
    net.run_for(Duration::from_secs(59));
    assert!(net.engine(rr).selection_deferred());
    assert!(net.take_updates(c1).is_empty());
    net.run_for(Duration::from_secs(2));
    assert!(!net.engine(rr).selection_deferred());
    let ended = net.enode(rr).deferral_ended.clone();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].1, Duration::from_secs(60), "deferred for the timer");
    assert_eq!(ended[0].2.len(), 1, "client 3 named as still waited for");
    assert_eq!(announced_v4(&net.take_updates(c1)), ["10.2.0.0/24"]);
    assert_eq!(announced_v4(&net.take_updates(c2)), ["10.1.0.0/24"]);
}

#[test]
fn peers_without_the_capability_or_restarting_themselves_are_not_waited_for() {
    let mut net = Net::default();
    let rr = net.add_engine("10.0.0.1", EngineConfig::new("10.0.0.1".parse().unwrap(), AS));
    // No GR capability at all.
    let c1 = net.add_script("10.0.0.11", AS, "10.0.0.11", modern_caps(AS));
    // Restarting itself (R bit): it waits for our End-of-RIB, so waiting for its own would deadlock.
    let mut caps = modern_caps(AS);
    caps.push(gr_cap(120, true, true));
    let c2 = net.add_script("10.0.0.12", AS, "10.0.0.12", caps);
    net.peer(rr, c1, Role::RrClient, |_| {});
    net.peer(rr, c2, Role::RrClient, |_| {});
    assert!(net.script(c1).established && net.script(c2).established);
    assert!(!net.engine(rr).selection_deferred(), "nobody to wait for");
    net.script_send(
        c1,
        Message::Update(announce(&["10.1.0.0/24"], "10.0.0.11", vec![])),
    );
    assert_eq!(announced_v4(&net.take_updates(c2)), ["10.1.0.0/24"]);
}

#[test]
fn a_removed_peer_is_no_longer_waited_for_and_none_disables_the_deferral() {
    let Rig { mut net, rr, clients } = rig(Some(Duration::from_secs(120)));
    net.run_for(Duration::from_secs(1));
    assert!(net.engine(rr).selection_deferred());
    let waiting = net.engine(rr).selection_deferral_waiting();
    let now = net.now;
    net.engine(rr).remove_peer(now, waiting[0]).expect("remove");
    net.run_for(Duration::from_secs(1));
    assert!(!net.engine(rr).selection_deferred());
    assert_eq!(announced_v4(&net.take_updates(clients[0])), ["10.2.0.0/24"]);

    let Rig { mut net, clients, .. } = rig(None);
    net.run_for(Duration::from_secs(1));
    assert_eq!(announced_v4(&net.take_updates(clients[0])), ["10.2.0.0/24"]);
}
