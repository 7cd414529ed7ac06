//! BGPFilters as plain rule lists: rules in BGPPeer filter order then rule order, the first match decides,
//! Calico's defaults (import accepts, export continues), and each criterion and operation translated.

use datastore::model::BgpFilter;
use datastore::policy::{
    Community, DefaultAction, Direction, Family, Modification, PeerKind, RouteView, Verdict, policy_for,
    priority_to_local_pref,
};
use datastore::{Resource, Snapshot};

fn filter(yaml_spec: &str, name: &str) -> BgpFilter {
    let y = format!(
        "apiVersion: projectcalico.org/v3\nkind: BGPFilter\nmetadata: {{name: {name}}}\nspec:\n{yaml_spec}"
    );
    match Resource::from_yaml(&y).unwrap() {
        Resource::BgpFilter(f) => *f,
        other => panic!("{other:?}"),
    }
}

fn view(prefix: &str) -> RouteView<'static> {
    RouteView {
        prefix: prefix.parse().unwrap(),
        peer: PeerKind::Internal,
        learned_from_peer: true,
        communities: &[],
        as_path: &[],
        local_pref: None,
    }
}

fn snap(filters: Vec<BgpFilter>) -> Snapshot {
    Snapshot::from_resources(filters.into_iter().map(Resource::from))
}

#[test]
fn first_match_decides_across_filters_in_order() {
    let a = filter(
        "  exportV4:\n    - {action: Reject, matchOperator: In, cidr: 10.3.0.0/16}\n\
         \x20   - {action: Accept, matchOperator: In, cidr: 10.0.0.0/8}\n",
        "a",
    );
    let b = filter(
        "  exportV4:\n    - {action: Accept, matchOperator: In, cidr: 10.3.1.0/24}\n\
         \x20   - {action: Reject}\n",
        "b",
    );
    let s = snap(vec![a, b]);
    let p = policy_for(&["a".into(), "b".into(), "gone".into()], |n| s.filters.get(n));
    assert_eq!(p.missing, ["gone"]);
    let ex = p.rules(Family::Ipv4, Direction::Export);
    let origins: Vec<&str> = ex.rules.iter().map(|r| r.origin.as_str()).collect();
    assert_eq!(
        origins,
        ["a/exportV4[0]", "a/exportV4[1]", "b/exportV4[0]", "b/exportV4[1]"]
    );
    // a's reject comes first, although b accepts the more specific prefix.
    assert_eq!(ex.evaluate(&view("10.3.1.0/24")), Verdict::Reject);
    assert_eq!(ex.evaluate(&view("10.4.0.0/26")), Verdict::Accept(&[]));
    // Outside both of a's rules: b's catch-all reject.
    assert_eq!(ex.evaluate(&view("192.168.0.0/24")), Verdict::Reject);
    // Lists without rules: Calico's defaults.
    let im = p.rules(Family::Ipv4, Direction::Import);
    assert_eq!(
        im.evaluate(&view("10.3.1.0/24")),
        Verdict::Default(DefaultAction::Accept)
    );
    let ex6 = p.rules(Family::Ipv6, Direction::Export);
    assert_eq!(
        ex6.evaluate(&view("fd00::/64")),
        Verdict::Default(DefaultAction::Continue)
    );
    // Order of the BGPPeer's list matters.
    let q = policy_for(&["b".into(), "a".into()], |n| s.filters.get(n));
    assert_eq!(
        q.rules(Family::Ipv4, Direction::Export)
            .evaluate(&view("10.3.1.0/24")),
        Verdict::Accept(&[])
    );
    assert!(!p.is_empty());
    assert!(policy_for(&[], |n| s.filters.get(n)).is_empty());
}

#[test]
fn match_operators_and_prefix_lengths() {
    let f = filter(
        "  importV4:\n    - {action: Accept, matchOperator: Equal, cidr: 10.0.0.0/16}\n\
         \x20   - {action: Accept, matchOperator: In, cidr: 10.1.0.0/16, prefixLength: {min: 24, max: 26}}\n\
         \x20   - {action: Reject, matchOperator: NotIn, cidr: 10.0.0.0/8}\n\
         \x20   - {action: Accept, matchOperator: NotEqual, cidr: 10.9.0.0/16}\n\
         \x20   - {action: Reject}\n\
         \x20 importV6:\n    - {action: Reject, matchOperator: In, cidr: 'fd00::/8'}\n",
        "f",
    );
    let s = snap(vec![f]);
    let p = policy_for(&["f".into()], |n| s.filters.get(n));
    let im = p.rules(Family::Ipv4, Direction::Import);
    let origin = |pfx: &str| -> Option<usize> { im.rules.iter().position(|r| r.matches.matches(&view(pfx))) };
    assert_eq!(origin("10.0.0.0/16"), Some(0)); // Equal
    assert_eq!(origin("10.0.0.0/17"), Some(3)); // not Equal; inside 10/8; NotEqual 10.9/16
    assert_eq!(origin("10.1.2.0/24"), Some(1)); // In with lengths 24..=26
    assert_eq!(origin("10.1.2.0/27"), Some(3)); // too long for rule 1
    assert_eq!(origin("10.1.0.0/16"), Some(3)); // too short for rule 1
    assert_eq!(origin("11.0.0.0/8"), Some(2)); // NotIn 10/8
    assert_eq!(origin("10.9.0.0/16"), Some(4)); // NotEqual fails; catch-all
    // Without prefixLength, In covers the cidr's own length to /32.
    let r2 = &im.rules[2].matches.prefix.unwrap();
    assert_eq!((r2.min_len, r2.max_len, r2.negate), (8, 32, true));
    let six = p.rules(Family::Ipv6, Direction::Import);
    assert_eq!(six.evaluate(&view("fd12::/64")), Verdict::Reject);
    assert_eq!(
        six.evaluate(&view("2001:db8::/32")),
        Verdict::Default(DefaultAction::Accept)
    );
}

#[test]
fn criteria_and_operations() {
    let f = filter(
        "  exportV4:\n    - {action: Reject, peerType: eBGP, source: RemotePeers}\n\
         \x20   - {action: Reject, communities: {values: ['65000:1']}}\n\
         \x20   - {action: Reject, communities: {values: ['1:2:3']}}\n\
         \x20   - {action: Reject, asPathPrefix: [65001, 65002]}\n\
         \x20   - {action: Reject, priority: 1024}\n\
         \x20   - {action: Reject, interface: 'eth*'}\n\
         \x20   - action: Accept\n\
         \x20     operations: [{addCommunity: {value: '65000:9'}}, {prependASPath: {prefix: [65010]}}, {setPriority: {value: 512}}]\n",
        "f",
    );
    let s = snap(vec![f]);
    let p = policy_for(&["f".into()], |n| s.filters.get(n));
    let ex = p.rules(Family::Ipv4, Direction::Export);
    let which = |v: &RouteView<'_>| ex.rules.iter().position(|r| r.matches.matches(v));
    let base = view("10.0.0.0/24");
    assert_eq!(which(&base), Some(6), "plain iBGP route: only the catch-all");
    assert_eq!(
        which(&RouteView {
            peer: PeerKind::External,
            ..base
        }),
        Some(0)
    );
    assert_eq!(
        which(&RouteView {
            peer: PeerKind::External,
            learned_from_peer: false,
            ..base
        }),
        Some(6),
        "source RemotePeers does not match an originated route"
    );
    assert_eq!(
        which(&RouteView {
            communities: &[Community::Standard(65000, 1)],
            ..base
        }),
        Some(1)
    );
    assert_eq!(
        which(&RouteView {
            communities: &[Community::Large(1, 2, 3)],
            ..base
        }),
        Some(2)
    );
    assert_eq!(
        which(&RouteView {
            as_path: &[65001, 65002, 7],
            ..base
        }),
        Some(3)
    );
    assert_eq!(
        which(&RouteView {
            as_path: &[7, 65001, 65002],
            ..base
        }),
        Some(6)
    );
    // Priority 1024 is Calico's normal route priority, LOCAL_PREF 2147482623.
    assert_eq!(priority_to_local_pref(1024), 2_147_482_623);
    assert_eq!(
        which(&RouteView {
            local_pref: Some(2_147_482_623),
            ..base
        }),
        Some(4)
    );
    assert!(
        ex.rules[5].matches.never,
        "interface never matches on a reflector"
    );
    assert_eq!(
        ex.evaluate(&base),
        Verdict::Accept(&[
            Modification::AddCommunity(Community::Standard(65000, 9)),
            Modification::PrependAsPath(vec![65010]),
            Modification::SetLocalPref(priority_to_local_pref(512)),
        ])
    );
}
