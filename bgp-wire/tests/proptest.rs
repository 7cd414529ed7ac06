//! Property tests: encode-then-decode is the identity for arbitrary valid values, arbitrary
//! bytes never panic (and whatever decodes re-encodes stably), and framing yields the same
//! messages however the byte stream is split.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_wire::*;
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use proptest::sample::select;

const KNOWN_ATTRS: [u8; 17] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 32, 35];
const KNOWN_CAPS: [u8; 11] = [1, 2, 5, 6, 9, 64, 65, 69, 70, 71, 73];

fn ctx() -> impl Strategy<Value = EncodeCtx> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(four, ap4, ap6, ext)| {
        let mut add_path = AddPathMap::new();
        if ap4 {
            add_path.insert(AfiSafi::IPV4_UNICAST);
        }
        if ap6 {
            add_path.insert(AfiSafi::IPV6_UNICAST);
        }
        EncodeCtx {
            four_octet_as: four,
            add_path,
            extended_message: ext,
        }
    })
}

fn prefix(afi: Afi) -> BoxedStrategy<Prefix> {
    if afi == Afi::IPV6 {
        (any::<u128>(), 0..=128u8)
            .prop_map(|(a, l)| Prefix::v6(Ipv6Addr::from(a), l).unwrap())
            .boxed()
    } else {
        (any::<u32>(), 0..=32u8)
            .prop_map(|(a, l)| Prefix::v4(Ipv4Addr::from(a), l).unwrap())
            .boxed()
    }
}

fn nlris(afi: Afi, add_path: bool, max: usize) -> impl Strategy<Value = Vec<Nlri>> {
    prop::collection::vec(
        (prefix(afi), any::<u32>()).prop_map(move |(p, id)| Nlri {
            path_id: add_path.then_some(id),
            prefix: p,
        }),
        0..max,
    )
}

fn asn(four: bool) -> BoxedStrategy<u32> {
    if four {
        any::<u32>().boxed()
    } else {
        (0..=0xffffu32).boxed()
    }
}

fn as_path(four: bool) -> impl Strategy<Value = AsPath> {
    let seg = (
        select(vec![
            SegmentType::AsSet,
            SegmentType::AsSequence,
            SegmentType::AsConfedSequence,
            SegmentType::AsConfedSet,
        ]),
        prop::collection::vec(asn(four), 1..6),
    )
        .prop_map(|(kind, asns)| AsSegment { kind, asns });
    prop::collection::vec(seg, 0..4).prop_map(move |segments| AsPath {
        segments,
        four_octet_wire: four,
    })
}

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn next_hop() -> impl Strategy<Value = MpNextHop> {
    prop_oneof![
        ipv4().prop_map(MpNextHop::Ipv4),
        (any::<u128>(), prop::option::of(any::<u128>())).prop_map(|(g, l)| MpNextHop::Ipv6 {
            global: Ipv6Addr::from(g),
            link_local: l.map(Ipv6Addr::from),
        }),
        bytes(40)
            .prop_filter("not 4/16/32", |b| ![4, 16, 32].contains(&b.len()))
            .prop_map(MpNextHop::Other),
    ]
}

fn mp_family() -> impl Strategy<Value = AfiSafi> {
    prop_oneof![
        select(vec![
            AfiSafi::IPV4_UNICAST,
            AfiSafi::IPV6_UNICAST,
            AfiSafi::new(Afi::IPV6, Safi::MULTICAST)
        ]),
        (any::<u16>(), any::<u8>()).prop_map(|(a, s)| AfiSafi::new(Afi(a), Safi(s))),
    ]
}

fn mp_reach(ctx: &EncodeCtx) -> impl Strategy<Value = AttrValue> + use<> {
    let ctx = ctx.clone();
    (mp_family(), next_hop()).prop_flat_map(move |(f, nh)| {
        let ap = ctx.add_path.contains(f);
        if f.has_prefix_nlri() {
            nlris(f.afi, ap, 5)
                .prop_map(move |nlri| {
                    AttrValue::MpReach(MpReach {
                        afi_safi: f,
                        next_hop: nh.clone(),
                        nlri,
                        opaque_nlri: Bytes::new(),
                    })
                })
                .boxed()
        } else {
            bytes(20)
                .prop_map(move |o| {
                    AttrValue::MpReach(MpReach {
                        afi_safi: f,
                        next_hop: nh.clone(),
                        nlri: vec![],
                        opaque_nlri: o,
                    })
                })
                .boxed()
        }
    })
}

fn mp_unreach(ctx: &EncodeCtx) -> impl Strategy<Value = AttrValue> + use<> {
    let ctx = ctx.clone();
    mp_family().prop_flat_map(move |f| {
        let ap = ctx.add_path.contains(f);
        if f.has_prefix_nlri() {
            nlris(f.afi, ap, 5)
                .prop_map(move |w| {
                    AttrValue::MpUnreach(MpUnreach {
                        afi_safi: f,
                        withdrawn: w,
                        opaque_nlri: Bytes::new(),
                    })
                })
                .boxed()
        } else {
            bytes(20)
                .prop_map(move |o| {
                    AttrValue::MpUnreach(MpUnreach {
                        afi_safi: f,
                        withdrawn: vec![],
                        opaque_nlri: o,
                    })
                })
                .boxed()
        }
    })
}

/// Optional attributes other than the three mandatory ones, at most one of each type.
fn optional_attrs(ctx: &EncodeCtx) -> impl Strategy<Value = Vec<AttrValue>> + use<> {
    let four = ctx.four_octet_as;
    let agg = move |f: bool| (asn(f), ipv4()).prop_map(|(asn, address)| Aggregator { asn, address });
    (
        prop::option::of(any::<u32>().prop_map(AttrValue::MultiExitDisc)),
        prop::option::of(any::<u32>().prop_map(AttrValue::LocalPref)),
        prop::option::of(Just(AttrValue::AtomicAggregate)),
        prop::option::of(agg(four).prop_map(AttrValue::Aggregator)),
        prop::option::of(
            prop::collection::vec(any::<u32>().prop_map(Community), 1..5).prop_map(AttrValue::Communities),
        ),
        prop::option::of(ipv4().prop_map(AttrValue::OriginatorId)),
        prop::option::of(prop::collection::vec(ipv4(), 1..4).prop_map(AttrValue::ClusterList)),
        prop::option::of(
            prop::collection::vec(any::<[u8; 8]>().prop_map(ExtendedCommunity), 1..4)
                .prop_map(AttrValue::ExtendedCommunities),
        ),
        prop::option::of(as_path(true).prop_map(AttrValue::As4Path)),
        prop::option::of(agg(true).prop_map(AttrValue::As4Aggregator)),
        prop::option::of(
            prop::collection::vec(
                any::<(u32, u32, u32)>().prop_map(|(a, b, c)| LargeCommunity::new(a, b, c)),
                1..4,
            )
            .prop_map(AttrValue::LargeCommunities),
        ),
        (
            prop::option::of(any::<u32>().prop_map(AttrValue::OnlyToCustomer)),
            prop::option::of(mp_reach(ctx)),
            prop::option::of(mp_unreach(ctx)),
            prop::collection::btree_map(
                any::<u8>().prop_filter("unknown", |t| !KNOWN_ATTRS.contains(t)),
                bytes(300),
                0..3,
            ),
        ),
    )
        .prop_map(|(a, b, c, d, e, f, g, h, i, j, k, (l, m, n, unknown))| {
            let mut v: Vec<AttrValue> = [a, b, c, d, e, f, g, h, i, j, k, l, m, n]
                .into_iter()
                .flatten()
                .collect();
            v.extend(
                unknown
                    .into_iter()
                    .map(|(type_code, bytes)| AttrValue::Unknown { type_code, bytes }),
            );
            v
        })
}

fn update(ctx: &EncodeCtx) -> impl Strategy<Value = Update> + use<> {
    let ap4 = ctx.add_path.contains(AfiSafi::IPV4_UNICAST);
    let mandatory = (
        select(vec![Origin::Igp, Origin::Egp, Origin::Incomplete]),
        as_path(ctx.four_octet_as),
        ipv4(),
    )
        .prop_map(|(o, p, nh)| vec![AttrValue::Origin(o), AttrValue::AsPath(p), AttrValue::NextHop(nh)]);
    (
        nlris(Afi::IPV4, ap4, 6),
        mandatory,
        optional_attrs(ctx),
        nlris(Afi::IPV4, ap4, 6),
    )
        .prop_flat_map(|(withdrawn, mut values, more, nlri)| {
            values.extend(more);
            let n = values.len();
            (
                Just(withdrawn),
                Just(values).prop_shuffle(),
                prop::collection::vec(0u8..0x40, n),
                Just(nlri),
            )
        })
        .prop_map(|(withdrawn, values, extra_flags, nlri)| {
            let attributes = values
                .into_iter()
                .zip(extra_flags)
                .map(|(value, extra)| {
                    let mut a = PathAttribute::new(value);
                    // keep Optional/Transitive as specified; vary Partial, Extended Length and
                    // the unused low bits
                    a.flags |= extra & 0x3f;
                    a
                })
                .collect();
            Update {
                withdrawn,
                attributes,
                nlri,
            }
        })
}

fn capability() -> impl Strategy<Value = Capability> {
    let fam = (any::<u16>(), any::<u8>()).prop_map(|(a, s)| AfiSafi::new(Afi(a), Safi(s)));
    let mode = select(vec![AddPathMode::Receive, AddPathMode::Send, AddPathMode::Both]);
    prop_oneof![
        fam.clone().prop_map(Capability::MultiProtocol),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        any::<u32>().prop_map(Capability::FourOctetAs),
        prop::collection::vec((fam.clone(), mode), 0..4).prop_map(Capability::AddPath),
        (
            any::<bool>(),
            any::<bool>(),
            0..=4095u16,
            prop::collection::vec((fam.clone(), any::<bool>()), 0..4)
        )
            .prop_map(|(r, n, t, f)| Capability::GracefulRestart(GracefulRestart {
                restart_state: r,
                notification: n,
                restart_time: t,
                families: f
                    .into_iter()
                    .map(|(afi_safi, forwarding)| GrFamily { afi_safi, forwarding })
                    .collect(),
            })),
        prop::collection::vec((fam.clone(), any::<u8>(), 0..=0xff_ffffu32), 0..4).prop_map(|v| {
            Capability::LongLivedGracefulRestart(
                v.into_iter()
                    .map(|(afi_safi, flags, stale_time)| LlgrFamily {
                        afi_safi,
                        flags,
                        stale_time,
                    })
                    .collect(),
            )
        }),
        ("[a-z0-9.-]{0,20}", "[a-z0-9.-]{0,20}").prop_map(|(h, d)| Capability::Fqdn {
            hostname: h,
            domain: d
        }),
        any::<u8>().prop_map(|r| Capability::BgpRole(BgpRole(r))),
        prop::collection::vec((fam, any::<u16>()), 0..4).prop_map(|v| Capability::ExtendedNextHop(
            v.into_iter()
                .map(|(nlri, nh)| ExtendedNextHop {
                    nlri,
                    next_hop_afi: Afi(nh)
                })
                .collect()
        )),
        (
            any::<u8>().prop_filter("unknown", |c| !KNOWN_CAPS.contains(c)),
            bytes(20)
        )
            .prop_map(|(code, bytes)| Capability::Unknown { code, bytes }),
    ]
}

fn open() -> impl Strategy<Value = Open> {
    let param = prop_oneof![
        3 => prop::collection::vec(capability(), 0..8).prop_map(OptionalParameter::Capabilities),
        1 => (any::<u8>().prop_filter("not capabilities", |t| *t != 2), bytes(300))
            .prop_map(|(param_type, bytes)| OptionalParameter::Unknown { param_type, bytes }),
    ];
    (
        any::<u16>(),
        any::<u16>().prop_filter("valid hold time", |h| *h != 1 && *h != 2),
        1..=u32::MAX,
        prop::collection::vec(param, 0..4),
        any::<bool>(),
    )
        .prop_map(|(my_as, h, id, params, extended_params)| Open {
            version: 4,
            my_as,
            hold_time: HoldTime::new(h).unwrap(),
            bgp_id: RouterId::new(Ipv4Addr::from(id)).unwrap(),
            params,
            extended_params,
        })
}

fn message(ctx: &EncodeCtx) -> impl Strategy<Value = Message> + use<> {
    prop_oneof![
        open().prop_map(Message::Open),
        update(ctx).prop_map(Message::Update),
        (any::<u8>(), any::<u8>(), bytes(50))
            .prop_map(|(code, subcode, data)| Message::Notification(Notification { code, subcode, data })),
        Just(Message::Keepalive),
        (any::<u16>(), any::<u8>(), any::<u8>()).prop_map(|(a, s, t)| Message::RouteRefresh(RouteRefresh {
            afi: Afi(a),
            safi: Safi(s),
            subtype: RouteRefreshSubtype(t)
        })),
    ]
}

fn ctx_and_message() -> impl Strategy<Value = (EncodeCtx, Message)> {
    ctx().prop_flat_map(|c| (Just(c.clone()), message(&c)))
}

fn encode(m: &Message, c: &EncodeCtx) -> Result<Bytes, EncodeError> {
    let mut b = BytesMut::new();
    m.encode(c, &mut b)?;
    Ok(b.freeze())
}

/// 512 cases, or `PROPTEST_CASES` when set (for longer local runs).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn encode_then_decode_is_identity((c, msg) in ctx_and_message()) {
        let bytes = match encode(&msg, &c) {
            Ok(b) => b,
            // Only size limits may refuse a valid value.
            Err(EncodeError::MessageTooLong { .. }) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("encode failed: {e}"))),
        };
        let (got, errors) = Message::decode_with_errors(&bytes, &c.mirror())
            .map_err(|e| TestCaseError::fail(format!("decode failed: {e}")))?;
        prop_assert!(errors.is_empty(), "errors: {:?}", errors);
        let mut expected = msg.clone();
        if let (Message::Open(o), Message::Open(g)) = (&mut expected, &got) {
            // RFC 9072 form chosen automatically for long parameters.
            if !o.extended_params && g.extended_params {
                prop_assert!(bytes.len() >= 19 + 10 + 255);
                o.extended_params = true;
            }
        }
        if let Message::Update(u) = &mut expected {
            // Values over 255 octets need the Extended Length bit, which encode adds.
            for a in &mut u.attributes {
                if a.value.encoded_len(&c) > 255 {
                    a.flags |= bgp_wire::attr::flags::EXTENDED_LENGTH;
                }
            }
        }
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(encode(&got, &c).unwrap(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..200), c in ctx()) {
        let d = c.mirror();
        let _ = frame_len(&data, d.max_message_len());
        let _ = Message::decode_with_errors(&Bytes::from(data), &d);
    }

    /// A valid header with a random type and body: whatever decodes re-encodes, and decoding
    /// the re-encoding gives the same value (decode . encode . decode = decode).
    #[test]
    fn random_bodies_decode_stably(ty in 1u8..=5, body in prop::collection::vec(any::<u8>(), 0..120), c in ctx()) {
        let mut v = vec![0xff; 16];
        v.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
        v.push(ty);
        v.extend_from_slice(&body);
        let d = c.mirror();
        if let Ok((m, errors)) = Message::decode_with_errors(&Bytes::from(v), &d)
            && errors.is_empty()
        {
            let again = encode(&m, &c).expect("a decoded message re-encodes");
            let (m2, e2) = Message::decode_with_errors(&again, &d).expect("re-encoding decodes");
            prop_assert!(e2.is_empty());
            prop_assert_eq!(m2, m);
        }
    }

    /// Valid messages with a few bytes overwritten and possibly truncated: never panics, and
    /// whatever still decodes re-encodes and decodes to the same value.
    #[test]
    fn mutated_messages_decode_stably(
        (c, msg) in ctx_and_message(),
        d in ctx(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let Ok(bytes) = encode(&msg, &c) else { return Ok(()) };
        let mut v = bytes.to_vec();
        // keep the header valid so the body parsers are reached
        for (i, b) in edits {
            let i = i.index(v.len());
            if i >= 19 {
                v[i] = b;
            }
        }
        let new_len = 19 + cut.index(v.len() - 18);
        if new_len < v.len() && new_len % 3 == 0 {
            v.truncate(new_len);
            v[16..18].copy_from_slice(&(new_len as u16).to_be_bytes());
        }
        let rx = d.mirror();
        if let Ok((m, errors)) = Message::decode_with_errors(&Bytes::from(v), &rx)
            && errors.is_empty()
        {
            let again = encode(&m, &d).expect("a decoded message re-encodes");
            let (m2, e2) = Message::decode_with_errors(&again, &rx).expect("re-encoding decodes");
            prop_assert!(e2.is_empty());
            prop_assert_eq!(m2, m);
        }
    }

    #[test]
    fn framing_is_split_independent(
        (c, msgs) in ctx().prop_flat_map(|c| (Just(c.clone()), prop::collection::vec(message(&c), 1..6))),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for m in &msgs {
            if let Ok(b) = encode(m, &c) {
                stream.extend_from_slice(&b);
                expected.push(b);
            }
        }
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.push(stream.len());
        points.sort_unstable();
        let d = c.mirror();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut last = 0;
        for p in points {
            buf.extend_from_slice(&stream[last..p]);
            last = p;
            while let Some(len) = frame_len(&buf, d.max_message_len()).expect("valid stream") {
                got.push(buf.split_to(len).freeze());
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(&got, &expected);
        for (frame, bytes) in got.iter().zip(&expected) {
            let a = Message::decode(frame, &d).expect("decodes");
            let b = Message::decode(bytes, &d).expect("decodes");
            prop_assert_eq!(a, b);
        }
    }
}

/// What an update group sends: one attribute block and many NLRI of one family.
fn packed_input() -> impl Strategy<Value = (EncodeCtx, AfiSafi, Vec<AttrValue>, Vec<Nlri>)> {
    (ctx(), any::<bool>()).prop_flat_map(|(c, v6)| {
        let (f, afi) = if v6 {
            (AfiSafi::IPV6_UNICAST, Afi::IPV6)
        } else {
            (AfiSafi::IPV4_UNICAST, Afi::IPV4)
        };
        let ap = c.add_path.contains(f);
        let mandatory = (
            select(vec![Origin::Igp, Origin::Egp, Origin::Incomplete]),
            as_path(c.four_octet_as),
            ipv4(),
        )
            .prop_map(move |(o, p, nh)| {
                let mut v = vec![AttrValue::Origin(o), AttrValue::AsPath(p)];
                if !v6 {
                    v.push(AttrValue::NextHop(nh));
                }
                v
            });
        let more = optional_attrs(&c).prop_map(|v| {
            v.into_iter()
                .filter(|a| !matches!(a, AttrValue::MpReach(_) | AttrValue::MpUnreach(_)))
                .collect::<Vec<_>>()
        });
        (Just(c), Just(f), mandatory, more, nlris(afi, ap, 3000)).prop_map(|(c, f, mut m, more, n)| {
            m.extend(more);
            (c, f, m, n)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases() / 4, ..ProptestConfig::default() })]

    /// `UpdatePacker`: every message is within the negotiated size, decodes without error with
    /// the mirrored context, carries the attribute block unchanged, and the NLRI come back
    /// complete and in order, for announcements and withdrawals alike.
    #[test]
    fn packed_updates_decode_to_their_input((c, f, attrs, nlri) in packed_input()) {
        let mut blk = AttrBlock::new();
        for a in &attrs {
            blk.push(&PathAttribute::new(a.clone()), &c).unwrap();
        }
        let nh = MpNextHop::Ipv6 { global: Ipv6Addr::LOCALHOST, link_local: None };
        let mut p = UpdatePacker::new(&c);
        p.announce(f, &blk, Some(&nh), nlri.iter().copied());
        let announced = p.take_messages();
        p.withdraw(f, nlri.iter().copied());
        let withdrawn = p.take_messages();
        let d = c.mirror();
        let (mut got_ann, mut got_wd) = (Vec::new(), Vec::new());
        for m in &announced {
            prop_assert!(m.len() <= c.max_message_len());
            let (msg, errors) = Message::decode_with_errors(m, &d)
                .map_err(|e| TestCaseError::fail(format!("decode failed: {e}")))?;
            prop_assert!(errors.is_empty(), "errors: {:?}", errors);
            let Message::Update(u) = msg else { return Err(TestCaseError::fail("not an update")) };
            let values: Vec<AttrValue> = u.attributes.iter()
                .filter(|a| !matches!(a.value, AttrValue::MpReach(_)))
                .map(|a| a.value.clone())
                .collect();
            prop_assert_eq!(&values, &attrs);
            got_ann.extend(u.announced().map(|(g, n)| { assert_eq!(g, f); *n }));
        }
        for m in &withdrawn {
            prop_assert!(m.len() <= c.max_message_len());
            let Message::Update(u) = Message::decode(m, &d)
                .map_err(|e| TestCaseError::fail(format!("decode failed: {e}")))? else {
                return Err(TestCaseError::fail("not an update"));
            };
            got_wd.extend(u.withdrawals().map(|(g, n)| { assert_eq!(g, f); *n }));
        }
        prop_assert_eq!(&got_wd, &nlri);
        // NLRI that do not fit beside the attributes even in an empty message are counted, not
        // sent; the ones before them are.
        prop_assert_eq!(got_ann.len() + p.oversized(), nlri.len());
        prop_assert_eq!(&got_ann[..], &nlri[..got_ann.len()]);
    }
}
