//! The BGPFilter kind: every field of the API parsed and written back, validation errors naming the field and
//! value, and a file holding a BGPFilter (and a kind the reflector does not read) loading.

use datastore::model::{
    BgpFilter, CommunityValue, FilterAction, FilterPeerType, FilterSource, MatchOperator, RuleList,
};
use datastore::{Datastore, Error, FileDatastore, Kind, Resource};

fn invalid(yaml: &str) -> (String, String, String, String) {
    match Resource::from_yaml(yaml) {
        Err(Error::Invalid {
            resource,
            field,
            value,
            reason,
        }) => (resource, field, value, reason),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn filter_yaml(rules: &str) -> String {
    format!("apiVersion: projectcalico.org/v3\nkind: BGPFilter\nmetadata: {{name: f}}\nspec:\n{rules}")
}

#[test]
fn every_field_parses_and_round_trips() {
    let f = datastore::conformance::sample_filter("all-fields").unwrap();
    let r0 = &f.spec.export_v4[0];
    assert_eq!(r0.action, FilterAction::Reject);
    assert_eq!(r0.match_operator, Some(MatchOperator::In));
    assert_eq!(r0.cidr.unwrap().to_string(), "10.77.0.0/16");
    let pl = r0.prefix_length.unwrap();
    assert_eq!((pl.min, pl.max), (Some(24), Some(26)));
    assert_eq!(r0.source, Some(FilterSource::RemotePeers));
    assert_eq!(r0.peer_type, Some(FilterPeerType::Ibgp));
    let r1 = &f.spec.export_v4[1];
    assert_eq!(
        r1.communities.as_ref().unwrap().values,
        [CommunityValue::Standard(65000, 100)]
    );
    // "1.10" is asdot: 1 * 65536 + 10.
    let asns: Vec<u32> = r1.as_path_prefix.iter().map(|a| a.0).collect();
    assert_eq!(asns, [64512, 65546]);
    assert_eq!(r1.priority, Some(512));
    assert_eq!(r1.operations.len(), 3);
    assert_eq!(
        r1.operations[0].add_community.unwrap().value,
        CommunityValue::Large(65000, 1, 2)
    );
    let pre: Vec<u32> = r1.operations[1]
        .prepend_as_path
        .as_ref()
        .unwrap()
        .prefix
        .iter()
        .map(|a| a.0)
        .collect();
    assert_eq!(pre, [65001, 65002]);
    assert_eq!(r1.operations[2].set_priority.unwrap().value, 100);
    assert_eq!(f.spec.import_v4[0].interface.as_deref(), Some("eth*"));
    assert_eq!(f.spec.import_v4[0].match_operator, Some(MatchOperator::NotEqual));
    assert_eq!(f.spec.export_v6[0].match_operator, Some(MatchOperator::NotIn));
    assert_eq!(f.spec.export_v6[0].peer_type, Some(FilterPeerType::Ebgp));
    assert_eq!(f.spec.import_v6[0].match_operator, Some(MatchOperator::Equal));
    for l in RuleList::ALL {
        assert!(!f.spec.rules(l).is_empty(), "{}", l.as_str());
    }

    // Written as calicoctl writes it, and read back the same.
    let r = Resource::from(f.clone());
    let json = r.to_json();
    assert!(json.contains(r#""kind":"BGPFilter""#), "{json}");
    assert!(
        json.contains(r#""prependASPath":{"prefix":[65001,65002]}"#),
        "{json}"
    );
    assert!(json.contains(r#""peerType":"iBGP""#), "{json}");
    assert!(json.contains(r#""values":["65000:100"]"#), "{json}");
    assert_eq!(Resource::from_json(json.as_bytes()).unwrap(), r);
    assert_eq!(
        Resource::from_json_of(Kind::BgpFilter, json.as_bytes()).unwrap(),
        r
    );
}

#[test]
fn kind_names_and_lowercase_actions() {
    assert_eq!(Kind::parse("bgpfilters"), Some(Kind::BgpFilter));
    assert_eq!(Kind::parse("BGPFilter"), Some(Kind::BgpFilter));
    assert_eq!(Kind::parse("bgpfilter"), Some(Kind::BgpFilter));
    assert_eq!(Kind::BgpFilter.plural(), "bgpfilters");
    // The Calico docs' sample writes `action: accept`.
    let Resource::BgpFilter(f) = Resource::from_yaml(&filter_yaml(
        "  exportV4:\n    - {action: accept, matchOperator: In, cidr: 77.0.0.0/16}\n",
    ))
    .unwrap() else {
        panic!("not a filter")
    };
    assert_eq!(f.spec.export_v4[0].action, FilterAction::Accept);
    // An empty spec is a valid filter.
    let empty = Resource::from_yaml(&filter_yaml("  {}\n")).unwrap();
    assert_eq!(empty, Resource::from(BgpFilter::new("f")));
}

#[test]
fn validation_names_field_and_value() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "  exportV4:\n    - {action: Accept, matchOperator: In, cidr: fd00::/8}\n",
            "spec.exportV4[0].cidr",
            "fd00::/8",
            "IPv4",
        ),
        (
            "  importV6:\n    - {action: Accept, matchOperator: In, cidr: 10.0.0.0/8}\n",
            "spec.importV6[0].cidr",
            "10.0.0.0/8",
            "IPv6",
        ),
        (
            "  exportV4:\n    - {action: Accept, cidr: 10.0.0.0/8}\n",
            "spec.exportV4[0].matchOperator",
            "<missing>",
            "both be set",
        ),
        (
            "  exportV4:\n    - {action: Accept, matchOperator: In}\n",
            "spec.exportV4[0].cidr",
            "<missing>",
            "both be set",
        ),
        (
            "  exportV4:\n    - {action: Accept}\n    - {action: Accept, prefixLength: {max: 24}}\n",
            "spec.exportV4[1].prefixLength",
            "<set>",
            "cidr is required",
        ),
        (
            "  exportV4:\n    - {action: Accept, matchOperator: In, cidr: 10.0.0.0/8, prefixLength: {max: 33}}\n",
            "spec.exportV4[0].prefixLength.max",
            "33",
            "between 0 and 32",
        ),
        (
            "  exportV6:\n    - {action: Accept, matchOperator: In, cidr: 'fd00::/8', prefixLength: {min: 64, max: 48}}\n",
            "spec.exportV6[0].prefixLength",
            "{min: 64, max: 48}",
            "min is greater",
        ),
        (
            "  exportV4:\n    - {action: Reject, operations: [{setPriority: {value: 5}}]}\n",
            "spec.exportV4[0].operations",
            "1 operations",
            "only be used with action Accept",
        ),
        (
            "  exportV4:\n    - {action: Accept, operations: [{setPriority: {value: 5}, addCommunity: {value: '1:1'}}]}\n",
            "spec.exportV4[0].operations[0]",
            "2 fields set",
            "exactly one",
        ),
        (
            "  exportV4:\n    - {action: Accept, priority: 0}\n",
            "spec.exportV4[0].priority",
            "0",
            "between 1 and 2147483646",
        ),
        (
            "  importV4:\n    - {action: Accept, communities: {values: ['1:1', '2:2']}}\n",
            "spec.importV4[0].communities.values",
            "2 values",
            "exactly one",
        ),
        (
            "  importV4:\n    - {action: Accept, communities: {values: ['65536:1']}}\n",
            "spec.importV4[0].communities.values[0]",
            "\"65536:1\"",
            "invalid community",
        ),
        (
            "  importV4:\n    - {action: Drop}\n",
            "spec.importV4[0].action",
            "\"Drop\"",
            "expected Accept or Reject",
        ),
        (
            "  importV4:\n    - {action: Accept, matchOperator: Within, cidr: 10.0.0.0/8}\n",
            "spec.importV4[0].matchOperator",
            "\"Within\"",
            "unknown variant",
        ),
        (
            "  importV4:\n    - {action: Accept, peerType: ebgp}\n",
            "spec.importV4[0].peerType",
            "\"ebgp\"",
            "unknown variant",
        ),
        (
            "  importV4:\n    - {action: Accept, asPathPrefix: [-1]}\n",
            "spec.importV4[0].asPathPrefix[0]",
            "-1",
            "",
        ),
        (
            "  importV4:\n    - {action: Accept, operations: [{prependASPath: {prefix: []}}]}\n",
            "spec.importV4[0].operations[0].prependASPath.prefix",
            "0 AS numbers",
            "between 1 and 10",
        ),
        (
            "  importV4:\n    - {matchOperator: In, cidr: 10.0.0.0/8}\n",
            "spec.importV4[0]",
            "",
            "missing field `action`",
        ),
    ];
    for (rules, field, value, reason) in cases {
        let (resource, f, v, r) = invalid(&filter_yaml(rules));
        assert_eq!(resource, "BGPFilter/f", "{rules}");
        assert_eq!(&f, field, "{rules}: {r}");
        if !value.is_empty() {
            assert_eq!(&v, value, "{rules}: {r}");
        }
        assert!(r.contains(reason), "{rules}: reason {r:?} lacks {reason:?}");
    }
}

#[tokio::test]
async fn a_file_with_a_filter_and_an_unused_kind_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calico.yaml");
    std::fs::write(
        &path,
        r#"
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: {name: default}
spec: {logSeverityScreen: Info}
---
apiVersion: projectcalico.org/v3
kind: BGPFilter
metadata: {name: no-node-2}
spec:
  exportV4:
    - {action: Reject, matchOperator: In, cidr: 10.2.0.0/16}
---
apiVersion: v1
kind: Secret
metadata: {name: bgp-passwords}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor}
spec: {peerIP: 10.0.0.254, asNumber: 64513, filters: [no-node-2]}
"#,
    )
    .unwrap();
    let store = FileDatastore::open(&path).unwrap();
    let filters = store.list(Kind::BgpFilter).await.unwrap();
    assert!(filters.invalid.is_empty(), "{:?}", filters.invalid);
    assert_eq!(filters.resources.len(), 1);
    assert_eq!(filters.resources[0].value.name(), "no-node-2");
    let peers = store.list(Kind::BgpPeer).await.unwrap();
    assert!(peers.invalid.is_empty(), "{:?}", peers.invalid);
    assert_eq!(peers.resources.len(), 1);

    // A kind string that is not a string at all still makes the document invalid (it cannot be attributed).
    let (res, invalid) = datastore::parse_manifests("x.yaml", "kind: 7\nmetadata: {name: a}\n");
    assert!(res.is_empty());
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0].source, "x.yaml#1");
}
