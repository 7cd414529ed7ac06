//! What an embedder adds to a reflector: routes of its own ([`Engine::originate`],
//! [`Engine::withdraw_local`]), the Loc-RIB's changes as outputs ([`Engine::set_loc_rib_events`]),
//! and identity changes without a rebuild ([`Engine::set_identity`]).

use super::*;

/// Why [`Engine::originate`] refused a route.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginateError {
    /// The route has no next hop of the prefix's address family. A local route must carry the
    /// next hop its receivers forward to (RFC 4271 section 5.1.3; for IPv6, RFC 4760).
    #[error("a local route for {0} needs a next hop of its address family")]
    NextHop(Prefix),
}

/// The Loc-RIB best path last reported for a prefix by [`Output::LocRibChanged`].
#[derive(Clone, Debug)]
pub(crate) struct Reported {
    peer: PeerId,
    path_id: u32,
    attrs: Arc<RouteAttrs>,
    stale: bool,
}

impl Reported {
    fn same(&self, p: &crate::rib::Path) -> bool {
        self.peer == p.peer
            && self.path_id == p.path_id
            && Arc::ptr_eq(&self.attrs, &p.attrs)
            && self.stale == (p.flags & STALE_ANY != 0)
    }
}

impl Engine {
    /// Originates a route for `prefix` with `attrs`, or replaces the one originated before. It is
    /// a candidate for best path like a received route (path id 0, from [`PeerId::LOCAL`]) and,
    /// when best, is advertised to every peer as this speaker's own route (RFC 4271 section 9.2):
    /// towards iBGP peers without ORIGINATOR_ID and CLUSTER_LIST (RFC 4456 section 8 adds them
    /// only to reflected routes) and with LOCAL_PREF 100 when `attrs` has none (RFC 4271 section
    /// 5.1.5); towards eBGP peers with our AS prepended; the next hop is `attrs`' unless the
    /// peer's [`NextHopMode`](crate::NextHopMode) replaces it. Any ORIGINATOR_ID and CLUSTER_LIST
    /// in `attrs` are dropped. Import and export policy: export policy applies, import policy
    /// does not (the route is not received from a peer). Takes effect at the next flush.
    ///
    /// Best path: a local route has no peer router id or address, so when it ties with a received
    /// route up to the router id step (RFC 4271 9.1.2.2 f) it wins (0.0.0.0 is lowest).
    ///
    /// ```
    /// use rr_core::attrs::{Origin, RouteAttrs};
    /// use rr_core::{Engine, EngineConfig, Instant, PeerId};
    /// let mut e = Engine::new(EngineConfig::new("192.0.2.1".parse()?, 64512));
    /// let p = "10.1.0.0/16".parse()?;
    /// e.originate(Instant::ZERO, p, RouteAttrs::new(Origin::Igp, Some("192.0.2.1".parse()?)))?;
    /// assert_eq!(e.route(&p).unwrap().paths[0].peer, PeerId::LOCAL);
    /// e.withdraw_local(Instant::ZERO, &p);
    /// assert!(e.route(&p).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn originate(
        &mut self,
        now: Instant,
        prefix: Prefix,
        mut attrs: RouteAttrs,
    ) -> Result<(), OriginateError> {
        self.tick(now);
        let fits = match (prefix.addr(), attrs.next_hop) {
            (IpAddr::V4(_), Some(IpAddr::V4(_))) | (IpAddr::V6(_), Some(IpAddr::V6(_))) => true,
            // RFC 8950 (IPv4 over an IPv6 next hop) is not offered for local routes.
            _ => false,
        };
        if !fits {
            return Err(OriginateError::NextHop(prefix));
        }
        attrs.originator_id = None;
        attrs.cluster_list.clear();
        let attrs = self.interner.intern(attrs);
        self.rib.originate(prefix, attrs);
        Ok(())
    }

    /// Withdraws the route [`Engine::originate`] added for `prefix`; returns whether there was
    /// one. Peers that were sent it get a withdrawal (or the next best path) at the next flush.
    pub fn withdraw_local(&mut self, now: Instant, prefix: &Prefix) -> bool {
        self.tick(now);
        self.rib.withdraw_local(prefix)
    }

    /// The prefixes this speaker originates.
    pub fn local_routes(&self) -> impl Iterator<Item = Prefix> + '_ {
        self.rib.local_routes()
    }

    /// Turns [`Output::LocRibChanged`] on or off (off by default: an engine that does not ask pays
    /// nothing). Turning it on reports every prefix that has a best path now, then every change.
    ///
    /// Batching contract: changes are reported per flush (the batch [`Engine::poll_output`] runs
    /// when its queue is empty, or [`Engine::flush`]), one output per prefix whose best path
    /// changed since the previous flush, before the UPDATEs of that flush; a prefix that changed
    /// and changed back within one batch is not reported. While route selection is deferred
    /// after a start ([`Engine::selection_deferred`]) nothing is reported; the first flush after
    /// it reports the whole table. Only the best path is reported, also for peers that receive
    /// several paths with ADD-PATH ([`Engine::route`] has them all).
    pub fn set_loc_rib_events(&mut self, on: bool) {
        if !on {
            self.reported = None;
            return;
        }
        if self.reported.is_some() {
            return;
        }
        let mut reported = PrefixMap::default();
        if !self.deferral.is_active() {
            let prefixes: Vec<Prefix> = self.prefixes().collect();
            for prefix in prefixes {
                if let Some(best) = self.loc_best(&prefix) {
                    reported.insert(prefix, best.clone());
                    self.out.push_back(Output::LocRibChanged {
                        prefix,
                        best: Some(best.into_info()),
                    });
                }
            }
        }
        self.reported = Some(reported);
    }

    /// The best path of `prefix` now.
    fn loc_best(&self, prefix: &Prefix) -> Option<Reported> {
        let paths = self.rib.paths(prefix);
        let mut order = Vec::new();
        crate::rib::rank(&self.peers, paths, &mut order);
        let p = &paths[*order.first()?];
        Some(Reported {
            peer: p.peer,
            path_id: p.path_id,
            attrs: Arc::clone(&p.attrs),
            stale: p.flags & STALE_ANY != 0,
        })
    }

    /// Called by [`Engine::flush`] before the update groups take the dirty prefixes: queues an
    /// [`Output::LocRibChanged`] for each whose best path changed since it was last reported.
    pub(super) fn report_loc_rib(&mut self) {
        let Some(mut reported) = self.reported.take() else {
            return;
        };
        let mut order = Vec::new();
        for prefix in self.rib.changed() {
            let paths = self.rib.paths(&prefix);
            crate::rib::rank(&self.peers, paths, &mut order);
            let best = order.first().map(|&i| &paths[i]);
            let changed = match (reported.get(&prefix), best) {
                (None, None) => false,
                (Some(r), Some(b)) => !r.same(b),
                _ => true,
            };
            if !changed {
                continue;
            }
            let best = best.map(|b| Reported {
                peer: b.peer,
                path_id: b.path_id,
                attrs: Arc::clone(&b.attrs),
                stale: b.flags & STALE_ANY != 0,
            });
            match &best {
                Some(b) => reported.insert(prefix, b.clone()),
                None => reported.remove(&prefix),
            };
            self.out.push_back(Output::LocRibChanged {
                prefix,
                best: best.map(Reported::into_info),
            });
        }
        self.reported = Some(reported);
    }

    /// Changes this speaker's identity without rebuilding the engine, resetting only the
    /// sessions the change affects:
    /// - `router_id`: every session (it is in the OPEN, RFC 4271 section 4.2, and the peers'
    ///   collision detection and loop checks use it) with Cease "Other Configuration Change"
    ///   (RFC 4486), then reconnects;
    /// - `local_as`: the sessions of peers without their own
    ///   [`PeerConfig::local_as`](crate::PeerConfig::local_as), likewise;
    /// - `cluster_id` (`None`: the router id): no session; what every established peer was sent
    ///   is sent again with the new CLUSTER_LIST, and peers that support route refresh are asked
    ///   to send their routes again (RFC 2918) so that the loop check (RFC 4456 section 8) runs
    ///   with the new id.
    ///
    /// Returns [`ConfigError::Identity`] (and changes nothing) for router id 0.0.0.0 or AS 0.
    pub fn set_identity(
        &mut self,
        now: Instant,
        router_id: Ipv4Addr,
        local_as: u32,
        cluster_id: Option<Ipv4Addr>,
    ) -> Result<(), ConfigError> {
        self.tick(now);
        // RFC 6286 / RFC 7607: the BGP identifier is non-zero and AS 0 is not usable.
        if router_id.is_unspecified() || local_as == 0 {
            return Err(ConfigError::Identity);
        }
        let rid_changed = router_id != self.cfg.router_id;
        let as_changed = local_as != self.cfg.local_as;
        let old_cluster = self.cluster_id;
        self.cfg.router_id = router_id;
        self.cfg.local_as = local_as;
        self.cfg.cluster_id = cluster_id;
        self.cluster_id = self.cfg.effective_cluster_id();
        let ids = self.peers.ids();
        let mut kept = Vec::new();
        for id in ids {
            let Some(p) = self.peer(id) else { continue };
            let reset = p.session.enabled() && (rid_changed || (as_changed && p.cfg.local_as.is_none()));
            if reset {
                let n = Notification {
                    code: notif::code::CEASE,
                    subcode: notif::cease::OTHER_CONFIGURATION_CHANGE,
                    data: Bytes::new(),
                };
                self.drop_all_conns(id, Some(n), false);
                self.fsm_start(id);
            } else {
                kept.push(id);
            }
        }
        if self.cluster_id != old_cluster {
            for id in kept {
                let fams = self
                    .peer(id)
                    .and_then(|p| p.session.established_negotiated())
                    .map_or(FamilySet::EMPTY, |n| n.families);
                for f in fams.iter() {
                    self.groups_refresh(id, f);
                }
                self.route_refresh(now, id);
            }
        }
        self.deferral_check();
        Ok(())
    }
}

impl Reported {
    fn into_info(self) -> PathInfo {
        PathInfo {
            peer: self.peer,
            path_id: self.path_id,
            attrs: self.attrs,
            best: true,
            stale: self.stale,
        }
    }
}
