//! The update-group encoder: the attributes and NLRI of any decodable UPDATE, packed with
//! `UpdatePacker` under the mirrored context, must give messages within the size limit that
//! decode to the same NLRI, in order (less those counted as oversized), for announcements and
//! withdrawals.
#![no_main]
use bgp_wire::{AttrBlock, AttrValue, Message, MpNextHop, Nlri, UpdatePacker, frame_len};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let ctx = bgp_fuzz::ctx_from_byte(first);
    let Ok(Some(len)) = frame_len(rest, ctx.max_message_len()) else {
        return;
    };
    let frame = Bytes::copy_from_slice(&rest[..len]);
    let Ok(Message::Update(u)) = Message::decode(&frame, &ctx) else {
        return;
    };
    let enc = ctx.mirror();
    let mut blk = AttrBlock::new();
    for a in u
        .attributes
        .iter()
        .filter(|a| !matches!(a.value, AttrValue::MpReach(_) | AttrValue::MpUnreach(_)))
    {
        if blk.push(a, &enc).is_err() {
            return;
        }
    }
    let mut families: Vec<_> = u.announced().map(|(f, _)| f).collect();
    families.dedup();
    for f in families {
        let nlri: Vec<Nlri> = u.announced().filter(|(g, _)| *g == f).map(|(_, n)| *n).collect();
        let nh = MpNextHop::Ipv6 {
            global: std::net::Ipv6Addr::LOCALHOST,
            link_local: None,
        };
        let mut p = UpdatePacker::new(&enc);
        p.announce(f, &blk, Some(&nh), nlri.iter().copied());
        let mut got = Vec::new();
        for m in p.take_messages() {
            assert!(m.len() <= enc.max_message_len());
            let (Message::Update(v), _) =
                Message::decode_with_errors(&m, &ctx).expect("packed update decodes")
            else {
                panic!("not an update");
            };
            got.extend(v.announced().map(|(_, n)| *n));
        }
        assert_eq!(got.len() + p.oversized(), nlri.len());
        assert_eq!(&got[..], &nlri[..got.len()]);
        p.withdraw(f, nlri.iter().copied());
        let mut got = Vec::new();
        for m in p.take_messages() {
            assert!(m.len() <= enc.max_message_len());
            let Ok(Message::Update(v)) = Message::decode(&m, &ctx) else {
                panic!("packed withdrawal does not decode");
            };
            got.extend(v.withdrawals().map(|(_, n)| *n));
        }
        assert_eq!(got, nlri);
    }
});
