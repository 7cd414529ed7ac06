//! BMP encoding: byte vectors written out by hand from RFC 7854's diagrams, and every message type read
//! back by an independent parser (bgpkit-parser).

use std::net::{IpAddr, Ipv4Addr};

use bgpkit_parser::models::BgpMessage;
use bgpkit_parser::parser::bmp::messages::{BmpMessageBody, PeerDownReason as KitReason, StatsData};
use bytes::Bytes;

use super::*;
use crate::{AsPath, AttrValue, EncodeCtx, Message, Nlri, Notification, Open, Origin, PathAttribute, Update};

fn peer(addr: &str) -> PerPeerHeader {
    PerPeerHeader {
        peer_type: peer_type::GLOBAL,
        post_policy: false,
        legacy_as_path: false,
        distinguisher: 0,
        address: addr.parse().unwrap(),
        asn: 64512,
        bgp_id: Ipv4Addr::new(192, 0, 2, 7),
        timestamp_secs: 1_700_000_000,
        timestamp_micros: 5,
    }
}

fn kit(b: &Bytes) -> bgpkit_parser::parser::bmp::messages::BmpMessage {
    let mut data = b.clone();
    let m = bgpkit_parser::parser::bmp::parse_bmp_msg(&mut data).expect("bgpkit-parser reads the message");
    assert!(data.is_empty(), "bgpkit-parser left {} bytes", data.len());
    m
}

fn ctx4() -> EncodeCtx {
    EncodeCtx {
        four_octet_as: true,
        ..EncodeCtx::default()
    }
}

fn update() -> Bytes {
    let u = Update {
        withdrawn: vec![Nlri::new("10.9.0.0/16".parse().unwrap())],
        attributes: vec![
            PathAttribute::new(AttrValue::Origin(Origin::Igp)),
            PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([4_200_000_000]))),
            PathAttribute::new(AttrValue::NextHop(Ipv4Addr::new(192, 0, 2, 9))),
        ],
        nlri: vec![Nlri::new("10.1.0.0/16".parse().unwrap())],
    };
    Message::Update(u).to_bytes(&ctx4()).unwrap()
}

#[test]
fn initiation_bytes() {
    let m = BmpMessage::Initiation(vec![InfoTlv::sys_name("rr"), InfoTlv::sys_descr("v1")]);
    let b = m.to_bytes().unwrap();
    assert_eq!(
        &b[..],
        &[3, 0, 0, 0, 18, 4, 0, 2, 0, 2, b'r', b'r', 0, 1, 0, 2, b'v', b'1']
    );
    let BmpMessageBody::InitiationMessage(i) = kit(&b).message_body else {
        panic!("not an initiation")
    };
    let vals: Vec<String> = i.tlvs.iter().map(|t| t.info.clone()).collect();
    assert_eq!(vals, ["rr", "v1"]);
}

#[test]
fn per_peer_header_bytes() {
    let mut p = peer("192.0.2.1");
    p.post_policy = true;
    let m = BmpMessage::PeerDown {
        peer: p,
        reason: PeerDownReason::RemoteNoNotification,
    };
    let b = m.to_bytes().unwrap();
    let mut want = vec![3, 0, 0, 0, 49, 2, 0, 0b0100_0000, 0, 0, 0, 0, 0, 0, 0, 0];
    want.extend([0; 12]);
    want.extend([192, 0, 2, 1]);
    want.extend(64512u32.to_be_bytes());
    want.extend([192, 0, 2, 7]);
    want.extend(1_700_000_000u32.to_be_bytes());
    want.extend(5u32.to_be_bytes());
    want.push(4);
    assert_eq!(b.len(), COMMON_HEADER_LEN + PER_PEER_HEADER_LEN + 1);
    assert_eq!(&b[..], &want[..]);
    let k = kit(&b);
    let h = k.per_peer_header.unwrap();
    assert_eq!(h.peer_ip, "192.0.2.1".parse::<IpAddr>().unwrap());
    assert_eq!(h.peer_asn.to_u32(), 64512);
    assert_eq!(h.peer_bgp_id, Ipv4Addr::new(192, 0, 2, 7));
    let BmpMessageBody::PeerDownNotification(d) = k.message_body else {
        panic!("not a peer down")
    };
    assert_eq!(d.reason, KitReason::RemoteSystemsClosedNoData);
}

#[test]
fn v6_and_legacy_flags() {
    let mut p = peer("2001:db8::1");
    p.legacy_as_path = true;
    assert_eq!(p.flags(), 0b1010_0000);
    let b = BmpMessage::PeerDown {
        peer: p,
        reason: PeerDownReason::LocalNoNotification(24),
    }
    .to_bytes()
    .unwrap();
    assert_eq!(&b[b.len() - 3..], &[2, 0, 24]);
    let h = kit(&b).per_peer_header.unwrap();
    assert_eq!(h.peer_ip, "2001:db8::1".parse::<IpAddr>().unwrap());
}

#[test]
fn route_monitoring_read_back() {
    let b = BmpMessage::RouteMonitoring {
        peer: peer("192.0.2.1"),
        update: update(),
    }
    .to_bytes()
    .unwrap();
    assert_eq!(&b[COMMON_HEADER_LEN + PER_PEER_HEADER_LEN..], &update()[..]);
    let BmpMessageBody::RouteMonitoring(r) = kit(&b).message_body else {
        panic!("not route monitoring")
    };
    let BgpMessage::Update(u) = r.bgp_message else {
        panic!("not an update")
    };
    assert_eq!(u.announced_prefixes[0].prefix.to_string(), "10.1.0.0/16");
    assert_eq!(u.withdrawn_prefixes[0].prefix.to_string(), "10.9.0.0/16");
    let path = u.attributes.as_path().unwrap().to_u32_vec_opt(false).unwrap();
    assert_eq!(path, vec![4_200_000_000]);
}

#[test]
fn peer_up_read_back() {
    let open = |asn: u16, id: [u8; 4]| {
        let o = Open::new(
            crate::Asn::new(u32::from(asn)).unwrap(),
            crate::HoldTime::new(90).unwrap(),
            crate::RouterId::new(Ipv4Addr::from(id)).unwrap(),
            vec![],
        );
        Message::Open(o).to_bytes(&EncodeCtx::default()).unwrap()
    };
    let b = BmpMessage::PeerUp {
        peer: peer("192.0.2.1"),
        local_address: "192.0.2.2".parse().unwrap(),
        local_port: 179,
        remote_port: 40000,
        sent_open: open(64512, [192, 0, 2, 2]),
        received_open: open(64513, [192, 0, 2, 7]),
        info: vec![InfoTlv::text(info_type::STRING, "client")],
    }
    .to_bytes()
    .unwrap();
    let BmpMessageBody::PeerUpNotification(u) = kit(&b).message_body else {
        panic!("not a peer up")
    };
    assert_eq!(u.local_addr, "192.0.2.2".parse::<IpAddr>().unwrap());
    assert_eq!((u.local_port, u.remote_port), (179, 40000));
    let (BgpMessage::Open(s), BgpMessage::Open(r)) = (u.sent_open, u.received_open) else {
        panic!("not opens")
    };
    assert_eq!((s.asn.to_u32(), r.asn.to_u32()), (64512, 64513));
    assert_eq!(r.bgp_identifier, Ipv4Addr::new(192, 0, 2, 7));
    assert_eq!(u.tlvs[0].info_value, "client");
}

#[test]
fn peer_down_with_notification_read_back() {
    let n = Notification::new(6, 2).to_message_bytes();
    let b = BmpMessage::PeerDown {
        peer: peer("192.0.2.1"),
        reason: PeerDownReason::LocalNotification(n.clone()),
    }
    .to_bytes()
    .unwrap();
    let BmpMessageBody::PeerDownNotification(d) = kit(&b).message_body else {
        panic!("not a peer down")
    };
    assert_eq!(d.reason, KitReason::LocalSystemClosedNotificationPduFollows);
    assert_eq!(d.data.as_deref(), Some(&n[..]));
}

#[test]
fn statistics_read_back() {
    let b = BmpMessage::StatisticsReport {
        peer: peer("192.0.2.1"),
        stats: vec![
            Stat::Gauge(stat_type::ADJ_RIB_IN_ROUTES, 7),
            Stat::AfiSafiGauge(
                stat_type::PER_AFI_SAFI_ADJ_RIB_IN_ROUTES,
                AfiSafi::IPV6_UNICAST,
                3,
            ),
            Stat::Counter(stat_type::TREAT_AS_WITHDRAW_UPDATES, 2),
        ],
    }
    .to_bytes()
    .unwrap();
    let BmpMessageBody::StatsReport(s) = kit(&b).message_body else {
        panic!("not stats")
    };
    assert_eq!(s.stats_count, 3);
    let data: Vec<StatsData> = s.counters.into_iter().map(|c| c.stat_data).collect();
    assert_eq!(
        data,
        vec![
            StatsData::Gauge(7),
            StatsData::AfiSafiGauge(2, 1, 3),
            StatsData::Counter(2)
        ]
    );
}

#[test]
fn termination_and_errors() {
    let b = BmpMessage::Termination(vec![
        InfoTlv::termination_reason(term_reason::ADMIN_CLOSE),
        InfoTlv::text(term_type::STRING, "bye"),
    ])
    .to_bytes()
    .unwrap();
    assert_eq!(
        &b[..],
        &[3, 0, 0, 0, 19, 5, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, b'b', b'y', b'e']
    );
    assert!(matches!(
        kit(&b).message_body,
        BmpMessageBody::TerminationMessage(_)
    ));

    // A TLV too long for its length field: an error, and the buffer as it was.
    let mut out = BytesMut::from(&b"xy"[..]);
    let big = InfoTlv {
        kind: info_type::STRING,
        value: Bytes::from(vec![b'a'; 70_000]),
    };
    assert!(BmpMessage::Initiation(vec![big]).encode(&mut out).is_err());
    assert_eq!(&out[..], b"xy");
}
