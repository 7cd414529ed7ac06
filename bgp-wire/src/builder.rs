//! Encoding UPDATE messages from parts: a pre-encoded attribute set plus NLRI, packed up to the
//! peer's maximum message size. This is how update groups send one attribute set with many
//! prefixes without re-encoding it.

use bytes::{BufMut, BytesMut};

use crate::attr::{MpNextHop, PathAttribute, flags, type_code};
use crate::ctx::EncodeCtx;
use crate::error::EncodeError;
use crate::header::{HEADER_LEN, MessageType, finish_header, start_header};
use crate::nlri::{Nlri, encode_nlri_fast, nlri_list_len};
use crate::parse::patch_u16;
use crate::types::AfiSafi;
use crate::update::check_v4;

/// Encoded size of a whole UPDATE message built from parts (see [`encode_update_parts`]).
pub fn update_parts_len(attrs_len: usize, withdrawn: &[Nlri], nlri: &[Nlri], ctx: &EncodeCtx) -> usize {
    let ap = ctx.add_path.contains(AfiSafi::IPV4_UNICAST);
    HEADER_LEN + 4 + attrs_len + nlri_list_len(withdrawn, ap) + nlri_list_len(nlri, ap)
}

/// Encodes a whole UPDATE message (header included) from already-encoded path attributes
/// (`attrs`, flags/type/length/value each) and IPv4 unicast withdrawn routes and NLRI. This is
/// how update groups send one attribute set with many prefixes without re-encoding it.
pub fn encode_update_parts(
    attrs: &[u8],
    withdrawn: &[Nlri],
    nlri: &[Nlri],
    ctx: &EncodeCtx,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let total = update_parts_len(attrs.len(), withdrawn, nlri, ctx);
    if total > ctx.max_message_len() {
        return Err(EncodeError::MessageTooLong {
            length: total,
            max: ctx.max_message_len(),
        });
    }
    check_v4(withdrawn)?;
    check_v4(nlri)?;
    let ap = ctx.add_path.contains(AfiSafi::IPV4_UNICAST);
    let wlen = nlri_list_len(withdrawn, ap);
    let nlen = total - HEADER_LEN - 4 - attrs.len() - wlen;
    out.reserve(total);
    let start = start_header(out, MessageType::Update);
    out.put_u16(wlen as u16);
    encode_nlri_fast(withdrawn, ap, wlen, out);
    out.put_u16(attrs.len() as u16);
    out.put_slice(attrs);
    encode_nlri_fast(nlri, ap, nlen, out);
    finish_header(out, start, ctx.max_message_len())
}

/// Packs NLRI into UPDATE messages for one family and one attribute set, as many per message
/// as fit in the peer's maximum message size.
///
/// For IPv4 unicast the NLRI go in the NLRI / Withdrawn Routes fields; for other families in
/// an MP_REACH_NLRI / MP_UNREACH_NLRI written as the first attribute (RFC 7606 section 5.1:
/// "The MP_REACH_NLRI or MP_UNREACH_NLRI attribute (if present) SHALL be encoded as the very
/// first path attribute in an UPDATE message").
#[derive(Debug, Clone)]
pub struct UpdateBuilder<'a> {
    ctx: &'a EncodeCtx,
    family: AfiSafi,
    attrs: &'a [u8],
    next_hop: Option<&'a MpNextHop>,
    withdraw: bool,
}

impl<'a> UpdateBuilder<'a> {
    /// Announcements of `family` with pre-encoded attributes `attrs` (which must not contain
    /// MP_REACH_NLRI; for IPv4 unicast they must contain NEXT_HOP). `next_hop` is required for
    /// families other than IPv4 unicast.
    pub fn announce(
        ctx: &'a EncodeCtx,
        family: AfiSafi,
        attrs: &'a [u8],
        next_hop: Option<&'a MpNextHop>,
    ) -> Self {
        UpdateBuilder {
            ctx,
            family,
            attrs,
            next_hop,
            withdraw: false,
        }
    }

    /// Withdrawals of `family`.
    pub fn withdraw(ctx: &'a EncodeCtx, family: AfiSafi) -> Self {
        UpdateBuilder {
            ctx,
            family,
            attrs: &[],
            next_hop: None,
            withdraw: true,
        }
    }

    fn mp(&self) -> bool {
        self.family != AfiSafi::IPV4_UNICAST
    }

    /// Size of a message carrying no NLRI.
    fn overhead(&self) -> usize {
        let mut n = HEADER_LEN + 4 + self.attrs.len();
        if self.mp() {
            // flags, type, 2-octet length (extended length is always used for MP here), AFI, SAFI
            n += 4 + 3;
            if !self.withdraw {
                n += 1 + self.next_hop.map_or(0, nh_len) + 1;
            }
        }
        n
    }

    /// Encodes one UPDATE with as many of `nlri` as fit and returns how many it took (at least
    /// one, unless `nlri` is empty, in which case an empty UPDATE/End-of-RIB-like message is
    /// written).
    pub fn encode_next(&self, nlri: &[Nlri], out: &mut BytesMut) -> Result<usize, EncodeError> {
        let max = self.ctx.max_message_len();
        let ap = self.ctx.add_path.contains(self.family);
        let mut size = self.overhead();
        if size > max {
            return Err(EncodeError::MessageTooLong { length: size, max });
        }
        let mut count = 0;
        for n in nlri {
            if n.prefix.afi() != self.family.afi {
                return Err(EncodeError::InvalidValue(
                    "prefix family differs from the update family",
                ));
            }
            let l = n.encoded_len(ap);
            if size + l > max {
                break;
            }
            size += l;
            count += 1;
        }
        if count == 0 && !nlri.is_empty() {
            return Err(EncodeError::MessageTooLong {
                length: size + nlri[0].encoded_len(ap),
                max,
            });
        }
        let part = &nlri[..count];
        if !self.mp() {
            let (w, a, n): (&[Nlri], &[u8], &[Nlri]) = if self.withdraw {
                (part, &[], &[])
            } else {
                (&[], self.attrs, part)
            };
            encode_update_parts(a, w, n, self.ctx, out)?;
            return Ok(count);
        }
        // Checked before anything is written, so a failure leaves `out` untouched.
        let nh = match (self.withdraw, self.next_hop) {
            (true, _) => None,
            (false, None) => {
                return Err(EncodeError::InvalidValue(
                    "missing next hop for a multiprotocol update",
                ));
            }
            (false, Some(nh)) => Some((
                nh,
                u8::try_from(nh_len(nh)).map_err(|_| EncodeError::FieldTooLong("mp_reach next hop"))?,
            )),
        };
        let start = start_header(out, MessageType::Update);
        out.put_u16(0);
        let alen_pos = out.len();
        out.put_u16(0);
        out.put_u8(flags::OPTIONAL | flags::EXTENDED_LENGTH);
        out.put_u8(if self.withdraw {
            type_code::MP_UNREACH_NLRI
        } else {
            type_code::MP_REACH_NLRI
        });
        let mp_len_pos = out.len();
        out.put_u16(0);
        out.put_u16(self.family.afi.0);
        out.put_u8(self.family.safi.0);
        if let Some((nh, nhl)) = nh {
            out.put_u8(nhl);
            match nh {
                MpNextHop::Ipv4(a) => out.put_slice(&a.octets()),
                MpNextHop::Ipv6 { global, link_local } => {
                    out.put_slice(&global.octets());
                    if let Some(l) = link_local {
                        out.put_slice(&l.octets());
                    }
                }
                MpNextHop::Other(b) => out.put_slice(b),
            }
            out.put_u8(0);
        }
        encode_nlri_fast(part, ap, nlri_list_len(part, ap), out);
        let mp_len = out.len() - mp_len_pos - 2;
        patch_u16(out, mp_len_pos, mp_len as u16);
        out.put_slice(self.attrs);
        let alen = out.len() - alen_pos - 2;
        patch_u16(out, alen_pos, alen as u16);
        finish_header(out, start, max)?;
        Ok(count)
    }
}

fn nh_len(nh: &MpNextHop) -> usize {
    match nh {
        MpNextHop::Ipv4(_) => 4,
        MpNextHop::Ipv6 { link_local: None, .. } => 16,
        MpNextHop::Ipv6 {
            link_local: Some(_), ..
        } => 32,
        MpNextHop::Other(b) => b.len(),
    }
}

/// Encodes a list of attributes into bytes for [`encode_update_parts`] / [`UpdateBuilder`].
pub fn encode_attributes(
    attrs: &[PathAttribute],
    ctx: &EncodeCtx,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    for a in attrs {
        a.encode(ctx, out)?;
    }
    Ok(())
}
