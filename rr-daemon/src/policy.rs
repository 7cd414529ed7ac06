//! A BGPPeer's `filters` as the engine's import and export policy.
//!
//! [`datastore::policy`] translates the named BGPFilters into Calico-free rule lists (its module doc
//! holds the semantics: rules of every filter in the BGPPeer's order, first match decides, import
//! default accept, export default the normal export decision). This module maps those lists onto
//! [`rr_core::policy::Policy`]: the IPv4 and IPv6 lists of a direction become one policy whose rules
//! carry their family, and both defaults become "accept", since the engine applies the RFC 4456
//! reflection rules (the reflector's "normal export decision") before the export policy anyway.

use datastore::Snapshot;
use datastore::policy::{self as ds, Direction, Family as DsFamily};
use rr_core::Family;
use rr_core::policy::{Action, Match, Modification, PeerKind, Policy, PolicyCommunity, PrefixMatch, Rule};

/// The (import, export) policy of a session naming `filters`. Filters that do not exist contribute
/// no rule (the unhonoured-settings report names them).
pub(crate) fn for_filters(filters: &[String], snap: &Snapshot) -> (Policy, Policy) {
    if filters.is_empty() {
        return (Policy::default(), Policy::default());
    }
    let p = ds::policy_for(filters, |n| snap.filters.get(n));
    (direction(&p, Direction::Import), direction(&p, Direction::Export))
}

fn direction(p: &ds::Policy, d: Direction) -> Policy {
    let mut rules = Vec::new();
    for (fam, engine_fam) in [
        (DsFamily::Ipv4, Family::Ipv4Unicast),
        (DsFamily::Ipv6, Family::Ipv6Unicast),
    ] {
        rules.extend(p.rules(fam, d).rules.iter().filter_map(|r| rule(r, engine_fam)));
    }
    Policy::new(rules, Action::Accept)
}

fn community(c: ds::Community) -> Option<PolicyCommunity> {
    match c {
        ds::Community::Standard(a, n) => Some(PolicyCommunity::Standard(bgp_wire::Community::new(a, n))),
        ds::Community::Large(a, b, c) => Some(PolicyCommunity::Large(bgp_wire::LargeCommunity::new(a, b, c))),
        _ => None,
    }
}

/// One rule. A rule whose cidr cannot be a prefix (never the case for a parsed BGPFilter) is dropped.
fn rule(r: &ds::Rule, family: Family) -> Option<Rule> {
    let m = &r.matches;
    let prefix = match &m.prefix {
        None => None,
        Some(p) => Some(PrefixMatch {
            net: bgp_wire::Prefix::new(p.net.network(), p.net.prefix_len()).ok()?,
            min_len: p.min_len,
            max_len: p.max_len,
            negate: p.negate,
        }),
    };
    let matches = Match {
        family: Some(family),
        prefix,
        peer: m.peer.map(|k| match k {
            ds::PeerKind::External => PeerKind::External,
            _ => PeerKind::Internal,
        }),
        learned_from_peer: m.learned_from_peer,
        from_peer: None,
        as_path_prefix: m.as_path_prefix.clone(),
        communities: m.community.and_then(community).into_iter().collect(),
        local_pref: m.local_pref,
        // A community this build cannot represent: the rule keeps its place but never matches.
        never: m.never || m.community.is_some_and(|c| community(c).is_none()),
    };
    let modifications = r
        .modifications
        .iter()
        .filter_map(|x| match x {
            ds::Modification::AddCommunity(c) => community(*c).map(Modification::AddCommunity),
            ds::Modification::PrependAsPath(p) => Some(Modification::PrependAsPath(p.clone())),
            ds::Modification::SetLocalPref(l) => Some(Modification::SetLocalPref(*l)),
            _ => None,
        })
        .collect();
    Some(Rule {
        matches,
        action: match r.action {
            ds::RuleAction::Reject => Action::Reject,
            _ => Action::Accept,
        },
        modifications,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rr_core::attrs::{Origin, RouteAttrs};
    use rr_core::policy::{RouteContext, Verdict};

    fn snap(yaml: &str) -> Snapshot {
        let (resources, invalid) = datastore::file::parse_manifests("test", yaml);
        assert!(invalid.is_empty(), "{invalid:?}");
        Snapshot::from_resources(resources)
    }

    #[test]
    fn filters_map_to_one_policy_per_direction_in_order() {
        let s = snap(
            "apiVersion: projectcalico.org/v3\nkind: BGPFilter\nmetadata: {name: f1}\nspec:\n  exportV4:\n    \
             - {action: Accept, matchOperator: Equal, cidr: 10.3.1.0/26}\n    \
             - {action: Reject, matchOperator: In, cidr: 10.3.0.0/16}\n  importV6:\n    \
             - {action: Reject, matchOperator: NotIn, cidr: 'fd00::/8'}\n",
        );
        let (imp, exp) = for_filters(&["f1".into(), "missing".into()], &s);
        assert_eq!(exp.rules().len(), 2);
        assert_eq!(imp.rules().len(), 1);
        let a = RouteAttrs::new(Origin::Igp, None);
        let v = |p: &Policy, pfx: &str| {
            matches!(
                p.evaluate(&RouteContext::new(
                    pfx.parse().expect("prefix"),
                    &a,
                    PeerKind::Internal
                )),
                Verdict::Reject
            )
        };
        assert!(!v(&exp, "10.3.1.0/26"), "first match accepts");
        assert!(v(&exp, "10.3.2.0/26"));
        assert!(!v(&exp, "10.4.2.0/26"), "default");
        assert!(v(&imp, "fc00::/64"), "NotIn fd00::/8");
        assert!(!v(&imp, "fd00::/64"));
        assert!(!v(&imp, "10.3.2.0/26"), "an IPv6 list does not touch IPv4 routes");
        assert_eq!(for_filters(&[], &s), (Policy::default(), Policy::default()));
    }
}
