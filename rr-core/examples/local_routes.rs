//! Originates and withdraws routes of our own and follows the Loc-RIB's best-path changes.
//!
//! One route-reflection client talks to the engine in memory (its messages are encoded with
//! `bgp_wire` and fed as frames). The engine originates 10.9.0.0/16, the client announces
//! 10.1.0.0/24; `Output::LocRibChanged` reports both, and the client is sent our route without
//! ORIGINATOR_ID or CLUSTER_LIST (it is ours, not reflected).
//!
//! Run with `cargo run -p rr-core --example local_routes`.

use bgp_wire::{
    AsPath, Asn, AttrValue, Capability, DecodeCtx, EncodeCtx, HoldTime, Message, Nlri, Open, PathAttribute,
    RouterId, Update,
};
use bytes::BytesMut;
use rr_core::attrs::{Origin, RouteAttrs};
use rr_core::{ConnId, Engine, EngineConfig, Instant, Output, PeerConfig, Role};

const AS: u32 = 64512;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = EngineConfig::new("192.0.2.1".parse()?, AS);
    cfg.selection_deferral = None; // a fresh engine, not a restart: select at once
    let mut rr = Engine::new(cfg);
    rr.set_loc_rib_events(true);
    let now = Instant::ZERO;

    // A client that connects to us; its session comes up in memory.
    let mut client = PeerConfig::new("192.0.2.2".parse()?, AS, Role::RrClient);
    client.passive = true;
    rr.add_peer(now, client)?;
    let (_, conn) = rr
        .handle_incoming(now, "192.0.2.2".parse()?, None)
        .expect("configured peer");
    let open = Open::new(
        Asn::new(AS)?,
        HoldTime::DEFAULT,
        RouterId::new("192.0.2.2".parse()?)?,
        vec![Capability::FourOctetAs(AS)],
    );
    feed(&mut rr, conn, Message::Open(open))?;
    feed(&mut rr, conn, Message::Keepalive)?;
    drain(&mut rr)?;

    // Our own route, and one from the client.
    rr.originate(
        now,
        "10.9.0.0/16".parse()?,
        RouteAttrs::new(Origin::Igp, Some("192.0.2.1".parse()?)),
    )?;
    let from_client = Update {
        withdrawn: vec![],
        attributes: vec![
            PathAttribute::new(AttrValue::Origin(Origin::Igp)),
            PathAttribute::new(AttrValue::AsPath(AsPath::new())),
            PathAttribute::new(AttrValue::NextHop("192.0.2.2".parse()?)),
        ],
        nlri: vec![Nlri::new("10.1.0.0/24".parse()?)],
    };
    feed(&mut rr, conn, Message::Update(from_client))?;
    drain(&mut rr)?;

    // Withdrawing it reports the prefix without a best path, and the client is sent a withdrawal.
    rr.withdraw_local(now, &"10.9.0.0/16".parse()?);
    drain(&mut rr)?;
    Ok(())
}

/// Encodes `m` as the client would and hands the frame to the engine.
fn feed(rr: &mut Engine, conn: ConnId, m: Message) -> Result<(), Box<dyn std::error::Error>> {
    let mut buf = BytesMut::new();
    m.encode(
        &EncodeCtx {
            four_octet_as: true,
            ..EncodeCtx::default()
        },
        &mut buf,
    )?;
    rr.handle_frame(Instant::ZERO, conn, &buf.freeze());
    Ok(())
}

/// Prints the Loc-RIB changes and the UPDATEs the client is sent.
fn drain(rr: &mut Engine) -> Result<(), Box<dyn std::error::Error>> {
    let ctx = DecodeCtx {
        four_octet_as: true,
        ..DecodeCtx::default()
    };
    while let Some(o) = rr.poll_output() {
        match o {
            Output::LocRibChanged {
                prefix,
                best: Some(b),
            } => {
                println!(
                    "loc-rib  {prefix}: best from {} next hop {:?}",
                    b.peer, b.attrs.next_hop
                );
            }
            Output::LocRibChanged { prefix, best: None } => println!("loc-rib  {prefix}: gone"),
            Output::Send { bytes, .. } => {
                for m in rr_core::split_messages(&bytes) {
                    let Message::Update(u) = Message::decode(&m, &ctx)? else {
                        continue;
                    };
                    for (_, n) in u.announced() {
                        // Our own route: no ORIGINATOR_ID (9) or CLUSTER_LIST (10).
                        assert!(u.value(9).is_none() && u.value(10).is_none());
                        println!("sent     {}: next hop {:?}", n.prefix, u.value(3));
                    }
                    for (_, n) in u.withdrawals() {
                        println!("sent     {}: withdrawn", n.prefix);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}
