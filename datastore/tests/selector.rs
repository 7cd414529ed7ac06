//! Table tests for Calico's selector language.

use std::collections::BTreeMap;

use datastore::selector::{Selector, SelectorError};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Label pairs of a test case.
type Pairs = &'static [(&'static str, &'static str)];

/// (selector, labels, expected match)
const MATCH_CASES: &[(&str, Pairs, bool)] = &[
    // empty and all()
    ("", &[], true),
    ("   ", &[("a", "b")], true),
    ("all()", &[], true),
    ("all( )", &[("x", "y")], true),
    ("global()", &[], true),
    // ==
    ("a == 'b'", &[("a", "b")], true),
    ("a == 'b'", &[("a", "c")], false),
    ("a == 'b'", &[], false),
    ("a == \"b\"", &[("a", "b")], true),
    ("a=='b'", &[("a", "b")], true),
    ("a == ''", &[("a", "")], true),
    // !=: true on a missing label
    ("a != 'b'", &[("a", "b")], false),
    ("a != 'b'", &[("a", "c")], true),
    ("a != 'b'", &[], true),
    // has
    ("has(a)", &[("a", "")], true),
    ("has(a)", &[("b", "x")], false),
    ("has( a )", &[("a", "x")], true),
    ("!has(a)", &[], true),
    ("!has(a)", &[("a", "1")], false),
    // in / not in / notin
    ("a in {'x', 'y'}", &[("a", "y")], true),
    ("a in {'x', 'y'}", &[("a", "z")], false),
    ("a in {'x'}", &[], false),
    ("a in {}", &[("a", "x")], false),
    ("a not in {'x', 'y'}", &[("a", "z")], true),
    ("a not in {'x', 'y'}", &[("a", "x")], false),
    ("a not in {'x'}", &[], true),
    ("a notin {'x'}", &[], true),
    ("a notin {'x'}", &[("a", "x")], false),
    ("a in{\"x\",'y'}", &[("a", "x")], true),
    // contains / starts with / ends with
    ("a contains 'ell'", &[("a", "hello")], true),
    ("a contains 'z'", &[("a", "hello")], false),
    ("a contains 'x'", &[], false),
    ("a starts with 'he'", &[("a", "hello")], true),
    ("a starts with 'lo'", &[("a", "hello")], false),
    ("a starts with ''", &[], false),
    ("a ends with 'lo'", &[("a", "hello")], true),
    ("a ends with 'he'", &[("a", "hello")], false),
    // negation runs collapse by parity
    ("!!has(a)", &[("a", "1")], true),
    ("!!!has(a)", &[("a", "1")], false),
    ("! ! has(a)", &[], false),
    ("!(a == 'b')", &[("a", "b")], false),
    ("!a == 'b'", &[("a", "b")], false),
    // precedence: && binds tighter than ||
    ("a == '1' || b == '1' && c == '1'", &[("a", "1")], true),
    ("a == '1' || b == '1' && c == '1'", &[("b", "1")], false),
    ("(a == '1' || b == '1') && c == '1'", &[("a", "1")], false),
    (
        "(a == '1' || b == '1') && c == '1'",
        &[("a", "1"), ("c", "1")],
        true,
    ),
    ("!has(a) || has(b)", &[("a", "1")], false),
    ("!(has(a) || has(b))", &[("b", "1")], false),
    ("!(has(a) || has(b))", &[], true),
    ("((has(a)))", &[("a", "")], true),
    // labels with the full identifier alphabet
    (
        "kubernetes.io/hostname == 'rr-1'",
        &[("kubernetes.io/hostname", "rr-1")],
        true,
    ),
    ("my_label-2 == 'x'", &[("my_label-2", "x")], true),
    // label names that look like keywords
    ("in == 'x'", &[("in", "x")], true),
    ("has == 'x'", &[("has", "x")], true),
    ("all == 'x'", &[("all", "x")], true),
    // quotes keep the other quote character
    ("a == \"it's\"", &[("a", "it's")], true),
    ("a == '\"q\"'", &[("a", "\"q\"")], true),
    // typical reflector selectors
    ("route-reflector == 'true'", &[("route-reflector", "true")], true),
    (
        "route-reflector == 'true'",
        &[("route-reflector", "false")],
        false,
    ),
    ("route-reflector == 'true'", &[], false),
    ("has(route-reflector)", &[("route-reflector", "true")], true),
    ("!has(route-reflector)", &[("route-reflector", "true")], false),
    ("!has(route-reflector)", &[("rack", "rack1")], true),
    (
        "rack == 'rack1' && !has(route-reflector)",
        &[("rack", "rack1")],
        true,
    ),
    (
        "rack == 'rack1' && !has(route-reflector)",
        &[("rack", "rack1"), ("route-reflector", "")],
        false,
    ),
    (
        "rack == 'rack1' && !has(route-reflector)",
        &[("rack", "rack2")],
        false,
    ),
];

#[test]
fn match_table() {
    for (sel, l, want) in MATCH_CASES {
        let s = Selector::parse(sel).unwrap_or_else(|e| panic!("{sel:?} did not parse: {e}"));
        assert_eq!(s.matches(&labels(l)), *want, "{sel:?} on {l:?}");
        assert_eq!(s.as_str(), *sel);
    }
}

/// (selector, byte position of the error)
const ERROR_CASES: &[(&str, usize)] = &[
    ("a ==", 4),
    ("a == b", 5),
    ("a = 'b'", 2),
    ("has(a", 5),
    ("has()", 4),
    ("(a == 'b'", 9),
    ("a == 'b')", 8),
    ("a == 'b", 5),
    ("a in {'x'", 9),
    ("a in {'x' 'y'}", 10),
    ("a in 'x'", 5),
    ("a not 'x'", 6),
    ("a starts 'x'", 9),
    ("a ends with", 11),
    ("&& a == 'b'", 0),
    ("a == 'b' &&", 11),
    ("a == 'b' || || c == 'd'", 12),
    ("a == 'b' c == 'd'", 9),
    ("a", 1),
    ("a @ 'b'", 2),
    ("foo() ", 0),
    ("!", 1),
    ("a & b", 2),
    ("a == 'b' | c", 9),
];

#[test]
fn error_positions() {
    for (sel, pos) in ERROR_CASES {
        let e: SelectorError = Selector::parse(sel).expect_err(sel);
        assert_eq!(e.position, *pos, "{sel:?}: {}", e.message);
        assert_eq!(e.selector, *sel);
        assert!(e.to_string().contains(&format!("position {pos}")));
    }
}

#[test]
fn limits_do_not_panic() {
    let long = "a".repeat(513);
    assert!(Selector::parse(&format!("{long} == 'x'")).is_err());
    let ok = "a".repeat(512);
    assert!(Selector::parse(&format!("{ok} == 'x'")).is_ok());
    let deep = format!("{}has(a){}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(Selector::parse(&deep).is_err());
    let many_not = format!("{}has(a)", "!".repeat(100_001));
    let s = Selector::parse(&many_not).unwrap();
    assert!(s.matches(&labels(&[])));
    assert!(Selector::parse("a == 'é' && b == 'ü'").is_ok());
    assert!(Selector::parse("é == 'x'").is_err());
}

#[test]
fn serde_round_trip() {
    let s: Selector = serde_json::from_str("\"has(route-reflector)\"").unwrap();
    assert_eq!(serde_json::to_string(&s).unwrap(), "\"has(route-reflector)\"");
    let e = serde_json::from_str::<Selector>("\"a ==\"").unwrap_err();
    assert!(e.to_string().contains("position 4"), "{e}");
}
