//! Resource parsing and serialization against the shapes calicoctl and Calico write.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use datastore::model::{
    AsNumber, GoDuration, NextHopMode, NodeAddress, PeerIp, ReversePeering, SourceAddress,
};
use datastore::{Error, Kind, Resource};

fn invalid_parts(e: Error) -> (String, String, String, String) {
    match e {
        Error::Invalid {
            resource,
            field,
            value,
            reason,
        } => (resource, field, value, reason),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn node_from_etcd_json() {
    let json = br#"{"kind":"Node","apiVersion":"projectcalico.org/v3",
 "metadata":{"name":"kube-master","uid":"6f0c","creationTimestamp":"2024-05-01T10:00:00Z",
             "labels":{"routeReflector":"true"}},
 "spec":{"bgp":{"ipv4Address":"10.192.0.2/16","ipv6Address":"fe0a::2/96",
                "routeReflectorClusterID":"10.0.0.1"},
         "orchRefs":[{"nodeName":"kube-master","orchestrator":"k8s"}]},
 "status":{}}"#;
    let Resource::Node(n) = Resource::from_json(json).unwrap() else {
        panic!("not a node")
    };
    assert_eq!(n.name(), "kube-master");
    assert_eq!(n.ipv4(), Some("10.192.0.2".parse().unwrap()));
    assert_eq!(n.ipv6(), Some("fe0a::2".parse().unwrap()));
    let bgp = n.spec.bgp.as_ref().unwrap();
    assert_eq!(bgp.ipv4_address.unwrap().network().to_string(), "10.192.0.0/16");
    assert_eq!(n.cluster_id(), Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(n.as_number(), None);
    assert_eq!(
        n.metadata.labels.get("routeReflector").map(String::as_str),
        Some("true")
    );
}

#[test]
fn bgppeer_every_field() {
    let json = br#"{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{"name":"bgppeer-1"},
 "spec":{"peerIP":"172.19.4.87:1790","asNumber":"1.10","nodeSelector":"has(routeReflector)",
         "password":{"secretKeyRef":{"name":"bgp-passwords","key":"peer_a_pw"}},
         "maxRestartTime":"2m0s","keepaliveTime":"30s","nextHopMode":"Keep",
         "localASNumber":64999,"numAllowedLocalASNumbers":2,"ttlSecurity":1,
         "sourceAddress":"None","reachableBy":"172.19.4.1","filters":["a","b"],
         "reversePeering":"Manual","failureDetectionMode":"None","someFutureField":{"x":1}}}"#;
    let Resource::BgpPeer(p) = Resource::from_json(json).unwrap() else {
        panic!("not a peer")
    };
    let s = &p.spec;
    assert_eq!(
        s.peer_ip,
        Some(PeerIp {
            ip: "172.19.4.87".parse().unwrap(),
            port: Some(1790)
        })
    );
    assert_eq!(s.as_number, Some(AsNumber(65546)));
    assert_eq!(s.node_selector.as_ref().unwrap().as_str(), "has(routeReflector)");
    let r = s.password.as_ref().unwrap().secret_key_ref.as_ref().unwrap();
    assert_eq!((r.name.as_str(), r.key.as_str()), ("bgp-passwords", "peer_a_pw"));
    assert_eq!(s.max_restart_time, Some(GoDuration(Duration::from_secs(120))));
    assert_eq!(s.keepalive_time, Some(GoDuration(Duration::from_secs(30))));
    assert_eq!(s.next_hop_mode, Some(NextHopMode::Keep));
    assert_eq!(s.local_as_number, Some(AsNumber(64999)));
    assert_eq!(s.num_allowed_local_as_numbers, Some(2));
    assert_eq!(s.ttl_security, Some(1));
    assert_eq!(s.source_address, Some(SourceAddress::None));
    assert_eq!(s.reachable_by, Some("172.19.4.1".parse::<IpAddr>().unwrap()));
    assert_eq!(s.filters, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(s.reverse_peering, Some(ReversePeering::Manual));
    assert!(!p.is_global());
}

#[test]
fn peer_ip_forms() {
    let cases: &[(&str, &str, Option<u16>)] = &[
        ("10.0.0.1", "10.0.0.1", None),
        ("10.0.0.1:1790", "10.0.0.1", Some(1790)),
        ("[ac13::57]:50", "ac13::57", Some(50)),
        ("ac13::57", "ac13::57", None),
        ("[fd00::1]", "fd00::1", None),
    ];
    for (text, ip, port) in cases {
        let p: PeerIp = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(p.ip, ip.parse::<IpAddr>().unwrap(), "{text}");
        assert_eq!(p.port, *port, "{text}");
        assert_eq!(p.to_string().parse::<PeerIp>().unwrap(), p, "round trip {text}");
    }
    for bad in [
        "10.0.0.1:",
        "10.0.0.1:99999",
        "[10.0.0.1]:5",
        "host:179",
        "fd00::1:",
        "[fd00::1]x",
    ] {
        assert!(bad.parse::<PeerIp>().is_err(), "{bad} should be rejected");
    }
}

#[test]
fn as_number_forms() {
    for (json, want) in [
        ("64512", 64512u32),
        ("\"64512\"", 64512),
        ("\"1.10\"", 65546),
        ("4294967295", u32::MAX),
    ] {
        let v: AsNumber = serde_json::from_str(json).unwrap();
        assert_eq!(v.0, want, "{json}");
    }
    for bad in ["-1", "4294967296", "\"abc\"", "\"1.70000\"", "1.5", "true"] {
        assert!(serde_json::from_str::<AsNumber>(bad).is_err(), "{bad}");
    }
}

#[test]
fn go_durations() {
    let cases: &[(&str, u64, u32, &str)] = &[
        ("120s", 120, 0, "2m0s"),
        ("2m0s", 120, 0, "2m0s"),
        ("1h30m", 5400, 0, "1h30m0s"),
        ("1.5s", 1, 500_000_000, "1.5s"),
        ("300ms", 0, 300_000_000, "300ms"),
        ("0", 0, 0, "0s"),
        ("0s", 0, 0, "0s"),
        ("1h0m0s", 3600, 0, "1h0m0s"),
        ("90s", 90, 0, "1m30s"),
        ("2us", 0, 2_000, "2µs"),
    ];
    for (text, secs, nanos, shown) in cases {
        let d: GoDuration = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(d.0, Duration::new(*secs, *nanos), "{text}");
        assert_eq!(d.to_string(), *shown, "{text}");
    }
    assert_eq!("1.5s".parse::<GoDuration>().unwrap().rounded_secs(), 2);
    assert_eq!("1.4s".parse::<GoDuration>().unwrap().rounded_secs(), 1);
    for bad in ["", "10", "5x", "-3s", "1..2s", "s", "1e3s"] {
        assert!(bad.parse::<GoDuration>().is_err(), "{bad:?} should be rejected");
    }
}

#[test]
fn node_address_forms() {
    let a: NodeAddress = "10.0.0.5/24".parse().unwrap();
    assert_eq!(a.ip.to_string(), "10.0.0.5");
    assert_eq!(a.network().to_string(), "10.0.0.0/24");
    let h: NodeAddress = "fd00::5".parse().unwrap();
    assert_eq!(h.prefix_len, 128);
    assert!("10.0.0.5/33".parse::<NodeAddress>().is_err());
    assert!("nope/8".parse::<NodeAddress>().is_err());
}

#[test]
fn invalid_values_name_resource_field_and_value() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            r#"{"kind":"BGPPeer","metadata":{"name":"p1"},"spec":{"asNumber":"sixty"}}"#,
            "BGPPeer/p1",
            "spec.asNumber",
            "\"sixty\"",
        ),
        (
            r#"{"kind":"BGPPeer","metadata":{"name":"p2"},"spec":{"peerIP":"1.2.3:4"}}"#,
            "BGPPeer/p2",
            "spec.peerIP",
            "\"1.2.3:4\"",
        ),
        (
            r#"{"kind":"BGPPeer","metadata":{"name":"p3"},"spec":{"keepaliveTime":"soon"}}"#,
            "BGPPeer/p3",
            "spec.keepaliveTime",
            "\"soon\"",
        ),
        (
            r#"{"kind":"BGPPeer","metadata":{"name":"p4"},"spec":{"peerSelector":"a == "}}"#,
            "BGPPeer/p4",
            "spec.peerSelector",
            "\"a == \"",
        ),
        (
            r#"{"kind":"Node","metadata":{"name":"n1"},"spec":{"bgp":{"ipv4Address":"10.0.0.300/24"}}}"#,
            "Node/n1",
            "spec.bgp.ipv4Address",
            "\"10.0.0.300/24\"",
        ),
        (
            r#"{"kind":"Node","metadata":{"name":"n2"},"spec":{"bgp":{"routeReflectorClusterID":"fd00::1"}}}"#,
            "Node/n2",
            "spec.bgp.routeReflectorClusterID",
            "\"fd00::1\"",
        ),
        (
            r#"{"kind":"BGPConfiguration","metadata":{"name":"default"},"spec":{"listenPort":70000}}"#,
            "BGPConfiguration/default",
            "spec.listenPort",
            "70000",
        ),
        (
            r#"{"kind":"BGPPeer","metadata":{"name":"p5"},"spec":{"nextHopMode":"Sometimes"}}"#,
            "BGPPeer/p5",
            "spec.nextHopMode",
            "\"Sometimes\"",
        ),
        (
            r#"{"kind":"IPPool","metadata":{"name":"pool"},"spec":{"cidr":"10.0.0.0/99"}}"#,
            "IPPool/pool",
            "spec.cidr",
            "\"10.0.0.0/99\"",
        ),
        (
            r#"{"kind":"BGPPeer","metadata":{"name":"p6"},"spec":{"peerIP":"10.0.0.1","peerSelector":"all()"}}"#,
            "BGPPeer/p6",
            "spec.peerIP",
            "10.0.0.1",
        ),
        (
            r#"{"kind":"BGPPeer","metadata":{"name":"p7"},"spec":{"node":"a","nodeSelector":"all()"}}"#,
            "BGPPeer/p7",
            "spec.node",
            "a",
        ),
        (
            r#"{"kind":"BGPPeer","metadata":{"name":"p8"},"spec":{"asNumber":65000,"peerSelector":"all()"}}"#,
            "BGPPeer/p8",
            "spec.asNumber",
            "65000",
        ),
        (
            r#"{"kind":"Widget","metadata":{"name":"w"}}"#,
            "w",
            "kind",
            "Widget",
        ),
        (
            r#"{"kind":"Node","apiVersion":"v1","metadata":{"name":"n3"}}"#,
            "Node/n3",
            "apiVersion",
            "\"v1\"",
        ),
        (
            r#"{"kind":"Node","metadata":{}}"#,
            "Node/?",
            "metadata.name",
            "\"\"",
        ),
    ];
    for (json, resource, field, value) in cases {
        let (r, f, v, reason) = invalid_parts(Resource::from_json(json.as_bytes()).unwrap_err());
        assert_eq!(
            (r.as_str(), f.as_str(), v.as_str()),
            (*resource, *field, *value),
            "{json} ({reason})"
        );
        assert!(!reason.is_empty());
    }
}

#[test]
fn unknown_fields_and_empty_strings_are_ignored() {
    let json = br#"{"kind":"BGPPeer","apiVersion":"crd.projectcalico.org/v1",
        "metadata":{"name":"x","annotations":{"a":"b"},"managedFields":[{}]},
        "spec":{"node":"","nodeSelector":"","peerIP":"10.0.0.9","asNumber":64512,"nextHopMode":"",
                "password":null,"filters":null,"brandNew":[1,2,3]}}"#;
    let Resource::BgpPeer(p) = Resource::from_json(json).unwrap() else {
        panic!()
    };
    assert!(p.is_global());
    assert_eq!(p.spec.next_hop_mode, None);
    assert!(p.spec.filters.is_empty());
}

#[test]
fn yaml_labels_accept_scalars() {
    let y = "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: rr1\n  labels:\n    route-reflector: true\n    rack: 7\nspec:\n  bgp:\n    ipv4Address: 10.0.0.1/24\n";
    let Resource::Node(n) = Resource::from_yaml(y).unwrap() else {
        panic!()
    };
    assert_eq!(n.metadata.labels["route-reflector"], "true");
    assert_eq!(n.metadata.labels["rack"], "7");
}

#[test]
fn round_trip_through_json_and_yaml() {
    let texts = [
        r#"{"kind":"BGPConfiguration","apiVersion":"projectcalico.org/v3","metadata":{"name":"default"},
 "spec":{"logSeverityScreen":"Info","nodeToNodeMeshEnabled":false,"asNumber":64532,
         "listenPort":179,"serviceClusterIPs":[{"cidr":"10.96.0.0/12"}],
         "communities":[{"name":"bgp-large-community","value":"63400:300:100"}],
         "prefixAdvertisements":[{"cidr":"192.168.0.0/16","communities":["bgp-large-community","63400:120"]}],
         "nodeMeshMaxRestartTime":"90s","localWorkloadPeeringIPV4":"169.254.0.179"}}"#,
        r#"{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"ippool-1"},
 "spec":{"cidr":"192.168.0.0/16","ipipMode":"Always","natOutgoing":true,"blockSize":26,"nodeSelector":"all()"}}"#,
        r#"{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{"name":"p"},
 "spec":{"peerIP":"[fd00::1]:1790","asNumber":65001,"maxRestartTime":"1h2m3s","ttlSecurity":2}}"#,
        r#"{"kind":"Node","apiVersion":"projectcalico.org/v3","metadata":{"name":"kube-node-1","labels":{"a":"b"}},
 "spec":{"bgp":{"ipv4Address":"10.192.0.3/16","ipv6Address":"fe0a::3/96","asNumber":64532}}}"#,
    ];
    for t in texts {
        let r = Resource::from_json(t.as_bytes()).unwrap();
        let again = Resource::from_json(r.to_json().as_bytes()).unwrap();
        assert_eq!(r, again, "json round trip of {}", r.id());
        let yaml = serde_yaml_ng::to_string(&r).unwrap();
        assert_eq!(
            Resource::from_yaml(&yaml).unwrap(),
            r,
            "yaml round trip of {}",
            r.id()
        );
        let v = r.to_value();
        assert_eq!(v["apiVersion"], "projectcalico.org/v3");
        assert_eq!(v["kind"], r.kind().as_str());
    }
}

#[test]
fn kind_names() {
    for k in Kind::ALL {
        assert_eq!(Kind::parse(k.as_str()), Some(k));
        assert_eq!(Kind::parse(k.plural()), Some(k));
    }
    assert_eq!(Kind::parse("bgppeer"), Some(Kind::BgpPeer));
    assert_eq!(Kind::parse("ippools"), Some(Kind::IpPool));
    assert_eq!(Kind::parse("pods"), None);
    assert_eq!(
        Resource::from_value_of(Kind::Node, serde_json::json!({"metadata":{"name":"n"}}))
            .unwrap()
            .kind(),
        Kind::Node
    );
    assert!(
        Resource::from_value_of(
            Kind::Node,
            serde_json::json!({"kind":"BGPPeer","metadata":{"name":"n"}})
        )
        .is_err()
    );
}
