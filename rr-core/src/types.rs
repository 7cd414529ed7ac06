//! Small value types shared by every module: virtual time, address families, prefixes and identifiers.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A point in time supplied by the caller, in nanoseconds since an epoch the caller chooses.
///
/// The engine never reads a clock: the daemon converts its runtime clock (for example
/// `tokio::time::Instant` minus a start instant) and the test harness uses virtual time.
///
/// ```
/// use rr_core::Instant;
/// use std::time::Duration;
/// let t = Instant::from_millis(1_000) + Duration::from_secs(2);
/// assert_eq!(t.as_millis(), 3_000);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant(0);

    /// An instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }

    /// An instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Instant(millis.saturating_mul(1_000_000))
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// Time elapsed from `earlier` to `self` (zero if `earlier` is later).
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(
            self.0
                .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        )
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

/// The address families the engine routes (AFI/SAFI pairs it advertises in its OPEN).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Family {
    /// AFI 1 (IPv4), SAFI 1 (unicast).
    Ipv4Unicast,
    /// AFI 2 (IPv6), SAFI 1 (unicast).
    Ipv6Unicast,
}

impl Family {
    /// Every family the engine knows, in index order.
    pub const ALL: [Family; 2] = [Family::Ipv4Unicast, Family::Ipv6Unicast];

    /// Dense index for per-family tables.
    pub const fn index(self) -> usize {
        match self {
            Family::Ipv4Unicast => 0,
            Family::Ipv6Unicast => 1,
        }
    }

    /// IANA AFI and SAFI numbers.
    pub const fn afi_safi(self) -> (u16, u8) {
        match self {
            Family::Ipv4Unicast => (1, 1),
            Family::Ipv6Unicast => (2, 1),
        }
    }

    /// The family for an IANA AFI/SAFI pair, if the engine routes it.
    pub const fn from_afi_safi(afi: u16, safi: u8) -> Option<Family> {
        match (afi, safi) {
            (1, 1) => Some(Family::Ipv4Unicast),
            (2, 1) => Some(Family::Ipv6Unicast),
            _ => None,
        }
    }
}

/// A set of [`Family`] values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FamilySet(u8);

impl FamilySet {
    /// No family.
    pub const EMPTY: FamilySet = FamilySet(0);

    /// A set holding one family.
    pub const fn only(f: Family) -> FamilySet {
        FamilySet(1 << f.index())
    }

    /// IPv4 and IPv6 unicast.
    pub const fn both() -> FamilySet {
        FamilySet(0b11)
    }

    /// Whether `f` is in the set.
    pub const fn contains(self, f: Family) -> bool {
        self.0 & (1 << f.index()) != 0
    }

    /// Adds `f`.
    pub fn insert(&mut self, f: Family) {
        self.0 |= 1 << f.index();
    }

    /// Removes `f`.
    pub fn remove(&mut self, f: Family) {
        self.0 &= !(1 << f.index());
    }

    /// The intersection of two sets.
    pub const fn intersect(self, o: FamilySet) -> FamilySet {
        FamilySet(self.0 & o.0)
    }

    /// The union of two sets.
    pub const fn union(self, o: FamilySet) -> FamilySet {
        FamilySet(self.0 | o.0)
    }

    /// The raw bit mask (bit `Family::index`).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// A set from a raw bit mask; unknown bits are dropped.
    pub const fn from_bits(bits: u8) -> FamilySet {
        FamilySet(bits & 0b11)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The families in the set.
    pub fn iter(self) -> impl Iterator<Item = Family> {
        Family::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

pub use bgp_wire::Prefix;

/// The family of a [`Prefix`] (prefixes are unicast in the engine).
pub trait PrefixFamily {
    /// IPv4 or IPv6 unicast.
    fn family(&self) -> Family;
}

impl PrefixFamily for Prefix {
    fn family(&self) -> Family {
        if self.is_ipv4() {
            Family::Ipv4Unicast
        } else {
            Family::Ipv6Unicast
        }
    }
}

/// Identifies a configured peer inside one [`Engine`](crate::Engine). Assigned by
/// [`Engine::add_peer`](crate::Engine::add_peer).
///
/// The engine reuses the slot of a removed peer for the next peer it adds, so that nothing grows
/// with the number of peers ever added; the id carries the slot's generation, so an id kept from
/// the removed occupant is refused ([`ConfigError::UnknownPeer`](crate::ConfigError::UnknownPeer),
/// `None` from lookups) rather than taken for the new one. The generation has
/// [`PeerId::GENERATION_BITS`] bits: an id goes stale for good unless its slot is reused that many
/// times over (1024 removals of peers in the same slot) while the caller still holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub(crate) u32);

impl PeerId {
    /// Bits of the slot index (up to 4,194,304 peers at once).
    pub const SLOT_BITS: u32 = 22;
    /// Bits of the generation counter.
    pub const GENERATION_BITS: u32 = 32 - Self::SLOT_BITS;
    const SLOT_MASK: u32 = (1 << Self::SLOT_BITS) - 1;
    /// The source of the routes this speaker originates ([`Engine::originate`](crate::Engine::originate)):
    /// the last slot, never given to a configured peer.
    pub const LOCAL: PeerId = PeerId(u32::MAX);

    pub(crate) const fn new(slot: u32, generation: u32) -> PeerId {
        PeerId((slot & Self::SLOT_MASK) | (generation << Self::SLOT_BITS))
    }

    /// The raw number (slot and generation): equal for the life of the peer, and never equal to
    /// the id of a later peer in the same slot until the generation wraps.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The slot in the engine's peer table.
    pub(crate) const fn slot(self) -> usize {
        (self.0 & Self::SLOT_MASK) as usize
    }

    /// The id the next occupant of this slot gets.
    pub(crate) const fn next_generation(self) -> PeerId {
        PeerId::new(
            self.0 & Self::SLOT_MASK,
            (self.0 >> Self::SLOT_BITS).wrapping_add(1),
        )
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == PeerId::LOCAL {
            return f.write_str("local");
        }
        match self.0 >> Self::SLOT_BITS {
            0 => write!(f, "peer#{}", self.slot()),
            g => write!(f, "peer#{}.{g}", self.slot()),
        }
    }
}

/// Identifies one TCP connection of a peer. A peer may hold two during collision detection
/// (RFC 4271 section 6.8). Assigned by the engine and never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub(crate) u64);

impl ConnId {
    /// The raw number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// Which side opened a TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Direction {
    /// The remote peer connected to us.
    Inbound,
    /// We connected to the remote peer.
    Outbound,
}
