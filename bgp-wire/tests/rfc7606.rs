//! RFC 7606 revised UPDATE error handling: each case checks the treatment, the error kind and
//! what [`Message::decode`] hands to the engine.

use bgp_wire::attr::type_code;
use bgp_wire::notification::{code, update as sub};
use bgp_wire::*;
use bytes::Bytes;

fn hex(s: &str) -> Vec<u8> {
    let d: Vec<u8> = s
        .lines()
        .flat_map(|l| l.split('|').next().unwrap_or("").bytes())
        .filter(|b| b.is_ascii_hexdigit())
        .collect();
    d.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}

/// An UPDATE frame with the given withdrawn, attribute and NLRI hex; lengths computed.
fn update(withdrawn: &str, attrs: &str, nlri: &str) -> Bytes {
    let (w, a, n) = (hex(withdrawn), hex(attrs), hex(nlri));
    let mut v = vec![0xff; 16];
    v.extend_from_slice(&((19 + 4 + w.len() + a.len() + n.len()) as u16).to_be_bytes());
    v.push(2);
    v.extend_from_slice(&(w.len() as u16).to_be_bytes());
    v.extend_from_slice(&w);
    v.extend_from_slice(&(a.len() as u16).to_be_bytes());
    v.extend_from_slice(&a);
    v.extend_from_slice(&n);
    Bytes::from(v)
}

const ORIGIN: &str = "40 01 01 00";
const AS_PATH: &str = "40 02 06 02 01 0000fde9";
const NEXT_HOP: &str = "40 03 04 c0000201";
const NLRI: &str = "18 0a0001 18 0a0002";

fn ctx() -> DecodeCtx {
    DecodeCtx {
        four_octet_as: true,
        ..Default::default()
    }
}

fn lenient(frame: &Bytes) -> (Update, Vec<AttributeError>) {
    match Message::decode_with_errors(frame, &ctx()).expect("no session reset") {
        (Message::Update(u), e) => (u, e),
        (m, _) => panic!("not an update: {m:?}"),
    }
}

fn strict_err(frame: &Bytes) -> DecodeError {
    Message::decode(frame, &ctx()).expect_err("session reset expected")
}

fn assert_withdraws_all(frame: &Bytes, n: usize) {
    let Message::Update(u) = Message::decode(frame, &ctx()).unwrap() else {
        panic!()
    };
    assert!(u.nlri.is_empty() && u.announced().count() == 0, "{u:?}");
    assert_eq!(u.withdrawals().count(), n, "{u:?}");
}

#[test]
fn well_formed_has_no_errors() {
    let f = update("", &format!("{ORIGIN} {AS_PATH} {NEXT_HOP}"), NLRI);
    let (u, e) = lenient(&f);
    assert!(e.is_empty());
    assert_eq!(u.nlri.len(), 2);
}

#[test]
fn origin_bad_length_and_value_treat_as_withdraw() {
    // RFC 7606 7.1: "The attribute is considered malformed if its length is not 1 or it has an
    // undefined value ... handled using the approach of 'treat-as-withdraw'."
    for origin in ["40 01 02 0000", "40 01 01 07"] {
        let f = update("", &format!("{origin} {AS_PATH} {NEXT_HOP}"), NLRI);
        let (u, e) = lenient(&f);
        assert_eq!(max_treatment(&e), Some(Treatment::TreatAsWithdraw));
        assert_eq!(e[0].attr_type, Some(type_code::ORIGIN));
        assert!(u.value(type_code::ORIGIN).is_none());
        assert_withdraws_all(&f, 2);
    }
    let f = update("", &format!("40 01 01 07 {AS_PATH} {NEXT_HOP}"), NLRI);
    let (_, e) = lenient(&f);
    let n = e[0].notification();
    assert_eq!(
        (n.code, n.subcode, &n.data[..]),
        (
            code::UPDATE_MESSAGE_ERROR,
            sub::INVALID_ORIGIN_ATTRIBUTE,
            &hex("40 01 01 07")[..]
        )
    );
}

#[test]
fn fixed_length_attributes_treat_as_withdraw() {
    // RFC 7606 7.3 NEXT_HOP, 7.4 MED, 7.5 LOCAL_PREF, 7.9 ORIGINATOR_ID, 7.8 COMMUNITIES, 7.10
    // CLUSTER_LIST, 7.14 EXTENDED COMMUNITIES, RFC 8092 LARGE_COMMUNITY, RFC 9234 OTC.
    for bad in [
        "40 03 03 c00002",
        "80 04 05 0000000001",
        "40 05 02 0001",
        "80 09 00",
        "c0 08 06 000100020003",
        "c0 08 00",
        "80 0a 03 0a0000",
        "c0 10 04 00020001",
        "c0 20 08 0000000100000002",
        "c0 23 02 0001",
        "40 02 04 02 02 0001",     // AS_PATH segment overrun (RFC 7606 7.2)
        "40 02 02 02 00",          // AS_PATH zero-length segment
        "40 02 06 07 01 00000001", // undefined segment type
    ] {
        // the well-formed mandatory attributes, minus the one being broken
        let base: Vec<&str> = [ORIGIN, AS_PATH, NEXT_HOP]
            .into_iter()
            .filter(|a| a[3..5] != bad[3..5])
            .collect();
        let attrs = format!("{} {bad}", base.join(" "));
        let f = update("", &attrs, NLRI);
        let res = Message::decode_with_errors(&f, &ctx());
        let (_, e) = res.unwrap_or_else(|e| panic!("{bad}: {e}"));
        assert_eq!(
            max_treatment(&e),
            Some(Treatment::TreatAsWithdraw),
            "{bad}: {e:?}"
        );
    }
}

#[test]
fn attribute_discard_cases() {
    // RFC 7606 7.6 ATOMIC_AGGREGATE and 7.7 AGGREGATOR (length 6 vs 8 by 4-octet AS): "attribute
    // discard"; RFC 6793 AS4_PATH / AS4_AGGREGATOR likewise.
    for bad in [
        "40 06 01 00",
        "c0 07 06 fde9c0000201",
        "c0 11 03 020100",
        "c0 12 06 0001c0000201",
    ] {
        let f = update("", &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} {bad}"), NLRI);
        let (u, e) = lenient(&f);
        assert_eq!(max_treatment(&e), Some(Treatment::AttributeDiscard), "{bad}");
        assert_eq!(u.attributes.len(), 3, "{bad}");
        let Message::Update(m) = Message::decode(&f, &ctx()).unwrap() else {
            panic!()
        };
        assert_eq!(m.nlri.len(), 2, "routes stay announced after attribute discard");
    }
}

#[test]
fn flags_conflict_is_treat_as_withdraw() {
    // RFC 7606 3 (c): Optional/Transitive bits in conflict -> "treat-as-withdraw".
    let f = update("", &format!("c0 01 01 00 {AS_PATH} {NEXT_HOP}"), NLRI);
    let (_, e) = lenient(&f);
    assert_eq!(e[0].kind, DecodeErrorKind::AttributeFlagsError(1));
    assert_eq!(max_treatment(&e), Some(Treatment::TreatAsWithdraw));
    // ... except where the attribute's length errors are "attribute discard" (AGGREGATOR).
    let f = update(
        "",
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} 40 07 08 0000fde9c0000201"),
        NLRI,
    );
    assert_eq!(max_treatment(&lenient(&f).1), Some(Treatment::AttributeDiscard));
}

#[test]
fn duplicates() {
    // RFC 7606 3 (g): later duplicates discarded, except MP_* -> Malformed Attribute List.
    let f = update("", &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} 40 01 01 02"), NLRI);
    let (u, e) = lenient(&f);
    assert_eq!(max_treatment(&e), Some(Treatment::AttributeDiscard));
    assert_eq!(u.value(type_code::ORIGIN), Some(&AttrValue::Origin(Origin::Igp)));
    let mp = "80 0f 03 0002 01";
    let f = update("", &format!("{mp} {mp}"), "");
    let err = strict_err(&f);
    assert_eq!(err.treatment, Treatment::SessionReset);
    let n = err.notification();
    assert_eq!(
        (n.code, n.subcode),
        (code::UPDATE_MESSAGE_ERROR, sub::MALFORMED_ATTRIBUTE_LIST)
    );
}

#[test]
fn missing_well_known_is_treat_as_withdraw() {
    // RFC 7606 3 (d).
    let f = update("", &format!("{ORIGIN} {NEXT_HOP}"), NLRI);
    let (_, e) = lenient(&f);
    assert_eq!(e.len(), 1);
    assert_eq!(
        e[0].kind,
        DecodeErrorKind::MissingWellKnownAttribute(type_code::AS_PATH)
    );
    assert_eq!(e[0].notification().data[..], [type_code::AS_PATH]);
    assert_withdraws_all(&f, 2);
    // NEXT_HOP is needed only with a non-empty NLRI field (RFC 4760).
    let mp = "90 0e 001a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8";
    let f = update("", &format!("{mp} {ORIGIN} {AS_PATH}"), "");
    assert!(lenient(&f).1.is_empty());
    // A withdrawal needs no attributes.
    let f = update("18 0a0001", "", "");
    assert!(lenient(&f).1.is_empty());
}

#[test]
fn mp_reach_errors_disable_the_family() {
    // RFC 7606 5.3 / 7.11: NLRI errors inside MP_REACH_NLRI -> "AFI/SAFI disable" (or reset).
    let mp = "90 0e 001a 0002 01 10 20010db8000000000000000000000001 00 81 20010db8";
    let f = update("", &format!("{mp} {ORIGIN} {AS_PATH}"), "");
    let err = strict_err(&f);
    assert_eq!(err.treatment, Treatment::AfiSafiDisable);
    assert_eq!(err.afi_safi, Some(AfiSafi::IPV6_UNICAST));
    // Too short to hold AFI/SAFI: session reset.
    let f = update("", &format!("80 0f 02 0002 {ORIGIN}"), "");
    assert_eq!(strict_err(&f).treatment, Treatment::SessionReset);
}

#[test]
fn nlri_field_errors_reset_the_session() {
    // RFC 7606 5.3: the NLRI / Withdrawn Routes fields cannot be parsed -> session reset.
    let f = update("", &format!("{ORIGIN} {AS_PATH} {NEXT_HOP}"), "21 0a000001 00");
    let err = strict_err(&f);
    assert_eq!(err.kind, DecodeErrorKind::InvalidNetworkField);
    assert_eq!(
        (err.notification().code, err.notification().subcode),
        (3, sub::INVALID_NETWORK_FIELD)
    );
    let f = update("18 0a00", "", "");
    assert_eq!(strict_err(&f).treatment, Treatment::SessionReset);
}

#[test]
fn lengths_overrunning_the_message_reset() {
    // RFC 4271 6.3: Withdrawn Routes Length / Total Attribute Length too large -> Malformed
    // Attribute List.
    let mut v = update("18 0a0001", "", "").to_vec();
    v[19..21].copy_from_slice(&[0, 9]);
    let err = strict_err(&Bytes::from(v));
    assert_eq!(
        (err.notification().code, err.notification().subcode),
        (3, sub::MALFORMED_ATTRIBUTE_LIST)
    );
}

#[test]
fn attribute_overrunning_the_attribute_list_is_treat_as_withdraw() {
    // RFC 7606 section 4: last attribute overruns the attribute field -> treat-as-withdraw,
    // NLRI located with the Total Attribute Length.
    let f = update(
        "",
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} c0 08 08 00010002"),
        NLRI,
    );
    let (u, e) = lenient(&f);
    assert_eq!(max_treatment(&e), Some(Treatment::TreatAsWithdraw));
    assert_eq!(u.nlri.len(), 2);
    assert_withdraws_all(&f, 2);
    // Fewer than 3 octets left for an attribute header.
    let f = update("", &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} c0 08"), NLRI);
    assert_eq!(max_treatment(&lenient(&f).1), Some(Treatment::TreatAsWithdraw));
    // Nothing to withdraw and no MP attribute located: this crate resets the session.
    let f = update("", "c0 08 08 00010002", "");
    assert_eq!(strict_err(&f).treatment, Treatment::SessionReset);
}

#[test]
fn unrecognized_well_known_resets() {
    // RFC 4271 6.3: Unrecognized Well-known Attribute, data = the attribute.
    let f = update("", &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} 40 63 01 00"), NLRI);
    let err = strict_err(&f);
    let n = err.notification();
    assert_eq!(
        (n.code, n.subcode, &n.data[..]),
        (3, sub::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE, &hex("40 63 01 00")[..])
    );
}

#[test]
fn treat_as_withdraw_moves_mp_reach_into_mp_unreach() {
    let mp = "90 0e 001a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8";
    let f = update("", &format!("{mp} 40 01 01 09 {AS_PATH}"), "");
    let Message::Update(u) = Message::decode(&f, &ctx()).unwrap() else {
        panic!()
    };
    let w: Vec<_> = u.withdrawals().map(|(f, n)| (f, n.prefix.to_string())).collect();
    assert_eq!(w, vec![(AfiSafi::IPV6_UNICAST, "2001:db8::/32".to_string())]);
    assert!(u.mp_reach().is_none());
}

#[test]
fn treatments_are_ordered() {
    assert!(Treatment::AttributeDiscard < Treatment::TreatAsWithdraw);
    assert!(Treatment::TreatAsWithdraw < Treatment::AfiSafiDisable);
    assert!(Treatment::AfiSafiDisable < Treatment::SessionReset);
}
