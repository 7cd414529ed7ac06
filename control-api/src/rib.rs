//! `GET /rib`: the Loc-RIB (best paths) or every path of every Adj-RIB-In, one page at a time, with each
//! path's attributes already encoded as a TABLE_DUMP_V2 RIB entry holds them (RFC 6396 section 4.3.4), so a
//! client only frames records ([`crate::mrt`]).

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

/// Which paths a page holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RibView {
    /// The best path of each prefix (the Loc-RIB).
    #[default]
    #[serde(rename = "loc")]
    Loc,
    /// Every path of every peer that import policy accepted (all Adj-RIBs-In, as `/routes` lists them).
    #[serde(rename = "adj-in")]
    AdjIn,
}

/// The query of `GET /rib`: up to `limit` prefixes (default 1000, at most 10000) after the prefix `after`, in
/// prefix order (IPv4 before IPv6, then address, then length).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RibQuery {
    /// Which paths.
    #[serde(default)]
    pub view: RibView,
    /// The page starts after this prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Prefixes per page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl RibQuery {
    /// Prefixes per page when the request names no `limit`.
    pub const DEFAULT_LIMIT: usize = 1000;
    /// Most prefixes per page.
    pub const MAX_LIMIT: usize = 10_000;
}

/// One page of the RIB.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RibPage {
    /// The reflector's BGP identifier (the MRT collector id).
    pub router_id: Option<Ipv4Addr>,
    /// The peers the page's paths come from.
    pub peers: Vec<RibPeer>,
    /// The prefixes of the page, in order.
    pub routes: Vec<RibRoute>,
    /// The `after` of the next page; absent on the last page.
    pub next: Option<String>,
}

/// A peer of a [`RibPage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RibPeer {
    /// Peer address.
    pub address: IpAddr,
    /// Remote AS.
    pub asn: Option<u32>,
    /// The peer's BGP identifier, once a session negotiated it.
    pub router_id: Option<Ipv4Addr>,
    /// Session name.
    pub name: Option<String>,
}

/// One prefix of a [`RibPage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RibRoute {
    /// The prefix.
    pub prefix: String,
    /// Its paths in the page's view.
    pub paths: Vec<RibPath>,
}

/// One path of a [`RibRoute`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RibPath {
    /// The address of the peer it came from (one of the page's [`RibPeer`]s).
    pub peer: IpAddr,
    /// ADD-PATH path id (0 without ADD-PATH).
    pub path_id: u32,
    /// It is the best path.
    pub best: bool,
    /// The path attributes as a TABLE_DUMP_V2 RIB entry holds them, in lowercase hex.
    pub attributes: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::round_trip;
    use crate::{path, with_query};

    #[test]
    fn rib_page_round_trips() {
        let page = RibPage {
            router_id: Some(Ipv4Addr::new(127, 0, 1, 1)),
            peers: vec![RibPeer {
                address: "127.0.1.2".parse().expect("ip"),
                asn: Some(64512),
                router_id: None,
                name: Some("node-a".into()),
            }],
            routes: vec![RibRoute {
                prefix: "10.0.0.0/24".into(),
                paths: vec![RibPath {
                    peer: "127.0.1.2".parse().expect("ip"),
                    path_id: 0,
                    best: true,
                    attributes: "40010100".into(),
                }],
            }],
            next: Some("10.0.0.0/24".into()),
        };
        let v = round_trip(&page);
        assert_eq!(v["router_id"], "127.0.1.1");
        assert_eq!(v["peers"][0]["address"], "127.0.1.2");
        assert_eq!(v["routes"][0]["paths"][0]["peer"], "127.0.1.2");
    }

    #[test]
    fn rib_query_round_trips_through_the_query_string() {
        let q = RibQuery {
            view: RibView::AdjIn,
            after: Some("10.0.0.0/8".into()),
            limit: Some(5),
        };
        round_trip(&q);
        let p = with_query(path::RIB, &q).expect("query");
        assert_eq!(p, "/rib?view=adj-in&after=10.0.0.0%2F8&limit=5");
        let back: RibQuery = serde_urlencoded::from_str(p.split_once('?').expect("?").1).expect("decode");
        assert_eq!(back, q);
        let none: RibQuery = serde_urlencoded::from_str("").expect("empty");
        assert_eq!(none.view, RibView::Loc);
        assert!(serde_urlencoded::from_str::<RibQuery>("view=best").is_err());
    }
}
