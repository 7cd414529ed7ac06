//! `rr-cli status|peers|routes|peer` against a real rr-daemon started on the bundled example
//! (`examples/calico.yaml`, with its listen port replaced by a free one), and a BIRD client (node-a, from
//! `examples/bird-client.conf`) when bird2 is installed.
//!
//! The rr-daemon binary is taken from the same target directory as rr-cli (`cargo test --workspace` builds
//! it; otherwise run `cargo build -p rr-daemon` first) or from `RR_DAEMON_BIN`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn free_port() -> u16 {
    let l = TcpListener::bind(("127.0.0.1", 0)).expect("bind port 0");
    l.local_addr().expect("local addr").port()
}

fn daemon_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RR_DAEMON_BIN") {
        return PathBuf::from(p);
    }
    let cli = PathBuf::from(env!("CARGO_BIN_EXE_rr-cli"));
    let p = cli.with_file_name("rr-daemon");
    assert!(
        p.is_file(),
        "{} not found: run `cargo build -p rr-daemon` (same CARGO_TARGET_DIR) or set RR_DAEMON_BIN",
        p.display()
    );
    p
}

fn have(bin: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Kills and reaps the child on drop.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Prints the tail of the daemon's and BIRD's logs when the test fails.
struct Logs(PathBuf);

impl Drop for Logs {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for name in ["rr.log", "bird.log"] {
            let text = std::fs::read_to_string(self.0.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("--- {name} (last 40 lines)");
            for l in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{l}");
            }
        }
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn cli(args: &[&str]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_rr-cli"))
        .args(args)
        .env_remove("RR_CONTROL_SOCKET")
        .output()
        .expect("run rr-cli");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn cli_json(args: &[&str]) -> Result<Value, String> {
    let o = cli(args);
    if o.code != 0 {
        return Err(format!("rr-cli {args:?} exited {}: {}", o.code, o.stderr));
    }
    serde_json::from_str(&o.stdout).map_err(|e| format!("not JSON ({e}): {}", o.stdout))
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < timeout {
        match f() {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {timeout:?} waiting for {what}; last: {last}");
}

fn start_daemon(dir: &Path, yaml: &Path, sock: &Path, control_port: u16) -> Guard {
    let log = std::fs::File::create(dir.join("rr.log")).expect("log");
    std::fs::write(dir.join("token"), "full-token\n").expect("token");
    std::fs::write(dir.join("read-token"), "read-token\n").expect("token");
    let child = Command::new(daemon_bin())
        .args(["--datastore", "file", "--file"])
        .arg(yaml)
        .arg("--control-socket")
        .arg(sock)
        .args(["--control-addr", &format!("127.0.0.1:{control_port}")])
        .arg("--control-token-file")
        .arg(dir.join("token"))
        .arg("--control-read-token-file")
        .arg(dir.join("read-token"))
        .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port())])
        // The example lists nodes that never run a BIRD here: do not hold routes for the 120 s default.
        .args(["--selection-deferral-secs", "10"])
        .env("RUST_LOG", "info")
        .env_remove("IP")
        .env_remove("NODENAME")
        .env_remove("DATASTORE_TYPE")
        .env_remove("ETCD_ENDPOINTS")
        .env_remove("KUBECONFIG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start rr-daemon");
    Guard(child)
}

#[test]
fn status_peers_routes_against_the_example() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let yaml = dir.path().join("calico.yaml");
    let example = std::fs::read_to_string(repo().join("examples/calico.yaml")).expect("example");
    assert!(
        example.contains("listenPort: 1790"),
        "the example's port changed: update this test"
    );
    std::fs::write(
        &yaml,
        example.replace("listenPort: 1790", &format!("listenPort: {port}")),
    )
    .expect("write");
    let sock = dir.path().join("ctl.sock");
    let sock_s = sock.to_str().expect("utf-8 path");
    let control_port = free_port();
    let _rr = start_daemon(dir.path(), &yaml, &sock, control_port);
    let _logs = Logs(dir.path().to_path_buf());

    // status: the daemon found itself (rr1) in the example and reads its cluster id from the node.
    let status = wait_for("the daemon's status", Duration::from_secs(30), || {
        let v = cli_json(&["status", "--socket", sock_s, "-o", "json"])?;
        if v["peers"] == 2 {
            Ok(v)
        } else {
            Err(v.to_string())
        }
    });
    assert_eq!(status["node"], "rr1", "{status}");
    assert_eq!(status["cluster_id"], "244.0.0.1", "{status}");
    assert_eq!(status["router_id"], "127.0.1.1", "{status}");
    assert_eq!(status["local_as"], 64512, "{status}");

    let table = cli(&["status", "--socket", sock_s]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.starts_with("node:") && l.ends_with(" rr1")),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.starts_with("cluster_id:") && l.ends_with(" 244.0.0.1")),
        "{}",
        table.stdout
    );

    // The same over the TCP control address, which needs a token (issue 14 item 6).
    let addr = format!("127.0.0.1:{control_port}");
    let token = dir.path().join("token");
    let read_token = dir.path().join("read-token");
    let tcp = cli_json(&[
        "status",
        "--control-addr",
        &addr,
        "--control-token-file",
        token.to_str().expect("utf-8"),
        "-o",
        "json",
    ])
    .expect("status over TCP");
    assert_eq!(tcp["node"], "rr1");
    let anon = cli(&["status", "--control-addr", &addr]);
    assert_eq!(anon.code, 1, "{}", anon.stdout);
    assert!(
        anon.stderr.contains("a valid bearer token is required"),
        "{}",
        anon.stderr
    );
    let read = cli_json(&[
        "peers",
        "--control-addr",
        &addr,
        "--control-token-file",
        read_token.to_str().expect("utf-8"),
        "-o",
        "json",
    ])
    .expect("peers with the read-only token");
    assert!(read.is_array(), "{read}");
    let denied = cli(&[
        "peer",
        "reset",
        "node-a",
        "--control-addr",
        &addr,
        "--control-token-file",
        read_token.to_str().expect("utf-8"),
    ]);
    assert_eq!(denied.code, 1, "{}", denied.stdout);
    assert!(
        denied
            .stderr
            .contains("the read-only control token cannot change anything"),
        "{}",
        denied.stderr
    );

    // peers: node-a and node-b are the reflector's clients.
    let peers = cli_json(&["peers", "--socket", sock_s, "-o", "json"]).expect("peers");
    let addrs: Vec<&str> = peers
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["address"].as_str())
        .collect();
    assert_eq!(addrs, ["127.0.1.2", "127.0.1.3"], "{peers}");
    for p in peers.as_array().expect("array") {
        assert_eq!(p["role"], "rr-client", "{p}");
        assert_eq!(p["remote_as"], 64512, "{p}");
    }
    // One page on request: the first peer, then the one after it.
    let addresses = |args: &[&str]| -> Vec<String> {
        let v = cli_json(args).expect("peers page");
        v.as_array()
            .expect("array")
            .iter()
            .filter_map(|p| p["address"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(
        addresses(&["peers", "--socket", sock_s, "-o", "json", "--limit", "1"]),
        ["127.0.1.2"]
    );
    assert_eq!(
        addresses(&["peers", "--socket", sock_s, "-o", "json", "--after", "127.0.1.2"]),
        ["127.0.1.3"]
    );
    let bad = cli(&["peers", "--socket", sock_s, "--limit", "0"]);
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("limit must be 1 to 10000"), "{}", bad.stderr);
    let table = cli(&["peers", "--socket", sock_s]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("STATE"),
        "{}",
        table.stdout
    );
    assert_eq!(lines.len(), 3, "{}", table.stdout);
    assert!(
        lines[1].contains("127.0.1.2") && lines[1].contains("rr-client"),
        "{}",
        table.stdout
    );

    // Errors from the daemon are reported with a non-zero exit, without request paths or HTTP codes.
    let bad = cli(&["peer", "reset", "no-such-peer", "--socket", sock_s]);
    assert_eq!(bad.code, 1, "{}", bad.stdout);
    assert!(bad.stderr.contains("no peer \"no-such-peer\""), "{}", bad.stderr);
    assert!(
        !bad.stderr.contains("/peers") && !bad.stderr.contains("HTTP"),
        "{}",
        bad.stderr
    );
    let bad = cli(&["routes", "not-a-prefix", "--socket", sock_s]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("bad prefix"), "{}", bad.stderr);
    assert!(!bad.stderr.contains("/routes"), "{}", bad.stderr);
    // A peer that is not up is not "reset".
    let o = cli(&["peer", "reset", "node-b", "--socket", sock_s]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(
        o.stderr.contains("is not up") && !o.stdout.contains("reset sent"),
        "{}{}",
        o.stdout,
        o.stderr
    );
    // log-level: live, for all or one peer; a bad level is refused.
    let o = cli(&["log-level", "debug", "--peer", "node-a", "--socket", sock_s]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("[peer{name=node-a}]=debug"), "{}", o.stdout);
    let o = cli(&["log-level", "loud", "--socket", sock_s]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stderr.contains("unknown level"), "{}", o.stderr);
    // version: the client's and the daemon's, with commits.
    let o = cli(&["version", "--socket", sock_s]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v = env!("CARGO_PKG_VERSION");
    assert!(
        o.stdout.contains(&format!("client: rr-cli {v} (commit ")),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains(&format!("daemon: rr-daemon {v} (commit ")),
        "{}",
        o.stdout
    );
    let nosock = cli(&[
        "status",
        "--socket",
        dir.path().join("nope.sock").to_str().expect("path"),
    ]);
    assert_ne!(nosock.code, 0);
    assert!(
        nosock.stderr.contains("is rr-daemon running?"),
        "{}",
        nosock.stderr
    );

    assert!(
        have("bird"),
        "`bird` not found: install the Debian package bird2 (scripts/test.sh does)"
    );
    // node-a as a real BIRD: the session comes up and its routes show in `routes` with the best-path reason.
    let conf = std::fs::read_to_string(repo().join("examples/bird-client.conf"))
        .expect("bird example")
        .replace("port 1790", &format!("port {port}"));
    let cfg = dir.path().join("node-a.conf");
    std::fs::write(&cfg, conf).expect("write");
    let bird_log = std::fs::File::create(dir.path().join("bird.log")).expect("log");
    let _bird = Guard(
        Command::new("bird")
            .arg("-c")
            .arg(&cfg)
            .arg("-s")
            .arg(dir.path().join("node-a.ctl"))
            .arg("-f")
            .stdout(Stdio::null())
            .stderr(bird_log)
            .spawn()
            .expect("bird"),
    );
    wait_for("node-a Established", Duration::from_secs(40), || {
        let peers = cli_json(&["peers", "--socket", sock_s, "-o", "json"])?;
        let a = peers
            .as_array()
            .and_then(|v| v.iter().find(|p| p["address"] == "127.0.1.2").cloned())
            .ok_or("no node-a")?;
        if a["state"] == "Established" && a["prefixes_received"].as_u64() >= Some(2) {
            Ok(())
        } else {
            Err(a.to_string())
        }
    });
    // Plain JSON: families by name, no Rust debug text.
    let text = cli(&["peers", "--socket", sock_s, "-o", "json"]).stdout;
    for debug in ["FamilySet", "Some(", "None", "File("] {
        assert!(!text.contains(debug), "{debug} in {text}");
    }
    let peers: Value = serde_json::from_str(&text).expect("json");
    let a = peers
        .as_array()
        .and_then(|v| v.iter().find(|p| p["address"] == "127.0.1.2"))
        .expect("node-a");
    assert_eq!(
        a["negotiated"]["families"],
        serde_json::json!(["ipv4-unicast", "ipv6-unicast"]),
        "{a}"
    );
    // ADVERTISED is per member: node-a is the only client up, and none of its own routes go back to it.
    assert_eq!(a["prefixes_advertised"], 0, "{a}");

    // An address is looked up by longest match; an absent prefix or address is an error.
    let by_addr = cli_json(&["routes", "10.2.0.5", "--socket", sock_s, "-o", "json"]).expect("routes");
    assert_eq!(by_addr[0]["prefix"], "10.2.0.0/26", "{by_addr}");
    for absent in ["10.250.0.0/24", "10.250.0.1"] {
        let o = cli(&["routes", absent, "--socket", sock_s]);
        assert_eq!(o.code, 1, "{absent}: {}", o.stdout);
        assert!(o.stderr.contains("no route"), "{absent}: {}", o.stderr);
    }
    let routes = cli_json(&["routes", "10.2.0.0/26", "--socket", sock_s, "-o", "json"]).expect("routes");
    let r = &routes[0];
    assert_eq!(r["prefix"], "10.2.0.0/26", "{routes}");
    assert_eq!(r["best_reason"], "only path", "{routes}");
    assert_eq!(r["paths"][0]["origin"], "igp", "{routes}");
    assert_eq!(r["paths"][0]["next_hop"], "100.64.0.2", "{routes}");
    assert_eq!(r["paths"][0]["best"], true, "{routes}");
    let table = cli(&["routes", "--socket", sock_s]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with("10.2.0.0/26"))
        .unwrap_or_else(|| panic!("{}", table.stdout));
    assert!(
        row.contains('*') && row.contains("100.64.0.2"),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.lines().any(|l| l.starts_with("fd00:2::/122")),
        "{}",
        table.stdout
    );

    let o = cli(&["peer", "refresh", "127.0.1.2", "--socket", sock_s]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("refresh sent to 127.0.1.2"), "{}", o.stdout);
    let before = cli_json(&["peers", "--socket", sock_s, "-o", "json"]).expect("peers");
    let transitions = |v: &Value| {
        v.as_array()
            .and_then(|a| a.iter().find(|p| p["address"] == "127.0.1.2"))
            .and_then(|p| p["established_transitions"].as_u64())
    };
    let t0 = transitions(&before).expect("transitions");
    let o = cli(&["peer", "reset", "127.0.1.2", "--socket", sock_s]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    wait_for(
        "node-a re-established after reset",
        Duration::from_secs(40),
        || {
            let v = cli_json(&["peers", "--socket", sock_s, "-o", "json"])?;
            match transitions(&v) {
                Some(t) if t > t0 => Ok(()),
                other => Err(format!("{other:?}: {v}")),
            }
        },
    );
    // LAST-DOWN names the NOTIFICATION and says when.
    let table = cli(&["peers", "--socket", sock_s]);
    let row = table
        .stdout
        .lines()
        .find(|l| l.contains("127.0.1.2"))
        .unwrap_or_else(|| panic!("{}", table.stdout));
    assert!(
        row.contains("administrative reset (6/4) \"reset by operator\" sent 20"),
        "{row}"
    );
    assert!(row.trim_end().ends_with('Z'), "a UTC time: {row}");
}
