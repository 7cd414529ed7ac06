//! Paced fan-out (`--fanout-writes-per-sec` low enough that four connections pass the point where the
//! batch interval grows): route changes are held and each client is written in its turn. Clients changing
//! their routes in quick succession, announcements and withdrawals of the same prefixes in flight while
//! held, end with exactly the other clients' current routes.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use common::bird::Bird;
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, require, wait_for};

const T: Duration = Duration::from_secs(60);
const BASE: u8 = 87;
const CLIENTS: [u8; 4] = [2, 3, 4, 5];

/// `count` /26s of client `n` from `from` on.
fn blocks(n: u8, from: u32, count: u32) -> Vec<String> {
    (from..from + count)
        .map(|i| format!("10.{}.{}.{}/26", 100 + n, i / 4, (i % 4) * 64))
        .collect()
}

#[test]
fn paced_fan_out_delivers_every_change_in_order() {
    require(&["bird"]);
    let rr_ip = Ipv4Addr::new(127, 0, BASE, 1);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    let mut specs = Vec::new();
    for n in CLIENTS {
        let mut spec = topo.add_bird_client(BASE, n, 64512, rr_ip, rr_port);
        spec.routes6.clear();
        specs.push(spec);
    }
    // 100 writes a second: 10 ms per connection, so four connections ask for a 40 ms interval, past the
    // 20 ms minimum: paced.
    let rr = Rr::start("rr1", &topo.yaml(), &["--fanout-writes-per-sec", "100"]);
    let mut birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    for b in &birds {
        b.wait_established("rr1", T);
    }
    wait_for("the daemon reports paced fan-out", T, || {
        let log = rr.log();
        if log.contains("paced fan-out on") {
            Ok(())
        } else {
            Err(log)
        }
    });

    // Clients 2 and 3 change their routes three times in a row without waiting: the same prefixes are
    // announced, withdrawn and announced again while earlier changes are still held.
    let mut current: Vec<Vec<String>> = vec![Vec::new(); CLIENTS.len()];
    for (k, (from, count)) in [(0, 300), (150, 300), (280, 40)].into_iter().enumerate() {
        for (i, b) in birds.iter_mut().enumerate().take(2) {
            let n = CLIENTS[i];
            let mut r = blocks(n, from, count);
            r.push(format!("10.{n}.0.0/26"));
            b.set_routes(r.clone(), Vec::new());
            current[i] = r;
        }
        eprintln!("change {k} made");
    }
    for i in 2..CLIENTS.len() {
        current[i] = vec![format!("10.{}.0.0/26", CLIENTS[i])];
    }
    for (i, b) in birds.iter().enumerate() {
        let want: BTreeSet<String> = (0..CLIENTS.len())
            .filter(|&j| j != i)
            .flat_map(|j| current[j].iter().cloned())
            .collect();
        wait_for(
            &format!("bird{} holds the others' current routes", CLIENTS[i]),
            T,
            || {
                let got: BTreeSet<String> = b
                    .routes()
                    .into_iter()
                    .filter(|r| r.is_bgp())
                    .map(|r| r.prefix.clone())
                    .collect();
                if got == want {
                    Ok(())
                } else {
                    let extra: Vec<&String> = got.difference(&want).take(5).collect();
                    let missing: Vec<&String> = want.difference(&got).take(5).collect();
                    Err(format!(
                        "{} routes, {} wanted; extra {extra:?}, missing {missing:?}",
                        got.len(),
                        want.len()
                    ))
                }
            },
        );
    }
    assert!(rr.log().contains("paced fan-out on"));
    birds.clear();
}
