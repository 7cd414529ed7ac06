//! The public API of rr-core, compared with `tests/public-api.txt` so that every change to it shows
//! in review. After an intended change: `RR_BLESS_PUBLIC_API=1 cargo test -p rr-core --test
//! public_api`, and commit the new list.

mod api;

#[test]
fn public_api_matches_the_snapshot() {
    let actual = api::public_api("rr-core", "rr_core");
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/public-api.txt");
    api::check_snapshot(&file, &actual);
}
