//! Applies import and export policy: client A's import policy drops prefixes longer than /24;
//! client B's export policy keeps 10.2.0.0/16 from it and tags everything else with community
//! 64512:100. The policies run between A's Adj-RIB-In and best path, and per update group on the
//! way out.
//!
//! Run with `cargo run -p rr-core --example policy`.

use bgp_wire::{
    AsPath, Asn, AttrValue, Capability, Community, DecodeCtx, EncodeCtx, HoldTime, Message, Nlri, Open,
    PathAttribute, RouterId, Update,
};
use bytes::BytesMut;
use rr_core::attrs::Origin;
use rr_core::policy::{Action, Match, Modification, Policy, PolicyCommunity, PrefixMatch, Rule};
use rr_core::{ConnId, Engine, EngineConfig, Instant, Output, PeerConfig, Role};

const AS: u32 = 64512;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = EngineConfig::new("192.0.2.1".parse()?, AS);
    cfg.selection_deferral = None;
    let mut rr = Engine::new(cfg);

    // A: accept up to /24 inside 10.0.0.0/8, reject the rest.
    let up_to_24 = Match {
        prefix: Some(PrefixMatch::within("10.0.0.0/8".parse()?, 8, 24)),
        ..Match::default()
    };
    let import = Policy::new(vec![Rule::new(up_to_24, Action::Accept)], Action::Reject);
    // B: nothing from 10.2.0.0/16; the rest tagged 64512:100.
    let in_10_2 = Match {
        prefix: Some(PrefixMatch::within("10.2.0.0/16".parse()?, 16, 32)),
        ..Match::default()
    };
    let mut tag = Rule::new(Match::default(), Action::Accept);
    tag.modifications = vec![Modification::AddCommunity(PolicyCommunity::Standard(Community(
        (AS << 16) | 100,
    )))];
    let export = Policy::new(vec![Rule::new(in_10_2, Action::Reject), tag], Action::Accept);

    let a = up(&mut rr, "192.0.2.2", |c| c.import_policy = import)?;
    let b = up(&mut rr, "192.0.2.3", |c| c.export_policy = export)?;
    drain(&mut rr, b)?;

    let announce = Update {
        withdrawn: vec![],
        attributes: vec![
            PathAttribute::new(AttrValue::Origin(Origin::Igp)),
            PathAttribute::new(AttrValue::AsPath(AsPath::new())),
            PathAttribute::new(AttrValue::NextHop("192.0.2.2".parse()?)),
        ],
        nlri: ["10.1.0.0/24", "10.1.1.0/25", "10.2.0.0/24"]
            .iter()
            .map(|p| p.parse().map(Nlri::new))
            .collect::<Result<_, _>>()?,
    };
    feed(&mut rr, a, Message::Update(announce))?;
    let sent = drain(&mut rr, b)?;
    // 10.1.1.0/25 never reached best path; 10.2.0.0/24 is in the Loc-RIB but not sent to B.
    assert_eq!(sent, vec!["10.1.0.0/24"]);
    for p in ["10.1.0.0/24", "10.1.1.0/25", "10.2.0.0/24"] {
        println!(
            "loc-rib  {p}: {}",
            if rr.route(&p.parse()?).is_some() {
                "present"
            } else {
                "rejected on import"
            }
        );
    }
    Ok(())
}

/// Configures a passive client at `addr` and brings its session up in memory.
fn up(
    rr: &mut Engine,
    addr: &str,
    f: impl FnOnce(&mut PeerConfig),
) -> Result<ConnId, Box<dyn std::error::Error>> {
    let mut c = PeerConfig::new(addr.parse()?, AS, Role::RrClient);
    c.passive = true;
    f(&mut c);
    rr.add_peer(Instant::ZERO, c)?;
    let (_, conn) = rr
        .handle_incoming(Instant::ZERO, addr.parse()?, None)
        .expect("configured peer");
    let open = Open::new(
        Asn::new(AS)?,
        HoldTime::DEFAULT,
        RouterId::new(addr.parse()?)?,
        vec![Capability::FourOctetAs(AS)],
    );
    feed(rr, conn, Message::Open(open))?;
    feed(rr, conn, Message::Keepalive)?;
    Ok(conn)
}

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

/// Drains the engine; prints and returns the prefixes sent to `to`.
fn drain(rr: &mut Engine, to: ConnId) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let ctx = DecodeCtx {
        four_octet_as: true,
        ..DecodeCtx::default()
    };
    let mut sent = Vec::new();
    while let Some(o) = rr.poll_output() {
        let Output::Send { conn, bytes } = o else {
            continue;
        };
        for m in rr_core::split_messages(&bytes).filter(|_| conn == to) {
            if let Message::Update(u) = Message::decode(&m, &ctx)? {
                for (_, n) in u.announced() {
                    println!("sent B   {}: communities {:?}", n.prefix, u.value(8));
                    sent.push(n.prefix.to_string());
                }
            }
        }
    }
    Ok(sent)
}
