//! The reflector restarts (SIGTERM, start again) and no BIRD client loses a reflected route at any moment,
//! polled every 100 ms: the graceful stop closes without a Cease, the new reflector's OPEN carries the
//! Forwarding State bit (so the clients keep its routes until its End-of-RIB, RFC 4724 section 4.2), and it
//! defers route selection until every client sent End-of-RIB (section 4.1), also when one client comes back
//! 15 s late.

mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::bird::{Bird, parse_routes};
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, require, wait_for};

const T: Duration = Duration::from_secs(60);
/// The daemon's default deferral, passed explicitly (the test harness shortens it otherwise).
const DEFERRAL: [&str; 2] = ["--selection-deferral-secs", "120"];

struct Net {
    rr: Rr,
    birds: Vec<Bird>,
}

/// A reflector `127.0.B.1` and BIRD clients `127.0.B.n` announcing `10.n.0.0/26` each.
fn build(b: u8, clients: &[u8]) -> Net {
    let rr_ip = Ipv4Addr::new(127, 0, b, 1);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    let mut specs = Vec::new();
    for &n in clients {
        let spec = topo.add_bird_client(b, n, 64512, rr_ip, rr_port);
        specs.push(spec);
    }
    let rr = Rr::start("rr1", &topo.yaml(), &DEFERRAL);
    let birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    for bird in &birds {
        bird.wait_established("rr1", T);
    }
    Net { rr, birds }
}

/// The prefixes of the other clients that `bird` must hold (learned over BGP from the reflector).
fn expected(net_birds: &[Bird], i: usize) -> Vec<String> {
    net_birds
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .flat_map(|(_, o)| o.spec.routes4.clone())
        .collect()
}

fn missing(bird: &Bird, want: &[String]) -> Vec<String> {
    let have: Vec<String> = parse_routes(&bird.birdc("show route all"))
        .into_iter()
        .filter(|r| r.is_bgp())
        .map(|r| r.prefix)
        .collect();
    want.iter().filter(|p| !have.contains(p)).cloned().collect()
}

/// Sets the flag when dropped: pollers stop even when an assertion fails (otherwise the scope would wait for
/// them forever).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Per client: (polls, the polls that missed a prefix, with when and which).
type PollReport = BTreeMap<String, (usize, Vec<(Duration, Vec<String>)>)>;

/// Polls each client's table every 100 ms on its own thread until `stop`, checking that it holds the given
/// prefixes; returns, per client, (polls, the polls that missed a prefix).
fn poll(watch: Vec<(&Bird, Vec<String>)>, stop: &AtomicBool) -> PollReport {
    let start = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = watch
            .into_iter()
            .map(|(bird, want)| {
                s.spawn(move || {
                    let (mut polls, mut misses) = (0, Vec::new());
                    while !stop.load(Ordering::Acquire) {
                        let m = missing(bird, &want);
                        polls += 1;
                        if !m.is_empty() {
                            misses.push((start.elapsed(), m));
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    (bird.spec.name.clone(), (polls, misses))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("poller")).collect()
    })
}

fn wait_all_routes(birds: &[Bird]) {
    for i in 0..birds.len() {
        let want = expected(birds, i);
        wait_for(
            &format!("{} has every other client's route", birds[i].spec.name),
            T,
            || {
                let m = missing(&birds[i], &want);
                if m.is_empty() {
                    Ok(())
                } else {
                    Err(format!("missing {m:?}"))
                }
            },
        );
    }
}

fn assert_no_gap(report: &PollReport, log: &str) {
    for (name, (polls, misses)) in report {
        eprintln!("{name}: {polls} polls, {} with a route missing", misses.len());
        assert!(*polls > 10, "{name} polled only {polls} times");
        assert!(
            misses.is_empty(),
            "{name} lost routes during the restart: first {:?} ({} polls of {polls}); reflector log: {log}",
            misses.first(),
            misses.len()
        );
    }
}

/// Issue 13: SIGTERM the reflector and start it again; every client's reflected routes stay throughout.
#[test]
fn reflector_restart_keeps_every_client_route_in_place() {
    require(&["bird"]);
    const B: u8 = 171;
    let Net { mut rr, birds } = build(B, &[2, 3, 4]);
    wait_all_routes(&birds);
    let yaml = std::fs::read_to_string(&rr.yaml).expect("yaml");
    let stop = AtomicBool::new(false);
    let report = std::thread::scope(|s| {
        let watch = (0..birds.len())
            .map(|i| (&birds[i], expected(&birds, i)))
            .collect();
        let poller = s.spawn(|| poll(watch, &stop));
        let _stop = StopOnDrop(&stop);
        std::thread::sleep(Duration::from_millis(500));
        let st = rr.stop("TERM").expect("rr-daemon exits on SIGTERM");
        assert!(st.success(), "exit status {st}");
        let rr2 = Rr::start("rr1", &yaml, &DEFERRAL);
        for n in ["node2", "node3", "node4"] {
            rr2.wait_established(n, T);
        }
        wait_for("the restarted reflector ends its selection deferral", T, || {
            let st = rr2.get("/status");
            if st["selection_deferred"] == false {
                Ok(())
            } else {
                Err(st.to_string())
            }
        });
        // Past the reflector's End-of-RIB: the clients have swept whatever it did not re-announce.
        wait_for("clients have processed the reflector's End-of-RIB", T, || {
            let stale: Vec<String> = birds
                .iter()
                .filter(|b| {
                    b.birdc("show protocols all rr1")
                        .contains("graceful restart active")
                })
                .map(|b| b.spec.name.clone())
                .collect();
            if stale.is_empty() {
                Ok(())
            } else {
                Err(format!("still recovering: {stale:?}"))
            }
        });
        std::thread::sleep(Duration::from_secs(1));
        stop.store(true, Ordering::Release);
        let report = poller.join().expect("poller");
        (report, rr2)
    });
    let (report, rr2) = report;
    assert_no_gap(&report, &rr2.log());
    assert!(
        rr2.log().contains("End-of-RIB received from every peer"),
        "{}",
        rr2.log()
    );
}

/// Issue 14 item 3: the reflector restarts while one client is away and returns 15 s later; the clients that
/// came back first keep that client's routes (and each other's) throughout, because the reflector sends
/// them nothing, End-of-RIB included, until the late client's End-of-RIB.
#[test]
fn late_client_after_reflector_restart_loses_no_route_at_the_others() {
    require(&["bird"]);
    const B: u8 = 172;
    let Net { mut rr, mut birds } = build(B, &[2, 3, 4]);
    wait_all_routes(&birds);
    let yaml = std::fs::read_to_string(&rr.yaml).expect("yaml");
    let stop = AtomicBool::new(false);
    let late = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let wants: Vec<Vec<String>> = (0..2).map(|i| expected(&birds, i)).collect();
    let st = rr.stop("TERM").expect("rr-daemon exits on SIGTERM");
    assert!(st.success(), "exit status {st}");
    // Client 4 goes away while the reflector is down (its routes live on, stale, at clients 2 and 3).
    birds[2].kill();
    let (first, rest) = birds.split_at_mut(2);
    let late_bird = &mut rest[0];
    let rr2 = Rr::start("rr1", &yaml, &DEFERRAL);
    let restarted = Instant::now();
    let report = std::thread::scope(|s| {
        // Clients 2 and 3 must keep 10.4.0.0/26 and each other's route.
        let watch = first.iter().zip(wants).collect();
        let poller = s.spawn(|| poll(watch, &stop));
        let _stop = StopOnDrop(&stop);
        for n in ["node2", "node3"] {
            rr2.wait_established(n, T);
        }
        // Clients 2 and 3 have sent End-of-RIB: only the absent client 4 holds the selection back.
        wait_for("the deferral waits for node4 alone", T, || {
            let st = rr2.get("/status");
            if st["selection_deferred"] == true
                && st["selection_deferral_waiting"] == serde_json::json!(["node4"])
            {
                Ok(())
            } else {
                Err(st.to_string())
            }
        });
        // Client 4 returns 15 s after the reflector.
        std::thread::sleep(Duration::from_secs(15).saturating_sub(restarted.elapsed()));
        late_bird.start_again();
        *late.lock().expect("lock") = Some(Instant::now());
        rr2.wait_established("node4", T);
        wait_for("selection deferral ended", T, || {
            let st = rr2.get("/status");
            if st["selection_deferred"] == false {
                Ok(())
            } else {
                Err(st.to_string())
            }
        });
        wait_for("clients have processed the reflector's End-of-RIB", T, || {
            let stale: Vec<String> = first
                .iter()
                .filter(|b| {
                    b.birdc("show protocols all rr1")
                        .contains("graceful restart active")
                })
                .map(|b| b.spec.name.clone())
                .collect();
            if stale.is_empty() {
                Ok(())
            } else {
                Err(format!("still recovering: {stale:?}"))
            }
        });
        std::thread::sleep(Duration::from_secs(1));
        stop.store(true, Ordering::Release);
        poller.join().expect("poller")
    });
    let back = late.lock().expect("lock").expect("client 4 restarted");
    eprintln!(
        "client 4 back {:.1} s after the reflector restarted",
        back.duration_since(restarted).as_secs_f64()
    );
    assert_no_gap(&report, &rr2.log());
    // And the late client gets everyone's routes too.
    let want = expected(&birds, 2);
    wait_for("client 4 has the other clients' routes", T, || {
        let m = missing(&birds[2], &want);
        if m.is_empty() {
            Ok(())
        } else {
            Err(format!("missing {m:?}"))
        }
    });
}
