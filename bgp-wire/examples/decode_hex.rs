//! Decodes BGP messages given as hex (arguments or stdin), prints them and checks that they
//! re-encode byte-exact.
//!
//! ```text
//! cargo run -p bgp-wire --example decode_hex -- [--two-octet-as] [--add-path] HEX...
//! echo ffffffffffffffffffffffffffffffff001304 | cargo run -p bgp-wire --example decode_hex
//! ```
//! By default the context is 4-octet AS without ADD-PATH; `--add-path` turns path ids on for
//! IPv4 and IPv6 unicast. Several messages may be concatenated in one hex string.

use std::io::Read;
use std::process::ExitCode;

use bgp_wire::{AddPathMap, AfiSafi, DecodeCtx, Message, frame_len};
use bytes::{BufMut, BytesMut};

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b':')
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    digits
        .chunks(2)
        .map(|c| {
            let s = std::str::from_utf8(c).map_err(|e| e.to_string())?;
            u8::from_str_radix(s, 16).map_err(|e| format!("{s:?}: {e}"))
        })
        .collect()
}

fn main() -> ExitCode {
    let mut ctx = DecodeCtx {
        four_octet_as: true,
        ..DecodeCtx::default()
    };
    let mut hex = String::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--two-octet-as" => ctx.four_octet_as = false,
            "--add-path" => ctx.add_path = AddPathMap::with([AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST]),
            _ => hex.push_str(&arg),
        }
    }
    if hex.is_empty() && std::io::stdin().read_to_string(&mut hex).is_err() {
        eprintln!("cannot read stdin");
        return ExitCode::FAILURE;
    }
    let data = match parse_hex(&hex) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("bad hex: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut buf = BytesMut::new();
    buf.put_slice(&data);
    let mut offset = 0;
    loop {
        let len = match frame_len(&buf, ctx.max_message_len()) {
            Ok(Some(len)) => len,
            Ok(None) if buf.is_empty() => return ExitCode::SUCCESS,
            Ok(None) => {
                eprintln!("offset {offset}: incomplete message ({} bytes left)", buf.len());
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("offset {offset}: {e} -> {}", e.notification());
                return ExitCode::FAILURE;
            }
        };
        let frame = buf.split_to(len).freeze();
        match Message::decode_with_errors(&frame, &ctx) {
            Ok((msg, errors)) => {
                println!("{msg:#?}");
                for e in &errors {
                    println!("RFC 7606 {:?}: {e}", e.treatment);
                }
                let mut out = BytesMut::new();
                match msg.encode(&ctx.mirror(), &mut out) {
                    Ok(()) if out[..] == frame[..] => println!("round trip: byte-exact"),
                    Ok(()) => println!("round trip: differs"),
                    Err(e) => println!("round trip: encode error {e}"),
                }
            }
            Err(e) => {
                eprintln!(
                    "offset {}: {e} -> NOTIFICATION {}",
                    offset + e.offset,
                    e.notification()
                );
                return ExitCode::FAILURE;
            }
        }
        offset += len;
    }
}
