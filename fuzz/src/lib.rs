//! Helpers shared by the fuzz targets.

use bgp_wire::{AddPathMap, Afi, AfiSafi, DecodeCtx, Safi};

/// Builds a decode context from one octet of fuzz input, so every combination of negotiated options is
/// explored: bit 0 four-octet AS, bit 1 extended messages, bits 2..=5 ADD-PATH for IPv4 unicast, IPv6
/// unicast, IPv4 multicast and IPv6 multicast.
pub fn ctx_from_byte(b: u8) -> DecodeCtx {
    let families = [
        AfiSafi::IPV4_UNICAST,
        AfiSafi::IPV6_UNICAST,
        AfiSafi::new(Afi::IPV4, Safi::MULTICAST),
        AfiSafi::new(Afi::IPV6, Safi::MULTICAST),
    ];
    let add_path = AddPathMap::with(
        families
            .iter()
            .enumerate()
            .filter(|(i, _)| b & (4 << i) != 0)
            .map(|(_, f)| *f),
    );
    DecodeCtx {
        four_octet_as: b & 1 != 0,
        add_path,
        extended_message: b & 2 != 0,
    }
}
