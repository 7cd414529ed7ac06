//! Issue 14 item 4: `GET /routes` without a prefix answers one bounded page (`limit`, `after=PREFIX`), a full
//! dump walks the pages with nothing lost or duplicated, and a hold-time-3 session stays up through a loop of
//! full dumps. RSS before and after the dumps is printed (a measurement, not an assertion).
//!
//! `RR_DUMP_ROUTES` (default 20000) and `RR_DUMP_SECS` (default 10) scale it, e.g. to 200000 routes.

mod common;

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::bird::{Bird, BirdNeighbor, BirdSpec};
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, require, wait_for};

const B: u8 = 173;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Every route of the Loc-RIB, page by page as `rr-cli routes` fetches it: (prefixes in order, pages,
/// slowest page).
fn dump(rr: &Rr, limit: usize) -> (Vec<String>, usize, Duration) {
    let (mut all, mut pages, mut slowest) = (Vec::new(), 0, Duration::ZERO);
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            None => format!("/routes?limit={limit}"),
            Some(a) => format!(
                "/routes?limit={limit}&after={}",
                a.replace('/', "%2F").replace(':', "%3A")
            ),
        };
        let t = Instant::now();
        let page = rr.get(&path);
        slowest = slowest.max(t.elapsed());
        let page = page.as_array().expect("array").clone();
        pages += 1;
        let n = page.len();
        assert!(n <= limit, "page of {n} > limit {limit}");
        after = page.last().and_then(|r| r["prefix"].as_str()).map(str::to_string);
        all.extend(
            page.iter()
                .map(|r| r["prefix"].as_str().expect("prefix").to_string()),
        );
        if n < limit {
            return (all, pages, slowest);
        }
    }
}

#[test]
fn full_dump_is_paged_complete_and_keeps_a_hold_time_3_session_up() {
    require(&["bird"]);
    let n = env_or("RR_DUMP_ROUTES", 20_000) as u32;
    let secs = env_or("RR_DUMP_SECS", 10);
    let rr_ip = Ipv4Addr::new(127, 0, B, 1);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    let mut birds = Vec::new();
    let mut want: HashSet<String> = HashSet::new();
    for c in [2u8, 3] {
        let port = free_port("127.0.0.1");
        let mut spec = BirdSpec::client(c, port, 64512);
        spec.addr = Ipv4Addr::new(127, 0, B, c);
        spec.name = format!("bird{B}-{c}");
        let mut nb = BirdNeighbor::new("rr1", rr_ip, rr_port, 64512);
        nb.hold_time = Some(3);
        spec.neighbors.push(nb);
        spec.routes6 = Vec::new();
        if c == 2 {
            // n /32s in 11.0.0.0/8 and up.
            spec.routes4 = (0..n)
                .map(|i| {
                    format!(
                        "{}.{}.{}.{}/32",
                        11 + (i >> 24),
                        (i >> 16) & 255,
                        (i >> 8) & 255,
                        i & 255
                    )
                })
                .collect();
        }
        want.extend(spec.routes4.iter().cloned());
        topo.nodes
            .push(NodeDef::client(&format!("node{c}"), spec.addr, port));
        birds.push(spec);
    }
    let rr = Rr::start("rr1", &topo.yaml(), &[]);
    let birds: Vec<Bird> = birds.into_iter().map(Bird::start).collect();
    for b in &birds {
        b.wait_established("rr1", Duration::from_secs(60));
    }
    let total = want.len();
    wait_for(
        "the reflector holds every route",
        Duration::from_secs(300),
        || {
            let st = rr.get("/status");
            if st["prefixes"].as_u64() == Some(total as u64) {
                Ok(())
            } else {
                Err(st.to_string())
            }
        },
    );
    let p = rr.peer("node2").expect("node2");
    assert_eq!(p["negotiated"]["hold_time_secs"], 3, "{p}");

    // Unbounded requests are refused; a request without a limit gets the default page.
    let first = rr.get("/routes");
    assert_eq!(first.as_array().map(Vec::len), Some(1000.min(total)));
    let (code, body) = rr.try_get_status("/routes?limit=0");
    assert_eq!(code, 400, "{body}");
    let (code, body) = rr.try_get_status("/routes?limit=100000");
    assert_eq!(code, 400, "{body}");

    let rss_before = rss_kib(rr.pid());
    let start = Instant::now();
    let mut dumps = 0;
    let mut slowest = Duration::ZERO;
    while dumps == 0 || start.elapsed() < Duration::from_secs(secs) {
        let (got, pages, slow) = dump(&rr, 1000);
        slowest = slowest.max(slow);
        let distinct: HashSet<&String> = got.iter().collect();
        assert_eq!(distinct.len(), got.len(), "a prefix twice in the dump");
        assert_eq!(got.len(), total, "dump of {} routes in {pages} pages", got.len());
        if dumps == 0 {
            assert!(
                got.iter().all(|p| want.contains(p)),
                "only the announced prefixes"
            );
            assert!(pages >= total / 1000, "{pages} pages");
        }
        dumps += 1;
    }
    let elapsed = start.elapsed();
    let rss_after = rss_kib(rr.pid());
    eprintln!(
        "{total} routes: {dumps} full dumps in {:.1} s (slowest page {} ms); reflector RSS {} MiB before, {} MiB after",
        elapsed.as_secs_f64(),
        slowest.as_millis(),
        rss_before / 1024,
        rss_after / 1024
    );
    // The hold-time-3 sessions never dropped during the dumps.
    for name in ["node2", "node3"] {
        let p = rr.peer(name).expect("peer");
        assert_eq!(p["state"], "Established", "{p}");
        assert_eq!(
            p["established_transitions"], 1,
            "{name} flapped during the dumps: {p}"
        );
    }
    for b in &birds {
        let proto = b.birdc("show protocols all rr1");
        assert!(
            proto.contains("Established") && !proto.contains("Hold timer expired"),
            "{proto}"
        );
    }
}
