//! The datastore parsers on arbitrary input: the file backend's multi-document YAML reader and the etcd
//! record (JSON) reader.
//! Properties: no panic; every resource read from YAML writes JSON (the etcd format) that reads back as
//! the same resource.
#![no_main]
use datastore::Resource;
use datastore::conformance::same_resource;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Resource::from_json(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (resources, _invalid) = datastore::parse_manifests("fuzz.yaml", text);
    for r in &resources {
        let back = Resource::from_json(r.to_json().as_bytes()).expect("a resource's own JSON reads back");
        assert!(same_resource(r, &back), "{r:?} came back as {back:?}");
    }
});
