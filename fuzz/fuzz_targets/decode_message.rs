//! Frames and decodes one BGP message under a context chosen by the first input octet.
//! Property: no panic; a frame that `frame_len` accepts has exactly the announced length.
#![no_main]
use bgp_wire::{Message, frame_len};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let ctx = bgp_fuzz::ctx_from_byte(first);
    if let Ok(Some(len)) = frame_len(rest, ctx.max_message_len()) {
        assert!(len <= rest.len() && len >= 19);
        let frame = Bytes::copy_from_slice(&rest[..len]);
        let _ = Message::decode_with_errors(&frame, &ctx);
        let _ = Message::decode(&frame, &ctx);
    }
});
