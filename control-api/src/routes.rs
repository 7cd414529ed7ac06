//! `GET /routes`: one route of the Loc-RIB with every path and the best-path reason, or one page of them.

use serde::{Deserialize, Serialize};

/// The query of `GET /routes`: `prefix` for one route, else one page of up to `limit` routes (default 1000,
/// at most 10000) after the prefix `after`, in prefix order. A page shorter than `limit` is the last.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutesQuery {
    /// A prefix in the Loc-RIB, or an address (the longest prefix covering it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The page starts after this prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Routes per page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl RoutesQuery {
    /// Routes in one page when the request names no `limit`.
    pub const DEFAULT_LIMIT: usize = 1000;
    /// The largest `limit`: bounds the time and memory one request costs the daemon.
    pub const MAX_LIMIT: usize = 10_000;
}

/// One prefix of the Loc-RIB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The prefix.
    pub prefix: String,
    /// The best-path step that chose the best path (`only path`, `higher LOCAL_PREF`, ...).
    pub best_reason: String,
    /// Every path, the best one marked.
    pub paths: Vec<RoutePath>,
}

/// One path of a [`Route`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutePath {
    /// The address of the peer it came from.
    pub from: Option<String>,
    /// ADD-PATH path id (0 without ADD-PATH).
    pub path_id: u32,
    /// It is the best path.
    pub best: bool,
    /// It is kept as stale (graceful restart).
    pub stale: bool,
    /// NEXT_HOP (or the MP_REACH_NLRI next hop).
    pub next_hop: Option<String>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// ORIGIN: `igp`, `egp` or `incomplete`.
    pub origin: String,
    /// The AS numbers of the AS_PATH, in order.
    pub as_path: Vec<u32>,
    /// COMMUNITIES as `ASN:VALUE` (or their well-known names).
    pub communities: Vec<String>,
    /// ORIGINATOR_ID.
    pub originator_id: Option<String>,
    /// CLUSTER_LIST.
    pub cluster_list: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::round_trip;
    use crate::{path, with_query};

    #[test]
    fn route_round_trips() {
        let r = Route {
            prefix: "10.2.0.0/26".into(),
            best_reason: "only path".into(),
            paths: vec![RoutePath {
                from: Some("127.0.1.2".into()),
                best: true,
                next_hop: Some("100.64.0.2".into()),
                local_pref: Some(100),
                origin: "igp".into(),
                as_path: vec![64512, 64513],
                communities: vec!["64512:1".into()],
                cluster_list: vec!["244.0.0.1".into()],
                ..RoutePath::default()
            }],
        };
        let v = round_trip(&r);
        assert_eq!(v["paths"][0]["next_hop"], "100.64.0.2");
        assert_eq!(v["paths"][0]["as_path"][1], 64513);
        assert!(v["paths"][0]["med"].is_null());
    }

    #[test]
    fn routes_query_round_trips_through_the_query_string() {
        let q = RoutesQuery {
            prefix: None,
            after: Some("fd00::/64".into()),
            limit: Some(1000),
        };
        round_trip(&q);
        let p = with_query(path::ROUTES, &q).expect("query");
        assert_eq!(p, "/routes?after=fd00%3A%3A%2F64&limit=1000");
        let back: RoutesQuery = serde_urlencoded::from_str(p.split_once('?').expect("?").1).expect("decode");
        assert_eq!(back, q);
        assert_eq!(
            with_query(path::ROUTES, &RoutesQuery::default()).expect("q"),
            "/routes"
        );
    }
}
