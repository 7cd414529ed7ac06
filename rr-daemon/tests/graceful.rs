//! Graceful restart (RFC 4724) in both directions: a BIRD client restarts and the reflector keeps its routes
//! for the other clients until End-of-RIB; the reflector stops and its clients keep the routes (default) or
//! flush them at once (`--shutdown-mode cease`).

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::bird::Bird;
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, require, wait_for};

const RR_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 1, 1);
const T: Duration = Duration::from_secs(30);

struct Setup {
    rr: Rr,
    birds: Vec<Bird>,
}

fn setup(base: u8, extra_flags: &[&str]) -> Setup {
    let rr_ip = Ipv4Addr::new(127, 0, base, 1);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    let mut specs = Vec::new();
    for n in [2u8, 3] {
        let spec = topo.add_bird_client(base, n, 64512, rr_ip, rr_port);
        specs.push(spec);
    }
    let rr = Rr::start("rr1", &topo.yaml(), extra_flags);
    let birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    for b in &birds {
        b.wait_established("rr1", T);
    }
    Setup { rr, birds }
}

#[test]
fn restarting_client_keeps_its_routes_at_others_until_end_of_rib() {
    require(&["bird"]);
    let _ = RR_IP;
    let Setup { rr, mut birds } = setup(3, &[]);
    // Client 3 announces two prefixes; after its restart it announces only one.
    let mut spec3 = birds[1].spec.clone();
    spec3.routes4 = vec!["10.3.0.0/26".into(), "10.33.0.0/26".into()];
    birds[1].set_routes(spec3.routes4.clone(), spec3.routes6.clone());
    wait_for("bird2 has both prefixes of client 3", T, || {
        let n = ["10.3.0.0/26", "10.33.0.0/26"]
            .iter()
            .filter(|p| !birds[0].bgp_routes(p).is_empty())
            .count();
        if n == 2 { Ok(()) } else { Err(format!("{n}")) }
    });

    let mut after = spec3.clone();
    after.routes4 = vec!["10.3.0.0/26".into()];
    // `birdc graceful restart` stops BIRD without telling its peers; it comes back 4 s later with -R.
    let (left, right) = birds.split_at_mut(1);
    let (b2, b3) = (&left[0], &mut right[0]);
    let down_at = Instant::now();
    std::thread::scope(|s| {
        let h = s.spawn(|| b3.graceful_restart(after, Duration::from_secs(4)));
        // While client 3 is away the reflector keeps its routes (stale) and client 2 keeps receiving them.
        std::thread::sleep(Duration::from_millis(1500));
        for _ in 0..10 {
            let r2 = b2.bgp_routes("10.33.0.0/26");
            assert!(
                !r2.is_empty(),
                "client 2 lost 10.33.0.0/26 while client 3 restarts: {}",
                rr.log()
            );
            if down_at.elapsed() > Duration::from_secs(3) {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let p = rr.peer("node3").expect("peer node3");
        assert_ne!(
            p["state"], "Established",
            "the reflector should have seen the session drop: {p}"
        );
        assert!(
            p["prefixes_stale"].as_u64().unwrap_or(0) > 0,
            "routes kept as stale: {p}"
        );
        h.join().expect("restart thread");
    });
    birds[1].wait_established("rr1", T);
    // After End-of-RIB the prefix it no longer announces is gone; the other is still there.
    wait_for("stale 10.33.0.0/26 flushed after End-of-RIB", T, || {
        if !birds[0].bgp_routes("10.33.0.0/26").is_empty() {
            return Err("still there".into());
        }
        if birds[0].bgp_routes("10.3.0.0/26").is_empty() {
            return Err("10.3.0.0/26 lost".into());
        }
        Ok(())
    });
    let p = rr.peer("node3").expect("peer node3");
    assert_eq!(p["prefixes_stale"], 0, "{p}");
}

/// A client that comes back from a graceful restart with another router id (RFC 4724 keeps its routes at the
/// reflector, stale) and announces the same routes: the other client receives them with the new router id as
/// ORIGINATOR_ID (RFC 4456 section 8), although the routes themselves did not change.
#[test]
fn client_back_from_graceful_restart_with_another_router_id_is_reflected_with_it() {
    require(&["bird"]);
    let Setup { rr, mut birds } = setup(6, &[]);
    let prefix = "10.3.0.0/26";
    let originator = |b: &Bird| {
        b.bgp_routes(prefix)
            .first()
            .and_then(|r| r.attr("originator_id").map(str::to_string))
    };
    let old_id = birds[1].spec.addr.to_string();
    wait_for(
        "client 2 has client 3's route from its router id",
        T,
        || match originator(&birds[0]) {
            Some(o) if o == old_id => Ok(()),
            o => Err(format!("{o:?}")),
        },
    );
    let mut after = birds[1].spec.clone();
    let new_id = Ipv4Addr::new(10, 99, 0, 3);
    after.router_id = Some(new_id);
    birds[1].graceful_restart(after, Duration::from_secs(2));
    birds[1].wait_established("rr1", T);
    wait_for(
        "client 2 has client 3's route from its new router id",
        T,
        || match originator(&birds[0]) {
            Some(o) if o == new_id.to_string() => Ok(()),
            o => Err(format!("{o:?}; reflector log:\n{}", rr.log())),
        },
    );
    wait_for("no stale route left after client 3's End-of-RIB", T, || {
        let p = rr.peer("node3").expect("peer node3");
        if p["prefixes_stale"] == 0 {
            Ok(())
        } else {
            Err(p.to_string())
        }
    });
    assert_eq!(
        originator(&birds[0]).as_deref(),
        Some(new_id.to_string().as_str())
    );
}

#[test]
fn reflector_sigterm_lets_clients_keep_routes() {
    require(&["bird"]);
    let Setup { mut rr, birds } = setup(4, &[]);
    wait_for("bird2 has client 3's route", T, || {
        if birds[0].bgp_routes("10.3.0.0/26").is_empty() {
            Err("missing".into())
        } else {
            Ok(())
        }
    });
    let st = rr.stop("TERM").expect("rr-daemon exits on SIGTERM");
    assert!(st.success(), "exit status {st}: {}", rr.log());
    // No Cease: BIRD treats the drop as a graceful restart of the reflector and keeps the routes (stale).
    std::thread::sleep(Duration::from_secs(2));
    let r = birds[0].bgp_routes("10.3.0.0/26");
    assert!(
        !r.is_empty(),
        "route flushed after a graceful stop: {}",
        birds[0].birdc("show protocols all rr1")
    );
    let proto = birds[0].birdc("show protocols all rr1");
    assert!(!proto.contains("Received: Administrative shutdown"), "{proto}");

    // While the reflector is away client 3 replaces 10.3.0.0/26 by 10.33.0.0/26. The reflector comes back
    // on the same datastore: sessions return, client 2 learns the new prefix and, after the reflector's
    // End-of-RIB, flushes the stale one.
    let mut birds = birds;
    let r6 = birds[1].spec.routes6.clone();
    birds[1].set_routes(vec!["10.33.0.0/26".into()], r6);
    let yaml = std::fs::read_to_string(&rr.yaml).expect("yaml");
    let rr2 = Rr::start("rr1", &yaml, &[]);
    for b in &birds {
        b.wait_established("rr1", T);
    }
    rr2.wait_established("node2", T);
    rr2.wait_established("node3", T);
    wait_for("client 2 in step after the reflector returned", T, || {
        let old = birds[0].bgp_routes("10.3.0.0/26");
        let new = birds[0].bgp_routes("10.33.0.0/26");
        let other = birds[1].bgp_routes("10.2.0.0/26");
        if old.is_empty() && new.len() == 1 && other.len() == 1 {
            Ok(())
        } else {
            Err(format!("old {old:?} new {new:?} other {other:?}"))
        }
    });
}

#[test]
fn reflector_sigterm_with_cease_mode_flushes_clients() {
    require(&["bird"]);
    let Setup { mut rr, birds } = setup(5, &["--shutdown-mode", "cease"]);
    wait_for("bird2 has client 3's route", T, || {
        if birds[0].bgp_routes("10.3.0.0/26").is_empty() {
            Err("missing".into())
        } else {
            Ok(())
        }
    });
    let st = rr.stop("TERM").expect("rr-daemon exits on SIGTERM");
    assert!(st.success(), "exit status {st}");
    wait_for(
        "route flushed after administrative shutdown",
        Duration::from_secs(10),
        || {
            if birds[0].bgp_routes("10.3.0.0/26").is_empty() {
                Ok(())
            } else {
                Err("still there".into())
            }
        },
    );
    let proto = birds[0].birdc("show protocols all rr1");
    assert!(proto.contains("Administrative shutdown"), "{proto}");
    assert!(
        proto.contains("route reflector shutting down"),
        "shutdown communication (RFC 8203): {proto}"
    );
}
