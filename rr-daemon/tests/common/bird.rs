//! BIRD 2 as a Calico node would run it: a client configured like calico-node's `bird.cfg` (multihop,
//! recursive next hops, ADD-PATH, graceful restart, connect delay 2 s / retry 5 s, source address = node
//! IP), announcing blackhole static routes with an export filter that sets NEXT_HOP and LOCAL_PREF.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{ChildGuard, wait_for};

/// One BGP neighbor in a BIRD config.
#[derive(Clone, Debug)]
pub struct BirdNeighbor {
    /// Protocol name in BIRD (`rr1`, ...; `rr` alone is a BIRD keyword).
    pub name: String,
    pub addr: Ipv4Addr,
    pub port: u16,
    pub asn: u32,
    pub password: Option<String>,
    /// GTSM (`ttl security on`).
    pub ttl_security: bool,
    /// Make this neighbor a route reflector client of this BIRD (for BIRD-as-reflector tests).
    pub rr_client: bool,
    /// Never connect; only accept (`passive on`).
    pub passive: bool,
    /// `allow local as N`.
    pub allow_local_as: Option<u32>,
    /// `hold time N` (BIRD's default is 240).
    pub hold_time: Option<u16>,
}

impl BirdNeighbor {
    pub fn new(name: &str, addr: Ipv4Addr, port: u16, asn: u32) -> Self {
        Self {
            name: name.to_string(),
            addr,
            port,
            asn,
            password: None,
            ttl_security: false,
            rr_client: false,
            passive: false,
            allow_local_as: None,
            hold_time: None,
        }
    }
}

/// What a BIRD instance is.
#[derive(Clone, Debug)]
pub struct BirdSpec {
    pub name: String,
    /// Router id, listen and source address.
    pub addr: Ipv4Addr,
    /// BGP listen port.
    pub port: u16,
    pub asn: u32,
    pub neighbors: Vec<BirdNeighbor>,
    /// IPv4 prefixes announced (blackhole statics).
    pub routes4: Vec<String>,
    /// IPv6 prefixes announced.
    pub routes6: Vec<String>,
    /// NEXT_HOP set on export (outside 127/8 so GoBGP accepts it).
    pub nh4: Ipv4Addr,
    pub nh6: Ipv6Addr,
    /// LOCAL_PREF set on export (Calico's normal route priority by default).
    pub local_pref: u32,
    /// Graceful restart time advertised.
    pub gr_time: u32,
    /// Cluster id when acting as a reflector.
    pub rr_cluster_id: Option<Ipv4Addr>,
    /// (prefix, AS): prepend the AS to that static route's AS_PATH on export (to build AS loops).
    pub prepend: Vec<(String, u32)>,
    /// Router id when it is not `addr`.
    pub router_id: Option<Ipv4Addr>,
}

impl BirdSpec {
    /// A Calico-like client `127.0.1.<n>` announcing `10.<n>.0.0/26` and `fd00:<n>::/122`.
    pub fn client(n: u8, port: u16, asn: u32) -> Self {
        Self {
            name: format!("bird{n}"),
            addr: Ipv4Addr::new(127, 0, 1, n),
            port,
            asn,
            neighbors: Vec::new(),
            routes4: vec![format!("10.{n}.0.0/26")],
            routes6: vec![format!("fd00:{n:x}::/122")],
            nh4: Ipv4Addr::new(100, 64, 0, n),
            nh6: format!("fd00:64::{n:x}").parse().expect("v6"),
            local_pref: 2_147_482_623,
            gr_time: 120,
            rr_cluster_id: None,
            prepend: Vec::new(),
            router_id: None,
        }
    }

    /// The BIRD configuration text.
    pub fn config(&self) -> String {
        let mut c = String::new();
        let _ = writeln!(c, "router id {};", self.router_id.unwrap_or(self.addr));
        let _ = writeln!(c, "log stderr all;");
        let _ = writeln!(c, "protocol device {{ }}");
        let _ = writeln!(c, "protocol static s4 {{ ipv4;");
        for r in &self.routes4 {
            let _ = writeln!(c, "  route {r} blackhole;");
        }
        let _ = writeln!(c, "}}\nprotocol static s6 {{ ipv6;");
        for r in &self.routes6 {
            let _ = writeln!(c, "  route {r} blackhole;");
        }
        let _ = writeln!(c, "}}");
        let prepends: String = self
            .prepend
            .iter()
            .map(|(net, asn)| format!("if net = {net} then bgp_path.prepend({asn}); "))
            .collect();
        let _ = writeln!(
            c,
            "filter export4 {{ if source = RTS_STATIC then {{ {prepends}bgp_next_hop = {}; bgp_local_pref = {}; \
             accept; }} if source = RTS_BGP then accept; reject; }}",
            self.nh4, self.local_pref
        );
        let _ = writeln!(
            c,
            "filter export6 {{ if source = RTS_STATIC then {{ bgp_next_hop = {}; bgp_local_pref = {}; accept; }} \
             if source = RTS_BGP then accept; reject; }}",
            self.nh6, self.local_pref
        );
        let _ = writeln!(c, "template bgp calico {{");
        let _ = writeln!(c, "  local {} port {} as {};", self.addr, self.port, self.asn);
        let _ = writeln!(c, "  strict bind yes; source address {};", self.addr);
        let _ = writeln!(c, "  multihop;");
        let _ = writeln!(c, "  graceful restart; graceful restart time {};", self.gr_time);
        let _ = writeln!(
            c,
            "  connect delay time 2; connect retry time 5; error wait time 5,30;"
        );
        if let Some(id) = self.rr_cluster_id {
            let _ = writeln!(c, "  rr cluster id {id};");
        }
        let _ = writeln!(
            c,
            "  ipv4 {{ gateway recursive; import all; export filter export4; add paths on; }};"
        );
        let _ = writeln!(
            c,
            "  ipv6 {{ gateway recursive; import all; export filter export6; add paths on; }};"
        );
        let _ = writeln!(c, "}}");
        for n in &self.neighbors {
            let _ = writeln!(c, "protocol bgp {} from calico {{", n.name);
            let _ = writeln!(c, "  neighbor {} port {} as {};", n.addr, n.port, n.asn);
            if let Some(p) = &n.password {
                let _ = writeln!(c, "  password \"{p}\";");
            }
            if n.ttl_security {
                let _ = writeln!(c, "  ttl security on; multihop 1;");
            }
            if n.rr_client {
                let _ = writeln!(c, "  rr client;");
            }
            if n.passive {
                let _ = writeln!(c, "  passive on;");
            }
            if let Some(k) = n.allow_local_as {
                let _ = writeln!(c, "  allow local as {k};");
            }
            if let Some(h) = n.hold_time {
                let _ = writeln!(c, "  hold time {h};");
            }
            let _ = writeln!(c, "}}");
        }
        c
    }
}

/// One route line of `birdc show route all`, with its attribute lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BirdRoute {
    pub table: String,
    pub prefix: String,
    /// Protocol that holds it (`s4`, `rr1`, ...).
    pub proto: String,
    /// `from <addr>` for BGP routes.
    pub from: Option<String>,
    pub primary: bool,
    /// `BGP.next_hop` -> `100.64.0.2` etc. (keys without the `BGP.` prefix).
    pub attrs: BTreeMap<String, String>,
}

impl BirdRoute {
    pub fn attr(&self, k: &str) -> Option<&str> {
        self.attrs.get(k).map(String::as_str)
    }
    pub fn is_bgp(&self) -> bool {
        self.attrs.contains_key("origin")
    }
}

/// Parses `birdc show route all` output.
pub fn parse_routes(text: &str) -> Vec<BirdRoute> {
    let mut out: Vec<BirdRoute> = Vec::new();
    let mut table = String::new();
    let mut prefix = String::new();
    for line in text.lines() {
        if line.starts_with("BIRD ") || line.trim().is_empty() {
            continue;
        }
        if let Some(t) = line.strip_prefix("Table ") {
            table = t.trim_end_matches(':').to_string();
            continue;
        }
        if line.starts_with('\t') {
            let l = line.trim();
            if let Some(rest) = l.strip_prefix("BGP.")
                && let Some((k, v)) = rest.split_once(':')
                && let Some(r) = out.last_mut()
            {
                r.attrs.insert(k.trim().to_string(), v.trim().to_string());
            }
            continue;
        }
        // A route line: "<prefix> <dest> [proto time from addr] * (pref) [origin]" or, for further paths of
        // the same prefix, the same without the prefix (leading spaces).
        let body = if line.starts_with(' ') {
            line.trim_start()
        } else {
            let (p, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            prefix = p.to_string();
            rest.trim_start()
        };
        let Some(open) = body.find('[') else { continue };
        let Some(close) = body[open..].find(']') else {
            continue;
        };
        let inside = &body[open + 1..open + close];
        let mut words = inside.split_whitespace();
        let proto = words.next().unwrap_or_default().to_string();
        let from = inside.split_once(" from ").map(|(_, a)| a.trim().to_string());
        let primary = body[open + close..]
            .trim_start_matches(']')
            .trim_start()
            .starts_with('*');
        out.push(BirdRoute {
            table: table.clone(),
            prefix: prefix.clone(),
            proto,
            from,
            primary,
            attrs: BTreeMap::new(),
        });
    }
    out
}

/// A running BIRD.
pub struct Bird {
    pub spec: BirdSpec,
    pub dir: tempfile::TempDir,
    guard: ChildGuard,
}

impl Bird {
    fn paths(dir: &tempfile::TempDir) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
        let d = dir.path();
        (
            d.join("bird.conf"),
            d.join("bird.ctl"),
            d.join("bird.pid"),
            d.join("bird.log"),
        )
    }

    fn spawn(spec: &BirdSpec, dir: &tempfile::TempDir, recovery: bool) -> ChildGuard {
        let (conf, sock, pid, log) = Self::paths(dir);
        std::fs::write(&conf, spec.config()).expect("write bird config");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("bird log");
        let mut cmd = Command::new("bird");
        cmd.arg("-c")
            .arg(&conf)
            .arg("-s")
            .arg(&sock)
            .arg("-P")
            .arg(&pid)
            .arg("-f");
        if recovery {
            cmd.arg("-R");
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn bird (apt-get install bird2)");
        let mut g = ChildGuard::new(&spec.name, child);
        let log_path = dir.path().join("bird.log");
        wait_for("bird control socket", Duration::from_secs(10), || {
            if let Some(c) = g.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!(
                    "bird exited ({st}): {}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            if sock.exists() {
                Ok(())
            } else {
                Err("no socket yet".into())
            }
        });
        g
    }

    /// Starts BIRD with `spec`.
    pub fn start(spec: BirdSpec) -> Bird {
        let dir = tempfile::tempdir().expect("tempdir");
        let guard = Self::spawn(&spec, &dir, false);
        Bird { spec, dir, guard }
    }

    /// Runs a birdc command and returns its output.
    pub fn birdc(&self, cmd: &str) -> String {
        let (_, sock, _, _) = Self::paths(&self.dir);
        let out = Command::new("birdc")
            .arg("-s")
            .arg(&sock)
            .args(cmd.split_whitespace())
            .output()
            .expect("run birdc");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every route in every table.
    pub fn routes(&self) -> Vec<BirdRoute> {
        parse_routes(&self.birdc("show route all"))
    }

    /// Routes learned over BGP for `prefix`.
    pub fn bgp_routes(&self, prefix: &str) -> Vec<BirdRoute> {
        self.routes()
            .into_iter()
            .filter(|r| r.prefix == prefix && r.is_bgp())
            .collect()
    }

    /// BGP state of protocol `name` (`Established`, `Active`, `Connect`, ...).
    pub fn proto_state(&self, name: &str) -> String {
        for line in self.birdc("show protocols").lines() {
            let mut w = line.split_whitespace();
            if w.next() == Some(name) {
                // Name Proto Table State Since Info
                return line.split_whitespace().skip(5).collect::<Vec<_>>().join(" ");
            }
        }
        String::new()
    }

    /// Waits until protocol `name` is Established.
    pub fn wait_established(&self, name: &str, timeout: Duration) {
        wait_for(
            &format!("{} protocol {name} Established", self.spec.name),
            timeout,
            || {
                let s = self.proto_state(name);
                if s.starts_with("Established") {
                    Ok(())
                } else {
                    Err(format!(
                        "{s:?}; {}; log: {}",
                        self.birdc("show protocols"),
                        self.log()
                    ))
                }
            },
        );
    }

    /// Replaces the announced prefixes and reconfigures (a soft change: sessions stay up).
    pub fn set_routes(&mut self, routes4: Vec<String>, routes6: Vec<String>) {
        self.spec.routes4 = routes4;
        self.spec.routes6 = routes6;
        let (conf, ..) = Self::paths(&self.dir);
        std::fs::write(&conf, self.spec.config()).expect("write bird config");
        let out = self.birdc("configure");
        assert!(
            out.contains("Reconfigured") || out.contains("Reconfiguration"),
            "birdc configure: {out}"
        );
    }

    /// Graceful restart: `birdc graceful restart` (BIRD stops, telling nobody), then start again with
    /// `new_spec` in recovery mode (`-R`) after `down_for`.
    pub fn graceful_restart(&mut self, new_spec: BirdSpec, down_for: Duration) {
        let out = self.birdc("graceful restart");
        assert!(
            !out.contains("syntax error"),
            "graceful restart not supported: {out}"
        );
        if self.guard.wait_timeout(Duration::from_secs(10)).is_none() {
            self.guard.kill();
        }
        let (_, sock, _, _) = Self::paths(&self.dir);
        let _ = std::fs::remove_file(&sock);
        std::thread::sleep(down_for);
        self.spec = new_spec;
        self.guard = Self::spawn(&self.spec, &self.dir, true);
    }

    /// Stops BIRD abruptly (SIGKILL).
    pub fn kill(&mut self) {
        self.guard.kill();
    }

    /// Starts BIRD again (a plain start, not a graceful-restart recovery) with its spec, after [`Bird::kill`].
    #[allow(dead_code)]
    pub fn start_again(&mut self) {
        let (_, sock, _, _) = Self::paths(&self.dir);
        let _ = std::fs::remove_file(&sock);
        self.guard = Self::spawn(&self.spec, &self.dir, false);
    }

    /// The log so far (for failure messages).
    pub fn log(&self) -> String {
        let (.., log) = Self::paths(&self.dir);
        std::fs::read_to_string(log).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_add_path_routes() {
        let text = [
            "BIRD 2.0.12 ready.",
            "Table master4:",
            "10.3.0.0/26          unreachable [rr1 15:12:09.912 from 127.0.1.1] * (100/-) [i]",
            "\tType: BGP univ",
            "\tBGP.origin: IGP",
            "\tBGP.as_path: ",
            "\tBGP.next_hop: 100.64.0.3",
            "\tBGP.local_pref: 100",
            "\tBGP.originator_id: 127.0.1.3",
            "\tBGP.cluster_list: 244.0.0.1",
            "                     unreachable [rr1 15:12:09.912 from 127.0.1.1] (100/-) [i]",
            "\tType: BGP univ",
            "\tBGP.origin: IGP",
            "\tBGP.next_hop: 100.64.0.4",
            "10.2.0.0/26          blackhole [s4 15:12:05.360] * (200)",
            "\tType: static univ",
        ]
        .join("\n");
        let text = text.as_str();
        let r = parse_routes(text);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].prefix, "10.3.0.0/26");
        assert_eq!(r[0].proto, "rr1");
        assert_eq!(r[0].from.as_deref(), Some("127.0.1.1"));
        assert!(r[0].primary);
        assert_eq!(r[0].attr("cluster_list"), Some("244.0.0.1"));
        assert_eq!(r[1].prefix, "10.3.0.0/26");
        assert!(!r[1].primary);
        assert_eq!(r[1].attr("next_hop"), Some("100.64.0.4"));
        assert_eq!(r[2].proto, "s4");
        assert!(!r[2].is_bgp());
    }
}
