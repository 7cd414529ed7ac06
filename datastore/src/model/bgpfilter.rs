//! The Calico `BGPFilter` resource (every field of `BGPFilterSpec` in
//! `calico:api/pkg/apis/projectcalico/v3/bgpfilter.go`).
//!
//! IPv4 and IPv6 rules share one Rust type ([`BgpFilterRule`]); [`BgpFilterSpec::validate`] checks that each
//! rule's CIDR and prefix lengths belong to the family of the list it is in, together with the API's
//! cross-field rules (`cidr` and `matchOperator` together, `prefixLength` needs `cidr`, `operations` only with
//! `Accept`, exactly one field per operation, 1-10 operations, one community value, priorities 1-2147483646).
//! [`crate::policy`] turns a filter into plain, Calico-free route-policy rules.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Metadata;
use super::types::{AsNumber, lenient_opt, null_as_empty};

/// A Calico BGP filter (`projectcalico.org/v3` `BGPFilter`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BgpFilter {
    /// Name and labels.
    pub metadata: Metadata,
    /// The rules.
    #[serde(default)]
    pub spec: BgpFilterSpec,
}

impl BgpFilter {
    /// A filter with only a name and no rules.
    pub fn new(name: impl Into<String>) -> Self {
        BgpFilter {
            metadata: Metadata::named(name),
            spec: BgpFilterSpec::default(),
        }
    }
}

/// `BGPFilter.spec`: four ordered rule lists.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BgpFilterSpec {
    /// Rules for IPv4 routes exported to a peer.
    #[serde(
        rename = "exportV4",
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub export_v4: Vec<BgpFilterRule>,
    /// Rules for IPv4 routes imported from a peer.
    #[serde(
        rename = "importV4",
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub import_v4: Vec<BgpFilterRule>,
    /// Rules for IPv6 routes exported to a peer.
    #[serde(
        rename = "exportV6",
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub export_v6: Vec<BgpFilterRule>,
    /// Rules for IPv6 routes imported from a peer.
    #[serde(
        rename = "importV6",
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub import_v6: Vec<BgpFilterRule>,
}

/// One rule (`BGPFilterRuleV4` / `BGPFilterRuleV6`): match criteria, an action and optional operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BgpFilterRule {
    /// The prefix the route is compared with (by `match_operator` and `prefix_length`).
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub cidr: Option<ipnet::IpNet>,
    /// Allowed prefix lengths (default: the cidr's own length up to /32 or /128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_length: Option<PrefixLength>,
    /// `RemotePeers`: only routes learned from BGP peers.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub source: Option<FilterSource>,
    /// Outgoing interface name pattern (meaningless to a reflector, which programs no routes).
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub interface: Option<String>,
    /// How the route's prefix is compared with `cidr`.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub match_operator: Option<MatchOperator>,
    /// Only routes to or from peers of this type.
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub peer_type: Option<FilterPeerType>,
    /// Only routes carrying this community.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communities: Option<CommunityMatch>,
    /// Only routes whose AS path begins with these AS numbers.
    #[serde(
        rename = "asPathPrefix",
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub as_path_prefix: Vec<AsNumber>,
    /// Only routes with this priority (FelixConfiguration `...RoutePriority` units, 1-2147483646).
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub priority: Option<i64>,
    /// What happens to a matching route.
    pub action: FilterAction,
    /// Changes applied to a matching route before it is accepted (1-10; only with `Accept`).
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub operations: Vec<FilterOperation>,
}

impl BgpFilterRule {
    /// A rule with only an action (matches every route).
    pub fn new(action: FilterAction) -> Self {
        BgpFilterRule {
            cidr: None,
            prefix_length: None,
            source: None,
            interface: None,
            match_operator: None,
            peer_type: None,
            communities: None,
            as_path_prefix: Vec::new(),
            priority: None,
            action,
            operations: Vec::new(),
        }
    }
}

/// `prefixLength` (`BGPFilterPrefixLengthV4/V6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PrefixLength {
    /// Shortest allowed length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i32>,
    /// Longest allowed length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i32>,
}

/// `source` (`BGPFilterMatchSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FilterSource {
    /// Routes learned from BGP peers (for a reflector: every route it has).
    RemotePeers,
}

/// `matchOperator` (`BGPFilterMatchOperator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MatchOperator {
    /// The route's prefix is exactly `cidr`.
    Equal,
    /// Not [`MatchOperator::Equal`].
    NotEqual,
    /// The route's prefix is inside `cidr` (or equal).
    In,
    /// Not [`MatchOperator::In`].
    NotIn,
}

/// `peerType` (`BGPFilterPeerType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FilterPeerType {
    /// External peers (a different AS).
    #[serde(rename = "eBGP")]
    Ebgp,
    /// Internal peers (the same AS).
    #[serde(rename = "iBGP")]
    Ibgp,
}

/// `action` (`BGPFilterAction`). Calico's manifests accept the values case-insensitively (the docs' sample
/// writes `accept`); they are written back as `Accept` / `Reject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FilterAction {
    /// Accept the route (after the rule's operations).
    Accept,
    /// Drop the route.
    Reject,
}

impl FilterAction {
    /// `Accept` or `Reject`.
    pub fn as_str(self) -> &'static str {
        match self {
            FilterAction::Accept => "Accept",
            FilterAction::Reject => "Reject",
        }
    }
}

impl Serialize for FilterAction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FilterAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.to_ascii_lowercase().as_str() {
            "accept" => Ok(FilterAction::Accept),
            "reject" => Ok(FilterAction::Reject),
            _ => Err(serde::de::Error::custom(format!(
                "unknown action {s:?}: expected Accept or Reject"
            ))),
        }
    }
}

/// `communities` (`BGPFilterCommunityMatch`): exactly one value today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommunityMatch {
    /// The community values (one).
    pub values: Vec<CommunityValue>,
}

/// A community written `aa:nn` (standard, 16-bit parts) or `aa:nn:mm` (large, 32-bit parts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CommunityValue {
    /// RFC 1997 community `aa:nn`.
    Standard(u16, u16),
    /// RFC 8092 large community `aa:nn:mm`.
    Large(u32, u32, u32),
}

impl FromStr for CommunityValue {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("invalid community {s:?}: expected aa:nn (16-bit parts) or aa:nn:mm (32-bit parts)");
        let parts: Vec<&str> = s.split(':').collect();
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !parts.iter().all(|p| digits(p)) {
            return Err(bad());
        }
        match parts.as_slice() {
            [a, n] => Ok(CommunityValue::Standard(
                a.parse().map_err(|_| bad())?,
                n.parse().map_err(|_| bad())?,
            )),
            [a, n, m] => Ok(CommunityValue::Large(
                a.parse().map_err(|_| bad())?,
                n.parse().map_err(|_| bad())?,
                m.parse().map_err(|_| bad())?,
            )),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for CommunityValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommunityValue::Standard(a, n) => write!(f, "{a}:{n}"),
            CommunityValue::Large(a, n, m) => write!(f, "{a}:{n}:{m}"),
        }
    }
}

impl Serialize for CommunityValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CommunityValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One route modification (`BGPFilterOperation`): exactly one field is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterOperation {
    /// Add a community.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_community: Option<AddCommunity>,
    /// Prepend AS numbers to the AS path.
    #[serde(rename = "prependASPath", default, skip_serializing_if = "Option::is_none")]
    pub prepend_as_path: Option<PrependAsPath>,
    /// Set the route's priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_priority: Option<SetPriority>,
}

/// `addCommunity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddCommunity {
    /// The community to add.
    pub value: CommunityValue,
}

/// `prependASPath`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrependAsPath {
    /// AS numbers, in the order they will lead the path (1-10).
    pub prefix: Vec<AsNumber>,
}

/// `setPriority`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetPriority {
    /// The priority (1-2147483646).
    pub value: i64,
}

/// The smallest and largest priority the API accepts.
pub const PRIORITY_RANGE: std::ops::RangeInclusive<i64> = 1..=2_147_483_646;

/// Which of the four rule lists a rule is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RuleList {
    /// `exportV4`.
    ExportV4,
    /// `importV4`.
    ImportV4,
    /// `exportV6`.
    ExportV6,
    /// `importV6`.
    ImportV6,
}

impl RuleList {
    /// The four lists.
    pub const ALL: [RuleList; 4] = [
        RuleList::ExportV4,
        RuleList::ImportV4,
        RuleList::ExportV6,
        RuleList::ImportV6,
    ];

    /// The JSON field name.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleList::ExportV4 => "exportV4",
            RuleList::ImportV4 => "importV4",
            RuleList::ExportV6 => "exportV6",
            RuleList::ImportV6 => "importV6",
        }
    }

    /// True for the IPv4 lists.
    pub fn is_v4(self) -> bool {
        matches!(self, RuleList::ExportV4 | RuleList::ImportV4)
    }
}

impl BgpFilterSpec {
    /// The rules of one list.
    pub fn rules(&self, list: RuleList) -> &[BgpFilterRule] {
        match list {
            RuleList::ExportV4 => &self.export_v4,
            RuleList::ImportV4 => &self.import_v4,
            RuleList::ExportV6 => &self.export_v6,
            RuleList::ImportV6 => &self.import_v6,
        }
    }

    /// Checks what Calico's API validation checks. Returns `(field path, value, reason)`, the path like
    /// `spec.exportV4[1].prefixLength.max`.
    pub fn validate(&self) -> Result<(), (String, String, String)> {
        for list in RuleList::ALL {
            for (i, rule) in self.rules(list).iter().enumerate() {
                rule.validate(list.is_v4())
                    .map_err(|(f, v, why)| (format!("spec.{}[{i}]{f}", list.as_str()), v, why))?;
            }
        }
        Ok(())
    }
}

impl BgpFilterRule {
    /// Checks one rule of an IPv4 (`v4`) or IPv6 list. The field path returned is relative (`.cidr`).
    fn validate(&self, v4: bool) -> Result<(), (String, String, String)> {
        let err = |f: &str, v: String, why: &str| Err((f.to_string(), v, why.to_string()));
        let max_len: i32 = if v4 { 32 } else { 128 };
        if let Some(c) = self.cidr {
            if c.addr().is_ipv4() != v4 {
                let fam = if v4 { "an IPv4" } else { "an IPv6" };
                return err(".cidr", c.to_string(), &format!("expected {fam} CIDR"));
            }
            if c.trunc() != c {
                return err(".cidr", c.to_string(), "host bits are set");
            }
        }
        if self.cidr.is_some() != self.match_operator.is_some() {
            return match self.cidr {
                Some(c) => err(
                    ".matchOperator",
                    "<missing>".into(),
                    &format!("cidr {c} and matchOperator must both be set or both be empty"),
                ),
                None => err(
                    ".cidr",
                    "<missing>".into(),
                    "cidr and matchOperator must both be set or both be empty",
                ),
            };
        }
        if let Some(pl) = self.prefix_length {
            let Some(c) = self.cidr else {
                return err(
                    ".prefixLength",
                    "<set>".into(),
                    "cidr is required when prefixLength is set",
                );
            };
            for (f, v) in [(".prefixLength.min", pl.min), (".prefixLength.max", pl.max)] {
                if let Some(v) = v
                    && !(0..=max_len).contains(&v)
                {
                    return err(f, v.to_string(), &format!("must be between 0 and {max_len}"));
                }
            }
            let lo = pl.min.unwrap_or(i32::from(c.prefix_len()));
            let hi = pl.max.unwrap_or(max_len);
            if lo > hi {
                return err(
                    ".prefixLength",
                    format!("{{min: {lo}, max: {hi}}}"),
                    "min is greater than max",
                );
            }
        }
        if let Some(i) = &self.interface
            && (i.is_empty() || i.len() > 15 || i.contains(char::is_whitespace))
        {
            return err(".interface", format!("{i:?}"), "not an interface name or pattern");
        }
        if let Some(c) = &self.communities
            && c.values.len() != 1
        {
            return err(
                ".communities.values",
                format!("{} values", c.values.len()),
                "exactly one community value is supported",
            );
        }
        if let Some(p) = self.priority
            && !PRIORITY_RANGE.contains(&p)
        {
            return err(".priority", p.to_string(), "must be between 1 and 2147483646");
        }
        if !self.operations.is_empty() {
            if self.action != FilterAction::Accept {
                return err(
                    ".operations",
                    format!("{} operations", self.operations.len()),
                    "operations may only be used with action Accept",
                );
            }
            if self.operations.len() > 10 {
                return err(
                    ".operations",
                    format!("{} operations", self.operations.len()),
                    "at most 10 operations",
                );
            }
        }
        for (j, op) in self.operations.iter().enumerate() {
            let set = usize::from(op.add_community.is_some())
                + usize::from(op.prepend_as_path.is_some())
                + usize::from(op.set_priority.is_some());
            let path = format!(".operations[{j}]");
            if set != 1 {
                return err(
                    &path,
                    format!("{set} fields set"),
                    "exactly one operation must be set",
                );
            }
            if let Some(p) = &op.prepend_as_path
                && !(1..=10).contains(&p.prefix.len())
            {
                return err(
                    &format!("{path}.prependASPath.prefix"),
                    format!("{} AS numbers", p.prefix.len()),
                    "between 1 and 10 AS numbers",
                );
            }
            if let Some(p) = op.set_priority
                && !PRIORITY_RANGE.contains(&p.value)
            {
                return err(
                    &format!("{path}.setPriority.value"),
                    p.value.to_string(),
                    "must be between 1 and 2147483646",
                );
            }
        }
        Ok(())
    }
}
