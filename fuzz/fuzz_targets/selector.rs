//! Calico selector parser and evaluator on arbitrary text and labels.
//! Properties: no panic; a selector that parses evaluates (against arbitrary labels) without panic, and
//! `Selector::parse` of the same text gives a selector that decides every label set the same way.
#![no_main]
use std::collections::BTreeMap;

use datastore::Selector;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, Vec<(String, String)>)| {
    let (text, labels) = input;
    let Ok(sel) = Selector::parse(text) else {
        return;
    };
    let labels: BTreeMap<String, String> = labels.into_iter().take(16).collect();
    let again = Selector::parse(&sel.to_string()).expect("a parsed selector's text parses again");
    assert_eq!(sel.matches(&labels), again.matches(&labels));
    let _ = sel.matches(&BTreeMap::<String, String>::new());
});
