//! BGP-4 message codec (RFC 4271 and extensions) and MRT (RFC 6396), pure and I/O-free.
//!
//! - Framing ([`frame_len`]) is separate from decoding ([`Message::decode`]).
//! - Decoding and encoding take a context ([`DecodeCtx`], [`EncodeCtx`]) with what the OPEN
//!   exchange negotiated ([`negotiate`]): 4-octet AS, ADD-PATH per family, extended messages.
//! - Well-formed messages round-trip byte-exact: attribute order, attribute flags (including
//!   Extended Length) and unknown attributes, capabilities and parameters are kept. Known
//!   capabilities with non-zero reserved bits are kept as unknown ones. Exceptions: NLRI host
//!   bits beyond the prefix length are cleared ("irrelevant", RFC 4271 section 4.3) and the
//!   MP_REACH_NLRI Reserved octet is written as 0 (RFC 4760 section 3).
//! - UPDATE errors follow RFC 7606: [`Update::decode_with_errors`] returns the errors that do
//!   not reset the session, each with its [`Treatment`]; session-reset errors map to a
//!   [`Notification`] with `From<&DecodeError>`.
//! - For update groups: an [`AttrBlock`] is encoded once and [`UpdatePacker`] packs many NLRI
//!   behind it into messages filled up to the negotiated size; [`end_of_rib`],
//!   [`Message::keepalive_bytes`] and [`Notification::to_message_bytes`] give the fixed messages.
//!   [`UpdateBuilder`] and [`encode_update_parts`] build single messages from the same parts.
//! - [`mrt`] reads and writes MRT files (RFC 6396); [`bmp`] writes BMP messages (RFC 7854) around BGP
//!   messages encoded here (encode side only).
//!
//! ```
//! use bgp_wire::{
//!     AsPath, AttrValue, DecodeCtx, EncodeCtx, Message, Nlri, Origin, PathAttribute, Update, frame_len,
//! };
//! use bytes::{Bytes, BytesMut};
//!
//! let update = Update {
//!     withdrawn: vec![],
//!     attributes: vec![
//!         PathAttribute::new(AttrValue::Origin(Origin::Igp)),
//!         PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([65001, 65002]))),
//!         PathAttribute::new(AttrValue::NextHop("192.0.2.1".parse()?)),
//!     ],
//!     nlri: vec![Nlri::new("10.1.0.0/16".parse()?)],
//! };
//! let ctx = EncodeCtx { four_octet_as: true, ..EncodeCtx::default() };
//! let mut buf = BytesMut::new();
//! Message::Update(update.clone()).encode(&ctx, &mut buf)?;
//!
//! // Frame, then decode.
//! let len = frame_len(&buf, 4096)?.expect("a whole message");
//! let frame: Bytes = buf.split_to(len).freeze();
//! let msg = Message::decode(&frame, &DecodeCtx { four_octet_as: true, ..DecodeCtx::default() })?;
//! assert_eq!(msg, Message::Update(update));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod aspath;
pub mod attr;
mod attr_decode;
pub mod bmp;
mod builder;
pub mod capability;
pub mod community;
pub mod ctx;
pub mod error;
pub mod header;
pub mod mrt;
pub mod nlri;
pub mod notification;
pub mod open;
mod packer;
mod parse;
mod route_attrs;
pub mod route_refresh;
pub mod types;
pub mod update;

pub use aspath::{AsPath, AsSegment, SegmentType};
pub use attr::{Aggregator, AttrValue, MpNextHop, MpReach, MpUnreach, Origin, PathAttribute};
pub use capability::{
    AddPathMode, BgpRole, Capability, ExtendedNextHop, GrFamily, GracefulRestart, LlgrFamily,
};
pub use community::{Community, ExtendedCommunity, LargeCommunity};
pub use ctx::{AddPathMap, DecodeCtx, EncodeCtx, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, negotiate};
pub use error::{DecodeError, DecodeErrorKind, EncodeError, Treatment};
pub use header::{HEADER_LEN, Message, MessageType, frame_len};
pub use nlri::{Nlri, ParsePrefixError, Prefix};
pub use notification::{Notification, ShutdownCommError};
pub use open::{Open, OptionalParameter};
pub use packer::{AttrBlock, UpdatePacker, end_of_rib};
pub use route_attrs::RouteAttrs;
pub use route_refresh::{RouteRefresh, RouteRefreshSubtype};
pub use types::{Afi, AfiSafi, Asn, ClusterId, HoldTime, InvalidValue, RouterId, Safi};
pub use update::{
    AttributeError, Update, UpdateBuilder, encode_attributes, encode_update_parts, max_treatment,
    update_parts_len,
};
