//! Walking a large Loc-RIB in bounded pages (`Engine::prefixes_page`): every prefix once, in order, also
//! while the table changes between pages.

mod harness;

use std::collections::BTreeSet;

use bgp_wire::Message;
use harness::*;
use rr_core::{EngineConfig, Prefix, Role};

const AS: u32 = 64512;

fn v4_prefixes(first: u32, n: u32) -> Vec<String> {
    (first..first + n)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect()
}

/// A reflector whose Loc-RIB holds `n4` IPv4 and `n6` IPv6 prefixes from one client.
fn loaded(n4: u32, n6: u32) -> (Net, usize, usize) {
    let mut net = Net::default();
    let mut cfg = EngineConfig::new(v4("10.0.0.1"), AS);
    cfg.selection_deferral = None;
    let rr = net.add_engine("10.0.0.1", cfg);
    let c = net.add_script("10.0.0.11", AS, "10.0.0.11", modern_caps(AS));
    net.peer(rr, c, Role::RrClient, |_| {});
    let v4s = v4_prefixes(0, n4);
    for chunk in v4s.chunks(500) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        net.script_send(c, Message::Update(announce(&refs, "10.0.0.11", vec![])));
    }
    let v6s: Vec<String> = (0..n6).map(|i| format!("fd00:{i:x}::/64")).collect();
    for chunk in v6s.chunks(200) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        net.script_send(c, Message::Update(announce6(&refs, "fd00::11", None)));
    }
    (net, rr, c)
}

#[test]
fn pages_cover_the_table_once_in_prefix_order() {
    let (mut net, rr, _) = loaded(25_000, 2_000);
    let e = net.engine(rr);
    assert_eq!(e.loc_rib_len(), 27_000);
    let want: BTreeSet<Prefix> = e.prefixes().collect();
    let mut seen: Vec<Prefix> = Vec::new();
    let mut after: Option<Prefix> = None;
    let mut pages = 0;
    loop {
        let page = e.prefixes_page(after.as_ref(), 997);
        assert!(page.len() <= 997);
        pages += 1;
        after = page.last().copied();
        let short = page.len() < 997;
        seen.extend(page);
        if short {
            break;
        }
    }
    assert_eq!(pages, 28, "27000 prefixes in pages of 997");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing: none twice"
    );
    assert_eq!(seen.len(), want.len(), "none lost");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), want);
    assert!(e.prefixes_page(None, 0).is_empty());
    assert_eq!(
        e.prefixes_page(None, 1)[0].to_string(),
        "10.0.0.0/24",
        "IPv4 first"
    );
}

#[test]
fn a_walk_sees_every_prefix_that_stays_exactly_once_while_the_table_changes() {
    let (mut net, rr, c) = loaded(10_000, 0);
    let before: BTreeSet<Prefix> = net.engine(rr).prefixes().collect();
    let mut seen: Vec<Prefix> = Vec::new();
    let mut after: Option<Prefix> = None;
    let mut round = 0u32;
    loop {
        let page = net.engine(rr).prefixes_page(after.as_ref(), 1000);
        after = page.last().copied();
        let short = page.len() < 1000;
        seen.extend(page);
        if short {
            break;
        }
        // Between pages: new prefixes arrive on both sides of the cursor, and some are withdrawn.
        let added = v4_prefixes(20_000 + round * 10, 10);
        let refs: Vec<&str> = added.iter().map(String::as_str).collect();
        net.script_send(c, Message::Update(announce(&refs, "10.0.0.11", vec![])));
        let gone = format!("10.{}.{}.0/24", (round * 997 + 5) / 256, (round * 997 + 5) % 256);
        net.script_send(c, Message::Update(withdraw(&[gone.as_str()])));
        round += 1;
    }
    let after_walk: BTreeSet<Prefix> = net.engine(rr).prefixes().collect();
    let stayed: BTreeSet<Prefix> = before.intersection(&after_walk).copied().collect();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "none twice");
    let seen: BTreeSet<Prefix> = seen.into_iter().collect();
    assert!(stayed.is_subset(&seen), "every prefix present throughout is seen");
    assert!(
        seen.iter().all(|p| before.contains(p) || after_walk.contains(p)),
        "nothing invented"
    );
}
