//! Byte vectors written from the RFC packet layouts, checked in both directions: the bytes
//! decode to the expected value and the value encodes to the same bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_wire::attr::type_code;
use bgp_wire::capability::code as cap;
use bgp_wire::notification::{cease, code};
use bgp_wire::*;
use bytes::{Bytes, BytesMut};

/// Hex with whitespace ignored; `|` starts a comment up to the end of the line.
fn hex(s: &str) -> Vec<u8> {
    let d: Vec<u8> = s
        .lines()
        .flat_map(|l| l.split('|').next().unwrap_or("").bytes())
        .filter(|b| b.is_ascii_hexdigit())
        .collect();
    assert!(d.len().is_multiple_of(2), "odd hex length in {s:?}");
    d.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}

/// A whole message: marker, length, type, body.
fn frame(ty: u8, body: &str) -> Bytes {
    let body = hex(body);
    let mut v = vec![0xff; 16];
    v.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    v.push(ty);
    v.extend_from_slice(&body);
    Bytes::from(v)
}

fn ctx4() -> (DecodeCtx, EncodeCtx) {
    (
        DecodeCtx {
            four_octet_as: true,
            ..Default::default()
        },
        EncodeCtx {
            four_octet_as: true,
            ..Default::default()
        },
    )
}

/// Checks decode(bytes) == msg and encode(msg) == bytes.
fn both(bytes: &Bytes, msg: &Message, d: &DecodeCtx, e: &EncodeCtx) {
    let (got, errors) = Message::decode_with_errors(bytes, d).expect("decodes");
    assert!(errors.is_empty(), "unexpected errors {errors:?}");
    assert_eq!(&got, msg);
    let mut out = BytesMut::new();
    msg.encode(e, &mut out).expect("encodes");
    assert_eq!(&out[..], &bytes[..], "encoding differs");
    assert_eq!(frame_len(bytes, d.max_message_len()).unwrap(), Some(bytes.len()));
}

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn attr(flags: u8, value: AttrValue) -> PathAttribute {
    PathAttribute { flags, value }
}

#[test]
fn keepalive() {
    let (d, e) = ctx4();
    both(&frame(4, ""), &Message::Keepalive, &d, &e);
}

#[test]
fn open_with_every_capability() {
    // RFC 4271 4.2 header fields, then one Capabilities parameter (RFC 5492) holding every
    // capability this crate knows, and a second parameter with an unknown capability.
    let caps = "
        01 04 0001 00 01            | MP IPv4 unicast (RFC 4760 8)
        01 04 0002 00 01            | MP IPv6 unicast
        02 00                       | route refresh (RFC 2918)
        46 00                       | enhanced route refresh (RFC 7313)
        41 04 0001 0000             | 4-octet AS 65536 (RFC 6793)
        45 08 0001 01 03 0002 01 01 | ADD-PATH ipv4 both, ipv6 receive (RFC 7911)
        40 0a 4078 0001 01 80 0002 01 00 | GR N bit, 120 s, ipv4 F, ipv6 (RFC 4724, RFC 8538)
        47 07 0001 01 80 000e10     | LLGR ipv4 flags 0x80 stale 3600 (RFC 9494)
        06 00                       | extended message (RFC 8654)
        49 08 03 727231 03 6c6162   | FQDN rr1 / lab
        09 01 03                    | role customer (RFC 9234)
        05 06 0001 0001 0002        | extended next hop ipv4 unicast over ipv6 (RFC 8950)
    ";
    let caps_len = hex(caps).len();
    let body = format!(
        "04 5ba0 005a c0000201 {:02x} 02 {:02x} {caps} 02 02 8000",
        caps_len + 2 + 4,
        caps_len
    );
    let bytes = frame(1, &body);
    let open = Open {
        version: 4,
        my_as: 23456,
        hold_time: HoldTime::new(90).unwrap(),
        bgp_id: RouterId::new(Ipv4Addr::new(192, 0, 2, 1)).unwrap(),
        params: vec![
            OptionalParameter::Capabilities(vec![
                Capability::MultiProtocol(AfiSafi::IPV4_UNICAST),
                Capability::MultiProtocol(AfiSafi::IPV6_UNICAST),
                Capability::RouteRefresh,
                Capability::EnhancedRouteRefresh,
                Capability::FourOctetAs(65536),
                Capability::AddPath(vec![
                    (AfiSafi::IPV4_UNICAST, AddPathMode::Both),
                    (AfiSafi::IPV6_UNICAST, AddPathMode::Receive),
                ]),
                Capability::GracefulRestart(GracefulRestart {
                    restart_state: false,
                    notification: true,
                    restart_time: 120,
                    families: vec![
                        GrFamily {
                            afi_safi: AfiSafi::IPV4_UNICAST,
                            forwarding: true,
                        },
                        GrFamily {
                            afi_safi: AfiSafi::IPV6_UNICAST,
                            forwarding: false,
                        },
                    ],
                }),
                Capability::LongLivedGracefulRestart(vec![LlgrFamily {
                    afi_safi: AfiSafi::IPV4_UNICAST,
                    flags: 0x80,
                    stale_time: 3600,
                }]),
                Capability::ExtendedMessage,
                Capability::Fqdn {
                    hostname: "rr1".into(),
                    domain: "lab".into(),
                },
                Capability::BgpRole(BgpRole::CUSTOMER),
                Capability::ExtendedNextHop(vec![ExtendedNextHop {
                    nlri: AfiSafi::IPV4_UNICAST,
                    next_hop_afi: Afi::IPV6,
                }]),
            ]),
            OptionalParameter::Capabilities(vec![Capability::Unknown {
                code: 0x80,
                bytes: Bytes::new(),
            }]),
        ],
        extended_params: false,
    };
    let (d, e) = ctx4();
    both(&bytes, &Message::Open(open.clone()), &d, &e);
    assert_eq!(open.asn(), 65536);
    assert_eq!(open.capabilities().count(), 13);
    assert!(open.capability(cap::EXTENDED_MESSAGE).is_some());
}

#[test]
fn open_extended_optional_parameters_rfc9072() {
    // RFC 9072 section 2: Non-Ext OP Len 255, Non-Ext OP Type 255, Extended Opt. Parm. Length,
    // then parameters with 2-octet lengths.
    let bytes = frame(1, "04 fde9 00b4 0a000001 ff ff 0009 02 0006 41 04 0000fde9");
    let open = Open {
        version: 4,
        my_as: 65001,
        hold_time: HoldTime::new(180).unwrap(),
        bgp_id: RouterId::new(Ipv4Addr::new(10, 0, 0, 1)).unwrap(),
        params: vec![OptionalParameter::Capabilities(vec![Capability::FourOctetAs(
            65001,
        )])],
        extended_params: true,
    };
    let (d, e) = ctx4();
    both(&bytes, &Message::Open(open), &d, &e);
}

#[test]
fn open_unknown_parameter_and_malformed_capability_kept() {
    // Parameter type 1 (deprecated authentication) and a 4-octet AS capability of length 2:
    // both kept byte-exact.
    let bytes = frame(1, "04 fde9 005a 0a000001 0a 01 02 abcd 02 04 41 02 0102");
    let open = Open {
        version: 4,
        my_as: 65001,
        hold_time: HoldTime::DEFAULT,
        bgp_id: RouterId::new(Ipv4Addr::new(10, 0, 0, 1)).unwrap(),
        params: vec![
            OptionalParameter::Unknown {
                param_type: 1,
                bytes: Bytes::from_static(&[0xab, 0xcd]),
            },
            OptionalParameter::Capabilities(vec![Capability::Unknown {
                code: 0x41,
                bytes: Bytes::from_static(&[1, 2]),
            }]),
        ],
        extended_params: false,
    };
    let (d, e) = ctx4();
    both(&bytes, &Message::Open(open), &d, &e);
}

#[test]
fn open_errors_map_to_rfc4271_notifications() {
    let d = DecodeCtx::default();
    let cases = [
        (
            "03 fde9 005a 0a000001 00",
            code::OPEN_MESSAGE_ERROR,
            1,
            vec![0, 4],
        ),
        ("04 fde9 0001 0a000001 00", code::OPEN_MESSAGE_ERROR, 6, vec![]),
        ("04 fde9 005a 00000000 00", code::OPEN_MESSAGE_ERROR, 3, vec![]),
        (
            "04 fde9 005a 0a000001 05 02 03 0000",
            code::OPEN_MESSAGE_ERROR,
            0,
            vec![],
        ),
        (
            "04 fde9 005a 0a000001 01 02 00",
            code::OPEN_MESSAGE_ERROR,
            0,
            vec![],
        ),
        ("04 fde9 005a 0a0000", code::MESSAGE_HEADER_ERROR, 2, vec![0, 27]),
    ];
    for (body, c, s, data) in cases {
        let err = Message::decode(&frame(1, body), &d).unwrap_err();
        assert_eq!(err.treatment, Treatment::SessionReset, "{body}");
        let n = Notification::from(&err);
        assert_eq!(
            (n.code, n.subcode, &n.data[..]),
            (c, s, &data[..]),
            "{body}: {err}"
        );
    }
}

/// Every path attribute type with the flags the RFCs specify.
#[test]
fn update_ipv4_with_every_attribute() {
    let body = "
        0002 08 0a                          | withdrawn 10.0.0.0/8
        0087                                | total path attribute length (135)
        40 01 01 00                         | ORIGIN IGP
        40 02 0e 02 03 0000fde9 0000fdea 00010000 | AS_PATH seq 65001 65002 65536 (4-octet)
        40 03 04 c0000201                   | NEXT_HOP 192.0.2.1
        80 04 04 00000064                   | MED 100
        40 05 04 000000c8                   | LOCAL_PREF 200
        40 06 00                            | ATOMIC_AGGREGATE
        c0 07 08 0000fde9 c0000201          | AGGREGATOR 65001 192.0.2.1
        c0 08 08 fde90064 ffffff01          | COMMUNITIES 65001:100 NO_EXPORT
        80 09 04 0a000001                   | ORIGINATOR_ID 10.0.0.1
        80 0a 08 0a000001 0a000002          | CLUSTER_LIST
        c0 10 10 0002fde900000064 01020a00000100c8 | EXTENDED COMMUNITIES rt:65001:100 rt:10.0.0.1:200
        c0 20 0c 0000fde9 00000001 00000002 | LARGE_COMMUNITY 65001:1:2
        c0 23 04 0000fde9                   | OTC 65001
        e0 63 02 abcd                       | unknown optional transitive partial
        91 1a 0000                          | unknown optional non-transitive, extended length, low bit
        10 c0a8 18 0a0102 00                | NLRI 192.168.0.0/16 10.1.2.0/24 0.0.0.0/0
    ";
    let bytes = frame(2, body);
    let u = Update {
        withdrawn: vec![Nlri::new(p("10.0.0.0/8"))],
        attributes: vec![
            attr(0x40, AttrValue::Origin(Origin::Igp)),
            attr(
                0x40,
                AttrValue::AsPath(AsPath::from_sequence([65001, 65002, 65536])),
            ),
            attr(0x40, AttrValue::NextHop(Ipv4Addr::new(192, 0, 2, 1))),
            attr(0x80, AttrValue::MultiExitDisc(100)),
            attr(0x40, AttrValue::LocalPref(200)),
            attr(0x40, AttrValue::AtomicAggregate),
            attr(
                0xc0,
                AttrValue::Aggregator(Aggregator {
                    asn: 65001,
                    address: Ipv4Addr::new(192, 0, 2, 1),
                }),
            ),
            attr(
                0xc0,
                AttrValue::Communities(vec![Community::new(65001, 100), Community::NO_EXPORT]),
            ),
            attr(0x80, AttrValue::OriginatorId(Ipv4Addr::new(10, 0, 0, 1))),
            attr(
                0x80,
                AttrValue::ClusterList(vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)]),
            ),
            attr(
                0xc0,
                AttrValue::ExtendedCommunities(vec![
                    ExtendedCommunity::route_target_as2(65001, 100),
                    ExtendedCommunity([0x01, 0x02, 10, 0, 0, 1, 0, 200]),
                ]),
            ),
            attr(
                0xc0,
                AttrValue::LargeCommunities(vec![LargeCommunity::new(65001, 1, 2)]),
            ),
            attr(0xc0, AttrValue::OnlyToCustomer(65001)),
            attr(
                0xe0,
                AttrValue::Unknown {
                    type_code: 0x63,
                    bytes: Bytes::from_static(&[0xab, 0xcd]),
                },
            ),
            attr(
                0x91,
                AttrValue::Unknown {
                    type_code: 0x1a,
                    bytes: Bytes::new(),
                },
            ),
        ],
        nlri: vec![
            Nlri::new(p("192.168.0.0/16")),
            Nlri::new(p("10.1.2.0/24")),
            Nlri::new(p("0.0.0.0/0")),
        ],
    };
    let fixed = u;
    let (d, e) = ctx4();
    both(&bytes, &Message::Update(fixed.clone()), &d, &e);
    assert_eq!(fixed.announced().count(), 3);
    assert_eq!(fixed.withdrawals().count(), 1);
    assert_eq!(fixed.end_of_rib(), None);
}

#[test]
fn update_two_octet_as_with_as4_path_and_merge() {
    // RFC 6793 4.2.2: an old speaker's AS_PATH has AS_TRANS where the AS is 4-octet, and the
    // AS4_PATH / AS4_AGGREGATOR carry the real numbers.
    let body = "
        0000 0037
        40 01 01 02                         | ORIGIN INCOMPLETE
        40 02 08 02 03 fde9 5ba0 fdea       | AS_PATH 65001 AS_TRANS 65002 (2-octet)
        40 03 04 c0000201
        c0 07 06 5ba0 c0000202              | AGGREGATOR AS_TRANS 192.0.2.2
        c0 11 0a 02 02 00010000 0000fdea    | AS4_PATH 65536 65002
        c0 12 08 00010001 c0000202          | AS4_AGGREGATOR 65537
        18 c63364
    ";
    let bytes = frame(2, body);
    let d = DecodeCtx::default();
    let e = EncodeCtx::default();
    let Message::Update(u) = Message::decode(&bytes, &d).unwrap() else {
        panic!("not an update")
    };
    let mut out = BytesMut::new();
    Message::Update(u.clone()).encode(&e, &mut out).unwrap();
    assert_eq!(&out[..], &bytes[..]);
    let Some(AttrValue::AsPath(path)) = u.value(type_code::AS_PATH) else {
        panic!()
    };
    assert!(!path.four_octet_wire);
    assert_eq!(path.to_string(), "65001 23456 65002");
    let mut merged = u.clone();
    merged.merge_as4();
    let Some(AttrValue::AsPath(path)) = merged.value(type_code::AS_PATH) else {
        panic!()
    };
    assert_eq!(path.to_string(), "65001 65536 65002");
    assert_eq!(
        merged.value(type_code::AGGREGATOR),
        Some(&AttrValue::Aggregator(Aggregator {
            asn: 65537,
            address: Ipv4Addr::new(192, 0, 2, 2)
        }))
    );
    assert!(merged.value(type_code::AS4_PATH).is_none());
}

#[test]
fn update_mp_reach_ipv6_link_local_and_add_path() {
    // RFC 4760 3 / RFC 2545 3: 32-octet next hop (global + link-local); RFC 7911 path ids.
    let body = "
        0000 0046
        90 0e 003b 0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00
                   00000001 20 20010db8  00000002 40 20010db800010002
        40 01 01 00
        40 02 00
    ";
    let bytes = frame(2, body);
    let ap = AddPathMap::with([AfiSafi::IPV6_UNICAST]);
    let d = DecodeCtx {
        four_octet_as: true,
        add_path: ap.clone(),
        extended_message: false,
    };
    let e = d.mirror();
    let u = Update {
        withdrawn: vec![],
        attributes: vec![
            attr(
                0x90,
                AttrValue::MpReach(MpReach {
                    afi_safi: AfiSafi::IPV6_UNICAST,
                    next_hop: MpNextHop::Ipv6 {
                        global: "2001:db8::1".parse().unwrap(),
                        link_local: Some("fe80::1".parse().unwrap()),
                    },
                    nlri: vec![
                        Nlri::with_path_id(1, p("2001:db8::/32")),
                        Nlri::with_path_id(2, p("2001:db8:1:2::/64")),
                    ],
                    opaque_nlri: Bytes::new(),
                }),
            ),
            attr(0x40, AttrValue::Origin(Origin::Igp)),
            attr(0x40, AttrValue::AsPath(AsPath::new())),
        ],
        nlri: vec![],
    };
    both(&bytes, &Message::Update(u.clone()), &d, &e);
    let fams: Vec<_> = u.announced().map(|(f, n)| (f, n.path_id)).collect();
    assert_eq!(
        fams,
        vec![(AfiSafi::IPV6_UNICAST, Some(1)), (AfiSafi::IPV6_UNICAST, Some(2))]
    );
}

#[test]
fn update_mp_unreach_and_other_family_kept_opaque() {
    // MP_UNREACH for IPv6 unicast, then an MP_REACH of a family whose NLRI we do not parse
    // (VPNv4: AFI 1 SAFI 128, 12-octet next hop) kept byte-exact.
    let body = "
        0000 0035
        80 0f 0a 0002 01 30 20010db80001
        80 0e 1e 0001 80 0c 0000000000000000c0000201 00 60 000001 0000fde900000001 0a
        40 01 01 00
        40 02 00
    ";
    let bytes = frame(2, body);
    let u = Update {
        withdrawn: vec![],
        attributes: vec![
            attr(
                0x80,
                AttrValue::MpUnreach(MpUnreach {
                    afi_safi: AfiSafi::IPV6_UNICAST,
                    withdrawn: vec![Nlri::new(p("2001:db8:1::/48"))],
                    opaque_nlri: Bytes::new(),
                }),
            ),
            attr(
                0x80,
                AttrValue::MpReach(MpReach {
                    afi_safi: AfiSafi::new(Afi::IPV4, Safi::MPLS_VPN),
                    next_hop: MpNextHop::Other(Bytes::from(hex("0000000000000000c0000201"))),
                    nlri: vec![],
                    opaque_nlri: Bytes::from(hex("60 000001 0000fde900000001 0a")),
                }),
            ),
            attr(0x40, AttrValue::Origin(Origin::Igp)),
            attr(0x40, AttrValue::AsPath(AsPath::new())),
        ],
        nlri: vec![],
    };
    let (d, e) = ctx4();
    both(&bytes, &Message::Update(u.clone()), &d, &e);
    assert_eq!(u.withdrawals().count(), 1);
}

#[test]
fn extended_length_flag_preserved_on_short_value() {
    // RFC 4271 4.3: the Extended Length bit may be set for any length; keep it.
    let body = "0000 000e 40 01 01 00 50 02 0006 02 01 0000fde9 | ORIGIN, AS_PATH with 2-octet length";
    let body = body.split('|').next().unwrap();
    let bytes = frame(2, body);
    let u = Update {
        withdrawn: vec![],
        attributes: vec![
            attr(0x40, AttrValue::Origin(Origin::Igp)),
            attr(0x50, AttrValue::AsPath(AsPath::from_sequence([65001]))),
        ],
        nlri: vec![],
    };
    let (d, e) = ctx4();
    both(&bytes, &Message::Update(u), &d, &e);
}

#[test]
fn end_of_rib_markers() {
    // RFC 4724 section 2.
    let (d, e) = ctx4();
    let v4 = frame(2, "0000 0000");
    both(
        &v4,
        &Message::Update(Update::end_of_rib_marker(AfiSafi::IPV4_UNICAST)),
        &d,
        &e,
    );
    assert_eq!(v4.len(), 23);
    let v6 = frame(2, "0000 0006 80 0f 03 0002 01");
    let u = Update::end_of_rib_marker(AfiSafi::IPV6_UNICAST);
    both(&v6, &Message::Update(u.clone()), &d, &e);
    assert_eq!(u.end_of_rib(), Some(AfiSafi::IPV6_UNICAST));
    assert_eq!(Update::default().end_of_rib(), Some(AfiSafi::IPV4_UNICAST));
}

#[test]
fn notification_with_shutdown_communication() {
    // RFC 9003 section 2: Cease / Administrative Shutdown, length octet, UTF-8 text.
    let bytes = frame(3, "06 02 0f 6d61696e74656e616e636520e29c93");
    let n = Notification::cease_with_message(cease::ADMINISTRATIVE_SHUTDOWN, "maintenance ✓").unwrap();
    let (d, e) = ctx4();
    both(&bytes, &Message::Notification(n.clone()), &d, &e);
    assert_eq!(n.shutdown_message(), Some(Ok("maintenance ✓")));
    assert!(Notification::cease_with_message(2, &"x".repeat(256)).is_err());
    let bad = Notification {
        code: 6,
        subcode: 4,
        data: Bytes::from_static(&[5, b'a']),
    };
    assert_eq!(bad.shutdown_message(), Some(Err(ShutdownCommError::Length)));
    let plain = frame(3, "04 00");
    both(
        &plain,
        &Message::Notification(Notification::new(code::HOLD_TIMER_EXPIRED, 0)),
        &d,
        &e,
    );
    for (sub, text) in [
        (cease::MAX_PREFIXES, "maximum number of prefixes reached"),
        (cease::PEER_DECONFIGURED, "peer de-configured"),
        (cease::CONNECTION_REJECTED, "connection rejected"),
        (cease::OTHER_CONFIGURATION_CHANGE, "other configuration change"),
        (
            cease::CONNECTION_COLLISION_RESOLUTION,
            "connection collision resolution",
        ),
        (cease::HARD_RESET, "hard reset"),
    ] {
        assert_eq!(Notification::new(code::CEASE, sub).description(), text);
    }
}

#[test]
fn route_refresh_subtypes() {
    // RFC 2918 section 3 and RFC 7313 section 3.2.
    let (d, e) = ctx4();
    for (body, st) in [("0001 00 01", 0), ("0002 01 01", 1), ("0001 02 01", 2)] {
        let bytes = frame(5, body);
        let afi = if body.starts_with("0002") {
            Afi::IPV6
        } else {
            Afi::IPV4
        };
        let rr = RouteRefresh {
            afi,
            safi: Safi::UNICAST,
            subtype: RouteRefreshSubtype(st),
        };
        both(&bytes, &Message::RouteRefresh(rr), &d, &e);
    }
    // RFC 7313 section 5: bad length -> ROUTE-REFRESH Message Error / Invalid Message Length,
    // with the complete message as data.
    let bad = frame(5, "0001 01 01 00");
    let err = Message::decode(&bad, &d).unwrap_err();
    let n = err.notification();
    assert_eq!((n.code, n.subcode), (code::ROUTE_REFRESH_MESSAGE_ERROR, 1));
    assert_eq!(n.data, bad);
}

#[test]
fn header_errors_rfc4271_6_1() {
    let d = DecodeCtx::default();
    let mut bad_marker = frame(4, "").to_vec();
    bad_marker[3] = 0;
    let err = frame_len(&bad_marker, 4096).unwrap_err();
    assert_eq!((err.notification().code, err.notification().subcode), (1, 1));
    assert!(frame_len(&bad_marker[..5], 4096).is_err());
    let mut short = vec![0xff; 16];
    short.extend_from_slice(&[0, 18, 4]);
    let n = frame_len(&short, 4096).unwrap_err().notification();
    assert_eq!((n.code, n.subcode, &n.data[..]), (1, 2, &[0u8, 18][..]));
    let mut long = vec![0xff; 16];
    long.extend_from_slice(&[0x10, 0x01, 2]);
    assert_eq!(
        frame_len(&long, 4096).unwrap_err().notification().data[..],
        [0x10, 0x01]
    );
    assert_eq!(frame_len(&long, 65535).unwrap(), None);
    assert_eq!(frame_len(&long[..10], 4096).unwrap(), None);
    let n = Message::decode(&frame(9, ""), &d).unwrap_err().notification();
    assert_eq!((n.code, n.subcode, &n.data[..]), (1, 3, &[9u8][..]));
    let n = Message::decode(&frame(4, "00"), &d).unwrap_err().notification();
    assert_eq!((n.code, n.subcode, &n.data[..]), (1, 2, &[0u8, 20][..]));
    let n = Message::decode(&frame(3, "06"), &d).unwrap_err().notification();
    assert_eq!((n.code, n.subcode), (1, 2));
    let n = Message::decode(&frame(2, "00"), &d).unwrap_err().notification();
    assert_eq!((n.code, n.subcode), (1, 2));
}

#[test]
fn encode_rejects_too_long() {
    let many: Vec<Nlri> = (0..1100u32)
        .map(|i| Nlri::new(Prefix::v4(Ipv4Addr::from(i << 8), 24).unwrap()))
        .collect();
    let u = Update {
        withdrawn: many,
        attributes: vec![],
        nlri: vec![],
    };
    let mut out = BytesMut::new();
    let err = Message::Update(u.clone())
        .encode(&EncodeCtx::default(), &mut out)
        .unwrap_err();
    assert!(matches!(err, EncodeError::MessageTooLong { max: 4096, .. }));
    assert!(out.is_empty());
    let ext = EncodeCtx {
        extended_message: true,
        ..Default::default()
    };
    Message::Update(u).encode(&ext, &mut out).unwrap();
    assert!(out.len() > 4096);
}

#[test]
fn ipv6_prefix_ipv4_field_is_an_encode_error() {
    let u = Update {
        withdrawn: vec![],
        attributes: vec![],
        nlri: vec![Nlri::new(p("2001:db8::/32"))],
    };
    assert!(
        Message::Update(u)
            .encode(&EncodeCtx::default(), &mut BytesMut::new())
            .is_err()
    );
    let _ = Ipv6Addr::LOCALHOST;
}
