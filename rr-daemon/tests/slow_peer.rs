//! A client that stops reading never blocks the others: while its socket is full, another client receives a
//! full table; when it reads again it catches up and ends with every route.

mod common;

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bgp_wire::{DecodeCtx, Message};
use bytes::Bytes;
use common::bird::Bird;
use common::raw::{RawPeer, msg};
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, require, wait_for};

const T: Duration = Duration::from_secs(60);
const BASE: u8 = 13;
const N: usize = 20_000;

#[test]
fn slow_reader_does_not_block_others_and_catches_up() {
    require(&["bird"]);
    let rr_ip = Ipv4Addr::new(127, 0, BASE, 1);
    let raw_ip = Ipv4Addr::new(127, 0, BASE, 9);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    topo.nodes
        .push(NodeDef::client("raw", raw_ip, free_port("127.0.0.1")));
    let mut specs = Vec::new();
    for n in [2u8, 3] {
        let mut spec = topo.add_bird_client(BASE, n, 64512, rr_ip, rr_port);
        spec.routes6.clear();
        specs.push(spec);
    }
    // Client 2 will announce N prefixes.
    let big: Vec<String> = (0..N)
        .map(|i| format!("10.{}.{}.0/24", 100 + i / 250, i % 250))
        .collect();
    // A small send buffer on the reflector's sockets: otherwise the kernel takes the whole table for the
    // stalled peer (it sizes a loopback socket's buffer to megabytes) and the daemon's queue never fills.
    let rr = Rr::start(
        "rr1",
        &topo.yaml(),
        &["--write-queue-high", "4096", "--socket-send-buffer", "8192"],
    );
    let mut birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    for b in &birds {
        b.wait_established("rr1", T);
    }
    // The slow client: a tiny receive buffer, and it stops reading once established.
    let rr_addr = SocketAddr::new(rr_ip.into(), rr_port);
    let mut raw = wait_for("raw peer established", T, || {
        RawPeer::establish_with(raw_ip, rr_addr, Some(4096))
    });

    let t0 = Instant::now();
    let routes6 = birds[0].spec.routes6.clone();
    birds[0].set_routes(big.clone(), routes6);
    wait_for(
        "bird3 receives the full table while the raw peer does not read",
        T,
        || {
            let out = birds[1].birdc("show route count");
            let n: usize = out
                .lines()
                .find_map(|l| l.split_whitespace().next().and_then(|w| w.parse().ok()))
                .unwrap_or(0);
            // N from client 2 plus bird3's own static route.
            if n > N { Ok(()) } else { Err(out) }
        },
    );
    eprintln!(
        "bird3 had {N} routes after {:?} with a stalled peer",
        t0.elapsed()
    );
    assert_eq!(rr.peer_state("raw"), "Established");

    // Now read everything: the slow peer ends with every prefix.
    raw.send(&msg(4, &[]));
    raw.s
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let ctx = DecodeCtx {
        four_octet_as: true,
        ..DecodeCtx::default()
    };
    let mut seen: HashSet<String> = HashSet::new();
    let start = Instant::now();
    while seen.len() < N + 1 && start.elapsed() < T {
        let Some((t, body)) = raw.next_msg() else { break };
        if t != 2 {
            continue;
        }
        let mut frame = msg(2, &body);
        frame.truncate(19 + body.len());
        match Message::decode(&Bytes::from(frame), &ctx) {
            Ok(Message::Update(u)) => {
                for p in &u.withdrawn {
                    seen.remove(&p.prefix.to_string());
                }
                for p in &u.nlri {
                    seen.insert(p.prefix.to_string());
                }
            }
            Ok(_) => {}
            Err(e) => panic!("reflector sent an undecodable UPDATE: {e}"),
        }
        if start.elapsed().as_secs() % 10 == 9 {
            raw.send(&msg(4, &[]));
        }
    }
    assert!(
        seen.len() > N,
        "the slow peer caught up with {} of {} prefixes",
        seen.len(),
        N + 1
    );
    assert!(seen.contains("10.3.0.0/26") && seen.contains(&big[N - 1]));
    // The stalled peer went through flow control (congested, then caught up) rather than being dropped.
    let log = rr.log();
    assert!(log.contains("congested"), "flow control never engaged: {log}");
    assert!(log.contains("catching up"), "{log}");
    assert_eq!(rr.peer("raw").expect("raw")["established_transitions"], 1);
    birds.clear();
}
