//! Value types shared by the Calico resources: AS numbers, Go durations, peer addresses, node addresses.
//!
//! Each type parses exactly the textual forms Calico accepts and serializes back to the form calicoctl writes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A BGP AS number (`numorstring.ASNumber`): a JSON number, a decimal string, or asdot `"high.low"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct AsNumber(pub u32);

impl AsNumber {
    /// The AS Calico uses when neither the node nor `BGPConfiguration default` sets one.
    pub const CALICO_DEFAULT: AsNumber = AsNumber(64512);
}

impl fmt::Display for AsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for AsNumber {
    type Err = String;

    /// Parses `"64512"` or asdot `"1.10"` (= 1 * 65536 + 10), as `numorstring.ASNumberFromString` does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if let Some((hi, lo)) = t.split_once('.') {
            let hi: u16 = hi.parse().map_err(|_| format!("invalid asdot AS number {s:?}"))?;
            let lo: u16 = lo.parse().map_err(|_| format!("invalid asdot AS number {s:?}"))?;
            return Ok(AsNumber((u32::from(hi) << 16) | u32::from(lo)));
        }
        t.parse::<u32>()
            .map(AsNumber)
            .map_err(|_| format!("invalid AS number {s:?}: expected 0..=4294967295 or asdot"))
    }
}

impl Serialize for AsNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for AsNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AsNumber;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AS number (number, decimal string or asdot string)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<AsNumber, E> {
                u32::try_from(v)
                    .map(AsNumber)
                    .map_err(|_| E::custom(format!("AS number {v} out of range")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<AsNumber, E> {
                u32::try_from(v)
                    .map(AsNumber)
                    .map_err(|_| E::custom(format!("AS number {v} out of range")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<AsNumber, E> {
                if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
                    // In range and integral, so the cast is exact.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    Ok(AsNumber(v as u32))
                } else {
                    Err(E::custom(format!("AS number {v} is not an integer in range")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AsNumber, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A Go `time.Duration` as written by `metav1.Duration`: `"120s"`, `"2m0s"`, `"1h30m"`, `"1.5s"`, `"300ms"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    /// Whole seconds, rounded to nearest as confd does (`math.Round(d.Seconds())`).
    pub fn rounded_secs(&self) -> u64 {
        let d = self.0;
        d.as_secs() + u64::from(d.subsec_nanos() >= 500_000_000)
    }
}

impl FromStr for GoDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_go_duration(s).map(GoDuration)
    }
}

/// Parses Go's duration syntax (`time.ParseDuration`), refusing negative values.
fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("invalid duration {s:?}: expected Go syntax like \"90s\" or \"2m0s\"");
    let mut rest = s.trim();
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if let Some(neg) = rest.strip_prefix('-') {
        if !neg.is_empty() && neg.chars().all(|c| c == '0' || c == '.') {
            return Ok(Duration::ZERO);
        }
        return Err(format!("invalid duration {s:?}: negative"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let (num, tail) = rest.split_at(num_end);
        if num.is_empty() || num == "." {
            return Err(err());
        }
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(err()),
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if frac.contains('.') {
            return Err(err());
        }
        let int: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| err())?
        };
        let mut part = int.checked_mul(unit_nanos).ok_or_else(err)?;
        let mut scale = unit_nanos;
        for digit in frac.bytes().take(30) {
            scale /= 10;
            part += u128::from(digit - b'0') * scale;
        }
        total_nanos = total_nanos.checked_add(part).ok_or_else(err)?;
        rest = tail;
    }
    let secs = u64::try_from(total_nanos / 1_000_000_000).map_err(|_| err())?;
    // The remainder of a division by 1e9 always fits in u32.
    let nanos = u32::try_from(total_nanos % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(secs, nanos))
}

impl fmt::Display for GoDuration {
    /// Formats like Go's `Duration.String()`: `2m0s`, `1h0m0s`, `1.5s`, `300ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let nanos = d.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos < 1_000 {
            return write!(f, "{nanos}ns");
        }
        if nanos < 1_000_000 {
            return write!(f, "{}µs", frac(nanos, 1_000));
        }
        if nanos < 1_000_000_000 {
            return write!(f, "{}ms", frac(nanos, 1_000_000));
        }
        let secs = d.as_secs();
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        let sec_str = frac(
            u128::from(s) * 1_000_000_000 + u128::from(d.subsec_nanos()),
            1_000_000_000,
        );
        if h > 0 {
            write!(f, "{h}h{m}m{sec_str}s")
        } else if m > 0 {
            write!(f, "{m}m{sec_str}s")
        } else {
            write!(f, "{sec_str}s")
        }
    }
}

/// `value / unit` as a decimal without trailing zeros.
fn frac(value: u128, unit: u128) -> String {
    let int = value / unit;
    let rem = value % unit;
    if rem == 0 {
        return int.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{rem:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// A BGPPeer `peerIP`: an address with an optional port (`10.0.0.1`, `10.0.0.1:1790`, `[fd00::1]:1790`, `fd00::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerIp {
    /// The peer address.
    pub ip: IpAddr,
    /// The TCP port, when given.
    pub port: Option<u16>,
}

impl FromStr for PeerIp {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let err = || format!("invalid peerIP {s:?}: expected IP, IPv4:port or [IPv6]:port");
        if let Ok(ip) = t.parse::<IpAddr>() {
            return Ok(PeerIp { ip, port: None });
        }
        if let Some(rest) = t.strip_prefix('[') {
            let (host, tail) = rest.split_once(']').ok_or_else(err)?;
            let ip: Ipv6Addr = host.parse().map_err(|_| err())?;
            let port = match tail {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(err)?
                        .parse::<u16>()
                        .map_err(|_| err())?,
                ),
            };
            return Ok(PeerIp {
                ip: IpAddr::V6(ip),
                port,
            });
        }
        let (host, port) = t.rsplit_once(':').ok_or_else(err)?;
        let ip: Ipv4Addr = host.parse().map_err(|_| err())?;
        let port: u16 = port.parse().map_err(|_| err())?;
        Ok(PeerIp {
            ip: IpAddr::V4(ip),
            port: Some(port),
        })
    }
}

impl fmt::Display for PeerIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.ip, self.port) {
            (ip, None) => write!(f, "{ip}"),
            (IpAddr::V4(ip), Some(p)) => write!(f, "{ip}:{p}"),
            (IpAddr::V6(ip), Some(p)) => write!(f, "[{ip}]:{p}"),
        }
    }
}

impl Serialize for PeerIp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PeerIp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// A node address with its prefix length, e.g. `10.192.0.2/16` (host bits kept). A bare address means a host
/// prefix (`/32` or `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeAddress {
    /// The node's own address.
    pub ip: IpAddr,
    /// The prefix length of the node's network.
    pub prefix_len: u8,
}

impl NodeAddress {
    /// A host-prefix address.
    pub fn host(ip: IpAddr) -> Self {
        let prefix_len = if ip.is_ipv4() { 32 } else { 128 };
        NodeAddress { ip, prefix_len }
    }

    /// The network containing the address (confd's `network_v4`/`network_v6`).
    pub fn network(&self) -> ipnet::IpNet {
        ipnet::IpNet::new(self.ip, self.prefix_len)
            .map(|n| n.trunc())
            .unwrap_or_else(|_| ipnet::IpNet::from(self.ip))
    }
}

impl FromStr for NodeAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let err = || format!("invalid address {s:?}: expected CIDR like 10.0.0.1/24");
        match t.split_once('/') {
            None => t.parse::<IpAddr>().map(NodeAddress::host).map_err(|_| err()),
            Some((ip, len)) => {
                let ip: IpAddr = ip.parse().map_err(|_| err())?;
                let prefix_len: u8 = len.parse().map_err(|_| err())?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                if prefix_len > max {
                    return Err(err());
                }
                Ok(NodeAddress { ip, prefix_len })
            }
        }
    }
}

impl fmt::Display for NodeAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix_len)
    }
}

impl Serialize for NodeAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NodeAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// Deserializes an optional field, treating `null` and `""` as absent (Go writes empty strings for unset fields
/// that lack `omitempty`).
pub(crate) fn lenient_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = Option::<serde_json::Value>::deserialize(d)?;
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(v) => T::deserialize(v).map(Some).map_err(de::Error::custom),
    }
}

/// Deserializes a list that may be `null`.
pub(crate) fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Deserializes a bool that may be `null`.
pub(crate) fn null_as_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

/// Deserializes a label/annotation map, accepting scalar values (YAML `route-reflector: true`) as strings.
pub(crate) fn string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<std::collections::BTreeMap<String, String>, D::Error> {
    let m = Option::<std::collections::BTreeMap<String, serde_json::Value>>::deserialize(d)?;
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in m.unwrap_or_default() {
        let s = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Null => String::new(),
            other => {
                return Err(de::Error::custom(format!(
                    "value of {k:?} must be a string, got {other}"
                )));
            }
        };
        out.insert(k, s);
    }
    Ok(out)
}
