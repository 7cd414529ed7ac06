//! A raw TCP peer sends garbage, a bad marker, a bad length and malformed attributes: it gets the right
//! NOTIFICATION (RFC 4271 section 6) or its routes are treated as withdrawn (RFC 7606), and the BIRD clients'
//! sessions and routes are not affected.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::bird::{Bird, BirdNeighbor, BirdSpec};
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, have, wait_for};

const T: Duration = Duration::from_secs(30);
const BASE: u8 = 8;

fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

fn open(router_id: Ipv4Addr) -> Vec<u8> {
    let caps: Vec<u8> = [
        &[1u8, 4, 0, 1, 0, 1][..],        // multiprotocol IPv4 unicast
        &[65u8, 4, 0, 0, 0xfc, 0x00][..], // 4-octet AS 64512
    ]
    .concat();
    let mut body = vec![4u8];
    body.extend_from_slice(&64512u16.to_be_bytes());
    body.extend_from_slice(&90u16.to_be_bytes());
    body.extend_from_slice(&router_id.octets());
    body.push(2 + caps.len() as u8);
    body.push(2);
    body.push(caps.len() as u8);
    body.extend_from_slice(&caps);
    msg(1, &body)
}

/// UPDATE announcing 10.9.0.0/26 with `origin` as the ORIGIN value.
fn update(origin: u8) -> Vec<u8> {
    let mut attrs = vec![0x40, 1, 1, origin];
    attrs.extend_from_slice(&[0x40, 2, 0]);
    attrs.extend_from_slice(&[0x40, 3, 4, 100, 64, 0, 9]);
    attrs.extend_from_slice(&[0x40, 5, 4]);
    attrs.extend_from_slice(&100u32.to_be_bytes());
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    body.extend_from_slice(&[26, 10, 9, 0, 0]);
    msg(2, &body)
}

struct RawPeer {
    s: TcpStream,
    buf: Vec<u8>,
}

impl RawPeer {
    /// Connects from `local` and completes the OPEN/KEEPALIVE exchange.
    fn establish(local: Ipv4Addr, rr: SocketAddr) -> Result<RawPeer, String> {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).map_err(|e| e.to_string())?;
        sock.bind(&SocketAddr::new(local.into(), 0).into()).map_err(|e| e.to_string())?;
        sock.connect_timeout(&rr.into(), Duration::from_secs(2)).map_err(|e| e.to_string())?;
        let s: TcpStream = sock.into();
        s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
        let mut p = RawPeer { s, buf: Vec::new() };
        p.send(&open(local));
        let (t, b) = p.next_msg().ok_or("no OPEN from the reflector")?;
        if t != 1 {
            return Err(format!("expected OPEN, got type {t} {b:?}"));
        }
        p.send(&msg(4, &[]));
        loop {
            match p.next_msg() {
                Some((4, _)) => return Ok(p),
                Some((3, b)) => return Err(format!("NOTIFICATION {b:?}")),
                Some(_) => {}
                None => return Err("closed before KEEPALIVE".into()),
            }
        }
    }

    fn send(&mut self, b: &[u8]) {
        let _ = self.s.write_all(b);
    }

    /// Next message (type, body), or `None` on EOF/timeout.
    fn next_msg(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 19 {
                let len = u16::from_be_bytes([self.buf[16], self.buf[17]]) as usize;
                if len >= 19 && self.buf.len() >= len {
                    let m: Vec<u8> = self.buf.drain(..len).collect();
                    return Some((m[18], m[19..].to_vec()));
                }
            }
            let mut tmp = [0u8; 4096];
            match self.s.read(&mut tmp) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
            }
        }
    }

    /// Reads until a NOTIFICATION: its (code, subcode).
    fn notification(&mut self) -> Option<(u8, u8)> {
        while let Some((t, b)) = self.next_msg() {
            if t == 3 && b.len() >= 2 {
                return Some((b[0], b[1]));
            }
        }
        None
    }
}

#[test]
fn raw_peer_errors_get_notifications_and_others_are_unaffected() {
    if !have("bird") {
        eprintln!("bird2 not installed: skipping");
        return;
    }
    let rr_ip = Ipv4Addr::new(127, 0, BASE, 1);
    let raw_ip = Ipv4Addr::new(127, 0, BASE, 9);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes.push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    // The raw peer is a client; it listens nowhere, so it is the one that connects.
    topo.nodes.push(NodeDef::client("raw", raw_ip, free_port("127.0.0.1")));
    let mut specs = Vec::new();
    for n in [2u8, 3] {
        let port = free_port("127.0.0.1");
        let mut spec = BirdSpec::client(n, port, 64512);
        spec.addr = Ipv4Addr::new(127, 0, BASE, n);
        spec.name = format!("bird{n}");
        spec.neighbors.push(BirdNeighbor::new("rr1", rr_ip, rr_port, 64512));
        topo.nodes.push(NodeDef::client(&format!("node{n}"), spec.addr, port));
        specs.push(spec);
    }
    let rr = Rr::start("rr1", &topo.yaml(), &[]);
    let birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    for b in &birds {
        b.wait_established("rr1", T);
    }
    wait_for("bird2 has bird3's route", T, || {
        if birds[0].bgp_routes("10.3.0.0/26").is_empty() { Err("missing".into()) } else { Ok(()) }
    });
    let rr_addr = SocketAddr::new(rr_ip.into(), rr_port);
    let connect = || wait_for("raw peer established", T, || RawPeer::establish(raw_ip, rr_addr));

    // RFC 4271 section 6.1: a marker that is not all ones is "Connection Not Synchronized" (1/1).
    let mut p = connect();
    p.send(&[0u8; 19]);
    assert_eq!(p.notification(), Some((1, 1)), "garbage");

    let mut p = connect();
    let mut bad_marker = msg(4, &[]);
    bad_marker[3] = 0xfe;
    p.send(&bad_marker);
    assert_eq!(p.notification(), Some((1, 1)), "bad marker");

    // A length above 4096 without extended messages: "Bad Message Length" (1/2).
    let mut p = connect();
    let mut bad_len = msg(4, &[]);
    bad_len[16..18].copy_from_slice(&5000u16.to_be_bytes());
    p.send(&bad_len);
    assert_eq!(p.notification(), Some((1, 2)), "bad length");
    // A KEEPALIVE with a body is a bad length too.
    let mut p = connect();
    p.send(&msg(4, &[0]));
    assert_eq!(p.notification(), Some((1, 2)), "KEEPALIVE with a body");

    // A valid UPDATE is reflected ...
    let mut p = connect();
    p.send(&update(0));
    wait_for("bird2 has the raw peer's route", T, || {
        let r = birds[0].bgp_routes("10.9.0.0/26");
        if r.first().and_then(|r| r.attr("originator_id")) == Some(&raw_ip.to_string()) { Ok(()) } else { Err(format!("{r:?}")) }
    });
    // ... and an UPDATE with a malformed ORIGIN is treated as a withdrawal (RFC 7606 section 7.1): the route
    // disappears, the session stays up.
    p.send(&update(7));
    wait_for("treat-as-withdraw at bird2", T, || {
        if birds[0].bgp_routes("10.9.0.0/26").is_empty() { Ok(()) } else { Err("still there".into()) }
    });
    p.send(&msg(4, &[]));
    p.s.set_read_timeout(Some(Duration::from_millis(1500))).expect("timeout");
    let start = Instant::now();
    while let Some((t, b)) = p.next_msg() {
        assert_ne!(t, 3, "NOTIFICATION after treat-as-withdraw: {b:?}");
        if start.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    assert_eq!(rr.peer_state("raw"), "Established");
    let tw = rr.peer("raw").and_then(|v| v["treat_as_withdraw"].as_u64()).unwrap_or(0);
    assert!(tw >= 1, "{:?}", rr.peer("raw"));

    // A Total Path Attribute Length that runs past the message: UPDATE Message Error / Malformed Attribute
    // List (3/1); RFC 7606 section 5.3 keeps this a session reset (the NLRI cannot be located).
    let mut bad = update(0);
    bad[21..23].copy_from_slice(&200u16.to_be_bytes());
    p.s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    p.send(&bad);
    let n = p.notification();
    assert!(matches!(n, Some((3, _))), "malformed attribute list: {n:?}");

    // The BIRD clients never noticed.
    for n in ["node2", "node3"] {
        let peer = rr.peer(n).expect("peer");
        assert_eq!(peer["state"], "Established", "{peer}");
        assert_eq!(peer["established_transitions"], 1, "{peer}");
    }
    assert!(!birds[0].bgp_routes("10.3.0.0/26").is_empty());
    assert!(!birds[1].bgp_routes("10.2.0.0/26").is_empty());
}
