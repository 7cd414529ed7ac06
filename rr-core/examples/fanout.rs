//! In-memory fan-out timing: N clients x P prefixes each through one engine, every client
//! receiving every other client's routes (no sockets). Prints time, messages and bytes encoded.
//!
//! `cargo run --release -p rr-core --example fanout -- 1000 100 [--no-groups]`
//!
//! Memory is read from `/proc/self/status` (resident set before and after the routes arrive).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant as StdInstant;

use bgp_wire::Message;
use rr_core::{Engine, EngineConfig, Instant, Output};

#[path = "../benches/common/workload.rs"]
mod workload;
use workload::{AS, add_client, addr, drain, frame, open_frame, update_frame};

/// Resident set size and its peak in bytes, from `/proc/self/status` (Linux; 0 elsewhere).
fn rss() -> (usize, usize) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<usize>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let n = args.first().copied().unwrap_or(1000);
    let p = args.get(1).copied().unwrap_or(100);
    let mut cfg = EngineConfig::new(Ipv4Addr::new(10, 255, 255, 1), AS);
    cfg.update_groups = !std::env::args().any(|a| a == "--no-groups");
    let mut e = Engine::new(cfg);
    let now = Instant::from_millis(1);
    let mut conns = Vec::new();
    for i in 0..n {
        add_client(&mut e, now, i);
        let (_, c) = e.handle_incoming(now, IpAddr::V4(addr(i)), None).expect("accept");
        e.handle_frame(now, c, &open_frame(i));
        e.handle_frame(now, c, &frame(Message::Keepalive));
        conns.push(c);
    }
    drain(&mut e);
    let updates: Vec<_> = (0..n).map(|i| update_frame(i, p)).collect();
    let (rss_before, _) = rss();
    let t = StdInstant::now();
    for (i, u) in updates.iter().enumerate() {
        e.handle_frame(now, conns[i], u);
    }
    let t_in = t.elapsed();
    let (mut msgs, mut bytes, mut distinct) = (0usize, 0usize, std::collections::HashSet::new());
    while let Some(o) = e.poll_output() {
        if let Output::Send { bytes: b, .. } = o {
            msgs += 1;
            bytes += b.len();
            distinct.insert(b.as_ptr() as usize);
        }
    }
    let total = t.elapsed();
    let (rss_after, peak) = rss();
    let held = rss_after.saturating_sub(rss_before);
    let m = e.rib_memory();
    let per = |b: usize| b as f64 / m.paths_in.max(1) as f64;
    println!(
        "RIB memory for {} stored paths: Adj-RIB-In {:.0} B/path, Loc-RIB {:.0} B/path, Adj-RIB-Out {:.0} B/path, {} attribute sets {:.0} B/path; total {:.0} B/path",
        m.paths_in,
        per(m.adj_rib_in),
        per(m.loc_rib),
        per(m.adj_rib_out),
        m.attr_sets,
        per(m.attrs),
        per(m.adj_rib_in + m.loc_rib + m.adj_rib_out + m.attrs)
    );
    println!(
        "RSS growth while converging: {:.1} MiB ({} B per stored route); peak RSS {:.1} MiB",
        held as f64 / 1048576.0,
        held / (n * p).max(1),
        peak as f64 / 1048576.0
    );
    println!(
        "{n} clients x {p} prefixes: input {t_in:?}, total {total:?}; {msgs} sends ({} distinct encodings), {bytes} bytes queued; loc-rib {} prefixes, {} update groups",
        distinct.len(),
        e.loc_rib_len(),
        e.update_groups()
    );
}
