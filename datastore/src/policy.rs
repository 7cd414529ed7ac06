//! BGPFilters translated into a plain route-policy rule list with no Calico names, for a policy engine to
//! consume: `rr-daemon` maps it onto `rr_core::policy` (one import and one export policy per session, the
//! IPv4 and IPv6 lists as rules carrying their family).
//!
//! Semantics, as calico-node's BIRD applies a BGPPeer's `filters` (confd's template calls each filter's
//! function in the BGPPeer's order, then falls through to the default):
//! - the rules of every named filter, filter by filter and each filter's rules in order, form one list;
//! - the first rule whose every criterion matches decides: [`RuleAction::Accept`] (after its
//!   modifications) or [`RuleAction::Reject`];
//! - when no rule matches: import accepts the route, export hands it to the normal export decision
//!   ([`DefaultAction::Accept`] / [`DefaultAction::Continue`]).
//! - A named filter that does not exist contributes no rule (and is reported in [`Policy::missing`]).
//!
//! Mapping decisions where a reflector differs from a calico-node:
//! - `matchOperator`: `Equal` is the exact prefix, `In` any prefix inside `cidr` with a length in
//!   `prefixLength` (default: the cidr's own length to /32 or /128); `NotEqual` / `NotIn` negate them.
//! - `source: RemotePeers` becomes [`RouteMatch::learned_from_peer`]; every route a reflector holds is
//!   learned from a peer, so it only matters to an embedder that originates routes.
//! - `priority` / `setPriority`: Calico nodes carry a route's priority across BGP in LOCAL_PREF as
//!   `2147483647 - priority` (the normal priority 1024 is LOCAL_PREF 2147482623), so both become LOCAL_PREF.
//! - `interface` cannot match anything on a reflector (it has no outgoing interface for a route): a rule with
//!   it never matches ([`RouteMatch::never`]); [`crate::unhonoured`] says so in the log.

use std::net::IpAddr;

use serde::Serialize;

use crate::model::{
    BgpFilter, BgpFilterRule, CommunityValue, FilterAction, FilterPeerType, FilterSource, MatchOperator,
    RuleList,
};

/// The LOCAL_PREF Calico uses for a route priority (`2147483647 - priority`).
pub fn priority_to_local_pref(priority: i64) -> u32 {
    u32::try_from((i64::from(i32::MAX) - priority).clamp(0, i64::from(i32::MAX))).unwrap_or(0)
}

/// Address family of a rule list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Family {
    /// IPv4 unicast.
    Ipv4,
    /// IPv6 unicast.
    Ipv6,
}

/// Which way routes flow through a rule list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Direction {
    /// Routes received from the peer.
    Import,
    /// Routes sent to the peer.
    Export,
}

/// The kind of peer a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PeerKind {
    /// Another AS.
    External,
    /// The same AS.
    Internal,
}

/// A prefix criterion: the route's prefix lies inside `net` with a length in `min_len..=max_len`
/// (negated when `negate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct PrefixMatch {
    /// The covering network.
    pub net: ipnet::IpNet,
    /// Shortest prefix length matched.
    pub min_len: u8,
    /// Longest prefix length matched.
    pub max_len: u8,
    /// Match the routes this would not match.
    pub negate: bool,
}

impl PrefixMatch {
    /// Whether `prefix` matches.
    pub fn matches(&self, prefix: &ipnet::IpNet) -> bool {
        let inside = self.net.contains(&prefix.network())
            && prefix.prefix_len() >= self.net.prefix_len()
            && (self.min_len..=self.max_len).contains(&prefix.prefix_len());
        inside != self.negate
    }
}

/// A community criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Community {
    /// RFC 1997 community (high 16 bits, low 16 bits).
    Standard(u16, u16),
    /// RFC 8092 large community.
    Large(u32, u32, u32),
}

impl From<CommunityValue> for Community {
    fn from(v: CommunityValue) -> Self {
        match v {
            CommunityValue::Standard(a, n) => Community::Standard(a, n),
            CommunityValue::Large(a, n, m) => Community::Large(a, n, m),
        }
    }
}

/// What a rule requires of a route; every set criterion must hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize)]
pub struct RouteMatch {
    /// The prefix criterion.
    pub prefix: Option<PrefixMatch>,
    /// The peer the route comes from (import) or goes to (export) is of this kind.
    pub peer: Option<PeerKind>,
    /// Only routes learned from a BGP peer (not originated locally).
    pub learned_from_peer: bool,
    /// The route carries this community.
    pub community: Option<Community>,
    /// The AS path begins with these AS numbers.
    pub as_path_prefix: Vec<u32>,
    /// LOCAL_PREF equals this.
    pub local_pref: Option<u32>,
    /// A criterion this speaker can never satisfy (the rule is kept, in place, but never matches).
    pub never: bool,
}

/// What the route looks like to the matcher.
#[derive(Debug, Clone, Copy)]
pub struct RouteView<'a> {
    /// The prefix.
    pub prefix: ipnet::IpNet,
    /// The kind of peer on the other side of this decision.
    pub peer: PeerKind,
    /// Learned from a peer (false: originated here).
    pub learned_from_peer: bool,
    /// Communities on the route (standard and large together).
    pub communities: &'a [Community],
    /// The AS path, flattened in order.
    pub as_path: &'a [u32],
    /// LOCAL_PREF, if any.
    pub local_pref: Option<u32>,
}

impl RouteMatch {
    /// Whether `r` satisfies every criterion.
    pub fn matches(&self, r: &RouteView<'_>) -> bool {
        !self.never
            && self.prefix.as_ref().is_none_or(|p| p.matches(&r.prefix))
            && self.peer.is_none_or(|k| k == r.peer)
            && (!self.learned_from_peer || r.learned_from_peer)
            && self.community.is_none_or(|c| r.communities.contains(&c))
            && r.as_path.starts_with(&self.as_path_prefix)
            && self.local_pref.is_none_or(|l| r.local_pref == Some(l))
    }
}

/// A change made to an accepted route.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Modification {
    /// Add a community.
    AddCommunity(Community),
    /// Prepend these AS numbers (the first one leads the path).
    PrependAsPath(Vec<u32>),
    /// Set LOCAL_PREF.
    SetLocalPref(u32),
}

/// The decision of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RuleAction {
    /// Accept the route after the rule's modifications.
    Accept,
    /// Drop the route.
    Reject,
}

/// One rule: criteria, a decision, and modifications applied when it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Rule {
    /// The criteria.
    pub matches: RouteMatch,
    /// The decision.
    pub action: RuleAction,
    /// Changes made before accepting, in order.
    pub modifications: Vec<Modification>,
    /// Where the rule came from (`filter-name/exportV4[2]`), for logs.
    pub origin: String,
}

/// What happens to a route no rule matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DefaultAction {
    /// Accept it (Calico's import default).
    Accept,
    /// Leave it to the speaker's normal export decision (Calico's export default).
    Continue,
}

/// The outcome of evaluating a [`RuleList`] on a route.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict<'a> {
    /// A rule accepted it; apply these modifications.
    Accept(&'a [Modification]),
    /// A rule rejected it.
    Reject,
    /// No rule matched: the list's default.
    Default(DefaultAction),
}

/// An ordered list of rules for one family and direction; the first matching rule decides.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RouteRules {
    /// The rules, in order.
    pub rules: Vec<Rule>,
    /// When no rule matches.
    pub default: DefaultAction,
}

impl RouteRules {
    /// Evaluates the list on a route.
    pub fn evaluate(&self, r: &RouteView<'_>) -> Verdict<'_> {
        for rule in &self.rules {
            if rule.matches.matches(r) {
                return match rule.action {
                    RuleAction::Accept => Verdict::Accept(&rule.modifications),
                    RuleAction::Reject => Verdict::Reject,
                };
            }
        }
        Verdict::Default(self.default)
    }
}

/// The four rule lists of one peer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Policy {
    /// IPv4 routes received.
    pub import_v4: RouteRules,
    /// IPv6 routes received.
    pub import_v6: RouteRules,
    /// IPv4 routes sent.
    pub export_v4: RouteRules,
    /// IPv6 routes sent.
    pub export_v6: RouteRules,
    /// Named filters that do not exist.
    pub missing: Vec<String>,
}

impl Policy {
    /// The list for one family and direction.
    pub fn rules(&self, family: Family, direction: Direction) -> &RouteRules {
        match (family, direction) {
            (Family::Ipv4, Direction::Import) => &self.import_v4,
            (Family::Ipv6, Direction::Import) => &self.import_v6,
            (Family::Ipv4, Direction::Export) => &self.export_v4,
            (Family::Ipv6, Direction::Export) => &self.export_v6,
        }
    }

    /// True when no list has a rule (the policy changes nothing).
    pub fn is_empty(&self) -> bool {
        [&self.import_v4, &self.import_v6, &self.export_v4, &self.export_v6]
            .iter()
            .all(|l| l.rules.is_empty())
    }
}

/// The policy of a peer naming `names`, looked up with `lookup` (a missing filter is skipped and reported).
pub fn policy_for<'a>(names: &[String], lookup: impl Fn(&str) -> Option<&'a BgpFilter>) -> Policy {
    let mut p = Policy {
        import_v4: empty(DefaultAction::Accept),
        import_v6: empty(DefaultAction::Accept),
        export_v4: empty(DefaultAction::Continue),
        export_v6: empty(DefaultAction::Continue),
        missing: Vec::new(),
    };
    for name in names {
        let Some(f) = lookup(name) else {
            p.missing.push(name.clone());
            continue;
        };
        for list in RuleList::ALL {
            let target = match list {
                RuleList::ImportV4 => &mut p.import_v4,
                RuleList::ImportV6 => &mut p.import_v6,
                RuleList::ExportV4 => &mut p.export_v4,
                RuleList::ExportV6 => &mut p.export_v6,
            };
            for (i, r) in f.spec.rules(list).iter().enumerate() {
                target
                    .rules
                    .push(rule(r, list.is_v4(), format!("{name}/{}[{i}]", list.as_str())));
            }
        }
    }
    p
}

fn empty(default: DefaultAction) -> RouteRules {
    RouteRules {
        rules: Vec::new(),
        default,
    }
}

/// Translates one Calico rule of an IPv4 (`v4`) or IPv6 list.
pub fn rule(r: &BgpFilterRule, v4: bool, origin: String) -> Rule {
    let max: u8 = if v4 { 32 } else { 128 };
    let prefix = r.cidr.zip(r.match_operator).map(|(net, op)| {
        let own = net.prefix_len();
        let (lo, hi) = match op {
            MatchOperator::Equal | MatchOperator::NotEqual => (own, own),
            _ => {
                let pl = r.prefix_length.unwrap_or_default();
                let clamp = |v: i32| u8::try_from(v.clamp(0, i32::from(max))).unwrap_or(max);
                (pl.min.map_or(own, clamp), pl.max.map_or(max, clamp))
            }
        };
        PrefixMatch {
            net,
            min_len: lo,
            max_len: hi,
            negate: matches!(op, MatchOperator::NotEqual | MatchOperator::NotIn),
        }
    });
    let matches = RouteMatch {
        prefix,
        peer: r.peer_type.map(|t| match t {
            FilterPeerType::Ebgp => PeerKind::External,
            FilterPeerType::Ibgp => PeerKind::Internal,
        }),
        learned_from_peer: matches!(r.source, Some(FilterSource::RemotePeers)),
        community: r
            .communities
            .as_ref()
            .and_then(|c| c.values.first().copied())
            .map(Community::from),
        as_path_prefix: r.as_path_prefix.iter().map(|a| a.0).collect(),
        local_pref: r.priority.map(priority_to_local_pref),
        never: r.interface.is_some(),
    };
    let modifications = r
        .operations
        .iter()
        .filter_map(|op| {
            if let Some(c) = op.add_community {
                Some(Modification::AddCommunity(c.value.into()))
            } else if let Some(p) = &op.prepend_as_path {
                Some(Modification::PrependAsPath(
                    p.prefix.iter().map(|a| a.0).collect(),
                ))
            } else {
                op.set_priority
                    .map(|p| Modification::SetLocalPref(priority_to_local_pref(p.value)))
            }
        })
        .collect();
    Rule {
        matches,
        action: match r.action {
            FilterAction::Accept => RuleAction::Accept,
            FilterAction::Reject => RuleAction::Reject,
        },
        modifications,
        origin,
    }
}

/// The family of an address (helper for callers building a [`RouteView`]).
pub fn family_of(addr: IpAddr) -> Family {
    if addr.is_ipv4() {
        Family::Ipv4
    } else {
        Family::Ipv6
    }
}
