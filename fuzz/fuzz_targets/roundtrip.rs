//! Decode, encode with the mirrored context, decode again: the two decoded messages must be equal.
#![no_main]
use bgp_wire::{Message, frame_len};
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
    // Only messages without RFC 7606 repairs: a repaired message is a different message.
    let Ok((msg, errors)) = Message::decode_with_errors(&frame, &ctx) else {
        return;
    };
    if !errors.is_empty() {
        return;
    }
    let Ok(bytes) = msg.to_bytes(&ctx.mirror()) else {
        return;
    };
    let again = Message::decode(&bytes, &ctx).expect("re-encoded message decodes");
    assert_eq!(msg, again);
});
