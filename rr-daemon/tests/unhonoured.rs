//! Settings the daemon parses but does not honour (here: a BGPPeer naming a BGPFilter that does not exist)
//! are logged once per resource and field while they stay
//! set, with the resource and field named; an unrelated datastore edit does not repeat the warning, removing
//! and restoring the setting does. A file holding a BGPFilter and a document of a kind the reflector does not
//! read still configures every session.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, wait_for};

const FILTER: &str = "---\napiVersion: projectcalico.org/v3\nkind: BGPFilter\nmetadata: {name: hide-node3}\n\
spec:\n  exportV4:\n    - {action: Reject, matchOperator: In, cidr: 10.3.0.0/16, interface: eth0}\n\
---\napiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: default}\nspec: {}\n";

fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn unhonoured_settings_warn_once() {
    let base = 31;
    let rr_ip = Ipv4Addr::new(127, 0, base, 1);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.peers[0].1 =
        "{nodeSelector: all(), peerSelector: route-reflector == 'true', filters: [hide-node3, no-such-filter]}".into();
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    topo.nodes.push(NodeDef::client(
        "node2",
        Ipv4Addr::new(127, 0, base, 2),
        free_port("127.0.0.1"),
    ));
    let yaml = topo.yaml() + FILTER;
    let rr = Rr::start("rr1", &yaml, &[]);
    // The session to node2 is configured: the BGPFilter and the FelixConfiguration did not reject the file.
    wait_for("node2 configured", Duration::from_secs(20), || {
        rr.peer("node2").map(|_| ()).ok_or_else(|| rr.log())
    });
    let filters = "field=spec.filters";
    wait_for("filters warning", Duration::from_secs(20), || {
        let log = rr.log();
        (count(&log, filters) == 1).then_some(()).ok_or(log)
    });
    let log = rr.log();
    let line = log.lines().find(|l| l.contains(filters)).expect("line");
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("BGPPeer/peer-with-route-reflectors"), "{line}");
    // hide-node3 exists and is applied; the filter that does not exist is named.
    assert!(line.contains("no BGPFilter of that name"), "{line}");
    assert!(line.contains("no-such-filter"), "{line}");
    assert_eq!(count(&log, "spec.exportV4[0].interface"), 1, "{log}");
    assert!(
        log.contains("FelixConfiguration"),
        "skipped kind not logged: {log}"
    );

    // An unrelated edit (a third node) recomputes the sessions but does not repeat the warning.
    topo.nodes.push(NodeDef::client(
        "node3",
        Ipv4Addr::new(127, 0, base, 3),
        free_port("127.0.0.1"),
    ));
    rr.write_yaml(&(topo.yaml() + FILTER));
    wait_for("node3 configured", Duration::from_secs(20), || {
        rr.peer("node3").map(|_| ()).ok_or_else(|| rr.log())
    });
    assert_eq!(count(&rr.log(), filters), 1, "{}", rr.log());

    // Removing the setting (and node3, to see the edit applied) and restoring it warns again.
    let mut without = Topology::calico_rr(rr_port);
    without.nodes = topo.nodes.clone();
    without.nodes.retain(|n| n.name != "node3");
    rr.write_yaml(&(without.yaml() + FILTER));
    wait_for("node3 removed", Duration::from_secs(20), || {
        rr.peer("node3").map_or(Ok(()), |p| Err(p.to_string()))
    });
    rr.write_yaml(&(topo.yaml() + FILTER));
    wait_for("second filters warning", Duration::from_secs(20), || {
        let log = rr.log();
        (count(&log, filters) == 2).then_some(()).ok_or(log)
    });
}
