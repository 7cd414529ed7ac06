//! Route policy: ordered rules per peer and direction, the first matching rule decides.
//!
//! A [`Policy`] is a list of [`Rule`]s and a default [`Action`]. Each rule has criteria
//! ([`Match`]: prefix exact or within a network with a length range, address family, the kind of
//! peer on the other side of the decision, AS path prefix, communities, LOCAL_PREF, where the
//! route was learned), an action, and [`Modification`]s applied when it accepts (add a community,
//! prepend AS numbers, set LOCAL_PREF). Rules are evaluated in order; the first whose every
//! criterion holds decides; when none matches the default applies.
//!
//! Where the engine applies it ([`crate::PeerConfig::import_policy`],
//! [`crate::PeerConfig::export_policy`]):
//! - import: between the Adj-RIB-In and best path. The Adj-RIB-In keeps every path as received,
//!   also those the policy rejects, so a policy change is re-evaluated locally and only the routes
//!   whose outcome changed are withdrawn or announced (no ROUTE-REFRESH, no session reset);
//! - export: after the RFC 4456 reflection rules, per update group. The export policy is part of
//!   the group key: peers with equal export policies share one Adj-RIB-Out and one encoding, and
//!   a peer with the default policy (accept everything, modify nothing) costs nothing more.
//!
//! ```
//! use rr_core::policy::{Action, Match, Policy, PrefixMatch, RouteContext, Rule, PeerKind, Verdict};
//! use rr_core::attrs::{Origin, RouteAttrs};
//!
//! // Reject 10.65.1.0/26 and everything more specific; accept the rest.
//! let p = Policy::new(
//!     vec![Rule::new(
//!         Match { prefix: Some(PrefixMatch::within("10.65.1.0/26".parse()?, 26, 32)), ..Match::default() },
//!         Action::Reject,
//!     )],
//!     Action::Accept,
//! );
//! let attrs = RouteAttrs::new(Origin::Igp, Some("192.0.2.7".parse()?));
//! let ctx = |pfx: &str| RouteContext::new(pfx.parse().unwrap(), &attrs, PeerKind::Internal);
//! assert_eq!(p.evaluate(&ctx("10.65.1.0/26")), Verdict::Reject);
//! assert!(matches!(p.evaluate(&ctx("10.65.2.0/26")), Verdict::Accept(_)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::IpAddr;
use std::sync::Arc;

use bgp_wire::{AttrValue, Community, LargeCommunity, PathAttribute};

use crate::attrs::RouteAttrs;
use crate::types::{Family, Prefix, PrefixFamily};

/// The kind of peer on the other side of a decision: the peer a route comes from (import) or goes
/// to (export).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PeerKind {
    /// The same AS (iBGP).
    Internal,
    /// Another AS (eBGP).
    External,
}

/// A prefix criterion: the route's prefix lies inside `net` with a length in `min_len..=max_len`,
/// or, when `negate`, it does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PrefixMatch {
    /// The covering network.
    pub net: Prefix,
    /// Shortest prefix length matched.
    pub min_len: u8,
    /// Longest prefix length matched.
    pub max_len: u8,
    /// Match the prefixes this would not match.
    pub negate: bool,
}

impl PrefixMatch {
    /// Exactly `net`.
    pub fn exact(net: Prefix) -> PrefixMatch {
        PrefixMatch {
            net,
            min_len: net.len(),
            max_len: net.len(),
            negate: false,
        }
    }

    /// Any prefix inside `net` with a length in `min_len..=max_len`.
    pub fn within(net: Prefix, min_len: u8, max_len: u8) -> PrefixMatch {
        PrefixMatch {
            net,
            min_len,
            max_len,
            negate: false,
        }
    }

    /// The same criterion, negated.
    pub fn negated(mut self) -> PrefixMatch {
        self.negate = !self.negate;
        self
    }

    /// Whether `prefix` matches.
    ///
    /// ```
    /// use rr_core::policy::PrefixMatch;
    /// let m = PrefixMatch::within("10.0.0.0/8".parse().unwrap(), 24, 26);
    /// assert!(m.matches(&"10.1.2.0/24".parse().unwrap()));
    /// assert!(!m.matches(&"10.1.2.0/27".parse().unwrap()));
    /// assert!(!m.matches(&"11.1.2.0/24".parse().unwrap()));
    /// assert!(m.negated().matches(&"11.1.2.0/24".parse().unwrap()));
    /// ```
    pub fn matches(&self, prefix: &Prefix) -> bool {
        let inside = self.net.contains(prefix) && (self.min_len..=self.max_len).contains(&prefix.len());
        inside != self.negate
    }
}

/// A community a rule matches or adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyCommunity {
    /// RFC 1997 community.
    Standard(Community),
    /// RFC 8092 large community.
    Large(LargeCommunity),
}

impl PolicyCommunity {
    fn on(&self, a: &RouteAttrs) -> bool {
        match self {
            PolicyCommunity::Standard(c) => a.has_community(*c),
            PolicyCommunity::Large(c) => a.large_communities().contains(c),
        }
    }
}

/// What a rule requires of a route; every criterion set must hold. The default matches every
/// route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Match {
    /// The route's address family.
    pub family: Option<Family>,
    /// The prefix criterion.
    pub prefix: Option<PrefixMatch>,
    /// The kind of peer on the other side of the decision ([`RouteContext::peer`]).
    pub peer: Option<PeerKind>,
    /// Only routes learned from a BGP peer (not originated by the embedder).
    pub learned_from_peer: bool,
    /// Only routes learned from the peer with this address.
    pub from_peer: Option<IpAddr>,
    /// The AS path begins with these AS numbers (empty: any path).
    pub as_path_prefix: Vec<u32>,
    /// The route carries every one of these communities.
    pub communities: Vec<PolicyCommunity>,
    /// LOCAL_PREF equals this.
    pub local_pref: Option<u32>,
    /// A criterion this speaker cannot evaluate: the rule keeps its place but never matches.
    pub never: bool,
}

impl Match {
    /// Whether `r` satisfies every criterion.
    pub fn matches(&self, r: &RouteContext<'_>) -> bool {
        !self.never
            && self.family.is_none_or(|f| f == r.prefix.family())
            && self.prefix.as_ref().is_none_or(|p| p.matches(&r.prefix))
            && self.peer.is_none_or(|k| k == r.peer)
            && (!self.learned_from_peer || r.source.is_some())
            && self.from_peer.is_none_or(|a| r.source == Some(a))
            && (self.as_path_prefix.is_empty() || as_path_starts_with(r.attrs, &self.as_path_prefix))
            && self.communities.iter().all(|c| c.on(r.attrs))
            && self.local_pref.is_none_or(|l| r.attrs.local_pref == Some(l))
    }
}

fn as_path_starts_with(a: &RouteAttrs, prefix: &[u32]) -> bool {
    let mut path = a.as_path.asns();
    prefix.iter().all(|want| path.next() == Some(*want))
}

/// A change made to a route a rule accepts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Modification {
    /// Add a community (nothing if already present).
    AddCommunity(PolicyCommunity),
    /// Prepend these AS numbers to the AS path (the first one leads the path).
    PrependAsPath(Vec<u32>),
    /// Set LOCAL_PREF (not sent to eBGP peers, RFC 4271 section 5.1.5).
    SetLocalPref(u32),
}

/// A rule's decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Accept the route (after the rule's modifications).
    #[default]
    Accept,
    /// Drop the route.
    Reject,
}

/// One rule: criteria, a decision, and the modifications applied when it accepts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// The criteria.
    pub matches: Match,
    /// The decision.
    pub action: Action,
    /// Changes made before accepting, in order.
    pub modifications: Vec<Modification>,
}

impl Rule {
    /// A rule without modifications.
    pub fn new(matches: Match, action: Action) -> Rule {
        Rule {
            matches,
            action,
            modifications: Vec::new(),
        }
    }
}

/// A route as a policy sees it.
#[derive(Clone, Copy, Debug)]
pub struct RouteContext<'a> {
    /// The prefix.
    pub prefix: Prefix,
    /// The attributes (as received for import; as in the Loc-RIB for export).
    pub attrs: &'a RouteAttrs,
    /// The kind of peer on the other side of this decision.
    pub peer: PeerKind,
    /// The address of the peer the route was learned from (`None`: originated here).
    pub source: Option<IpAddr>,
}

impl<'a> RouteContext<'a> {
    /// A context for a route with no known source.
    pub fn new(prefix: Prefix, attrs: &'a RouteAttrs, peer: PeerKind) -> Self {
        RouteContext {
            prefix,
            attrs,
            peer,
            source: None,
        }
    }
}

/// The outcome of evaluating a [`Policy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict<'a> {
    /// Accepted, with these modifications to apply (empty: unchanged). The same slice is returned
    /// for every route the same rule accepts, so callers can cache the modified attributes by its
    /// address.
    Accept(&'a [Modification]),
    /// Rejected.
    Reject,
}

/// An ordered rule list with a default action. Cheap to clone (the rules are shared); equal
/// policies compare and hash equal, which is how peers with the same export policy end up in one
/// update group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    rules: Arc<[Rule]>,
    default: Action,
}

impl Default for Policy {
    /// No rule, accept: changes nothing.
    fn default() -> Self {
        Policy {
            rules: Arc::from(Vec::new()),
            default: Action::Accept,
        }
    }
}

impl Policy {
    /// A policy from rules in evaluation order and the action when none matches.
    pub fn new(rules: Vec<Rule>, default: Action) -> Policy {
        Policy {
            rules: Arc::from(rules),
            default,
        }
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The action when no rule matches.
    pub fn default_action(&self) -> Action {
        self.default
    }

    /// True when the policy accepts every route unchanged (no rule, default accept): the engine
    /// then skips it entirely.
    pub fn is_pass_through(&self) -> bool {
        self.rules.is_empty() && self.default == Action::Accept
    }

    /// Evaluates the rules in order; the first that matches decides, else the default.
    pub fn evaluate(&self, r: &RouteContext<'_>) -> Verdict<'_> {
        for rule in self.rules.iter() {
            if rule.matches.matches(r) {
                return match rule.action {
                    Action::Accept => Verdict::Accept(&rule.modifications),
                    Action::Reject => Verdict::Reject,
                };
            }
        }
        match self.default {
            Action::Accept => Verdict::Accept(&[]),
            Action::Reject => Verdict::Reject,
        }
    }
}

/// `attrs` with `mods` applied in order.
///
/// ```
/// use rr_core::policy::{modify, Modification, PolicyCommunity};
/// use rr_core::attrs::{Origin, RouteAttrs};
/// use bgp_wire::{AsPath, Community};
/// let mut a = RouteAttrs::new(Origin::Igp, None);
/// a.as_path = AsPath::from_sequence([65001]);
/// let b = modify(&a, &[
///     Modification::PrependAsPath(vec![65000, 65000]),
///     Modification::AddCommunity(PolicyCommunity::Standard(Community::new(65000, 7))),
///     Modification::SetLocalPref(200),
/// ]);
/// assert_eq!(b.as_path.asns().collect::<Vec<_>>(), [65000, 65000, 65001]);
/// assert!(b.has_community(Community::new(65000, 7)));
/// assert_eq!(b.local_pref, Some(200));
/// ```
pub fn modify(attrs: &RouteAttrs, mods: &[Modification]) -> RouteAttrs {
    let mut a = attrs.clone();
    for m in mods {
        match m {
            Modification::AddCommunity(PolicyCommunity::Standard(c)) => {
                if !a.has_community(*c) {
                    a.communities.push(*c);
                }
            }
            Modification::AddCommunity(PolicyCommunity::Large(c)) => {
                let existing = a.other.iter_mut().find_map(|pa| match &mut pa.value {
                    AttrValue::LargeCommunities(v) => Some(v),
                    _ => None,
                });
                match existing {
                    Some(v) => {
                        if !v.contains(c) {
                            v.push(*c);
                        }
                    }
                    None => a
                        .other
                        .push(PathAttribute::new(AttrValue::LargeCommunities(vec![*c]))),
                }
            }
            Modification::PrependAsPath(asns) => {
                for asn in asns.iter().rev() {
                    if let Ok(asn) = bgp_wire::Asn::new(*asn) {
                        a.as_path.prepend(asn);
                    }
                }
            }
            Modification::SetLocalPref(lp) => a.local_pref = Some(*lp),
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::Origin;
    use bgp_wire::AsPath;

    fn attrs() -> RouteAttrs {
        let mut a = RouteAttrs::new(Origin::Igp, Some("192.0.2.9".parse().unwrap()));
        a.as_path = AsPath::from_sequence([65001, 65002]);
        a.communities = vec![Community::new(65000, 100)];
        a.local_pref = Some(100);
        a
    }

    fn ctx<'a>(p: &str, a: &'a RouteAttrs, peer: PeerKind) -> RouteContext<'a> {
        RouteContext {
            prefix: p.parse().unwrap(),
            attrs: a,
            peer,
            source: Some("192.0.2.2".parse().unwrap()),
        }
    }

    #[test]
    fn first_match_decides_then_default() {
        let a = attrs();
        let p = Policy::new(
            vec![
                Rule::new(
                    Match {
                        prefix: Some(PrefixMatch::exact("10.0.1.0/24".parse().unwrap())),
                        ..Match::default()
                    },
                    Action::Accept,
                ),
                Rule::new(
                    Match {
                        prefix: Some(PrefixMatch::within("10.0.0.0/16".parse().unwrap(), 16, 32)),
                        ..Match::default()
                    },
                    Action::Reject,
                ),
            ],
            Action::Reject,
        );
        let c = |pfx| ctx(pfx, &a, PeerKind::Internal);
        assert_eq!(p.evaluate(&c("10.0.1.0/24")), Verdict::Accept(&[]));
        assert_eq!(p.evaluate(&c("10.0.2.0/24")), Verdict::Reject);
        assert_eq!(p.evaluate(&c("10.1.0.0/24")), Verdict::Reject, "default");
        assert!(!p.is_pass_through());
        assert!(Policy::default().is_pass_through());
    }

    #[test]
    fn every_criterion() {
        let a = attrs();
        let c = ctx("10.0.1.0/24", &a, PeerKind::External);
        let yes = |m: Match| assert!(m.matches(&c), "{m:?}");
        let no = |m: Match| assert!(!m.matches(&c), "{m:?}");
        yes(Match::default());
        yes(Match {
            family: Some(Family::Ipv4Unicast),
            ..Match::default()
        });
        no(Match {
            family: Some(Family::Ipv6Unicast),
            ..Match::default()
        });
        yes(Match {
            peer: Some(PeerKind::External),
            ..Match::default()
        });
        no(Match {
            peer: Some(PeerKind::Internal),
            ..Match::default()
        });
        yes(Match {
            as_path_prefix: vec![65001],
            ..Match::default()
        });
        yes(Match {
            as_path_prefix: vec![65001, 65002],
            ..Match::default()
        });
        no(Match {
            as_path_prefix: vec![65002],
            ..Match::default()
        });
        no(Match {
            as_path_prefix: vec![65001, 65002, 65003],
            ..Match::default()
        });
        yes(Match {
            communities: vec![PolicyCommunity::Standard(Community::new(65000, 100))],
            ..Match::default()
        });
        no(Match {
            communities: vec![
                PolicyCommunity::Standard(Community::new(65000, 100)),
                PolicyCommunity::Large(LargeCommunity::new(1, 2, 3)),
            ],
            ..Match::default()
        });
        yes(Match {
            local_pref: Some(100),
            ..Match::default()
        });
        no(Match {
            local_pref: Some(200),
            ..Match::default()
        });
        yes(Match {
            learned_from_peer: true,
            from_peer: Some("192.0.2.2".parse().unwrap()),
            ..Match::default()
        });
        no(Match {
            from_peer: Some("192.0.2.3".parse().unwrap()),
            ..Match::default()
        });
        no(Match {
            never: true,
            ..Match::default()
        });
        let local = RouteContext::new("10.0.1.0/24".parse().unwrap(), &a, PeerKind::External);
        assert!(
            !Match {
                learned_from_peer: true,
                ..Match::default()
            }
            .matches(&local)
        );
    }

    #[test]
    fn prefix_match_families_and_negation() {
        let m = PrefixMatch::exact("10.0.1.0/24".parse().unwrap());
        assert!(m.matches(&"10.0.1.0/24".parse().unwrap()));
        assert!(!m.matches(&"10.0.1.0/25".parse().unwrap()));
        assert!(!m.matches(&"fd00::/24".parse().unwrap()));
        assert!(m.negated().matches(&"10.0.1.0/25".parse().unwrap()));
        let v6 = PrefixMatch::within("fd00:10::/64".parse().unwrap(), 64, 128);
        assert!(v6.matches(&"fd00:10::1:0/122".parse().unwrap()));
        assert!(!v6.matches(&"fd00:11::/122".parse().unwrap()));
    }

    #[test]
    fn large_community_added_once() {
        let a = attrs();
        let lc = PolicyCommunity::Large(LargeCommunity::new(65000, 1, 2));
        let b = modify(&a, &[Modification::AddCommunity(lc)]);
        assert!(lc.on(&b));
        let c = modify(&b, &[Modification::AddCommunity(lc)]);
        assert_eq!(c.large_communities().len(), 1);
        assert_eq!(c, b);
    }

    #[test]
    fn equal_policies_hash_equal() {
        use std::collections::hash_map::DefaultHasher;
        use std::hash::{Hash, Hasher};
        let mk = || {
            Policy::new(
                vec![Rule::new(
                    Match {
                        local_pref: Some(5),
                        ..Match::default()
                    },
                    Action::Reject,
                )],
                Action::Accept,
            )
        };
        let h = |p: &Policy| {
            let mut s = DefaultHasher::new();
            p.hash(&mut s);
            s.finish()
        };
        assert_eq!(mk(), mk());
        assert_eq!(h(&mk()), h(&mk()));
        assert_ne!(mk(), Policy::default());
    }
}
