//! `GET /rib`: the Loc-RIB (best paths) or every path of every Adj-RIB-In, one page at a time, with each
//! path's attributes already encoded as a TABLE_DUMP_V2 RIB entry holds them (RFC 6396 section 4.3.4:
//! 4-octet AS numbers, an abbreviated MP_REACH_NLRI), so `rr-cli dump --mrt` only frames records.
//!
//! Paging: prefixes in [`Prefix`] order (IPv4 before IPv6, then address, then length); a page is the first
//! `limit` prefixes after the `after` cursor. Each call scans the prefix keys once and keeps only `limit` of
//! them (a bounded heap): memory and output are bounded by `limit`, the engine task is busy for one pass over
//! the keys. Pages are read at different times, so a dump of a changing RIB is not one atomic snapshot.
//!
//! Kept apart from `/routes` (its own function, module and route) so that the routes API can change
//! independently.

use std::collections::{BTreeMap, BinaryHeap};
use std::net::IpAddr;

use bgp_wire::{AfiSafi, AttrValue, MpNextHop, MpReach, PathAttribute, RouteAttrs};
use bytes::{Bytes, BytesMut};
use control_api::{RibPage, RibPath, RibPeer, RibQuery, RibRoute, RibView};
use rr_core::Prefix;

use super::EngineTask;

/// The path attributes of a route as a list the codec encodes (MP_REACH_NLRI without NLRI for IPv6).
pub(super) fn rib_attributes(a: &RouteAttrs, v6: bool) -> Vec<PathAttribute> {
    let mut v = vec![
        PathAttribute::new(AttrValue::Origin(a.origin)),
        PathAttribute::new(AttrValue::AsPath(a.as_path.clone())),
    ];
    match (v6, a.next_hop) {
        (false, Some(IpAddr::V4(nh))) => v.push(PathAttribute::new(AttrValue::NextHop(nh))),
        (true, Some(IpAddr::V6(global))) => v.push(PathAttribute::new(AttrValue::MpReach(MpReach {
            afi_safi: AfiSafi::IPV6_UNICAST,
            next_hop: MpNextHop::Ipv6 {
                global,
                link_local: a.next_hop_link_local,
            },
            nlri: Vec::new(),
            opaque_nlri: Bytes::new(),
        }))),
        _ => {}
    }
    if let Some(m) = a.med {
        v.push(PathAttribute::new(AttrValue::MultiExitDisc(m)));
    }
    if let Some(l) = a.local_pref {
        v.push(PathAttribute::new(AttrValue::LocalPref(l)));
    }
    if a.atomic_aggregate {
        v.push(PathAttribute::new(AttrValue::AtomicAggregate));
    }
    if let Some(g) = a.aggregator {
        v.push(PathAttribute::new(AttrValue::Aggregator(g)));
    }
    if !a.communities.is_empty() {
        v.push(PathAttribute::new(AttrValue::Communities(a.communities.clone())));
    }
    if let Some(o) = a.originator_id {
        v.push(PathAttribute::new(AttrValue::OriginatorId(o)));
    }
    if !a.cluster_list.is_empty() {
        v.push(PathAttribute::new(AttrValue::ClusterList(a.cluster_list.clone())));
    }
    v.extend(a.other.iter().cloned());
    v
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    b.iter().fold(String::with_capacity(b.len() * 2), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

impl EngineTask {
    /// One page of the RIB; see the module docs.
    pub(super) fn rib_page(&self, q: &RibQuery) -> Result<RibPage, String> {
        let Some(engine) = self.engine.as_ref() else {
            return Err("the reflector has not read its datastore yet".into());
        };
        let after: Option<Prefix> = q
            .after
            .as_deref()
            .filter(|a| !a.is_empty())
            .map(|s| s.parse().map_err(|e| format!("after={s:?}: {e}")))
            .transpose()?;
        let limit = q.limit.unwrap_or(RibQuery::DEFAULT_LIMIT);
        if limit == 0 || limit > RibQuery::MAX_LIMIT {
            return Err(format!("limit must be 1 to {}", RibQuery::MAX_LIMIT));
        }
        let view = q.view;
        // The `limit` smallest prefixes after the cursor: a max-heap evicting its largest.
        let mut heap = BinaryHeap::with_capacity(limit + 1);
        for p in engine.prefixes() {
            if after.is_some_and(|a| p <= a) {
                continue;
            }
            heap.push(p);
            if heap.len() > limit {
                heap.pop();
            }
        }
        let full = heap.len() == limit;
        let page = heap.into_sorted_vec();
        let mut peers: BTreeMap<IpAddr, RibPeer> = BTreeMap::new();
        let mut routes = Vec::with_capacity(page.len());
        for p in &page {
            let Some(r) = engine.route(p) else { continue };
            let v6 = p.addr().is_ipv6();
            let mut paths = Vec::new();
            for path in r.paths.iter().filter(|x| view == RibView::AdjIn || x.best) {
                let Some(addr) = self.peers.get(&path.peer).map(|e| e.spec.addr) else {
                    continue;
                };
                let mut attrs = BytesMut::new();
                bgp_wire::mrt::encode_rib_attributes(&rib_attributes(&path.attrs, v6), &mut attrs)
                    .map_err(|e| format!("encoding the attributes of {p}: {e}"))?;
                peers.entry(addr).or_insert_with(|| {
                    let info = engine.peer_info_of(path.peer);
                    RibPeer {
                        address: addr,
                        asn: info.as_ref().map(|i| i.config.remote_as),
                        router_id: info
                            .as_ref()
                            .and_then(|i| i.negotiated.as_ref())
                            .map(|n| n.remote_router_id),
                        name: self.peers.get(&path.peer).map(|e| e.spec.name.clone()),
                    }
                });
                paths.push(RibPath {
                    peer: addr,
                    path_id: path.path_id,
                    best: path.best,
                    attributes: hex(&attrs),
                });
            }
            routes.push(RibRoute {
                prefix: p.to_string(),
                paths,
            });
        }
        Ok(RibPage {
            router_id: self.identity.map(|i| i.router_id),
            peers: peers.into_values().collect(),
            routes,
            next: if full {
                page.last().map(ToString::to_string)
            } else {
                None
            },
        })
    }
}
