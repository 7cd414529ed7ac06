//! Packing UPDATE messages for update groups: one attribute block, encoded once into an
//! [`AttrBlock`], sent with as many NLRI per message as the negotiated maximum message size
//! allows (RFC 4271 section 4.3 UPDATE layout, RFC 4760 MP_REACH_NLRI/MP_UNREACH_NLRI, RFC 7911
//! path identifiers, RFC 8654 extended messages). Also the fixed messages a speaker sends:
//! KEEPALIVE, End-of-RIB (RFC 4724 section 2) and NOTIFICATION cut to the message size.
//!
//! ```
//! use bgp_wire::{AsPath, AttrBlock, AttrValue, AfiSafi, EncodeCtx, Nlri, Origin, PathAttribute, UpdatePacker};
//!
//! let ctx = EncodeCtx { four_octet_as: true, ..EncodeCtx::default() };
//! let mut block = AttrBlock::new();
//! block.push(&PathAttribute::new(AttrValue::Origin(Origin::Igp)), &ctx)?;
//! block.push(&PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence([65001]))), &ctx)?;
//! block.push(&PathAttribute::new(AttrValue::NextHop("192.0.2.1".parse()?)), &ctx)?;
//! let nlri: Vec<Nlri> = (0..2000u32)
//!     .map(|i| Nlri::new(bgp_wire::Prefix::v4((0x0a00_0000 | (i << 8)).into(), 24).unwrap()))
//!     .collect();
//! let mut packer = UpdatePacker::new(&ctx);
//! packer.announce(AfiSafi::IPV4_UNICAST, &block, None, nlri.iter().copied());
//! // 2000 prefixes of 4 octets do not fit in one 4096-octet message.
//! assert_eq!(packer.messages().len(), 2);
//! assert!(packer.messages().iter().all(|m| m.len() <= 4096));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::attr::{AttrValue, MpNextHop, MpUnreach, PathAttribute, flags, type_code};
use crate::ctx::{EncodeCtx, MAX_MESSAGE_LEN};
use crate::error::EncodeError;
use crate::header::{HEADER_LEN, Message, MessageType, finish_header, start_header};
use crate::nlri::Nlri;
use crate::notification::Notification;
use crate::parse::patch_u16;
use crate::types::AfiSafi;
use crate::update::Update;

/// A block of path attributes (flags, type, length, value each) encoded once and reused in every
/// UPDATE that carries the same attribute set.
///
/// [`AttrBlock::push`] chooses the Extended Length bit from the value's size (RFC 4271 section
/// 4.3: the length is one octet unless the bit is set), whatever the attribute's flags say, so a
/// re-advertised attribute is written in its shortest form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttrBlock {
    buf: BytesMut,
}

impl AttrBlock {
    /// An empty block.
    pub fn new() -> AttrBlock {
        AttrBlock::default()
    }

    /// Empties the block, keeping its buffer.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Appends one attribute encoded under `ctx` (AS width for AS_PATH and AGGREGATOR). On error
    /// the block is left as it was.
    pub fn push(&mut self, attr: &PathAttribute, ctx: &EncodeCtx) -> Result<(), EncodeError> {
        let len = attr.value.encoded_len(ctx);
        let mut f = attr.flags & !flags::EXTENDED_LENGTH;
        if len > 255 {
            f |= flags::EXTENDED_LENGTH;
        }
        let start = self.buf.len();
        self.buf.put_u8(f);
        self.buf.put_u8(attr.type_code());
        if len > 255 {
            match u16::try_from(len) {
                Ok(l) => self.buf.put_u16(l),
                Err(_) => {
                    self.buf.truncate(start);
                    return Err(EncodeError::FieldTooLong("path attribute"));
                }
            }
        } else {
            self.buf.put_u8(len as u8);
        }
        if let Err(e) = attr.value.encode(ctx, &mut self.buf) {
            self.buf.truncate(start);
            return Err(e);
        }
        Ok(())
    }

    /// The encoded attributes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Encoded size in octets.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no attribute was pushed.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Packs NLRI into UPDATE messages no larger than the context's maximum message size (4096
/// octets, 65535 with RFC 8654), each message holding as many NLRI as fit.
///
/// IPv4 unicast goes in the Withdrawn Routes / NLRI fields of RFC 4271 section 4.3; other
/// families in an MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760) written as the first attribute,
/// always with the Extended Length bit (RFC 7606 section 5.1: "The MP_REACH_NLRI or
/// MP_UNREACH_NLRI attribute (if present) SHALL be encoded as the very first path attribute in
/// an UPDATE message"). Path identifiers (RFC 7911) are written for the families in
/// `ctx.add_path`. NLRI are written in the order given.
#[derive(Debug)]
pub struct UpdatePacker {
    max: usize,
    add_path: crate::ctx::AddPathMap,
    out: Vec<Bytes>,
    oversized: usize,
}

impl UpdatePacker {
    /// A packer for messages to a peer with the negotiated `ctx`.
    pub fn new(ctx: &EncodeCtx) -> UpdatePacker {
        UpdatePacker {
            max: ctx.max_message_len(),
            add_path: ctx.add_path.clone(),
            out: Vec::new(),
            oversized: 0,
        }
    }

    /// The messages packed so far.
    pub fn messages(&self) -> &[Bytes] {
        &self.out
    }

    /// Takes the messages packed so far.
    pub fn take_messages(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.out)
    }

    /// NLRI left out because the attributes alone leave no room for them in a message (RFC 8654
    /// section 4: a message longer than the peer accepts is not sent).
    pub fn oversized(&self) -> usize {
        self.oversized
    }

    /// UPDATEs announcing `nlri` of `family` with the attributes `attrs`. For IPv4 unicast
    /// `attrs` carries NEXT_HOP and `next_hop` is ignored; for other families `next_hop` goes in
    /// the MP_REACH_NLRI (absent: the family's zero address is not invented, an empty next hop
    /// is written). Nothing is written for an empty `nlri`.
    pub fn announce<I>(&mut self, family: AfiSafi, attrs: &AttrBlock, next_hop: Option<&MpNextHop>, nlri: I)
    where
        I: IntoIterator<Item = Nlri>,
    {
        let ap = self.add_path.contains(family);
        let attrs = attrs.as_bytes();
        let mut it = nlri.into_iter().peekable();
        while it.peek().is_some() {
            let hint = it.size_hint().0;
            let mut out = BytesMut::with_capacity(self.max.min(HEADER_LEN + 4 + attrs.len() + 64 + hint * 9));
            let s = start_header(&mut out, MessageType::Update);
            out.put_u16(0); // Withdrawn Routes Length
            let alen_at = out.len();
            out.put_u16(0);
            let taken = if family == AfiSafi::IPV4_UNICAST {
                out.put_slice(attrs);
                let n = put_while_fits(&mut out, &mut it, ap, self.max);
                patch_u16(&mut out, alen_at, attrs.len() as u16);
                n
            } else {
                out.put_u8(flags::OPTIONAL | flags::EXTENDED_LENGTH);
                out.put_u8(type_code::MP_REACH_NLRI);
                let mlen_at = out.len();
                out.put_u16(0);
                out.put_u16(family.afi.0);
                out.put_u8(family.safi.0);
                match next_hop {
                    Some(nh) => {
                        let start = out.len();
                        out.put_u8(0);
                        nh.encode(&mut out);
                        let l = out.len() - start - 1;
                        out[start] = u8::try_from(l).unwrap_or(u8::MAX);
                    }
                    None => out.put_u8(0),
                }
                out.put_u8(0); // Reserved (RFC 4760 section 3: "MUST be set to 0")
                let n = put_while_fits(&mut out, &mut it, ap, self.max.saturating_sub(attrs.len()));
                let mlen = out.len() - mlen_at - 2;
                patch_u16(&mut out, mlen_at, mlen as u16);
                out.put_slice(attrs);
                let alen = out.len() - alen_at - 2;
                patch_u16(&mut out, alen_at, alen as u16);
                n
            };
            if taken == 0 {
                // No room for a single NLRI: these routes cannot be sent to this peer.
                self.oversized += it.count();
                return;
            }
            // Within `max` by construction.
            let _ = finish_header(&mut out, s, usize::from(u16::MAX));
            self.out.push(out.freeze());
        }
    }

    /// UPDATEs withdrawing `nlri` of `family`. Nothing is written for an empty `nlri`.
    pub fn withdraw<I>(&mut self, family: AfiSafi, nlri: I)
    where
        I: IntoIterator<Item = Nlri>,
    {
        let ap = self.add_path.contains(family);
        let mut it = nlri.into_iter().peekable();
        while it.peek().is_some() {
            let hint = it.size_hint().0;
            let mut out = BytesMut::with_capacity(self.max.min(HEADER_LEN + 16 + hint * 9));
            let s = start_header(&mut out, MessageType::Update);
            if family == AfiSafi::IPV4_UNICAST {
                let wlen_at = out.len();
                out.put_u16(0);
                // Room is left for the Total Path Attribute Length that follows.
                put_while_fits(&mut out, &mut it, ap, self.max - 2);
                let wlen = out.len() - wlen_at - 2;
                patch_u16(&mut out, wlen_at, wlen as u16);
                out.put_u16(0);
            } else {
                out.put_u16(0);
                let alen_at = out.len();
                out.put_u16(0);
                out.put_u8(flags::OPTIONAL | flags::EXTENDED_LENGTH);
                out.put_u8(type_code::MP_UNREACH_NLRI);
                let mlen_at = out.len();
                out.put_u16(0);
                out.put_u16(family.afi.0);
                out.put_u8(family.safi.0);
                put_while_fits(&mut out, &mut it, ap, self.max);
                let mlen = out.len() - mlen_at - 2;
                patch_u16(&mut out, mlen_at, mlen as u16);
                let alen = out.len() - alen_at - 2;
                patch_u16(&mut out, alen_at, alen as u16);
            }
            let _ = finish_header(&mut out, s, usize::from(u16::MAX));
            self.out.push(out.freeze());
        }
    }
}

/// Writes NLRI from `it` while the message stays within `limit`; returns how many.
fn put_while_fits<I: Iterator<Item = Nlri>>(
    out: &mut BytesMut,
    it: &mut std::iter::Peekable<I>,
    add_path: bool,
    limit: usize,
) -> usize {
    let mut n = 0;
    while let Some(x) = it.peek() {
        if out.len() + x.encoded_len(add_path) > limit {
            break;
        }
        x.encode(add_path, out);
        it.next();
        n += 1;
    }
    n
}

/// The End-of-RIB marker of a family (RFC 4724 section 2): "An UPDATE message with no reachable
/// Network Layer Reachability Information (NLRI) and empty withdrawn NLRI" for IPv4 unicast, and
/// for other families "an UPDATE message that contains only the MP_UNREACH_NLRI attribute with
/// no withdrawn routes for that <AFI, SAFI>".
pub fn end_of_rib(family: AfiSafi) -> Update {
    let attributes = if family == AfiSafi::IPV4_UNICAST {
        Vec::new()
    } else {
        vec![PathAttribute {
            flags: flags::OPTIONAL,
            value: AttrValue::MpUnreach(MpUnreach {
                afi_safi: family,
                withdrawn: Vec::new(),
                opaque_nlri: Bytes::new(),
            }),
        }]
    };
    Update {
        withdrawn: Vec::new(),
        attributes,
        nlri: Vec::new(),
    }
}

impl Message {
    /// A KEEPALIVE (RFC 4271 section 4.4: the header alone), without allocating.
    pub fn keepalive_bytes() -> Bytes {
        static KA: [u8; HEADER_LEN] = [
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0,
            HEADER_LEN as u8,
            4,
        ];
        Bytes::from_static(&KA)
    }
}

impl Notification {
    /// The whole NOTIFICATION message (RFC 4271 section 4.5), its data cut so that the message
    /// fits in 4096 octets: a NOTIFICATION is sent before (or without) any extended-message
    /// negotiation.
    pub fn to_message_bytes(&self) -> Bytes {
        let cut = self.data.len().min(MAX_MESSAGE_LEN - HEADER_LEN - 2);
        let n = Notification {
            code: self.code,
            subcode: self.subcode,
            data: self.data.slice(..cut),
        };
        let mut out = BytesMut::with_capacity(HEADER_LEN + 2 + cut);
        let s = start_header(&mut out, MessageType::Notification);
        n.encode_body(&mut out);
        let _ = finish_header(&mut out, s, MAX_MESSAGE_LEN);
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::AddPathMap;
    use crate::nlri::Prefix;
    use std::net::Ipv4Addr;

    fn v4(i: u32) -> Nlri {
        Nlri::with_path_id(i, Prefix::v4(Ipv4Addr::from(0x0a00_0000 | (i << 8)), 24).unwrap())
    }

    #[test]
    fn fixed_messages() {
        assert_eq!(&Message::keepalive_bytes()[16..], &[0, 19, 4]);
        let ctx = EncodeCtx::default();
        let eor = Message::Update(end_of_rib(AfiSafi::IPV4_UNICAST))
            .to_bytes(&ctx)
            .unwrap();
        assert_eq!(&eor[16..], &[0, 23, 2, 0, 0, 0, 0]);
        let eor6 = Message::Update(end_of_rib(AfiSafi::IPV6_UNICAST))
            .to_bytes(&ctx)
            .unwrap();
        assert_eq!(&eor6[16..], &[0, 29, 2, 0, 0, 0, 6, 0x80, 15, 3, 0, 2, 1]);
        let n = Notification {
            code: 6,
            subcode: 2,
            data: Bytes::from(vec![7; 5000]),
        };
        let b = n.to_message_bytes();
        assert_eq!(b.len(), 4096);
        assert_eq!(&b[16..21], &[16, 0, 3, 6, 2]);
    }

    #[test]
    fn oversized_attributes_send_nothing() {
        let ctx = EncodeCtx::default();
        let mut blk = AttrBlock::new();
        let comms = (0..1100).map(crate::community::Community).collect();
        blk.push(&PathAttribute::new(AttrValue::Communities(comms)), &ctx)
            .unwrap();
        for f in [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST] {
            let mut p = UpdatePacker::new(&ctx);
            p.announce(f, &blk, None, (0..3).map(v4));
            assert!(p.messages().is_empty());
            assert_eq!(p.oversized(), 3);
        }
    }

    #[test]
    fn withdrawals_fill_the_message_with_path_ids() {
        let ctx = EncodeCtx {
            add_path: AddPathMap::with([AfiSafi::IPV4_UNICAST]),
            ..EncodeCtx::default()
        };
        let mut p = UpdatePacker::new(&ctx);
        p.withdraw(AfiSafi::IPV4_UNICAST, (0..1000).map(v4));
        // 8 octets each (path id, length, 3 octets): (4096 - 23) / 8 = 509 per message.
        let msgs = p.take_messages();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].len(), 23 + 509 * 8);
        let dctx = crate::ctx::DecodeCtx {
            add_path: AddPathMap::with([AfiSafi::IPV4_UNICAST]),
            ..crate::ctx::DecodeCtx::default()
        };
        let mut got = Vec::new();
        for m in &msgs {
            match Message::decode(m, &dctx).unwrap() {
                Message::Update(u) => got.extend(u.withdrawn),
                other => panic!("not an update: {other:?}"),
            }
        }
        assert_eq!(got, (0..1000).map(v4).collect::<Vec<_>>());
    }
}
