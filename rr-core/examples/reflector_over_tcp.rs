//! Drives an `rr_core::Engine` over plain `std::net` sockets: a route reflector and two tiny
//! clients (threads speaking BGP through `bgp_wire`) listening on 127.0.0.2 and 127.0.0.3. The
//! engine asks for the connections (`Output::Connect`); the example opens them, pumps bytes both
//! ways and feeds the engine whole frames. Each client announces one prefix and waits until the
//! reflector has sent it the other's.
//!
//! Run with `cargo run -p rr-core --example reflector_over_tcp`. Loopback only, port chosen by the OS.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant as StdInstant};

use bgp_wire::{
    AfiSafi, AsPath, AttrValue, Capability, DecodeCtx, EncodeCtx, Message, Nlri, Open, PathAttribute, Update,
    frame_len,
};
use bytes::{Bytes, BytesMut};
use rr_core::{ConnId, Engine, EngineConfig, Instant, Output, PeerConfig, Role};

const AS: u32 = 64512;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut engine = Engine::new(EngineConfig::new("127.0.0.1".parse()?, AS));
    let start = StdInstant::now();
    let now = || Instant::from_nanos(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));

    // The clients listen on their own loopback address, port chosen by the OS.
    let mut ports: HashMap<IpAddr, u16> = HashMap::new();
    let mut clients = Vec::new();
    for (me, mine, theirs) in [
        ("127.0.0.2", "10.2.0.0/24", "10.3.0.0/24"),
        ("127.0.0.3", "10.3.0.0/24", "10.2.0.0/24"),
    ] {
        let l = TcpListener::bind((me, 0))?;
        ports.insert(me.parse()?, l.local_addr()?.port());
        clients.push(std::thread::spawn(move || client(l, me, mine, theirs)));
        engine.add_peer(now(), PeerConfig::new(me.parse()?, AS, Role::RrClient))?;
    }

    let mut socks: HashMap<ConnId, (TcpStream, BytesMut)> = HashMap::new();
    let deadline = StdInstant::now() + Duration::from_secs(10);
    while clients.iter().any(|c| !c.is_finished()) && StdInstant::now() < deadline {
        // Act on the engine's outputs (this also runs best path and update-group encoding).
        while let Some(o) = engine.poll_output() {
            match o {
                Output::Connect {
                    conn, remote_addr, ..
                } => {
                    let port = ports.get(&remote_addr).copied().unwrap_or(179);
                    match TcpStream::connect_timeout(
                        &SocketAddr::new(remote_addr, port),
                        Duration::from_secs(2),
                    ) {
                        Ok(s) => {
                            let local = s.local_addr().ok().map(|a| a.ip());
                            s.set_nonblocking(true)?;
                            socks.insert(conn, (s, BytesMut::new()));
                            engine.handle_connected(now(), conn, local);
                        }
                        Err(_) => engine.handle_connect_failed(now(), conn),
                    }
                }
                Output::Send { conn, bytes } => {
                    if let Some((s, _)) = socks.get_mut(&conn) {
                        s.set_nonblocking(false)?;
                        s.write_all(&bytes)?;
                        s.set_nonblocking(true)?;
                    }
                }
                Output::Close { conn } => {
                    socks.remove(&conn);
                }
                Output::Established { peer, .. } => println!("reflector: {peer} established"),
                Output::SessionDown { peer, reason } => println!("reflector: {peer} down: {reason}"),
                _ => {}
            }
        }
        // Read, frame, hand whole frames to the engine.
        let mut closed = Vec::new();
        for (conn, (s, buf)) in socks.iter_mut() {
            let mut tmp = [0u8; 4096];
            match s.read(&mut tmp) {
                Ok(0) => closed.push(*conn),
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => closed.push(*conn),
            }
            while let Ok(Some(len)) = frame_len(buf, 65535) {
                let frame = buf.split_to(len).freeze();
                engine.handle_frame(now(), *conn, &frame);
            }
        }
        for c in closed {
            socks.remove(&c);
            engine.handle_disconnected(now(), c);
        }
        if engine.poll_timeout().is_some_and(|t| t <= now()) {
            engine.handle_timeout(now());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    for c in clients {
        c.join().map_err(|_| "client thread panicked")??;
    }
    for p in engine.prefixes() {
        let r = engine.route(&p).ok_or("route")?;
        println!(
            "reflector Loc-RIB: {p} via {} ({:?})",
            r.paths[0].peer, r.deciding_step
        );
    }
    Ok(())
}

/// A minimal BGP client: OPEN, KEEPALIVE, one UPDATE, then read until `theirs` arrives.
fn client(l: TcpListener, me: &str, mine: &str, theirs: &str) -> Result<(), String> {
    let e = |x: &dyn std::fmt::Display| x.to_string();
    let (mut s, _) = l.accept().map_err(|x| e(&x))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|x| e(&x))?;
    let ctx = EncodeCtx {
        four_octet_as: true,
        ..EncodeCtx::default()
    };
    let dctx = DecodeCtx {
        four_octet_as: true,
        ..DecodeCtx::default()
    };
    let caps = vec![
        Capability::MultiProtocol(AfiSafi::IPV4_UNICAST),
        Capability::FourOctetAs(AS),
    ];
    let open = Open::new(
        bgp_wire::Asn::new(AS).map_err(|x| e(&x))?,
        bgp_wire::HoldTime::DEFAULT,
        bgp_wire::RouterId::new(me.parse().map_err(|x| e(&x))?).map_err(|x| e(&x))?,
        caps,
    );
    let update = Update {
        withdrawn: vec![],
        attributes: vec![
            PathAttribute::new(AttrValue::Origin(bgp_wire::Origin::Igp)),
            PathAttribute::new(AttrValue::AsPath(AsPath::new())),
            PathAttribute::new(AttrValue::NextHop(me.parse().map_err(|x| e(&x))?)),
            PathAttribute::new(AttrValue::LocalPref(100)),
        ],
        nlri: vec![Nlri::new(mine.parse().map_err(|x| e(&x))?)],
    };
    let mut out = BytesMut::new();
    for m in [Message::Open(open), Message::Keepalive, Message::Update(update)] {
        m.encode(&ctx, &mut out).map_err(|x| e(&x))?;
    }
    s.write_all(&out).map_err(|x| e(&x))?;
    let mut buf = BytesMut::new();
    loop {
        let mut tmp = [0u8; 4096];
        let n = s.read(&mut tmp).map_err(|x| e(&x))?;
        if n == 0 {
            return Err(format!("{me}: connection closed"));
        }
        buf.extend_from_slice(&tmp[..n]);
        while let Ok(Some(len)) = frame_len(&buf, 65535) {
            let frame: Bytes = buf.split_to(len).freeze();
            if let Ok(Message::Update(u)) = Message::decode(&frame, &dctx)
                && u.announced().any(|(_, n)| n.prefix.to_string() == theirs)
            {
                println!("client {me}: received {theirs} reflected with {:?}", u.value(9));
                return Ok(());
            }
        }
    }
}
