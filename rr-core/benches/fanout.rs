//! Fan-out through the engine, in memory: N clients x P prefixes, every client receiving every
//! other client's routes; with update groups and with one group per peer, in the same run.
//!
//! `arrivals`: the same clients arriving one at a time (each one joins its update group and is sent
//! the table so far, then announces), which is what the initial-table cache of update groups is for.
//!
//! `cargo bench -p rr-core --bench fanout`. The full-size run (1000 x 100, with memory) is
//! `cargo run --release -p rr-core --example fanout -- 1000 100`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::{
    AfiSafi, AsPath, Asn, AttrValue, Capability, EncodeCtx, HoldTime, Message, Nlri, Open, PathAttribute,
    Prefix, RouterId, Update,
};
use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rr_core::{ConnId, Engine, EngineConfig, Instant, Output, PeerConfig, Role};

const AS: u32 = 64512;

fn frame(m: Message) -> Bytes {
    let mut b = BytesMut::new();
    m.encode(
        &EncodeCtx {
            four_octet_as: true,
            ..EncodeCtx::default()
        },
        &mut b,
    )
    .expect("encode");
    b.freeze()
}

fn addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0002 + i as u32)
}

/// An engine with `n` established clients, and each client's UPDATE of `p` prefixes.
fn setup(n: usize, p: usize, groups: bool) -> (Engine, Vec<ConnId>, Vec<Bytes>) {
    let mut cfg = EngineConfig::new(Ipv4Addr::new(10, 255, 255, 1), AS);
    cfg.update_groups = groups;
    let mut e = Engine::new(cfg);
    let now = Instant::from_millis(1);
    let mut conns = Vec::new();
    for i in 0..n {
        let mut pc = PeerConfig::new(IpAddr::V4(addr(i)), AS, Role::RrClient);
        pc.passive = true;
        e.add_peer(now, pc).expect("peer");
        let (_, c) = e.handle_incoming(now, IpAddr::V4(addr(i)), None).expect("accept");
        let caps = vec![
            Capability::MultiProtocol(AfiSafi::IPV4_UNICAST),
            Capability::FourOctetAs(AS),
        ];
        let open = Open::new(
            Asn::new(AS).expect("as"),
            HoldTime::DEFAULT,
            RouterId::new(addr(i)).expect("id"),
            caps,
        );
        e.handle_frame(now, c, &frame(Message::Open(open)));
        e.handle_frame(now, c, &frame(Message::Keepalive));
        conns.push(c);
    }
    while e.poll_output().is_some() {}
    let updates = (0..n)
        .map(|i| {
            let nlri = (0..p)
                .map(|k| {
                    let a = Ipv4Addr::from(0x6400_0000 + ((i * p + k) as u32) * 256);
                    Nlri::new(Prefix::new(IpAddr::V4(a), 24).expect("prefix"))
                })
                .collect();
            frame(Message::Update(Update {
                withdrawn: vec![],
                attributes: vec![
                    PathAttribute::new(AttrValue::Origin(bgp_wire::Origin::Igp)),
                    PathAttribute::new(AttrValue::AsPath(AsPath::new())),
                    PathAttribute::new(AttrValue::NextHop(addr(i))),
                    PathAttribute::new(AttrValue::LocalPref(100)),
                ],
                nlri,
            }))
        })
        .collect();
    (e, conns, updates)
}

/// Feeds every UPDATE and drains the outputs; returns bytes handed to sockets.
fn run((mut e, conns, updates): (Engine, Vec<ConnId>, Vec<Bytes>)) -> usize {
    let now = Instant::from_millis(2);
    for (c, u) in conns.iter().zip(&updates) {
        e.handle_frame(now, *c, u);
    }
    let mut bytes = 0;
    while let Some(o) = e.poll_output() {
        if let Output::Send { bytes: b, .. } = o {
            bytes += b.len();
        }
    }
    bytes
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
        let mut pc = PeerConfig::new(IpAddr::V4(addr(i)), AS, Role::RrClient);
        pc.passive = true;
        e.add_peer(now, pc).expect("peer");
        let caps = vec![
            Capability::MultiProtocol(AfiSafi::IPV4_UNICAST),
            Capability::FourOctetAs(AS),
        ];
        let open = Open::new(
            Asn::new(AS).expect("as"),
            HoldTime::DEFAULT,
            RouterId::new(addr(i)).expect("id"),
            caps,
        );
        let nlri = (0..p)
            .map(|k| {
                let a = Ipv4Addr::from(0x6400_0000 + ((i * p + k) as u32) * 256);
                Nlri::new(Prefix::new(IpAddr::V4(a), 24).expect("prefix"))
            })
            .collect();
        let update = Update {
            withdrawn: vec![],
            attributes: vec![
                PathAttribute::new(AttrValue::Origin(bgp_wire::Origin::Igp)),
                PathAttribute::new(AttrValue::AsPath(AsPath::new())),
                PathAttribute::new(AttrValue::NextHop(addr(i))),
                PathAttribute::new(AttrValue::LocalPref(100)),
            ],
            nlri,
        };
        frames.push([
            frame(Message::Open(open)),
            frame(Message::Keepalive),
            frame(Message::Update(update)),
        ]);
    }
    while e.poll_output().is_some() {}
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
        while let Some(o) = e.poll_output() {
            if let Output::Send { bytes: b, .. } = o {
                bytes += b.len();
            }
        }
        e.handle_frame(now, c, update);
        while let Some(o) = e.poll_output() {
            if let Output::Send { bytes: b, .. } = o {
                bytes += b.len();
            }
        }
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
