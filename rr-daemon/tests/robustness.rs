//! Issue 14 (robustness), daemon side, against real BIRD 2 clients: a missing or empty datastore file keeps
//! every session on the last good state until a valid file returns (an explicit empty `List` is obeyed).

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::bird::{Bird, BirdNeighbor, BirdSpec};
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, require, wait_for};

const T: Duration = Duration::from_secs(30);

/// A standalone reflector (identity from flags, no Node of its own) at 127.0.`base`.1 and one BIRD client
/// node2 at 127.0.`base`.2.
fn standalone(base: u8) -> (Rr, Bird, Topology) {
    let rr_ip = Ipv4Addr::new(127, 0, base, 1);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.peers = vec![(
        "peer-with-rr1".into(),
        format!("{{nodeSelector: all(), peerIP: {rr_ip}, asNumber: 64512}}"),
    )];
    let port = free_port("127.0.0.1");
    let mut spec = BirdSpec::client(2, port, 64512);
    spec.addr = Ipv4Addr::new(127, 0, base, 2);
    spec.name = format!("bird{base}-2");
    spec.neighbors
        .push(BirdNeighbor::new("rr1", rr_ip, rr_port, 64512));
    topo.nodes.push(NodeDef::client("node2", spec.addr, port));
    let ip = rr_ip.to_string();
    let rr = Rr::start(
        "rr1",
        &topo.yaml(),
        &[
            "--ip",
            &ip,
            "--router-id",
            &ip,
            "--cluster-id",
            "244.0.0.1",
            "--as",
            "64512",
        ],
    );
    let bird = Bird::start(spec);
    bird.wait_established("rr1", T);
    rr.wait_established("node2", T);
    (rr, bird, topo)
}

fn transitions(rr: &Rr, name: &str) -> u64 {
    rr.peer(name)
        .and_then(|p| p["established_transitions"].as_u64())
        .unwrap_or(0)
}

fn wait_problem(rr: &Rr, what: &str) {
    wait_for(&format!("datastore reported {what}"), T, || {
        let s = rr.get("/status");
        match s["datastore_problem"].as_str() {
            Some(p) if p.contains(what) && s["datastore_synced"] == false => Ok(()),
            _ => Err(s.to_string()),
        }
    });
}

#[test]
fn missing_or_empty_datastore_file_keeps_sessions() {
    require(&["bird"]);
    let (rr, bird, topo) = standalone(140);
    let port = rr.get("/status")["listen_port"].clone();
    assert_eq!(transitions(&rr, "node2"), 1);

    // Deleted, then truncated, then only a comment: each reported, nothing torn down.
    for (what, text) in [
        ("is missing", None),
        ("is empty", Some("")),
        ("is empty", Some("# nothing\n")),
    ] {
        match text {
            None => std::fs::remove_file(&rr.yaml).expect("rm"),
            Some(t) => std::fs::write(&rr.yaml, t).expect("truncate"),
        }
        wait_problem(&rr, what);
        assert!(
            rr.log().contains(what),
            "the log says the file {what}: {}",
            rr.log()
        );
        assert_eq!(rr.peer_state("node2"), "Established", "{what}");
        assert_eq!(
            rr.get("/status")["listen_port"],
            port,
            "{what}: the listener stays"
        );
        // A valid file returns: in step again, and the session was never reset.
        rr.write_yaml(&topo.yaml());
        wait_for("datastore in step again", T, || {
            let s = rr.get("/status");
            if s["datastore_synced"] == true && s["datastore_problem"].is_null() {
                Ok(())
            } else {
                Err(s.to_string())
            }
        });
    }
    assert_eq!(transitions(&rr, "node2"), 1, "node2's session was reset");
    assert!(bird.birdc("show protocols rr1").contains("Established"));

    // An explicitly empty datastore is obeyed: the session goes (Cease / Peer De-configured).
    rr.write_yaml("apiVersion: projectcalico.org/v3\nkind: List\nitems: []\n");
    wait_for("node2 removed", T, || {
        if rr.peer("node2").is_none() {
            Ok(())
        } else {
            Err(rr.get("/peers").to_string())
        }
    });
}

/// Item 7: a peer whose TCP-MD5 password cannot be read is not started (fail closed): an unsigned BIRD at its
/// address never gets a session; `/peers` shows it Disabled with the reason, the metric counts it, the log
/// says why; once the secret is readable (and the datastore changes) the peer is started, signed.
#[test]
fn unreadable_md5_password_fails_closed() {
    require(&["bird"]);
    let base = 141;
    let rr_ip = Ipv4Addr::new(127, 0, base, 1);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.peers = vec![(
        "secure".into(),
        "{nodeSelector: all(), peerSelector: route-reflector == 'true', \
          password: {secretKeyRef: {name: bgp-secrets, key: rr}}}"
            .into(),
    )];
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    let port = free_port("127.0.0.1");
    let mut spec = BirdSpec::client(2, port, 64512);
    spec.addr = Ipv4Addr::new(127, 0, base, 2);
    spec.name = format!("bird{base}-2");
    // No password on the BIRD side: what an unsigned speaker at the peer's address would send.
    spec.neighbors
        .push(BirdNeighbor::new("rr1", rr_ip, rr_port, 64512));
    topo.nodes.push(NodeDef::client("node2", spec.addr, port));
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(secrets.join("bgp-secrets")).expect("mkdir");
    let rr = Rr::start(
        "rr1",
        &topo.yaml(),
        &["--secrets-dir", secrets.to_str().expect("utf8")],
    );
    let bird = Bird::start(spec);
    let p = wait_for("node2 disabled", T, || match rr.peer("node2") {
        Some(p) if p["state"] == "Disabled" => Ok(p),
        other => Err(format!("{other:?}")),
    });
    let reason = p["disabled_reason"].as_str().expect("reason");
    assert!(reason.contains("bgp-secrets/rr"), "{reason}");
    // The unsigned BIRD is turned away as an unknown peer, never Established.
    wait_for("BIRD gets Cease / Connection Rejected", T, || {
        let s = bird.birdc("show protocols all rr1");
        if s.contains("Connection rejected") {
            Ok(())
        } else {
            Err(s)
        }
    });
    assert_ne!(rr.peer_state("node2"), "Established");
    assert!(!bird.proto_state("rr1").starts_with("Established"));
    let (_, m) = rr.metrics_get("/metrics");
    assert!(
        m.lines()
            .any(|l| l.starts_with("calico_rr_peers_disabled") && l.ends_with(" 1")),
        "{m}"
    );
    assert!(
        rr.log()
            .contains("peer not started: its TCP-MD5 password cannot be read"),
        "{}",
        rr.log()
    );

    // The secret appears; the next datastore change starts the peer, with MD5.
    std::fs::write(secrets.join("bgp-secrets/rr"), "s3cret\n").expect("secret");
    topo.nodes[1] = topo.nodes[1].clone().label("touched", "1");
    rr.write_yaml(&topo.yaml());
    let p = wait_for("node2 started", T, || match rr.peer("node2") {
        Some(p) if p["state"] != "Disabled" => Ok(p),
        other => Err(format!("{other:?}")),
    });
    assert_eq!(p["md5"], true, "{p}");
    let (_, m) = rr.metrics_get("/metrics");
    assert!(
        m.lines()
            .any(|l| l.starts_with("calico_rr_peers_disabled") && l.ends_with(" 0")),
        "{m}"
    );
}

/// Runs rr-daemon to its exit (at most 30 s) and returns (exit code, log).
fn run_to_exit(args: &[&str]) -> (i32, String) {
    let out = tempfile::NamedTempFile::new().expect("log");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_rr-daemon"))
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("IP")
        .env_remove("NODENAME")
        .env_remove("DATASTORE_TYPE")
        .stdin(std::process::Stdio::null())
        .stdout(out.reopen().expect("log"))
        .stderr(out.reopen().expect("log"))
        .spawn()
        .expect("spawn rr-daemon");
    let mut g = common::ChildGuard::new("rr-daemon", child);
    let status = g
        .wait_timeout(Duration::from_secs(30))
        .expect("rr-daemon should have refused to start");
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(out.path()).unwrap_or_default(),
    )
}

/// Item 6: the control socket is 0600 whatever the umask; a regular file at its path is refused (and left
/// alone); a live daemon's socket is never taken over; a stale one is replaced; the TCP control API needs a
/// token, takes a read-only one for GETs only, and warns when bound beyond loopback.
#[test]
fn control_plane_is_private_and_authenticated() {
    use std::os::unix::fs::PermissionsExt as _;

    let base = 142;
    let rr_ip = Ipv4Addr::new(127, 0, base, 1);
    let mut topo = Topology::calico_rr(free_port("127.0.0.1"));
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    let yaml = topo.yaml();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("token"), "full-secret\n").expect("token");
    std::fs::write(dir.path().join("read"), "read-secret\n").expect("token");
    let control_port = free_port("127.0.0.1");
    let rr = Rr::start_with_umask(
        "rr1",
        &yaml,
        &[
            "--control-addr",
            &format!("0.0.0.0:{control_port}"),
            "--control-token-file",
            dir.path().join("token").to_str().expect("utf8"),
            "--control-read-token-file",
            dir.path().join("read").to_str().expect("utf8"),
        ],
        "000",
    );
    let mode = std::fs::metadata(&rr.ctl).expect("socket").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "socket mode {mode:o} under umask 000");
    assert!(rr.log().contains("reachable beyond loopback"), "{}", rr.log());

    // Until the daemon has read its datastore every request but /status is answered 400 ("has not read
    // its datastore yet"), whatever the token: wait for that first (a loaded machine can take a while).
    wait_for(
        "the daemon to read its datastore",
        Duration::from_secs(60),
        || rr.try_get("/peers").map(|_| ()),
    );
    // TCP: no token 401, read-only token GET 200 / POST 403, full token passes (400: no such peer).
    let tcp = |method: &str, path: &str, token: Option<&str>| -> u16 {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", control_port)).expect("connect");
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: rr\r\n{auth}Connection: close\r\nContent-Length: 0\r\n\r\n"
        )
        .expect("write");
        let mut buf = String::new();
        s.read_to_string(&mut buf).expect("read");
        buf.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(tcp("GET", "/status", None), 401);
    assert_eq!(tcp("GET", "/status", Some("wrong")), 401);
    assert_eq!(tcp("GET", "/status", Some("read-secret")), 200);
    assert_eq!(tcp("POST", "/peers/nobody/reset", None), 401);
    assert_eq!(tcp("POST", "/peers/nobody/reset", Some("read-secret")), 403);
    assert_eq!(tcp("POST", "/peers/nobody/reset", Some("full-secret")), 400);
    assert_eq!(tcp("GET", "/peers", Some("full-secret")), 200);

    let file = dir.path().join("calico.yaml");
    std::fs::write(&file, &yaml).expect("yaml");
    let common_args = |sock: &str| -> Vec<String> {
        [
            "--datastore",
            "file",
            "--file",
            file.to_str().expect("utf8"),
            "--nodename",
            "rr1",
            "--metrics-addr",
            "off",
            "--listen-port",
            &free_port("127.0.0.1").to_string(),
            "--control-socket",
            sock,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |args: Vec<String>| run_to_exit(&args.iter().map(String::as_str).collect::<Vec<_>>());

    // A second daemon on the live socket: refused, and the first one still answers on it.
    let (code, log) = run(common_args(rr.ctl.to_str().expect("utf8")));
    assert_ne!(code, 0, "{log}");
    assert!(log.contains("refusing to take it over"), "{log}");
    assert_eq!(rr.get("/status")["node"], "rr1");

    // A regular file at the path: refused and left as it was.
    let regular = dir.path().join("not-a-socket");
    std::fs::write(&regular, "precious").expect("file");
    let (code, log) = run(common_args(regular.to_str().expect("utf8")));
    assert_ne!(code, 0, "{log}");
    assert!(log.contains("is not a socket"), "{log}");
    assert_eq!(
        std::fs::read_to_string(&regular).expect("still there"),
        "precious"
    );

    // TCP control without a token file: a configuration error.
    let mut args = common_args(dir.path().join("x.sock").to_str().expect("utf8"));
    args.extend([
        "--control-addr".to_string(),
        format!("127.0.0.1:{}", free_port("127.0.0.1")),
    ]);
    let (code, log) = run(args);
    assert_eq!(code, 2, "{log}");
    assert!(log.contains("--control-token-file"), "{log}");

    // A stale socket (nobody listening) at the path is replaced.
    let dir2 = tempfile::tempdir().expect("tempdir");
    let stale = dir2.path().join("ctl.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
    assert!(stale.exists());
    let port = free_port("127.0.0.1").to_string();
    let second = Rr::start_with_file("rr1", dir2, file.clone(), &["--listen-port", &port]);
    assert!(
        second.log().contains("removing a stale control socket"),
        "{}",
        second.log()
    );
}

fn metric(rr: &Rr, prefix: &str) -> Option<u64> {
    let (_, m) = rr.metrics_get("/metrics");
    m.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Item 8: failures before Established (2/2 from a real BIRD, 2/6, 2/3 and 4/0 from a raw speaker) are logged
/// with the peer's name and the NOTIFICATION's name and code, and kept as LAST-DOWN with a time; RFC 7606
/// events are counted per peer and treatment and logged; rejected connections are counted and rate-limited in
/// the log; a de-configured session's end names the peer; no "datastore unavailable" at start-up.
#[test]
fn session_failures_are_logged_and_counted() {
    use common::raw::{RawPeer, msg, open_with, update};
    use std::net::SocketAddr;

    require(&["bird"]);
    let base = 143;
    let rr_ip = Ipv4Addr::new(127, 0, base, 1);
    let raw_ip = Ipv4Addr::new(127, 0, base, 9);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    topo.nodes
        .push(NodeDef::client("raw", raw_ip, free_port("127.0.0.1")));
    let mut specs = Vec::new();
    // node2 runs AS 64999 although the datastore says 64512: Bad Peer AS. node3 is well configured.
    for (n, asn) in [(2u8, 64999u32), (3, 64512)] {
        let spec = topo.add_bird_client(base, n, asn, rr_ip, rr_port);
        specs.push(spec);
    }
    let rr = Rr::start("rr1", &topo.yaml(), &[]);
    let birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    birds[1].wait_established("rr1", T);

    // 2/2 from BIRD: logged once with the name, kept as LAST-DOWN with a time.
    let p = wait_for("node2's Bad Peer AS as LAST-DOWN", T, || match rr.peer("node2") {
        Some(p) if last_down(&p).is_some_and(|l| l.contains("2/2")) => Ok(p),
        other => Err(format!("{other:?}")),
    });
    assert_eq!(
        last_down(&p).as_deref(),
        Some("notification sent 2/2 (bad peer as)"),
        "{p}"
    );
    assert!(
        p["last_down"]["at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{p}"
    );
    wait_for("the 2/2 log line", T, || {
        let log = rr.log();
        if log.lines().any(|l| {
            l.contains("session failed before Established")
                && l.contains("node2")
                && l.contains("2/2 (bad peer as)")
        }) {
            Ok(())
        } else {
            Err(log)
        }
    });

    // A raw speaker at the raw node's address: 2/6, 2/3 and 4/0.
    let rr_addr = SocketAddr::new(rr_ip.into(), rr_port);
    let connect = || wait_for("raw connection", T, || RawPeer::connect(raw_ip, rr_addr));
    let mut cases: Vec<(Vec<u8>, (u8, u8), &str)> = vec![
        (
            open_with(raw_ip, 64512, 1),
            (2, 6),
            "2/6 (unacceptable hold time)",
        ),
        (
            open_with(Ipv4Addr::UNSPECIFIED, 64512, 90),
            (2, 3),
            "2/3 (bad bgp identifier)",
        ),
    ];
    // Hold time 3, OPEN accepted, then silence in OpenConfirm: the hold timer expires.
    cases.push((open_with(raw_ip, 64512, 3), (4, 0), "4/0"));
    for (open, want, text) in cases {
        let mut p = connect();
        p.send(&open);
        assert_eq!(p.notification(), Some(want), "{text}");
        wait_for(&format!("LAST-DOWN {text}"), T, || match rr.peer("raw") {
            Some(p) if last_down(&p).is_some_and(|l| l.contains(text)) => Ok(()),
            other => Err(format!("{other:?}")),
        });
        wait_for(&format!("the {text} log line"), T, || {
            let log = rr.log();
            if log.lines().any(|l| {
                l.contains("session failed before Established") && l.contains("raw") && l.contains(text)
            }) {
                Ok(())
            } else {
                Err(log)
            }
        });
    }
    assert!(metric(&rr, "calico_rr_session_failures_total").unwrap_or(0) >= 4);

    // RFC 7606: an invalid ORIGIN is treat-as-withdraw: counted for the peer and logged.
    let mut p = wait_for("raw peer established", T, || RawPeer::establish(raw_ip, rr_addr));
    p.send(&update(7));
    p.send(&msg(4, &[]));
    wait_for("the RFC 7606 counter", T, || {
        match metric(
            &rr,
            "calico_rr_rfc7606_events_total{peer=\"raw\",treatment=\"treat-as-withdraw\"}",
        ) {
            Some(1) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    assert!(
        rr.log()
            .lines()
            .any(|l| l.contains("RFC 7606") && l.contains("raw")),
        "{}",
        rr.log()
    );
    drop(p);

    // 30 connections from an address with no peering: all counted, a few lines logged.
    let stranger = Ipv4Addr::new(127, 0, base, 50);
    for _ in 0..30 {
        let mut s = connect_from(stranger, rr_addr);
        assert_eq!(s.notification(), Some((6, 5)));
    }
    wait_for("30 rejections counted", T, || {
        match metric(&rr, "calico_rr_connections_rejected_total") {
            Some(n) if n >= 30 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    let lines = rr
        .log()
        .lines()
        .filter(|l| l.contains("rejected") && l.contains(&stranger.to_string()))
        .count();
    assert!((1..=10).contains(&lines), "{lines} log lines for 30 rejections");

    // node3 de-configured while Established: the session's end names it.
    topo.nodes.retain(|n| n.name != "node3");
    rr.write_yaml(&topo.yaml());
    wait_for("node3's session down logged by name", T, || {
        let log = rr.log();
        if log
            .lines()
            .any(|l| l.contains("session down") && l.contains("node3"))
        {
            Ok(())
        } else {
            Err(log)
        }
    });
    let log = rr.log();
    assert!(!log.contains("peer=#"), "{log}");
    assert!(!log.contains("datastore unavailable"), "{log}");
}

fn connect_from(local: Ipv4Addr, rr: std::net::SocketAddr) -> common::raw::RawPeer {
    wait_for("connection", T, || common::raw::RawPeer::connect(local, rr))
}

/// Item 5: a large datastore change (50 000 generated Nodes and 1 000 invalid documents) is applied as one
/// batch: the peering is recomputed once or twice, not per record; the invalid records are summarised (a
/// few lines and a count) instead of one line each; the sessions are not touched; and a later edit that
/// removes it all is applied at once. The figures go to stderr (no timing assert).
#[test]
fn large_datastore_change_is_applied_in_one_batch() {
    use std::fmt::Write as _;
    use std::time::Instant;

    require(&["bird"]);
    let base = 144;
    let rr_ip = Ipv4Addr::new(127, 0, base, 1);
    let rr_port = free_port("127.0.0.1");
    let mut topo = Topology::calico_rr(rr_port);
    // Only labelled nodes peer with the reflector: the generated ones add no session.
    topo.peers = vec![(
        "peer-with-route-reflectors".into(),
        "{nodeSelector: has(client), peerSelector: route-reflector == 'true'}".into(),
    )];
    topo.nodes
        .push(NodeDef::reflector("rr1", rr_ip, "244.0.0.1".parse().expect("ip")));
    let port = free_port("127.0.0.1");
    let mut spec = BirdSpec::client(2, port, 64512);
    spec.addr = Ipv4Addr::new(127, 0, base, 2);
    spec.name = format!("bird{base}-2");
    spec.neighbors
        .push(BirdNeighbor::new("rr1", rr_ip, rr_port, 64512));
    topo.nodes
        .push(NodeDef::client("node2", spec.addr, port).label("client", "yes"));
    let small = topo.yaml();
    let rr = Rr::start("rr1", &small, &[]);
    let bird = Bird::start(spec);
    bird.wait_established("rr1", T);
    rr.wait_established("node2", T);

    const NODES: u32 = 50_000;
    const INVALID: u32 = 1_000;
    let mut big = small.clone();
    for i in 0..NODES {
        let _ = write!(
            big,
            "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{name: gen-{i}, labels: {{rack: r{}}}}}\n\
             spec: {{bgp: {{ipv4Address: 10.{}.{}.{}/16}}}}\n",
            i % 64,
            (i >> 16) & 0xff,
            (i >> 8) & 0xff,
            i & 0xff
        );
    }
    for i in 0..INVALID {
        let _ = write!(
            big,
            "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{name: bad-{i}}}\n\
             spec: {{bgp: {{ipv4Address: banana}}}}\n"
        );
    }
    eprintln!("generated file: {} bytes", big.len());

    let recomputed = |from: usize| -> Vec<u64> {
        rr.log()[from..]
            .lines()
            .filter(|l| l.contains("peering recomputed"))
            .filter_map(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("resources="))
                    .and_then(|v| v.parse().ok())
            })
            .collect()
    };
    let mark = rr.log().len();
    let t0 = Instant::now();
    rr.write_yaml(&big);
    let want = u64::from(NODES) + 5;
    wait_for("the large file applied", Duration::from_secs(300), || {
        let r = recomputed(mark);
        if r.iter().any(|&n| n >= want) {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    });
    let applied = t0.elapsed();
    let after = rr.log()[mark..].to_string();
    let runs = recomputed(mark);
    let invalid_lines = after.lines().filter(|l| l.contains("invalid")).count();
    eprintln!(
        "{NODES} nodes + {INVALID} invalid documents applied in {applied:?}: {} peering recomputations, \
         {invalid_lines} log lines about invalid records, {} log lines in all",
        runs.len(),
        after.lines().count()
    );
    assert!(runs.len() <= 3, "recomputed {} times: {runs:?}", runs.len());
    assert!(
        (1..=10).contains(&invalid_lines),
        "{invalid_lines} lines about invalid records"
    );
    assert!(
        after.contains(&format!("{INVALID} more")) || after.contains(&format!("{} more", INVALID - 3)),
        "the summary counts the rest: {after}"
    );
    assert_eq!(transitions(&rr, "node2"), 1, "node2's session was reset");

    // Back to the small file: applied at once, not behind a backlog.
    let mark = rr.log().len();
    let t0 = Instant::now();
    rr.write_yaml(&small);
    wait_for("the small file applied", Duration::from_secs(300), || {
        let r = recomputed(mark);
        if r.iter().any(|&n| n < 10) {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    });
    eprintln!("removing them again applied in {:?}", t0.elapsed());
    assert_eq!(transitions(&rr, "node2"), 1, "node2's session was reset");
}

/// `/peers` LAST-DOWN as one line: "notification sent 2/2 (bad peer as)".
fn last_down(p: &serde_json::Value) -> Option<String> {
    let l = &p["last_down"];
    Some(format!(
        "{} {}/{} ({})",
        l["reason"].as_str()?,
        l["code"].as_u64()?,
        l["subcode"].as_u64()?,
        l["name"].as_str()?
    ))
}
