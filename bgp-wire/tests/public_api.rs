//! The public API of bgp-wire, compared with `tests/public-api.txt` so that every change to it
//! shows in review. After an intended change: `RR_BLESS_PUBLIC_API=1 cargo test -p bgp-wire --test
//! public_api`, and commit the new list.

#[path = "../../rr-core/tests/api/mod.rs"]
mod api;

#[test]
fn public_api_matches_the_snapshot() {
    let actual = api::public_api("bgp-wire", "bgp_wire");
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/public-api.txt");
    api::check_snapshot(&file, &actual);
}
