//! The Adj-RIB-In of one peer (RFC 4271 section 3.2): the (prefix, path id) keys it sent, and the
//! attributes as received of the paths whose Loc-RIB attributes the import policy modified.
//!
//! The prefix carries its family, so a key is the (AFI/SAFI, prefix, path id) triple; the path id
//! is 0 without ADD-PATH (RFC 7911). Every key's path is in the Loc-RIB with its attributes and
//! flags ([`super::LocRib::path`]), so they are not stored twice (this halves the per-path cost of
//! an Adj-RIB-In): IPv4 keys take 12 bytes ([`PathSet`]). Rejected and unmodified paths keep
//! their set as received in the Loc-RIB, so with the Loc-RIB the table is the pre-policy
//! Adj-RIB-In a policy change is re-evaluated from.

use std::sync::Arc;

use crate::attrs::RouteAttrs;
use crate::hash::FastMap;
use crate::pmap::PathSet;
use crate::types::Prefix;

/// One peer's Adj-RIB-In.
#[derive(Debug, Default)]
pub(crate) struct AdjRibIn {
    keys: PathSet,
    /// The attributes as received of the paths the import policy modified. Empty without import
    /// policy.
    as_received: FastMap<(Prefix, u32), Arc<RouteAttrs>>,
}

impl AdjRibIn {
    /// Adds the key (`prefix`, `path_id`) or keeps it; records `as_received` when the import policy
    /// modified the path, and forgets an earlier record otherwise.
    #[inline]
    pub(crate) fn insert(&mut self, prefix: Prefix, path_id: u32, as_received: Option<Arc<RouteAttrs>>) {
        self.keys.insert(prefix, path_id);
        self.set_as_received(prefix, path_id, as_received);
    }

    /// Records (or, with `None`, forgets) the set as received of a path the import policy modified.
    #[inline]
    pub(crate) fn set_as_received(
        &mut self,
        prefix: Prefix,
        path_id: u32,
        as_received: Option<Arc<RouteAttrs>>,
    ) {
        match as_received {
            Some(a) => {
                self.as_received.insert((prefix, path_id), a);
            }
            None => {
                if !self.as_received.is_empty() {
                    self.as_received.remove(&(prefix, path_id));
                }
            }
        }
    }

    /// Removes the key (`prefix`, `path_id`); returns whether it was there.
    #[inline]
    pub(crate) fn remove(&mut self, prefix: &Prefix, path_id: u32) -> bool {
        if !self.keys.remove(prefix, path_id) {
            return false;
        }
        if !self.as_received.is_empty() {
            self.as_received.remove(&(*prefix, path_id));
        }
        true
    }

    /// Keeps the keys for which `keep` is true.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(Prefix, u32) -> bool) {
        let as_received = &mut self.as_received;
        self.keys.retain(|prefix, path_id| {
            let k = keep(prefix, path_id);
            if !k && !as_received.is_empty() {
                as_received.remove(&(prefix, path_id));
            }
            k
        });
    }

    /// The set as received of (`prefix`, `path_id`) if the import policy modified it.
    pub(crate) fn as_received(&self, prefix: &Prefix, path_id: u32) -> Option<&Arc<RouteAttrs>> {
        if self.as_received.is_empty() {
            return None;
        }
        self.as_received.get(&(*prefix, path_id))
    }

    /// Forgets every set as received (the peer has no import policy any more).
    pub(crate) fn clear_as_received(&mut self) {
        self.as_received = FastMap::default();
    }

    /// Every key.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Prefix, u32)> + '_ {
        self.keys.iter()
    }

    /// Number of paths.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the table holds no path.
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.len() == 0
    }

    /// Number of paths per family, indexed by [`crate::Family::index`] (the lengths of the tables).
    pub(crate) fn len_by_family(&self) -> [usize; 2] {
        self.keys.len_by_family()
    }

    /// Estimated heap bytes: the key tables and the sets as received.
    pub(crate) fn memory(&self) -> usize {
        self.keys.table_bytes()
            + self.as_received.capacity() * (std::mem::size_of::<((Prefix, u32), Arc<RouteAttrs>)>() + 1)
    }
}
