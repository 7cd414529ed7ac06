//! The peer table: every configured peer by [`PeerId`], with the indexes that find one by remote
//! address and by connection.
//!
//! A [`PeerId`] is a slot of the table and a generation. A removed peer's slot is reused, oldest
//! free slot first, by a peer whose id carries the next generation, so that an id kept from the old
//! occupant is refused (it finds no peer) for as long as possible instead of naming the new one.
//! The table therefore holds at most the largest number of peers configured at once.
//!
//! Connection ids ([`ConnId`]) are handed out here too, never reused; the table knows which peer
//! each open connection belongs to until [`Peers::remove_conn`].

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use crate::config::PeerConfig;
use crate::engine::Peer;
use crate::timer::{TimerKey, TimerTable, TimerTables};
use crate::types::{ConnId, PeerId};

/// Every configured peer, by [`PeerId`] slot.
#[derive(Debug)]
pub(crate) struct Peers {
    /// Peers by slot; `None` for a free slot.
    slots: Vec<Option<Peer>>,
    /// Free slots of `slots` (with the id their next occupant gets), oldest first.
    free: VecDeque<PeerId>,
    by_addr: HashMap<IpAddr, PeerId>,
    by_conn: HashMap<ConnId, PeerId>,
    next_conn: u64,
}

impl Default for Peers {
    fn default() -> Peers {
        Peers {
            slots: Vec::new(),
            free: VecDeque::new(),
            by_addr: HashMap::new(),
            by_conn: HashMap::new(),
            next_conn: 1,
        }
    }
}

impl Peers {
    /// The live peer `id` (`None` for an id whose peer was removed, even if its slot is reused).
    #[inline]
    pub(crate) fn get(&self, id: PeerId) -> Option<&Peer> {
        self.slots
            .get(id.slot())
            .and_then(Option::as_ref)
            .filter(|p| p.id == id)
    }

    /// [`Peers::get`], mutable. The caller must not change the peer's remote address here
    /// ([`Peers::set_config`] keeps the address index).
    #[inline]
    pub(crate) fn get_mut(&mut self, id: PeerId) -> Option<&mut Peer> {
        self.slots
            .get_mut(id.slot())
            .and_then(Option::as_mut)
            .filter(|p| p.id == id)
    }

    /// Adds the peer `make` builds for the id it is given: a free slot with its next generation,
    /// or a new slot. `None` when the table is full ([`PeerId::SLOT_BITS`] bits of slots, the last
    /// one [`PeerId::LOCAL`]'s). The caller checked that the address is not taken.
    pub(crate) fn insert(&mut self, make: impl FnOnce(PeerId) -> Peer) -> Option<PeerId> {
        let (id, reused) = match self.free.front() {
            Some(&id) => (id, true),
            None => {
                let slot = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                if slot >= PeerId::LOCAL.slot() as u32 {
                    return None;
                }
                (PeerId::new(slot, 0), false)
            }
        };
        let peer = make(id);
        debug_assert_eq!(peer.id, id);
        if reused {
            self.free.pop_front();
        } else {
            // Grow by an eighth rather than doubling: a slot is about 750 bytes, and a table of
            // 20,000 peers would otherwise hold up to 20,000 empty slots (15 MB) for nothing.
            if self.slots.len() == self.slots.capacity() {
                self.slots.reserve_exact(self.slots.len() / 8 + 16);
            }
            self.slots.push(None);
        }
        self.by_addr.insert(peer.cfg.remote_addr, id);
        self.slots[id.slot()] = Some(peer);
        Some(id)
    }

    /// Removes peer `id` and the index entries that name it (its address, its connections); its
    /// slot waits for reuse with the next generation.
    pub(crate) fn remove(&mut self, id: PeerId) -> Option<Peer> {
        self.get(id)?;
        let p = self.slots.get_mut(id.slot()).and_then(Option::take)?;
        self.by_addr.remove(&p.cfg.remote_addr);
        for (c, _) in p.session.conns() {
            self.by_conn.remove(&c);
        }
        self.free.push_back(id.next_generation());
        Some(p)
    }

    /// Replaces peer `id`'s configuration, moving its address in the address index; returns the
    /// old configuration. The caller checked that a new address is not taken.
    pub(crate) fn set_config(&mut self, id: PeerId, cfg: PeerConfig) -> Option<PeerConfig> {
        let new_addr = cfg.remote_addr;
        let p = self.get_mut(id)?;
        let old = std::mem::replace(&mut p.cfg, cfg);
        self.by_addr.remove(&old.remote_addr);
        self.by_addr.insert(new_addr, id);
        Some(old)
    }

    /// The peer configured for `addr`.
    #[inline]
    pub(crate) fn by_addr(&self, addr: IpAddr) -> Option<PeerId> {
        self.by_addr.get(&addr).copied()
    }

    /// A new connection id, recorded as `id`'s (the caller adds the connection to the peer).
    pub(crate) fn new_conn(&mut self, id: PeerId) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.by_conn.insert(conn, id);
        conn
    }

    /// `conn` is closed: it no longer names a peer.
    pub(crate) fn remove_conn(&mut self, conn: ConnId) {
        self.by_conn.remove(&conn);
    }

    /// The peer connection `conn` belongs to.
    #[inline]
    pub(crate) fn by_conn(&self, conn: ConnId) -> Option<PeerId> {
        self.by_conn.get(&conn).copied()
    }

    /// Every live peer, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Peer> + '_ {
        self.slots.iter().flatten()
    }

    /// The ids of every live peer, in slot order.
    pub(crate) fn ids(&self) -> Vec<PeerId> {
        self.iter().map(|p| p.id).collect()
    }

    /// Slots in the table (live peers plus free slots waiting for reuse).
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }
}

impl TimerTables for Peers {
    fn table(&self, key: &TimerKey) -> Option<&TimerTable> {
        self.get(key.peer)?.session.timer_table(key.conn)
    }

    fn table_mut(&mut self, key: &TimerKey) -> Option<&mut TimerTable> {
        self.get_mut(key.peer)?.session.timer_table_mut(key.conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;
    use crate::types::Direction;

    fn addr(i: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, i])
    }

    fn add(t: &mut Peers, i: u8) -> PeerId {
        t.insert(|id| Peer::new(id, PeerConfig::new(addr(i), 64512, Role::RrClient)))
            .unwrap()
    }

    #[test]
    fn a_removed_slot_is_reused_oldest_first_with_the_next_generation() {
        let mut t = Peers::default();
        let (a, b, c) = (add(&mut t, 1), add(&mut t, 2), add(&mut t, 3));
        assert_eq!((a.slot(), b.slot(), c.slot()), (0, 1, 2));
        t.remove(b).unwrap();
        t.remove(a).unwrap();
        let d = add(&mut t, 4);
        assert_eq!(d.slot(), b.slot(), "the oldest free slot first");
        assert_ne!(d, b, "a reused slot gets a new generation");
        assert_eq!(d, b.next_generation());
        let e = add(&mut t, 5);
        assert_eq!(e, a.next_generation());
        assert_eq!(add(&mut t, 6).slot(), 3, "no free slot: a new one");
        assert_eq!(t.slots(), 4);
        assert_eq!(t.ids(), [e, d, c, PeerId::new(3, 0)], "slot order");
    }

    #[test]
    fn a_stale_id_finds_nothing_and_removes_nothing() {
        let mut t = Peers::default();
        let old = add(&mut t, 1);
        t.remove(old).unwrap();
        let new = add(&mut t, 2);
        assert_eq!(new.slot(), old.slot());
        assert!(t.get(old).is_none());
        assert!(t.get_mut(old).is_none());
        assert!(t.remove(old).is_none(), "the new occupant stays");
        assert_eq!(t.get(new).map(|p| p.cfg.remote_addr), Some(addr(2)));
        assert!(
            t.set_config(old, PeerConfig::new(addr(3), 1, Role::Ebgp))
                .is_none()
        );
        assert_eq!(t.by_addr(addr(3)), None);
    }

    #[test]
    fn lookups_by_address_and_connection_end_with_the_peer() {
        let mut t = Peers::default();
        let a = add(&mut t, 1);
        let c1 = t.new_conn(a);
        let c2 = t.new_conn(a);
        assert_ne!(c1, c2, "connection ids are not reused");
        t.get_mut(a)
            .unwrap()
            .session
            .add_conn(c2, Direction::Inbound, None);
        assert_eq!(t.by_addr(addr(1)), Some(a));
        assert_eq!(t.by_conn(c1), Some(a));
        t.remove_conn(c1);
        assert_eq!(t.by_conn(c1), None);
        assert_eq!(t.by_conn(c2), Some(a));
        t.remove(a).unwrap();
        assert_eq!(t.by_addr(addr(1)), None);
        assert_eq!(t.by_conn(c2), None, "a removed peer's connections name nobody");
        let b = add(&mut t, 1);
        assert_eq!(t.by_addr(addr(1)), Some(b), "the address is free again");
        assert!(t.new_conn(b).get() > c2.get());
    }

    #[test]
    fn a_new_address_moves_in_the_index() {
        let mut t = Peers::default();
        let a = add(&mut t, 1);
        let old = t
            .set_config(a, PeerConfig::new(addr(9), 64512, Role::RrClient))
            .unwrap();
        assert_eq!(old.remote_addr, addr(1));
        assert_eq!(t.by_addr(addr(1)), None);
        assert_eq!(t.by_addr(addr(9)), Some(a));
    }

    #[test]
    fn timer_tables_are_found_for_live_peers_and_connections_only() {
        use crate::timer::Timer;
        let mut t = Peers::default();
        let a = add(&mut t, 1);
        let conn = t.new_conn(a);
        t.get_mut(a)
            .unwrap()
            .session
            .add_conn(conn, Direction::Outbound, None);
        let key = |conn| TimerKey {
            peer: a,
            conn,
            timer: Timer::Hold,
        };
        assert!(t.table(&key(None)).is_some());
        assert!(t.table_mut(&key(Some(conn))).is_some());
        assert!(t.table(&key(Some(ConnId(999)))).is_none());
        t.remove(a).unwrap();
        assert!(t.table(&key(None)).is_none());
    }
}
