//! Reads an MRT stream, decodes every BGP message and RIB entry in it.
//! Properties: no panic; every record that decodes re-encodes to the bytes it was read from.
#![no_main]
use bgp_wire::mrt::{Bgp4mp, MrtBody, MrtReader, TableDumpV2};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for item in MrtReader::new(data) {
        let Ok(rec) = item else { continue };
        assert_eq!(
            rec.record.to_bytes().expect("decoded record encodes"),
            rec.raw.to_vec()
        );
        match &rec.record.body {
            MrtBody::Bgp4mp(Bgp4mp::Message(_)) => {
                let _ = rec.decode_message();
            }
            MrtBody::TableDumpV2(TableDumpV2::Rib(r)) => {
                for e in &r.entries {
                    if let Ok((attrs, _)) = e.decode_attributes(r.afi_safi()) {
                        let mut out = bytes::BytesMut::new();
                        let _ = bgp_wire::mrt::encode_rib_attributes(&attrs, &mut out);
                    }
                }
            }
            _ => {}
        }
    }
});
