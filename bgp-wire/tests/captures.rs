//! Real BGP sessions recorded byte for byte (BIRD 2 <-> GoBGP through a recording proxy, see
//! `tests/data/capture/generate.sh`): every message frames, decodes without error under the
//! context negotiated from the two OPENs, and re-encodes byte-exact. Golden checks pin what
//! the streams contain.

use bgp_wire::attr::type_code;
use bgp_wire::*;
use bytes::{Bytes, BytesMut};

fn frames(path: &str) -> Vec<Bytes> {
    let data = std::fs::read(format!(
        "{}/tests/data/capture/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("capture");
    let mut buf = BytesMut::from(&data[..]);
    let mut out = Vec::new();
    while let Some(len) = frame_len(&buf, MAX_EXTENDED_MESSAGE_LEN).expect("valid stream") {
        out.push(buf.split_to(len).freeze());
    }
    assert!(buf.is_empty(), "{path}: {} trailing bytes", buf.len());
    out
}

fn open_of(frame: &Bytes) -> Open {
    match Message::decode(frame, &DecodeCtx::default()).expect("open decodes") {
        Message::Open(o) => o,
        m => panic!("first message is not an OPEN: {m:?}"),
    }
}

/// Decodes every frame with `ctx`, checks the byte-exact round trip, returns the messages.
fn roundtrip(frames: &[Bytes], ctx: &DecodeCtx) -> Vec<Message> {
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (m, errors) =
                Message::decode_with_errors(f, ctx).unwrap_or_else(|e| panic!("message {i}: {e}"));
            assert!(errors.is_empty(), "message {i}: {errors:?}");
            let mut out = BytesMut::new();
            m.encode(&ctx.mirror(), &mut out)
                .unwrap_or_else(|e| panic!("message {i}: {e}"));
            assert_eq!(
                &out[..],
                &f[..],
                "message {i} ({:?}) does not round-trip",
                m.message_type()
            );
            m
        })
        .collect()
}

fn prefixes(msgs: &[Message]) -> Vec<String> {
    let mut v: Vec<String> = msgs
        .iter()
        .filter_map(|m| match m {
            Message::Update(u) => Some(u),
            _ => None,
        })
        .flat_map(|u| u.announced().map(|(_, n)| n.to_string()).collect::<Vec<_>>())
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn bird_gobgp_session_round_trips() {
    let from_gobgp = frames("gobgp-to-bird.bin");
    let from_bird = frames("bird-to-gobgp.bin");
    let gobgp_open = open_of(&from_gobgp[0]);
    let bird_open = open_of(&from_bird[0]);
    // What BIRD receives is decoded with BIRD's view of the negotiation, and vice versa.
    let (bird_rx, _) = negotiate(bird_open.capabilities(), gobgp_open.capabilities());
    let (gobgp_rx, _) = negotiate(gobgp_open.capabilities(), bird_open.capabilities());
    assert!(bird_rx.four_octet_as && gobgp_rx.four_octet_as);
    assert!(
        bird_rx.add_path.contains(AfiSafi::IPV4_UNICAST),
        "GoBGP sends path ids to BIRD"
    );
    let g = roundtrip(&from_gobgp, &bird_rx);
    let b = roundtrip(&from_bird, &gobgp_rx);
    assert_eq!(bird_open.asn(), 64512);
    assert_eq!(gobgp_open.bgp_id.to_string(), "10.255.2.12");
    assert!(
        bird_open
            .capability(bgp_wire::capability::code::GRACEFUL_RESTART)
            .is_some()
    );
    assert!(
        bird_open
            .capability(bgp_wire::capability::code::LONG_LIVED_GRACEFUL_RESTART)
            .is_some()
    );

    assert_eq!(
        prefixes(&g),
        [
            "10.22.0.0/16 path-id 1",
            "10.22.1.0/24 path-id 1",
            "10.22.1.0/24 path-id 2",
            "2001:db8:22::/48 path-id 1"
        ]
        .map(String::from)
    );
    assert_eq!(
        prefixes(&b),
        [
            "10.21.1.0/24 path-id 2",
            "10.21.128.0/17 path-id 2",
            "100.64.0.0/10 path-id 2",
            "2001:db8:21:1::/64 path-id 3",
            "2001:db8:21::/48 path-id 3"
        ]
        .map(String::from)
    );
    // The withdrawal of 10.22.1.0/24 path 1 and the counts of each message type.
    let withdrawn: Vec<String> = g
        .iter()
        .filter_map(|m| match m {
            Message::Update(u) => Some(u.withdrawals().map(|(_, n)| n.to_string()).collect::<Vec<_>>()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(withdrawn, ["10.22.1.0/24 path-id 1"]);
    let count = |msgs: &[Message], t: MessageType| msgs.iter().filter(|m| m.message_type() == t).count();
    assert_eq!(
        (
            count(&g, MessageType::Open),
            count(&g, MessageType::Update),
            count(&g, MessageType::Notification)
        ),
        (1, 13, 1)
    );
    assert_eq!(
        (
            count(&b, MessageType::Open),
            count(&b, MessageType::Update),
            count(&b, MessageType::RouteRefresh)
        ),
        (1, 4, 2)
    );

    // GoBGP's shutdown communication (RFC 9003).
    let shutdown = g.iter().find_map(|m| match m {
        Message::Notification(n) => Some(n.clone()),
        _ => None,
    });
    let shutdown = shutdown.expect("a NOTIFICATION from GoBGP");
    assert_eq!(
        shutdown.shutdown_message(),
        Some(Ok("maintenance window, back in 5 minutes"))
    );
    // BIRD's route refresh requests, End-of-RIB markers, communities of all kinds.
    // (GoBGP's soft reset in re-applies policy locally and sends no ROUTE-REFRESH.)
    assert!(b.iter().any(|m| matches!(m, Message::RouteRefresh(_))));
    let eor: Vec<AfiSafi> = b
        .iter()
        .filter_map(|m| match m {
            Message::Update(u) => u.end_of_rib(),
            _ => None,
        })
        .collect();
    assert!(
        eor.contains(&AfiSafi::IPV4_UNICAST) && eor.contains(&AfiSafi::IPV6_UNICAST),
        "{eor:?}"
    );
    let has = |msgs: &[Message], t: u8| {
        msgs.iter()
            .any(|m| matches!(m, Message::Update(u) if u.attr(t).is_some()))
    };
    for t in [
        type_code::COMMUNITIES,
        type_code::LARGE_COMMUNITIES,
        type_code::EXTENDED_COMMUNITIES,
    ] {
        assert!(has(&b, t), "BIRD sent attribute {t}");
    }
}
