//! Decode and encode contexts: what was negotiated in the OPEN exchange and changes the wire
//! format (RFC 6793 4-octet AS, RFC 7911 ADD-PATH per family and direction, RFC 8654 extended
//! messages).

use crate::capability::{AddPathMode, Capability};
use crate::types::AfiSafi;

/// Maximum message size without RFC 8654 (RFC 4271 section 4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Maximum message size with the RFC 8654 Extended Message capability.
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

/// The families whose NLRI carry a path identifier (RFC 7911) in one direction.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AddPathMap {
    families: Vec<AfiSafi>,
}

impl AddPathMap {
    /// No family carries path ids.
    pub const fn new() -> AddPathMap {
        AddPathMap { families: Vec::new() }
    }

    /// Every listed family carries path ids.
    pub fn with(families: impl IntoIterator<Item = AfiSafi>) -> AddPathMap {
        let mut m = AddPathMap::new();
        for f in families {
            m.insert(f);
        }
        m
    }

    /// Marks a family as carrying path ids.
    pub fn insert(&mut self, f: AfiSafi) {
        if !self.families.contains(&f) {
            self.families.push(f);
        }
    }

    /// Unmarks a family.
    pub fn remove(&mut self, f: AfiSafi) {
        self.families.retain(|x| *x != f);
    }

    /// True if NLRI of this family carry path ids.
    #[inline]
    pub fn contains(&self, f: AfiSafi) -> bool {
        self.families.contains(&f)
    }

    /// True if no family carries path ids.
    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    /// The families.
    pub fn iter(&self) -> impl Iterator<Item = AfiSafi> + '_ {
        self.families.iter().copied()
    }
}

/// How to decode messages received from a peer.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DecodeCtx {
    /// RFC 6793: AS numbers in AS_PATH and AGGREGATOR are 4 octets. The RFC 4271 default is
    /// `false` (2 octets).
    pub four_octet_as: bool,
    /// RFC 7911: families whose received NLRI carry path ids.
    pub add_path: AddPathMap,
    /// RFC 8654: messages up to 65535 octets are accepted.
    pub extended_message: bool,
}

/// How to encode messages sent to a peer.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct EncodeCtx {
    /// RFC 6793: write 4-octet AS numbers in AS_PATH and AGGREGATOR (default `false`).
    pub four_octet_as: bool,
    /// RFC 7911: families whose sent NLRI carry path ids.
    pub add_path: AddPathMap,
    /// RFC 8654: messages up to 65535 octets may be sent.
    pub extended_message: bool,
}

impl DecodeCtx {
    /// Maximum accepted message length.
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }

    /// A context with every extension on and the given families carrying path ids; what a
    /// modern speaker typically negotiates. Useful in tests and tools.
    pub fn modern(add_path: AddPathMap) -> DecodeCtx {
        DecodeCtx {
            four_octet_as: true,
            add_path,
            extended_message: true,
        }
    }

    /// The encode context that writes what this context reads (same fields).
    pub fn mirror(&self) -> EncodeCtx {
        EncodeCtx {
            four_octet_as: self.four_octet_as,
            add_path: self.add_path.clone(),
            extended_message: self.extended_message,
        }
    }
}

impl EncodeCtx {
    /// Maximum message length we may send.
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }

    /// A context with every extension on (see [`DecodeCtx::modern`]).
    pub fn modern(add_path: AddPathMap) -> EncodeCtx {
        EncodeCtx {
            four_octet_as: true,
            add_path,
            extended_message: true,
        }
    }

    /// The decode context that reads what this context writes (same fields).
    pub fn mirror(&self) -> DecodeCtx {
        DecodeCtx {
            four_octet_as: self.four_octet_as,
            add_path: self.add_path.clone(),
            extended_message: self.extended_message,
        }
    }
}

fn add_path_modes(caps: &[&Capability]) -> Vec<(AfiSafi, AddPathMode)> {
    caps.iter()
        .flat_map(|c| match c {
            Capability::AddPath(v) => v.as_slice(),
            _ => &[],
        })
        .copied()
        .collect()
}

/// Builds the decode context (what we receive) and encode context (what we send) from the
/// capabilities we advertised (`local`) and those the peer advertised (`remote`).
///
/// - RFC 6793 section 3: 4-octet AS numbers are used when both sides advertised the capability.
/// - RFC 7911 section 4: we receive path ids for a family when we advertised Receive (or Both)
///   and the peer advertised Send (or Both); we send them in the opposite case.
/// - RFC 8654 section 3: extended messages are used when both sides advertised the capability.
pub fn negotiate<'a>(
    local: impl IntoIterator<Item = &'a Capability>,
    remote: impl IntoIterator<Item = &'a Capability>,
) -> (DecodeCtx, EncodeCtx) {
    let local: Vec<&Capability> = local.into_iter().collect();
    let remote: Vec<&Capability> = remote.into_iter().collect();
    let both =
        |pred: fn(&Capability) -> bool| local.iter().any(|c| pred(c)) && remote.iter().any(|c| pred(c));
    let four = both(|c| matches!(c, Capability::FourOctetAs(_)));
    let ext = both(|c| matches!(c, Capability::ExtendedMessage));
    let mut rx = AddPathMap::new();
    let mut tx = AddPathMap::new();
    for (f, lm) in add_path_modes(&local) {
        for (g, rm) in add_path_modes(&remote) {
            if f != g {
                continue;
            }
            if lm.receives() && rm.sends() {
                rx.insert(f);
            }
            if lm.sends() && rm.receives() {
                tx.insert(f);
            }
        }
    }
    (
        DecodeCtx {
            four_octet_as: four,
            add_path: rx,
            extended_message: ext,
        },
        EncodeCtx {
            four_octet_as: four,
            add_path: tx,
            extended_message: ext,
        },
    )
}
