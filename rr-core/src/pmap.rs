//! Tables keyed by prefix, with IPv4 keys packed into 8 bytes.
//!
//! A [`Prefix`] is 18 bytes because it can hold an IPv6 address, so a table entry keyed by it
//! pays 6 more bytes of padding before an 8-byte-aligned value: 24 bytes of key per entry. Nearly
//! every route a Calico reflector holds is IPv4, so the RIB tables keep IPv4 keys apart, as the
//! address and the length in 8 bytes, and IPv6 keys as they are. At 100,000 routes this saves
//! 16 bytes per entry in each of the Loc-RIB, the Adj-RIB-Out and the Adj-RIB-In (measured in
//! `rr-core/BENCHMARKS.md`).
//!
//! Iteration visits the IPv4 table, then the IPv6 table; the order within each is unspecified, as
//! it is for any hash table.

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr};

use crate::hash::{FastMap, FastSet};
use crate::types::Prefix;

/// An IPv4 prefix as a table key: the network address and the length, 8 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct V4 {
    addr: u32,
    len: u8,
}

impl Hash for V4 {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        // One word: the fast hasher mixes per write.
        state.write_u64((u64::from(self.addr) << 8) | u64::from(self.len));
    }
}

#[inline]
fn v4(p: &Prefix) -> Option<V4> {
    match p.addr() {
        IpAddr::V4(a) => Some(V4 {
            addr: u32::from(a),
            len: p.len(),
        }),
        IpAddr::V6(_) => None,
    }
}

#[inline]
fn prefix(k: V4) -> Prefix {
    // The key was taken from a valid prefix: the length is at most 32 and the host bits are clear.
    Prefix::v4(Ipv4Addr::from(k.addr), k.len).expect("IPv4 key made from a valid prefix")
}

/// Bytes held by a hash table of `cap` capacity with entries of `entry` bytes: hashbrown keeps a
/// power-of-two bucket count with capacity 7/8 of it, one control byte per bucket.
pub(crate) fn table_bytes(cap: usize, entry: usize) -> usize {
    let buckets = if cap == 0 {
        0
    } else {
        (cap * 8 / 7).next_power_of_two()
    };
    buckets * (entry + 1)
}

/// A map from prefix to `V`.
#[derive(Debug)]
pub(crate) struct PrefixMap<V> {
    v4: FastMap<V4, V>,
    v6: FastMap<Prefix, V>,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        PrefixMap {
            v4: FastMap::default(),
            v6: FastMap::default(),
        }
    }
}

impl<V> PrefixMap<V> {
    /// The value for `p`.
    #[inline]
    pub(crate) fn get(&self, p: &Prefix) -> Option<&V> {
        match v4(p) {
            Some(k) => self.v4.get(&k),
            None => self.v6.get(p),
        }
    }

    /// The value for `p`, mutable.
    #[inline]
    pub(crate) fn get_mut(&mut self, p: &Prefix) -> Option<&mut V> {
        match v4(p) {
            Some(k) => self.v4.get_mut(&k),
            None => self.v6.get_mut(p),
        }
    }

    /// Sets the value for `p`; returns the previous one.
    #[inline]
    pub(crate) fn insert(&mut self, p: Prefix, v: V) -> Option<V> {
        match v4(&p) {
            Some(k) => self.v4.insert(k, v),
            None => self.v6.insert(p, v),
        }
    }

    /// Removes `p`; returns its value.
    #[inline]
    pub(crate) fn remove(&mut self, p: &Prefix) -> Option<V> {
        match v4(p) {
            Some(k) => self.v4.remove(&k),
            None => self.v6.remove(p),
        }
    }

    /// The value for `p`, inserted as `V::default()` if absent.
    #[inline]
    pub(crate) fn get_or_default(&mut self, p: Prefix) -> &mut V
    where
        V: Default,
    {
        match v4(&p) {
            Some(k) => self.v4.entry(k).or_default(),
            None => self.v6.entry(p).or_default(),
        }
    }

    /// Number of prefixes.
    pub(crate) fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Every prefix with its value.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Prefix, &V)> + '_ {
        self.v4
            .iter()
            .map(|(k, v)| (prefix(*k), v))
            .chain(self.v6.iter().map(|(p, v)| (*p, v)))
    }

    /// Every prefix.
    #[cfg(test)]
    pub(crate) fn keys(&self) -> impl Iterator<Item = Prefix> + '_ {
        self.iter().map(|(p, _)| p)
    }

    /// Every value.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.v4.values().chain(self.v6.values())
    }

    /// Bytes held by the two tables (entries and control bytes; not what the values point to).
    pub(crate) fn table_bytes(&self) -> usize {
        table_bytes(self.v4.capacity(), std::mem::size_of::<(V4, V)>())
            + table_bytes(self.v6.capacity(), std::mem::size_of::<(Prefix, V)>())
    }
}

/// A set of prefixes.
#[derive(Debug, Default)]
pub(crate) struct PrefixSet {
    v4: FastSet<V4>,
    v6: FastSet<Prefix>,
}

impl PrefixSet {
    /// Adds `p`; returns whether it was absent.
    #[inline]
    pub(crate) fn insert(&mut self, p: Prefix) -> bool {
        match v4(&p) {
            Some(k) => self.v4.insert(k),
            None => self.v6.insert(p),
        }
    }

    /// Removes `p`; returns whether it was present.
    #[inline]
    pub(crate) fn remove(&mut self, p: &Prefix) -> bool {
        match v4(p) {
            Some(k) => self.v4.remove(&k),
            None => self.v6.remove(p),
        }
    }

    /// True when empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Removes every prefix, keeping the allocation.
    pub(crate) fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
    }

    /// Capacity of the two tables together.
    pub(crate) fn capacity(&self) -> usize {
        self.v4.capacity() + self.v6.capacity()
    }

    /// Gives back memory beyond `n` entries per table.
    pub(crate) fn shrink_to(&mut self, n: usize) {
        self.v4.shrink_to(n);
        self.v6.shrink_to(n);
    }
}

/// Prefixes changed since the last flush: each once, in the order first marked.
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    list: Vec<Prefix>,
    set: PrefixSet,
}

impl Dirty {
    /// Marks `p` changed (once, however often it is marked before the next [`Dirty::take`]).
    #[inline]
    pub(crate) fn mark(&mut self, p: Prefix) {
        if self.set.insert(p) {
            self.list.push(p);
        }
    }

    /// True when nothing is marked.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The marked prefixes, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Prefix> + '_ {
        self.list.iter().copied()
    }

    /// Takes the marked prefixes, in order; nothing is marked afterwards. Give the list back with
    /// [`Dirty::recycle`] to keep its allocation.
    pub(crate) fn take(&mut self) -> Vec<Prefix> {
        // Every marked prefix leaves the set: clearing it (a pass over its control bytes) is cheaper
        // than removing each once they are more than about an eighth of its capacity.
        if self.list.len().saturating_mul(8) >= self.set.capacity() {
            self.set.clear();
        } else {
            for p in &self.list {
                self.set.remove(p);
            }
        }
        std::mem::take(&mut self.list)
    }

    /// Reuses the allocation of a list returned by [`Dirty::take`] if nothing was marked since.
    pub(crate) fn recycle(&mut self, mut list: Vec<Prefix>) {
        if self.list.is_empty() {
            list.clear();
            self.list = list;
        }
    }

    /// Gives back the memory of a large burst once nothing is marked.
    pub(crate) fn shrink_if_drained(&mut self) {
        if self.set.capacity() > 65536 && self.set.is_empty() {
            self.set.shrink_to(4096);
            self.list.shrink_to(4096);
        }
    }
}

/// A set of (prefix, path id) keys: one peer's Adj-RIB-In (12 bytes per IPv4 entry).
#[derive(Debug, Default)]
pub(crate) struct PathSet {
    v4: FastSet<(V4, u32)>,
    v6: FastSet<(Prefix, u32)>,
}

impl PathSet {
    /// Adds (`p`, `id`); returns whether it was absent.
    #[inline]
    pub(crate) fn insert(&mut self, p: Prefix, id: u32) -> bool {
        match v4(&p) {
            Some(k) => self.v4.insert((k, id)),
            None => self.v6.insert((p, id)),
        }
    }

    /// Removes (`p`, `id`); returns whether it was present.
    #[inline]
    pub(crate) fn remove(&mut self, p: &Prefix, id: u32) -> bool {
        match v4(p) {
            Some(k) => self.v4.remove(&(k, id)),
            None => self.v6.remove(&(*p, id)),
        }
    }

    /// Whether (`p`, `id`) is present.
    #[cfg(test)]
    pub(crate) fn contains(&self, p: &Prefix, id: u32) -> bool {
        match v4(p) {
            Some(k) => self.v4.contains(&(k, id)),
            None => self.v6.contains(&(*p, id)),
        }
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Number of keys per family, indexed by [`crate::Family::index`] (IPv4 keys sit in one table,
    /// IPv6 in the other, so the counts are the tables' lengths: never kept by hand).
    pub(crate) fn len_by_family(&self) -> [usize; 2] {
        [self.v4.len(), self.v6.len()]
    }

    /// Every key.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Prefix, u32)> + '_ {
        self.v4
            .iter()
            .map(|(k, id)| (prefix(*k), *id))
            .chain(self.v6.iter().copied())
    }

    /// Keeps the keys for which `f` is true.
    pub(crate) fn retain(&mut self, mut f: impl FnMut(Prefix, u32) -> bool) {
        self.v4.retain(|(k, id)| f(prefix(*k), *id));
        self.v6.retain(|(p, id)| f(*p, *id));
    }

    /// Bytes held by the two tables.
    pub(crate) fn table_bytes(&self) -> usize {
        table_bytes(self.v4.capacity(), std::mem::size_of::<(V4, u32)>())
            + table_bytes(self.v6.capacity(), std::mem::size_of::<(Prefix, u32)>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_keys_are_8_bytes_and_adj_rib_in_entries_12() {
        assert_eq!(std::mem::size_of::<V4>(), 8);
        assert_eq!(std::mem::size_of::<(V4, u32)>(), 12);
    }

    #[test]
    fn map_keeps_both_families_apart_and_round_trips_keys() {
        let mut m: PrefixMap<u32> = PrefixMap::default();
        let keys = [
            p("10.0.0.0/26"),
            p("10.0.0.0/24"),
            p("0.0.0.0/0"),
            p("255.255.255.255/32"),
            p("fd00::/64"),
            p("::/0"),
        ];
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.insert(*k, i as u32), None);
        }
        assert_eq!(m.len(), keys.len());
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.get(k), Some(&(i as u32)));
        }
        let mut seen: Vec<Prefix> = m.keys().collect();
        seen.sort();
        let mut want = keys.to_vec();
        want.sort();
        assert_eq!(seen, want);
        *m.get_or_default(p("10.0.0.0/26")) += 100;
        assert_eq!(m.get(&p("10.0.0.0/26")), Some(&100));
        *m.get_or_default(p("192.0.2.0/24")) += 1;
        assert_eq!(m.get(&p("192.0.2.0/24")), Some(&1));
        assert_eq!(m.remove(&p("fd00::/64")), Some(4));
        assert_eq!(m.get(&p("fd00::/64")), None);
        assert_eq!(m.remove(&p("10.0.0.0/24")), Some(1));
        assert_eq!(m.len(), keys.len() - 1);
        assert_eq!(m.values().count(), keys.len() - 1);
        assert!(m.table_bytes() > 0);
    }

    #[test]
    fn path_set_distinguishes_path_ids_and_families() {
        let mut s = PathSet::default();
        assert!(s.insert(p("10.1.0.0/26"), 0));
        assert!(s.insert(p("10.1.0.0/26"), 7));
        assert!(!s.insert(p("10.1.0.0/26"), 7));
        assert!(s.insert(p("fd00:1::/64"), 7));
        assert_eq!(s.len(), 3);
        assert!(s.contains(&p("10.1.0.0/26"), 7));
        assert!(!s.contains(&p("10.1.0.0/25"), 7));
        s.retain(|_, id| id == 7);
        let mut left: Vec<(Prefix, u32)> = s.iter().collect();
        left.sort();
        assert_eq!(left, vec![(p("10.1.0.0/26"), 7), (p("fd00:1::/64"), 7)]);
        assert!(s.remove(&p("fd00:1::/64"), 7));
        assert!(!s.remove(&p("fd00:1::/64"), 7));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn dirty_keeps_first_mark_order_once_each() {
        let mut d = Dirty::default();
        assert!(d.is_empty());
        d.mark(p("10.0.1.0/24"));
        d.mark(p("fd00::/64"));
        d.mark(p("10.0.1.0/24"));
        d.mark(p("10.0.0.0/24"));
        let list = d.take();
        assert_eq!(list, vec![p("10.0.1.0/24"), p("fd00::/64"), p("10.0.0.0/24")]);
        assert!(d.is_empty());
        // Taken prefixes can be marked again.
        d.mark(p("fd00::/64"));
        d.recycle(list);
        assert_eq!(
            d.take(),
            vec![p("fd00::/64")],
            "a recycled list never replaces new marks"
        );
        let list = d.take();
        d.recycle(list);
        assert!(d.is_empty());
        d.shrink_if_drained();
    }

    #[test]
    fn dirty_take_leaves_nothing_marked_whether_it_clears_or_removes() {
        let v4 = |i: u32| Prefix::v4(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap();
        let mut d = Dirty::default();
        // Many marks: the set is cleared at the take.
        for i in 0..1000 {
            d.mark(v4(i));
        }
        assert_eq!(d.take().len(), 1000);
        assert!(d.is_empty());
        // Few marks in a large set: each is removed at the take.
        d.mark(v4(5));
        d.mark(v4(2000));
        d.mark(v4(5));
        assert_eq!(d.take(), vec![v4(5), v4(2000)]);
        // Every prefix taken either way can be marked again, once.
        for i in [5, 2000, 7, 7] {
            d.mark(v4(i));
        }
        assert_eq!(d.take(), vec![v4(5), v4(2000), v4(7)]);
    }

    #[test]
    fn prefix_set_insert_remove() {
        let mut s = PrefixSet::default();
        assert!(s.is_empty());
        assert!(s.insert(p("10.0.0.0/8")));
        assert!(!s.insert(p("10.0.0.0/8")));
        assert!(s.insert(p("2001:db8::/32")));
        assert!(s.capacity() >= 2);
        assert!(s.remove(&p("10.0.0.0/8")));
        assert!(!s.remove(&p("10.0.0.0/8")));
        assert!(s.remove(&p("2001:db8::/32")));
        assert!(s.is_empty());
        s.shrink_to(0);
    }
}
