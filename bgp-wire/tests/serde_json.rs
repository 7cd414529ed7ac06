//! JSON output through the `serde` feature (what `rr-cli decode` prints).
#![cfg(feature = "serde")]

use bgp_wire::*;
use bytes::Bytes;

#[test]
fn update_serializes_readable_fields() {
    let u = Update {
        withdrawn: vec![Nlri::with_path_id(3, "10.9.0.0/16".parse().unwrap())],
        attributes: vec![
            PathAttribute::new(AttrValue::Origin(Origin::Igp)),
            PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([65001, 4200000000]))),
            PathAttribute::new(AttrValue::Communities(vec![Community::new(65001, 100)])),
            PathAttribute::new(AttrValue::LargeCommunities(vec![LargeCommunity::new(
                65001, 1, 2,
            )])),
            PathAttribute::new(AttrValue::ExtendedCommunities(vec![
                ExtendedCommunity::route_target_as2(65001, 7),
            ])),
            PathAttribute::new(AttrValue::OriginatorId("10.0.0.1".parse().unwrap())),
            PathAttribute::new(AttrValue::ClusterList(vec!["10.0.0.2".parse().unwrap()])),
            PathAttribute::new(AttrValue::MpReach(MpReach {
                afi_safi: AfiSafi::IPV6_UNICAST,
                next_hop: MpNextHop::Ipv6 {
                    global: "2001:db8::1".parse().unwrap(),
                    link_local: None,
                },
                nlri: vec![Nlri::new("2001:db8:5::/48".parse().unwrap())],
                opaque_nlri: Bytes::new(),
            })),
        ],
        nlri: vec![],
    };
    let j = serde_json::to_value(Message::Update(u)).unwrap();
    assert_eq!(j["type"], "update");
    let s = j.to_string();
    for needle in [
        "\"10.9.0.0/16\"",
        "\"path_id\":3",
        "\"65001:100\"",
        "\"65001:1:2\"",
        "\"rt:65001:7\"",
        "\"10.0.0.1\"",
        "\"10.0.0.2\"",
        "\"2001:db8::1\"",
        "\"2001:db8:5::/48\"",
        "4200000000",
    ] {
        assert!(s.contains(needle), "{needle} missing in {s}");
    }
}

#[test]
fn notification_and_open_serialize() {
    let n = Notification::cease_with_message(2, "bye").unwrap();
    let s = serde_json::to_string(&Message::Notification(n)).unwrap();
    assert!(s.contains("\"code\":6") && s.contains("\"subcode\":2"), "{s}");
    assert!(
        s.contains("\"description\":\"administrative shutdown\"")
            && s.contains("\"shutdown_message\":\"bye\""),
        "{s}"
    );
    let e = Message::decode(&Bytes::from_static(&[0; 19]), &DecodeCtx::default()).unwrap_err();
    let s = serde_json::to_string(&e).unwrap();
    assert!(
        s.contains("ConnectionNotSynchronized") && s.contains("SessionReset"),
        "{s}"
    );
    let o = Open::new(
        Asn::new(4200000000).unwrap(),
        HoldTime::DEFAULT,
        RouterId::new("10.0.0.1".parse().unwrap()).unwrap(),
        vec![Capability::FourOctetAs(4200000000), Capability::RouteRefresh],
    );
    let s = serde_json::to_string(&Message::Open(o)).unwrap();
    assert!(
        s.contains("FourOctetAs") && s.contains("23456") && s.contains("\"10.0.0.1\""),
        "{s}"
    );
}
