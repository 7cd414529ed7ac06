//! Fan-out through the engine, in memory: N clients x P prefixes, every client receiving every
//! other client's routes; with update groups, with update groups and an import and export policy on
//! every client, and with one group per peer, in the same run.
//!
//! `arrivals`: the same clients arriving one at a time (each one joins its update group and is sent
//! the table so far, then announces), which is what the initial-table cache of update groups is for.
//!
//! `cargo bench -p rr-core --bench fanout`. The full-size run (1000 x 100, with memory) is
//! `cargo run --release -p rr-core --example fanout -- 1000 100`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::Message;
use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rr_core::policy::{Action, Match, Modification, Policy, PolicyCommunity, PrefixMatch, Rule};
use rr_core::{ConnId, Engine, EngineConfig, Instant};

#[path = "common/workload.rs"]
mod workload;
use workload::{AS, add_client, addr, drain, frame, open_frame, update_frame};

/// An engine with `n` established clients, and each client's UPDATE of `p` prefixes.
fn setup(n: usize, p: usize, groups: bool) -> (Engine, Vec<ConnId>, Vec<Bytes>) {
    setup_with(n, p, groups, false)
}

/// A BGPFilter-like policy: `k` reject rules for networks the workload never announces, then one rule
/// adding a community to 100.16.0.0/12 (every route is evaluated against every rule; with 100 x 100, about
/// 40% of the routes are modified).
fn policy(k: u8) -> Policy {
    let mut rules: Vec<Rule> = (0..k)
        .map(|j| {
            Rule::new(
                Match {
                    prefix: Some(PrefixMatch::within(
                        format!("172.{j}.0.0/16").parse().expect("prefix"),
                        16,
                        32,
                    )),
                    ..Match::default()
                },
                Action::Reject,
            )
        })
        .collect();
    rules.push(Rule {
        matches: Match {
            prefix: Some(PrefixMatch::within(
                "100.16.0.0/12".parse().expect("prefix"),
                12,
                32,
            )),
            ..Match::default()
        },
        action: Action::Accept,
        modifications: vec![Modification::AddCommunity(PolicyCommunity::Standard(
            bgp_wire::Community::new(64512, 1),
        ))],
    });
    Policy::new(rules, Action::Accept)
}

/// [`setup`], with every client given the same import and export [`policy`] when `with_policy`.
fn setup_with(n: usize, p: usize, groups: bool, with_policy: bool) -> (Engine, Vec<ConnId>, Vec<Bytes>) {
    let mut cfg = EngineConfig::new(Ipv4Addr::new(10, 255, 255, 1), AS);
    cfg.update_groups = groups;
    let mut e = Engine::new(cfg);
    let now = Instant::from_millis(1);
    let mut conns = Vec::new();
    for i in 0..n {
        add_client(&mut e, now, i);
        if with_policy {
            let id = e.peer_by_addr(IpAddr::V4(addr(i))).expect("peer");
            let mut c = e.peer_info_of(id).expect("peer").config;
            c.import_policy = policy(5);
            c.export_policy = policy(5);
            e.update_peer(now, id, c).expect("update");
        }
        let (_, c) = e.handle_incoming(now, IpAddr::V4(addr(i)), None).expect("accept");
        e.handle_frame(now, c, &open_frame(i));
        e.handle_frame(now, c, &frame(Message::Keepalive));
        conns.push(c);
    }
    drain(&mut e);
    let updates = (0..n).map(|i| update_frame(i, p)).collect();
    (e, conns, updates)
}

/// Feeds every UPDATE and drains the outputs; returns bytes handed to sockets.
fn run((mut e, conns, updates): (Engine, Vec<ConnId>, Vec<Bytes>)) -> usize {
    let now = Instant::from_millis(2);
    for (c, u) in conns.iter().zip(&updates) {
        e.handle_frame(now, *c, u);
    }
    drain(&mut e)
}

fn fanout(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout");
    g.sample_size(10);
    for (n, p) in [(100, 100), (1000, 100)] {
        g.bench_function(format!("{n}x{p}/update-groups"), |b| {
            b.iter_batched(
                || setup(n, p, true),
                |s| black_box(run(s)),
                BatchSize::PerIteration,
            )
        });
    }
    // Every client with a 6-rule import and export policy (one shared group): the cost of policy in use.
    g.bench_function("100x100/update-groups+policy", |b| {
        b.iter_batched(
            || setup_with(100, 100, true, true),
            |s| black_box(run(s)),
            BatchSize::PerIteration,
        )
    });
    // One group per peer: every UPDATE encoded once per receiver (100 x 100 only; the 1000-client
    // run takes minutes this way, which is the point of update groups).
    g.bench_function("100x100/no-groups", |b| {
        b.iter_batched(
            || setup(100, 100, false),
            |s| black_box(run(s)),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// Engine with `n` configured (not yet connected) clients, and each client's OPEN, KEEPALIVE and
/// UPDATE of `p` prefixes.
fn setup_arrivals(n: usize, p: usize) -> (Engine, Vec<[Bytes; 3]>) {
    let mut e = Engine::new(EngineConfig::new(Ipv4Addr::new(10, 255, 255, 1), AS));
    let now = Instant::from_millis(1);
    let mut frames = Vec::new();
    for i in 0..n {
        add_client(&mut e, now, i);
        frames.push([open_frame(i), frame(Message::Keepalive), update_frame(i, p)]);
    }
    drain(&mut e);
    (e, frames)
}

/// Clients arriving one at a time, as Calico nodes do after a reflector restart: each one
/// establishes (and receives the table so far), then announces its prefixes, with a flush after
/// each step. Returns bytes handed to sockets.
fn arrive((mut e, frames): (Engine, Vec<[Bytes; 3]>)) -> usize {
    let now = Instant::from_millis(2);
    let mut bytes = 0;
    for (i, [open, keepalive, update]) in frames.iter().enumerate() {
        let (_, c) = e.handle_incoming(now, IpAddr::V4(addr(i)), None).expect("accept");
        e.handle_frame(now, c, open);
        e.handle_frame(now, c, keepalive);
        bytes += drain(&mut e);
        e.handle_frame(now, c, update);
        bytes += drain(&mut e);
    }
    bytes
}

fn arrivals(c: &mut Criterion) {
    let mut g = c.benchmark_group("arrivals");
    g.sample_size(10);
    for (n, p) in [(300, 100), (1000, 100)] {
        g.bench_function(format!("{n}x{p}"), |b| {
            b.iter_batched(
                || setup_arrivals(n, p),
                |s| black_box(arrive(s)),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, fanout, arrivals);
criterion_main!(benches);
