//! GoBGP as a client: `gobgpd` with a TOML config, its gRPC API on a free loopback port, driven and read with
//! the `gobgp` CLI (`global rib add`, `global rib -j`).

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{ChildGuard, free_port, wait_for};

/// One path of `gobgp global rib -j`.
#[derive(Clone, Debug)]
pub struct GobgpPath {
    pub prefix: String,
    pub best: bool,
    pub stale: bool,
    pub neighbor: Option<String>,
    pub next_hop: Option<String>,
    pub local_pref: Option<u64>,
    pub originator_id: Option<String>,
    pub cluster_list: Vec<String>,
}

/// A running gobgpd.
pub struct Gobgp {
    pub name: String,
    pub addr: Ipv4Addr,
    pub api_port: u16,
    pub dir: tempfile::TempDir,
    guard: ChildGuard,
}

impl Gobgp {
    /// Starts gobgpd on `addr:port` (AS `asn`) peering with `(addr, port)` neighbors over both unicast
    /// families with ADD-PATH receive.
    pub fn start(name: &str, addr: Ipv4Addr, port: u16, asn: u32, neighbors: &[(Ipv4Addr, u16)]) -> Gobgp {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = String::new();
        let _ = writeln!(
            c,
            "[global.config]\n  as = {asn}\n  router-id = \"{addr}\"\n  port = {port}"
        );
        let _ = writeln!(c, "  local-address-list = [\"{addr}\"]");
        for (n, nport) in neighbors {
            let _ = writeln!(
                c,
                "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{n}\""
            );
            let _ = writeln!(c, "    peer-as = {asn}");
            let _ = writeln!(
                c,
                "  [neighbors.transport.config]\n    remote-port = {nport}\n    local-address = \"{addr}\""
            );
            let _ = writeln!(c, "  [neighbors.timers.config]\n    connect-retry = 5");
            let _ = writeln!(
                c,
                "  [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = 120"
            );
            for fam in ["ipv4-unicast", "ipv6-unicast"] {
                let _ = writeln!(c, "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]");
                let _ = writeln!(c, "      afi-safi-name = \"{fam}\"");
                let _ = writeln!(
                    c,
                    "    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true"
                );
                let _ = writeln!(
                    c,
                    "    [neighbors.afi-safis.add-paths.config]\n      receive = true"
                );
            }
        }
        let conf = dir.path().join("gobgpd.toml");
        std::fs::write(&conf, c).expect("write gobgp config");
        let api_port = free_port("127.0.0.1");
        let log = std::fs::File::create(dir.path().join("gobgpd.log")).expect("log");
        let child = Command::new("gobgpd")
            .arg("-f")
            .arg(&conf)
            .arg("--api-hosts")
            .arg(format!("127.0.0.1:{api_port}"))
            .arg("--pprof-disable")
            .arg("-p")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn gobgpd (apt-get install gobgpd)");
        let g = Gobgp {
            name: name.to_string(),
            addr,
            api_port,
            dir,
            guard: ChildGuard::new(name, child),
        };
        wait_for("gobgpd API", Duration::from_secs(10), || {
            let o = g.cli(&["global"]);
            if o.contains("AS") { Ok(()) } else { Err(o) }
        });
        g
    }

    /// Runs the gobgp CLI against this daemon.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("gobgp")
            .args(["-u", "127.0.0.1", "-p", &self.api_port.to_string()])
            .args(args)
            .output()
            .expect("run gobgp");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// Announces `prefix` with `next_hop` (family from the prefix).
    pub fn announce(&self, prefix: &str, next_hop: &str, local_pref: u32) {
        let fam = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        let lp = local_pref.to_string();
        let out = self.cli(&[
            "global",
            "rib",
            "add",
            prefix,
            "nexthop",
            next_hop,
            "local-pref",
            &lp,
            "-a",
            fam,
        ]);
        assert!(out.trim().is_empty(), "gobgp rib add: {out}");
    }

    /// Withdraws `prefix`.
    pub fn withdraw(&self, prefix: &str) {
        let fam = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        let out = self.cli(&["global", "rib", "del", prefix, "-a", fam]);
        assert!(out.trim().is_empty(), "gobgp rib del: {out}");
    }

    /// Neighbor state line for `addr` (e.g. `Establ`).
    pub fn neighbor_state(&self, addr: &str) -> String {
        let out = self.cli(&["neighbor", addr, "-j"]);
        serde_json::from_str::<Value>(&out)
            .ok()
            .and_then(|v| v.pointer("/state/session_state").map(|s| s.to_string()))
            .unwrap_or(out)
    }

    /// Every path in the global RIB of `family` (`ipv4` or `ipv6`).
    pub fn rib(&self, family: &str) -> Vec<GobgpPath> {
        let out = self.cli(&["global", "rib", "-a", family, "-j"]);
        parse_rib(&out)
    }

    /// Paths for `prefix` learned from a neighbor.
    pub fn learned(&self, prefix: &str) -> Vec<GobgpPath> {
        let fam = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        self.rib(fam)
            .into_iter()
            .filter(|p| p.prefix == prefix && p.neighbor.is_some())
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gobgpd.log")).unwrap_or_default()
    }
}

/// Parses `gobgp global rib -j` (a map prefix -> list of paths with typed attributes).
pub fn parse_rib(text: &str) -> Vec<GobgpPath> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (prefix, paths) in map {
        for p in paths.as_array().into_iter().flatten() {
            let mut g = GobgpPath {
                prefix: prefix.clone(),
                best: p.get("best").and_then(Value::as_bool).unwrap_or(false),
                stale: p.get("stale").and_then(Value::as_bool).unwrap_or(false),
                neighbor: p.get("neighbor-ip").and_then(Value::as_str).map(str::to_string),
                next_hop: None,
                local_pref: None,
                originator_id: None,
                cluster_list: Vec::new(),
            };
            for a in p.get("attrs").and_then(Value::as_array).into_iter().flatten() {
                match a.get("type").and_then(Value::as_u64) {
                    Some(3) | Some(14) => {
                        g.next_hop = a.get("nexthop").and_then(Value::as_str).map(str::to_string)
                    }
                    Some(5) => g.local_pref = a.get("value").and_then(Value::as_u64),
                    Some(9) => g.originator_id = a.get("value").and_then(Value::as_str).map(str::to_string),
                    Some(10) => {
                        g.cluster_list = a
                            .get("value")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    }
                    _ => {}
                }
            }
            out.push(g);
        }
    }
    out
}
