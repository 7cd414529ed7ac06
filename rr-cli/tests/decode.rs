//! `rr-cli decode` run as a process on the BIRD/GoBGP captures and on broken input: JSON fields, exit
//! codes, and error messages naming the record and the byte offset.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bgp-wire/tests/data/mrt")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rr-cli"))
        .arg("decode")
        .args(args)
        .output()
        .expect("rr-cli runs")
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Every capture in the test data: BIRD and GoBGP, updates and table dumps.
const CAPTURES: [&str; 5] = [
    "bird-updates.mrt",
    "bird-rib4.mrt",
    "bird-rib6.mrt",
    "gobgp-updates.mrt",
    "gobgp-table.mrt",
];

#[test]
fn captures_decode_and_round_trip() {
    for name in CAPTURES {
        let path = capture(name);
        let out = run(&["--mrt", path.to_str().unwrap(), "--roundtrip"]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert!(!lines(&out).is_empty(), "{name}");
    }
}

#[test]
fn bgp4mp_fields() {
    let path = capture("bird-updates.mrt");
    let out = run(&["--mrt", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = lines(&out);
    let update = v
        .iter()
        .find(|o| o["type"] == "update" && o["announced"][0]["prefix"] == "10.12.0.0/16")
        .expect("the UPDATE for 10.12.0.0/16");
    assert_eq!(update["peer"]["ip"], "127.0.0.12");
    assert_eq!(update["peer"]["asn"], 64512);
    assert_eq!(update["direction"], "received");
    assert!(update["timestamp"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(update["as_path"], "65010 65011");
    assert_eq!(update["med"], 50);
    assert_eq!(update["local_pref"], 150);
    assert_eq!(update["origin"], "igp");
    assert_eq!(strings(&update["next_hops"]), ["100.64.0.12"]);
    assert!(strings(&update["communities"]).contains(&"64512:200".to_string()));
    assert_eq!(strings(&update["large_communities"]), ["64512:3:4"]);
    assert!(
        update["announced"][0]["path_id"].is_u64(),
        "ADD-PATH path id: {update}"
    );
    assert!(
        v.iter()
            .any(|o| o["type"] == "update" && !strings(&o["extended_communities"]).is_empty()),
        "an UPDATE with an extended community"
    );
    let v6 = v
        .iter()
        .find(|o| o["type"] == "update" && o["announced"][0]["prefix"] == "2001:db8:12::/48")
        .expect("the IPv6 UPDATE");
    assert_eq!(strings(&v6["next_hops"]), ["2001:db8:12::1"]);
    let open = v.iter().find(|o| o["type"] == "open").expect("an OPEN");
    let caps = open["capabilities"].to_string();
    assert!(caps.contains("FourOctetAs") && caps.contains("AddPath"), "{caps}");
    let n = v
        .iter()
        .find(|o| o["type"] == "notification")
        .expect("a NOTIFICATION");
    assert_eq!((n["code"].as_u64(), n["subcode"].as_u64()), (Some(6), Some(2)));
    assert_eq!(n["shutdown_message"], "maintenance window, back in 5 minutes");
    assert!(
        v.iter()
            .any(|o| o["type"] == "state_change" && o["new_state"] == 6)
    );
}

#[test]
fn table_dump_fields() {
    let path = capture("gobgp-table.mrt");
    let out = run(&["--mrt", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = lines(&out);
    assert_eq!(v[0]["type"], "peer_index_table");
    let e = v
        .iter()
        .find(|o| o["type"] == "rib_entry" && o["prefix"] == "10.12.1.0/24" && o["path_id"] == 7)
        .expect("the ADD-PATH entry for 10.12.1.0/24");
    assert_eq!(strings(&e["next_hops"]), ["100.64.0.13"]);
    assert_eq!(e["aggregator"]["asn"], 64512);
    let e = v
        .iter()
        .find(|o| o["type"] == "rib_entry" && o["prefix"] == "10.11.1.0/24")
        .unwrap();
    assert_eq!(e["peer"]["ip"], "127.0.0.11");
    assert_eq!(strings(&e["extended_communities"]).len(), 1);
}

/// A BGP4MP_MESSAGE_AS4 record around `msg`.
fn bgp4mp(msg: &[u8]) -> Vec<u8> {
    let mut r = vec![0x60, 0, 0, 0, 0, 16, 0, 4];
    r.extend_from_slice(&((20 + msg.len()) as u32).to_be_bytes());
    r.extend_from_slice(&[
        0, 0, 0xfd, 0xe9, 0, 0, 0xfd, 0xea, 0, 0, 0, 1, 192, 0, 2, 1, 192, 0, 2, 2,
    ]);
    r.extend_from_slice(msg);
    r
}

/// An UPDATE announcing 10.0.1.0/23: the last NLRI octet has a bit past the prefix length set, which the
/// codec clears ("irrelevant" bits, RFC 4271 section 4.3), so it decodes but does not re-encode the same.
fn update_with_host_bits() -> Vec<u8> {
    let mut m = vec![0xff; 16];
    let body = [
        0, 0, 0, 14, // no withdrawn routes, 14 octets of attributes
        0x40, 1, 1, 0, // ORIGIN IGP
        0x40, 2, 0, // empty AS_PATH
        0x40, 3, 4, 192, 0, 2, 1, // NEXT_HOP
        23, 10, 0, 1, // 10.0.1.0/23
    ];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(&body);
    m
}

#[test]
fn roundtrip_difference_names_record_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostbits.mrt");
    let keepalive = [vec![0xff; 16], vec![0, 19, 4]].concat();
    let mut data = bgp4mp(&keepalive);
    data.extend(bgp4mp(&update_with_host_bits()));
    std::fs::write(&path, &data).unwrap();
    let out = run(&["--mrt", path.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "decodes fine without --roundtrip: {}",
        stderr(&out)
    );
    let out = run(&["--mrt", path.to_str().unwrap(), "--roundtrip"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // Record 2 starts at 51 (12 + 20 + 19); its message at 51 + 32 = 83; the differing octet is the third
    // prefix octet, message octet 19 + 4 + 14 + 3 = 40, so stream offset 123.
    let err = stderr(&out);
    assert!(
        err.contains("mrt record 2") && err.contains("byte offset 123"),
        "{err}"
    );
    let out = run(&["--mrt", path.to_str().unwrap(), "--roundtrip", "--summary"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stderr(&out), err);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (s["roundtrip_mismatches"].as_u64(), s["errors"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(s["messages"]["update"], 1);
}

#[test]
fn malformed_input_names_record_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(capture("bird-updates.mrt")).unwrap();
    // Truncated in the middle of the fourth record.
    let cut = dir.path().join("cut.mrt");
    let records: Vec<usize> = {
        let mut starts = vec![];
        let mut at = 0;
        while at < good.len() {
            starts.push(at);
            at += 12 + u32::from_be_bytes(good[at + 8..at + 12].try_into().unwrap()) as usize;
        }
        starts
    };
    std::fs::write(&cut, &good[..records[3] + 20]).unwrap();
    let out = run(&["--mrt", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&out).len(), 3, "the three whole records are still printed");
    let err = stderr(&out);
    assert!(
        err.contains("mrt record 4 at byte offset") && err.contains("stream ends"),
        "{err}"
    );

    // A bad address family in record 2: reported; without --keep-going the run stops there, with it the
    // remaining records are decoded; the exit code is 1 either way.
    let bad = dir.path().join("bad-afi.mrt");
    let mut data = good.clone();
    data[records[1] + 12 + 8 + 2 + 1] = 9; // AFI low octet of a STATE_CHANGE_AS4
    std::fs::write(&bad, &data).unwrap();
    let want = format!("mrt record 2 at byte offset {}", records[1] + 12 + 10);
    let out = run(&["--mrt", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    assert_eq!(lines(&out).len(), 1);
    let out = run(&["--mrt", bad.to_str().unwrap(), "--keep-going"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    assert_eq!(lines(&out).len(), records.len() - 1);

    let out = run(&["--mrt", dir.path().join("missing.mrt").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot open"));
}

#[test]
fn gzip_input_is_detected() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("updates.mrt.gz");
    let plain = std::fs::read(capture("gobgp-updates.mrt")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    let out = run(&["--mrt", path.to_str().unwrap(), "--roundtrip"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plain_out = run(&["--mrt", capture("gobgp-updates.mrt").to_str().unwrap()]);
    assert_eq!(out.stdout, plain_out.stdout);
}

/// The summary object of a `--summary` run.
fn summary(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON object ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn summary_counts_what_the_lines_show() {
    for name in CAPTURES {
        let path = capture(name);
        let lines_out = run(&["--mrt", path.to_str().unwrap()]);
        let out = run(&["--mrt", path.to_str().unwrap(), "--summary", "--roundtrip"]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert_eq!(stderr(&out), stderr(&lines_out), "{name}: the same warnings");
        let s = summary(&out);
        let v = lines(&lines_out);
        let count = |t: &str| v.iter().filter(|o| o["type"] == t).count() as u64;
        assert_eq!(s["complete"], true, "{name}");
        assert_eq!(
            s["records"].as_u64(),
            Some(v.len() as u64 - count("rib_entry") + rib_records(&v))
        );
        assert_eq!(s["rib_entries"].as_u64(), Some(count("rib_entry")), "{name}");
        assert_eq!(s["state_changes"].as_u64(), Some(count("state_change")), "{name}");
        assert_eq!(
            s["messages"]["update"].as_u64().unwrap_or(0),
            count("update"),
            "{name}"
        );
        assert_eq!(
            s["peer_index_tables"].as_u64(),
            Some(count("peer_index_table")),
            "{name}"
        );
        let typed: u64 = s["record_types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["records"].as_u64().unwrap())
            .sum();
        assert_eq!(Some(typed), s["records"].as_u64(), "{name}");
        assert_eq!(
            (s["errors"].as_u64(), s["roundtrip_mismatches"].as_u64()),
            (Some(0), Some(0))
        );
        let announced: usize = v
            .iter()
            .filter_map(|o| o["announced"].as_array())
            .map(Vec::len)
            .sum();
        let counted: u64 = s["families"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["announced"].as_u64().unwrap())
            .sum();
        assert_eq!(counted, announced as u64, "{name}");
    }
}

/// RIB records among the lines: distinct record numbers of the RIB entries.
fn rib_records(v: &[Value]) -> u64 {
    let mut n: Vec<u64> = v
        .iter()
        .filter(|o| o["type"] == "rib_entry")
        .map(|o| o["record"].as_u64().unwrap())
        .collect();
    n.dedup();
    n.len() as u64
}

#[test]
fn summary_of_a_table_dump() {
    let path = capture("gobgp-table.mrt");
    let out = run(&["--mrt", path.to_str().unwrap(), "--summary"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = summary(&out);
    assert_eq!(s["compression"], "none");
    assert_eq!(
        s["octets"].as_u64(),
        Some(std::fs::metadata(&path).unwrap().len())
    );
    let types = &s["record_types"];
    assert_eq!(types[0]["name"], "TABLE_DUMP_V2/PEER_INDEX_TABLE");
    assert_eq!(types[0]["records"], 1);
    assert!(
        types
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "TABLE_DUMP_V2/RIB_IPV4_UNICAST_ADDPATH"),
        "{types}"
    );
    // The peer table's two peers, and index 2 that GoBGP's own routes name past it (warned about).
    let peers = s["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 3, "{peers:?}");
    assert_eq!(peers[1]["ip"], "127.0.0.11");
    assert_eq!(peers[2]["index"], 2);
    assert_eq!(peers[2]["asn"], Value::Null);
    assert!(peers[2]["rib_entries"].as_u64().unwrap() > 0);
    assert_eq!(
        s["warnings"].as_u64(),
        Some(stderr(&out).matches("warning:").count() as u64)
    );
    let v = lines(&run(&["--mrt", path.to_str().unwrap()]));
    let families = s["families"].as_array().unwrap();
    let names: Vec<_> = families.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ipv4-unicast", "ipv6-unicast"]);
    let sum = |k: &str| families.iter().map(|f| f[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum("prefixes"), rib_records(&v));
    assert_eq!(sum("rib_entries"), s["rib_entries"].as_u64().unwrap());
    let sets = s["attribute_sets"].as_u64().unwrap();
    assert!(sets > 1 && sets <= s["rib_entries"].as_u64().unwrap(), "{sets}");
}

#[test]
fn summary_of_malformed_input() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(capture("bird-updates.mrt")).unwrap();
    let mut starts = vec![];
    let mut at = 0;
    while at < good.len() {
        starts.push(at);
        at += 12 + u32::from_be_bytes(good[at + 8..at + 12].try_into().unwrap()) as usize;
    }
    // A bad address family in record 2, as in malformed_input_names_record_and_offset.
    let bad = dir.path().join("bad-afi.mrt");
    let mut data = good.clone();
    data[starts[1] + 12 + 8 + 2 + 1] = 9;
    std::fs::write(&bad, &data).unwrap();
    let want = format!("mrt record 2 at byte offset {}", starts[1] + 12 + 10);
    for keep_going in [false, true] {
        let mut args = vec!["--mrt", bad.to_str().unwrap(), "--summary"];
        let mut lines_args = vec!["--mrt", bad.to_str().unwrap()];
        if keep_going {
            args.push("--keep-going");
            lines_args.push("--keep-going");
        }
        let out = run(&args);
        let lines_out = run(&lines_args);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_eq!(
            stderr(&out),
            stderr(&lines_out),
            "the same problems as the JSON lines"
        );
        assert!(stderr(&out).contains(&want), "{}", stderr(&out));
        let s = summary(&out);
        assert_eq!(s["errors"], 1);
        assert_eq!(s["complete"], keep_going);
        // Stopped at record 2, or every record but the bad one counted.
        let records = if keep_going { starts.len() - 1 } else { 1 };
        assert_eq!(s["records"].as_u64(), Some(records as u64));
    }

    // Truncated in the middle of the fourth record: three records counted, the run incomplete.
    let cut = dir.path().join("cut.mrt");
    std::fs::write(&cut, &good[..starts[3] + 20]).unwrap();
    let out = run(&["--mrt", cut.to_str().unwrap(), "--summary", "--keep-going"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("stream ends"), "{}", stderr(&out));
    let s = summary(&out);
    assert_eq!((s["records"].as_u64(), s["errors"].as_u64()), (Some(3), Some(1)));
    assert_eq!(s["complete"], false);

    // A RIB entry with an ORIGIN of 7 (an RFC 7606 attribute error): reported and counted as the lines do.
    let mut table = std::fs::read(capture("bird-rib4.mrt")).unwrap();
    let v = lines(&run(&["--mrt", capture("bird-rib4.mrt").to_str().unwrap()]));
    let entry = v
        .iter()
        .find(|o| o["type"] == "rib_entry" && o["origin"].is_string())
        .expect("a RIB entry with an ORIGIN");
    let from = entry["offset"].as_u64().unwrap() as usize;
    let at = from
        + table[from..]
            .windows(3)
            .position(|w| w == [0x40, 1, 1])
            .expect("the ORIGIN attribute");
    table[at + 3] = 7;
    let bad = dir.path().join("bad-origin.mrt");
    std::fs::write(&bad, &table).unwrap();
    for keep_going in [false, true] {
        let mut args = vec!["--mrt", bad.to_str().unwrap()];
        if keep_going {
            args.push("--keep-going");
        }
        let lines_out = run(&args);
        args.push("--summary");
        let out = run(&args);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_eq!(stderr(&out), stderr(&lines_out));
        let s = summary(&out);
        assert_eq!(
            s["errors"].as_u64(),
            Some(stderr(&out).matches("error:").count() as u64)
        );
        assert!(s["errors"].as_u64().unwrap() >= 1);
        assert_eq!(s["complete"], keep_going);
        let printed = lines(&lines_out)
            .iter()
            .filter(|o| o["type"] == "rib_entry")
            .count() as u64;
        assert_eq!(
            s["rib_entries"].as_u64(),
            Some(printed),
            "the bad entry counted once"
        );
    }
}
