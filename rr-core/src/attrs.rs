//! The RIB's attribute sets and their interner.
//!
//! The RIB keeps the codec's own attribute values ([`RouteAttrs`], from `bgp_wire`): a received
//! UPDATE is decoded once and its attributes are moved into a set, never converted into a second
//! model. A reflector holds one attribute set for thousands of prefixes, so sets are hash-consed
//! behind [`Arc`]: equal sets received from any peer share one allocation, and comparing two
//! routes' attributes is a pointer comparison.

use std::collections::HashMap;
use std::sync::Arc;

pub use bgp_wire::{Origin, RouteAttrs};

/// Hash-consing table for [`RouteAttrs`]: equal sets share one `Arc`.
///
/// Entries whose only owner is the interner are removed by [`Interner::collect`], which the engine
/// runs after each batch of withdrawals.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    map: HashMap<Arc<RouteAttrs>, ()>,
}

impl Interner {
    /// Returns the shared copy of `attrs`, inserting it if new.
    pub(crate) fn intern(&mut self, attrs: RouteAttrs) -> Arc<RouteAttrs> {
        if let Some((k, _)) = self.map.get_key_value(&attrs) {
            return Arc::clone(k);
        }
        let a = Arc::new(attrs);
        self.map.insert(Arc::clone(&a), ());
        a
    }

    /// Number of distinct sets held.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Approximate heap bytes of the interned sets.
    pub(crate) fn memory(&self) -> usize {
        self.map
            .keys()
            .map(|a| {
                std::mem::size_of::<RouteAttrs>()
                    + 16
                    + a.as_path
                        .segments
                        .iter()
                        .map(|s| 32 + s.asns.capacity() * 4)
                        .sum::<usize>()
                    + a.communities.capacity() * 4
                    + a.cluster_list.capacity() * 4
                    + a.other.len() * (std::mem::size_of::<bgp_wire::PathAttribute>() + 16)
            })
            .sum::<usize>()
            + self.map.capacity() * 9
    }

    /// Drops sets no route refers to any more.
    pub(crate) fn collect(&mut self) {
        self.map.retain(|k, _| Arc::strong_count(k) > 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_sets_share_one_arc_and_dead_ones_are_collected() {
        let mut i = Interner::default();
        let a = i.intern(RouteAttrs::new(Origin::Igp, None));
        let b = i.intern(RouteAttrs::new(Origin::Igp, None));
        assert!(Arc::ptr_eq(&a, &b));
        let c = i.intern(RouteAttrs::new(Origin::Egp, None));
        assert_eq!(i.len(), 2);
        drop(c);
        i.collect();
        assert_eq!(i.len(), 1);
    }
}
