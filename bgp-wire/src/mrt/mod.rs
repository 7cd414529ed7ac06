//! MRT (RFC 6396, RFC 8050) reading and writing.
//!
//! MRT is the file format of BGP collectors (RIPE RIS, RouteViews) and of BIRD's and GoBGP's dumps. This
//! module frames and decodes the record types a BGP speaker needs:
//!
//! - BGP4MP / BGP4MP_ET ([`Bgp4mp`]): messages (MESSAGE, MESSAGE_AS4, the LOCAL and RFC 8050 ADDPATH
//!   variants) and session state changes;
//! - TABLE_DUMP_V2 ([`TableDumpV2`]): PEER_INDEX_TABLE and the IPv4/IPv6 unicast/multicast RIB records,
//!   with their ADDPATH variants;
//! - anything else is kept as bytes, so every record re-encodes byte-exact.
//!
//! BGP content stays as bytes in the records and is decoded on demand with the crate's codec:
//! [`Bgp4mpMessage::decode`] (context from the subtype), [`ReadRecord::decode_message`] (errors with
//! record number and stream offset) and [`RibEntry::decode_attributes`] (RFC 6396 section 4.3.4 layout).
//!
//! [`MrtReader`] iterates over an `std::io::Read`; [`decompress`] detects gzip and bzip2 by their magic
//! bytes (decoding them needs the `compression` feature); [`MrtWriter`] writes records back.
//! Errors ([`MrtError`]) name the record number and the byte offset.

mod bgp;
mod bgp4mp;
mod cursor;
mod error;
mod io;
mod record;
mod table_dump_v2;

pub use bgp::{encode_rib_attributes, rib_decode_ctx};
pub use bgp4mp::{Bgp4mp, Bgp4mpMessage, Bgp4mpPeer, StateChange};
pub use error::{MrtEncodeError, MrtError, MrtErrorKind};
pub use io::{Compression, DETECT_LEN, MrtReader, MrtWriter, ReadRecord, decompress};
pub use record::{
    BGP4MP, BGP4MP_ET, HEADER_LEN, ISIS_ET, MrtBody, MrtRecord, OSPFV3_ET, TABLE_DUMP, TABLE_DUMP_V2,
    is_extended_timestamp,
};
pub use table_dump_v2::{PeerEntry, PeerIndexTable, RibEntry, RibPrefix, RibRecord, TableDumpV2};

/// BGP4MP subtype numbers (RFC 6396 section 4.4, RFC 8050 section 3).
pub mod bgp4mp_subtype {
    pub use super::bgp4mp::{
        MESSAGE, MESSAGE_ADDPATH, MESSAGE_AS4, MESSAGE_AS4_ADDPATH, MESSAGE_AS4_LOCAL,
        MESSAGE_AS4_LOCAL_ADDPATH, MESSAGE_LOCAL, MESSAGE_LOCAL_ADDPATH, STATE_CHANGE, STATE_CHANGE_AS4,
    };
}

/// TABLE_DUMP_V2 subtype numbers (RFC 6396 section 4.3, RFC 8050 section 4).
pub mod table_dump_v2_subtype {
    pub use super::table_dump_v2::{
        PEER_INDEX_TABLE, RIB_GENERIC, RIB_GENERIC_ADDPATH, RIB_IPV4_MULTICAST, RIB_IPV4_MULTICAST_ADDPATH,
        RIB_IPV4_UNICAST, RIB_IPV4_UNICAST_ADDPATH, RIB_IPV6_MULTICAST, RIB_IPV6_MULTICAST_ADDPATH,
        RIB_IPV6_UNICAST, RIB_IPV6_UNICAST_ADDPATH,
    };
}
