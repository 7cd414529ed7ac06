//! `rr-cli dump --mrt` against a running reflector with BIRD 2 clients: the TABLE_DUMP_V2 file, read back by
//! an independent parser (bgpkit-parser), holds exactly the daemon's Loc-RIB (best paths) or, with
//! `--adj-in`, every path of every client, with their peers, next hops, AS paths and LOCAL_PREF; paging
//! through the control API (`--page-size 3`) gives the same file contents as one page; the daemon's periodic
//! dumps (`--mrt-dump-dir`, `--mrt-dump-interval`) hold every path too.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bgpkit_parser::models::{MrtMessage, TableDumpV2Message};
use common::bird::{Bird, BirdNeighbor, BirdSpec};
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, require, wait_for};

/// This test's loopback block: 127.0.52.x.
const B: u8 = 52;
const T: Duration = Duration::from_secs(30);

/// One path: (prefix, peer address, next hop, AS path, LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST).
type Path6 = (
    String,
    String,
    Option<String>,
    Vec<u32>,
    Option<u32>,
    Option<String>,
    Vec<String>,
);

/// The rr-cli binary of this workspace (built here when the test run did not build it).
fn rr_cli() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_rr-daemon")).with_file_name("rr-cli");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .args(["build", "-q", "-p", "rr-cli"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo build -p rr-cli");
    assert!(st.success(), "cargo build -p rr-cli failed");
    assert!(bin.exists(), "{} missing after the build", bin.display());
    bin
}

/// The paths of the daemon's `/routes`, best only or all.
fn rib(rr: &Rr, best_only: bool) -> BTreeSet<Path6> {
    let mut out = BTreeSet::new();
    for r in rr.get("/routes").as_array().expect("routes") {
        for p in r["paths"].as_array().expect("paths") {
            if best_only && p["best"] != true {
                continue;
            }
            let strs = |v: &serde_json::Value| -> Vec<String> {
                v.as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                    .unwrap_or_default()
            };
            out.insert((
                r["prefix"].as_str().expect("prefix").to_string(),
                p["from"].as_str().expect("from").to_string(),
                p["next_hop"].as_str().map(str::to_string),
                p["as_path"]
                    .as_array()
                    .expect("as_path")
                    .iter()
                    .map(|a| a.as_u64().expect("asn") as u32)
                    .collect(),
                p["local_pref"].as_u64().map(|l| l as u32),
                p["originator_id"].as_str().map(str::to_string),
                strs(&p["cluster_list"]),
            ));
        }
    }
    out
}

/// Reads a TABLE_DUMP_V2 file with bgpkit-parser: the paths, and the peer table (address -> AS).
fn read_mrt(file: &Path) -> (BTreeSet<Path6>, BTreeMap<IpAddr, u32>, Ipv4Addr) {
    let data = std::fs::read(file).expect("read dump");
    let mut cur = std::io::Cursor::new(data.as_slice());
    let mut peers: BTreeMap<u16, (IpAddr, u32)> = BTreeMap::new();
    let mut collector = Ipv4Addr::UNSPECIFIED;
    let mut paths = BTreeSet::new();
    let mut first = true;
    while (cur.position() as usize) < data.len() {
        let rec = bgpkit_parser::parse_mrt_record(&mut cur).expect("bgpkit-parser reads the record");
        let MrtMessage::TableDumpV2Message(msg) = rec.message else {
            panic!("not a TABLE_DUMP_V2 record: {:?}", rec.message);
        };
        match msg {
            TableDumpV2Message::PeerIndexTable(t) => {
                assert!(first, "PEER_INDEX_TABLE is not the first record");
                collector = t.collector_bgp_id;
                for (i, p) in t.id_peer_map {
                    peers.insert(i, (p.peer_ip, p.peer_asn.to_u32()));
                }
            }
            TableDumpV2Message::RibAfi(rib) => {
                assert!(!first, "a RIB record before the PEER_INDEX_TABLE");
                for e in rib.rib_entries {
                    let a = &e.attributes;
                    let (peer, _) = peers[&e.peer_index];
                    let as_path = a
                        .as_path()
                        .map(|p| {
                            p.iter_segments()
                                .flat_map(|s| s.iter().map(|x| x.to_u32()).collect::<Vec<_>>())
                                .collect()
                        })
                        .unwrap_or_default();
                    paths.insert((
                        rib.prefix.prefix.to_string(),
                        peer.to_string(),
                        // IPv4: NEXT_HOP; IPv6: the abbreviated MP_REACH_NLRI (RFC 6396 section 4.3.4).
                        a.next_hop()
                            .or_else(|| a.get_reachable_nlri().and_then(|n| n.next_hop).map(|h| h.addr()))
                            .map(|n| n.to_string()),
                        as_path,
                        a.local_preference(),
                        a.origin_id().map(|o| o.to_string()),
                        a.clusters()
                            .unwrap_or_default()
                            .iter()
                            .map(|c| Ipv4Addr::from(*c).to_string())
                            .collect(),
                    ));
                }
            }
            other => panic!("unexpected TABLE_DUMP_V2 record {other:?}"),
        }
        first = false;
    }
    (paths, peers.into_values().collect(), collector)
}

fn dump(cli: &Path, rr: &Rr, file: &Path, extra: &[&str]) -> String {
    let o = Command::new(cli)
        .args(["dump", "--mrt"])
        .arg(file)
        .arg("--socket")
        .arg(&rr.ctl)
        .args(extra)
        .output()
        .expect("run rr-cli dump");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "rr-cli dump {extra:?}: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[test]
fn mrt_dump_read_back_by_bgpkit_equals_the_rib() {
    require(&["bird"]);
    let cli = rr_cli();
    let rr_ip = Ipv4Addr::new(127, 0, B, 1);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes.push(NodeDef::reflector(
        "rr1",
        rr_ip,
        "244.0.0.52".parse().expect("cluster id"),
    ));
    let mut specs = Vec::new();
    for n in 2..=4u8 {
        let port = free_port("127.0.0.1");
        let mut spec = BirdSpec::client(n, port, 64512);
        spec.addr = Ipv4Addr::new(127, 0, B, n);
        spec.routes4 = (0..n).map(|i| format!("10.{B}.{}.0/26", n * 10 + i)).collect();
        // Two clients announce the same prefix: two paths in the Adj-RIBs-In, one best in the Loc-RIB.
        if n != 4 {
            spec.routes4.push(format!("10.{B}.99.0/24"));
        }
        spec.routes6 = vec![format!("fd00:{B:x}:{n:x}::/122")];
        spec.local_pref = 100 + u32::from(n);
        spec.neighbors
            .push(BirdNeighbor::new("rr1", rr_ip, rr_port, 64512));
        topo.nodes
            .push(NodeDef::client(&format!("node{n}"), spec.addr, port));
        specs.push(spec);
    }
    let want_paths: usize = specs.iter().map(|s| s.routes4.len() + s.routes6.len()).sum();
    let dumps = tempfile::tempdir().expect("tempdir");
    let dumps_s = dumps.path().to_str().expect("utf-8").to_string();
    let rr = Rr::start(
        "rr1",
        &topo.yaml(),
        &["--mrt-dump-dir", &dumps_s, "--mrt-dump-interval", "1"],
    );
    let birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    for b in &birds {
        b.wait_established("rr1", T);
    }
    let all = wait_for("every client's routes in the reflector", T, || {
        let all = rib(&rr, false);
        if all.len() == want_paths {
            Ok(all)
        } else {
            Err(format!("{} of {want_paths} paths", all.len()))
        }
    });
    let best = rib(&rr, true);
    assert_eq!(best.len(), want_paths - 1, "one prefix has two paths");
    // The higher LOCAL_PREF (node3's 103 over node2's 102) wins 10.52.99.0/24.
    assert!(
        best.iter().any(|p| p.0 == "10.52.99.0/24" && p.1 == "127.0.52.3"),
        "{best:?}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let loc = dir.path().join("loc.mrt");
    let out = dump(&cli, &rr, &loc, &[]);
    assert!(
        out.contains(&format!(
            "{} prefixes, {} paths from 3 peers (Loc-RIB)",
            best.len(),
            best.len()
        )),
        "{out}"
    );
    let (got, peers, collector) = read_mrt(&loc);
    assert_eq!(got, best, "Loc-RIB dump differs from the daemon's best paths");
    assert_eq!(collector, rr_ip, "collector BGP id is the reflector's router id");
    assert_eq!(peers.len(), 3);
    for n in 2..=4u8 {
        assert_eq!(peers.get(&IpAddr::V4(Ipv4Addr::new(127, 0, B, n))), Some(&64512));
    }

    let adj = dir.path().join("adj-in.mrt");
    dump(&cli, &rr, &adj, &["--adj-in"]);
    let (got, ..) = read_mrt(&adj);
    assert_eq!(got, all, "Adj-RIB-In dump differs from the daemon's paths");

    // Small pages through the control API give the same contents.
    let paged = dir.path().join("paged.mrt");
    dump(&cli, &rr, &paged, &["--adj-in", "--page-size", "3"]);
    let (got, ..) = read_mrt(&paged);
    assert_eq!(got, all, "a paged dump differs");

    // The daemon's own periodic dump (every second): a complete file with every path.
    wait_for("a periodic dump holding every path", T, || {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dumps.path())
            .map_err(|e| e.to_string())?
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                let n = p.file_name().expect("name").to_string_lossy().into_owned();
                n.starts_with("rib.") && n.ends_with(".mrt")
            })
            .collect();
        files.sort();
        let newest = files.last().ok_or("no dump yet")?;
        let (got, peers, _) = read_mrt(newest);
        if got == all && peers.len() == 3 {
            Ok(())
        } else {
            Err(format!(
                "{}: {} of {} paths",
                newest.display(),
                got.len(),
                all.len()
            ))
        }
    });

    // Bad paging parameters are refused by the daemon with a message, not a panic.
    assert!(rr.try_get("/rib?limit=0").is_err());
    assert!(rr.try_get("/rib?after=bogus").is_err());
    assert!(rr.try_get("/rib?view=nope").is_err());
}
