//! Reflectors under test, started as child processes: BIRD 2, FRR's bgpd and our `rr-daemon`.
//!
//! All get the same clients and the same AS. FRR's bgpd runs alone (`-Z`: no zebra) with every client a
//! dynamic neighbour of one route-reflector-client peer group (`bgp listen range` + `bgp listen limit`). BIRD gets one `protocol bgp` per client with `rr client`,
//! `strict bind yes` and `passive on` (the clients always connect; BIRD's own connection attempts towards
//! client addresses where nothing listens would only add noise). The daemon gets a calicoctl-style YAML file
//! with one Node per client, a reflector Node and a BGPPeer selecting the reflector, and is run the way users
//! run it: `rr-daemon --datastore file --file PATH` with `NODENAME` and `IP` in the environment.

use crate::plan::{Plan, REFLECTOR_ADDR, client_addr};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A reflector process started for one run; killed on drop.
#[derive(Debug)]
pub struct Running {
    /// Label for reports.
    pub label: String,
    /// The child process.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Scratch directory holding its configuration and logs (removed on drop).
    pub dir: tempfile::TempDir,
}

impl Running {
    /// Process id, for `/proc` sampling.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the reflector accepts TCP connections on its address, or fails if it exits first.
    pub fn wait_listening(&mut self, timeout: Duration) -> Result<(), String> {
        let t = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited early: {st}; logs in {}",
                    self.label,
                    self.dir.path().display()
                ));
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if t.elapsed() > timeout {
                return Err(format!(
                    "{} not listening on {} after {timeout:?}",
                    self.label, self.addr
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The file the process writes its stderr/log to.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// An rr-daemon's `GET /status` on the control socket [`start_daemon`] gave it, as JSON (an HTTP/1.0
    /// request: the answer is the body up to the close).
    pub fn daemon_status(&self) -> Result<serde_json::Value, String> {
        use std::io::{Read, Write};
        let path = self.dir.path().join("ctl.sock");
        let mut s =
            std::os::unix::net::UnixStream::connect(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        s.write_all(b"GET /status HTTP/1.0\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&resp);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or("no HTTP header in the answer")?;
        if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
            return Err(format!("GET /status: {}", head.lines().next().unwrap_or("")));
        }
        serde_json::from_str(body).map_err(|e| format!("GET /status: {e}"))
    }

    /// Waits until an rr-daemon reports no Established session (every client's close processed), up to
    /// `timeout`; the count left otherwise.
    pub fn wait_no_sessions(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let n = self.daemon_status()?["established"].as_u64().unwrap_or(u64::MAX);
            if n == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{n} sessions still Established {timeout:?} after every client closed"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((REFLECTOR_ADDR, 0))?.local_addr()?.port())
}

/// Options shared by both reflectors' configurations.
#[derive(Debug, Clone, Copy)]
pub struct ReflectorSetup {
    /// Workload sizes (which clients to configure).
    pub plan: Plan,
    /// AS of the reflector and its clients.
    pub asn: u32,
    /// Port the reflector listens on (on 127.0.0.1).
    pub port: u16,
    /// Send ADD-PATH (RFC 7911) to clients that can receive it.
    pub add_path: bool,
    /// Hold time the reflector proposes.
    pub hold_time: u16,
    /// Run the reflector under `nice -n VALUE` (negative: ahead of other work on a shared machine).
    pub nice: Option<i32>,
}

/// A command for `program`, wrapped in `nice -n VALUE` when asked (the pid stays the program's: nice execs).
fn command(program: &str, nice: Option<i32>) -> Command {
    match nice {
        Some(n) => {
            let mut c = Command::new("nice");
            c.arg("-n").arg(n.to_string()).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// The bird.conf for a reflector serving every client of the plan.
pub fn bird_config(s: &ReflectorSetup, log: &Path) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "# Generated by rr-compare: BIRD 2 as a route reflector for the load test."
    );
    let _ = writeln!(c, "router id {REFLECTOR_ADDR};");
    let _ = writeln!(c, "log \"{}\" {{ warning, error, fatal }};", log.display());
    // Reflected next hops are client addresses on lo; `direct` makes them resolvable for iBGP's
    // recursive next hop lookup so that BIRD exports them as reachable routes.
    let _ = writeln!(c, "protocol device {{ scan time 60; }}");
    let _ = writeln!(c, "protocol direct {{ ipv4; interface \"lo\"; }}");
    // Next hops outside 127/8 (an attribute only) resolve through a device route on lo kept in a table of
    // its own, used as the BGP channels' IGP table: never exported to the clients.
    let nh_cover = next_hop_cover(&s.plan);
    if let Some((net, len)) = nh_cover {
        let _ = writeln!(c, "ipv4 table nh4;");
        let _ = writeln!(
            c,
            "protocol static nhs {{ ipv4 {{ table nh4; }}; route {net}/{len} via \"lo\"; }}"
        );
    }
    let _ = writeln!(c, "template bgp rrc {{");
    let _ = writeln!(c, "  local {REFLECTOR_ADDR} port {} as {};", s.port, s.asn);
    let _ = writeln!(c, "  rr client;");
    let _ = writeln!(c, "  rr cluster id {REFLECTOR_ADDR};");
    let _ = writeln!(c, "  strict bind yes;");
    let _ = writeln!(c, "  passive on;");
    let _ = writeln!(c, "  hold time {};", s.hold_time);
    let add_paths = if s.add_path { "tx" } else { "off" };
    let igp = if nh_cover.is_some() { " igp table nh4;" } else { "" };
    let _ = writeln!(
        c,
        "  ipv4 {{ import all; export all; add paths {add_paths};{igp} }};"
    );
    let _ = writeln!(c, "}}");
    for i in 0..s.plan.clients {
        let _ = writeln!(
            c,
            "protocol bgp c{i} from rrc {{ neighbor {} as {}; }}",
            client_addr(i),
            s.asn
        );
    }
    c
}

/// The smallest prefix covering every next hop of the plan when they come from a next-hop base.
pub fn next_hop_cover(plan: &Plan) -> Option<(Ipv4Addr, u8)> {
    plan.next_hop_base?;
    let first = u32::from(plan.next_hop(0));
    let last = u32::from(plan.next_hop(plan.clients - 1));
    let len = (first ^ last).leading_zeros().min(32) as u8;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some((Ipv4Addr::from(first & mask), len))
}

/// Starts `bird -f` (foreground) with a generated configuration; waits until it listens.
pub fn start_bird(s: &ReflectorSetup, bird: &str) -> Result<Running, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cfg = dir.path().join("bird.conf");
    let sock = dir.path().join("bird.ctl");
    let log = dir.path().join("log");
    std::fs::write(&cfg, bird_config(s, &log)).map_err(|e| e.to_string())?;
    let stderr = std::fs::File::create(dir.path().join("stderr")).map_err(|e| e.to_string())?;
    let child = command(bird, s.nice)
        .arg("-c")
        .arg(&cfg)
        .arg("-s")
        .arg(&sock)
        .arg("-f")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot run {bird}: {e}"))?;
    let mut r = Running {
        label: "bird".into(),
        child,
        addr: SocketAddr::new(REFLECTOR_ADDR.into(), s.port),
        dir,
    };
    r.wait_listening(Duration::from_secs(60))?;
    Ok(r)
}

/// The bgpd.conf for FRR as a reflector: every client a dynamic neighbour (`bgp listen range`) of one
/// route-reflector-client peer group, FRR's defaults otherwise (update groups included).
pub fn frr_config(s: &ReflectorSetup, log: &Path) -> String {
    let mut c = String::new();
    let _ = writeln!(
        c,
        "! Generated by rr-compare: FRR bgpd as a route reflector for the load test."
    );
    let _ = writeln!(c, "frr defaults traditional");
    let _ = writeln!(c, "hostname rr-frr");
    let _ = writeln!(c, "log file {} warnings", log.display());
    let _ = writeln!(c, "router bgp {}", s.asn);
    let _ = writeln!(c, " bgp router-id {REFLECTOR_ADDR}");
    let _ = writeln!(c, " bgp cluster-id {REFLECTOR_ADDR}");
    let _ = writeln!(c, " no bgp ebgp-requires-policy");
    let _ = writeln!(c, " neighbor rrc peer-group");
    let _ = writeln!(c, " neighbor rrc remote-as {}", s.asn);
    let keepalive = (s.hold_time / 3).max(1);
    let _ = writeln!(c, " neighbor rrc timers {keepalive} {}", s.hold_time);
    let _ = writeln!(c, " bgp listen limit {}", s.plan.clients.clamp(1, 65535));
    let _ = writeln!(c, " bgp listen range 127.0.0.0/8 peer-group rrc");
    let _ = writeln!(c, " address-family ipv4 unicast");
    let _ = writeln!(c, "  neighbor rrc activate");
    let _ = writeln!(c, "  neighbor rrc route-reflector-client");
    if s.add_path {
        let _ = writeln!(c, "  neighbor rrc addpath-tx-all-paths");
    }
    let _ = writeln!(c, " exit-address-family");
    c
}

/// Starts FRR's `bgpd` alone (no zebra, no kernel, no vty port; its own pid file and vty socket directory),
/// as `/usr/lib/frr/bgpd -f CONF -p PORT -l ADDR -Z -S -n --vty_socket DIR -P 0`; waits until it listens.
/// The Debian `frr` service is never started.
pub fn start_frr(s: &ReflectorSetup, bgpd: &str) -> Result<Running, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cfg = dir.path().join("bgpd.conf");
    let log = dir.path().join("log");
    std::fs::write(&cfg, frr_config(s, &log)).map_err(|e| e.to_string())?;
    let stderr = std::fs::File::create(dir.path().join("stderr")).map_err(|e| e.to_string())?;
    let child = command(bgpd, s.nice)
        .arg("-f")
        .arg(&cfg)
        .arg("-p")
        .arg(s.port.to_string())
        .arg("-l")
        .arg(REFLECTOR_ADDR.to_string())
        .args(["-Z", "-S", "-n", "-P", "0"])
        .arg("--vty_socket")
        .arg(dir.path())
        .arg("-i")
        .arg(dir.path().join("bgpd.pid"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot run {bgpd}: {e}"))?;
    let mut r = Running {
        label: "frr".into(),
        child,
        addr: SocketAddr::new(REFLECTOR_ADDR.into(), s.port),
        dir,
    };
    r.wait_listening(Duration::from_secs(60))?;
    Ok(r)
}

/// The calicoctl-style datastore file for our daemon: a BGPConfiguration (mesh off, AS, listen port), the
/// reflector Node (cluster id, `route-reflector: "true"` label), one Node per client, and the BGPPeer that
/// makes every node peer with the reflectors (the documented Calico recipe).
pub fn calico_yaml(s: &ReflectorSetup, reflector_name: &str) -> String {
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Generated by rr-compare: the load-test topology as Calico resources."
    );
    let _ = writeln!(
        y,
        "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata:\n  name: default"
    );
    let _ = writeln!(
        y,
        "spec:\n  nodeToNodeMeshEnabled: false\n  asNumber: {}\n  listenPort: {}\n  bindMode: NodeIP",
        s.asn, s.port
    );
    let _ = writeln!(
        y,
        "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: {reflector_name}"
    );
    let _ = writeln!(y, "  labels:\n    route-reflector: \"true\"");
    let _ = writeln!(
        y,
        "spec:\n  bgp:\n    ipv4Address: {REFLECTOR_ADDR}/32\n    asNumber: {}\n    routeReflectorClusterID: {REFLECTOR_ADDR}",
        s.asn
    );
    let _ = writeln!(
        y,
        "---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: peer-with-route-reflectors"
    );
    let _ = writeln!(
        y,
        "spec:\n  nodeSelector: all()\n  peerSelector: route-reflector == 'true'"
    );
    for i in 0..s.plan.clients {
        let _ = writeln!(
            y,
            "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: node-{i}\nspec:\n  bgp:\n    ipv4Address: {}/32\n    asNumber: {}",
            client_addr(i),
            s.asn
        );
    }
    y
}

/// Starts `rr-daemon --datastore file --file PATH` with `NODENAME`/`IP` set; waits until it listens.
pub fn start_daemon(s: &ReflectorSetup, daemon: &str, extra_args: &[String]) -> Result<Running, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("calico.yaml");
    let name = "rr-0";
    std::fs::write(&file, calico_yaml(s, name)).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.path().join("log")).map_err(|e| e.to_string())?;
    let child = command(daemon, s.nice)
        .arg("--datastore")
        .arg("file")
        .arg("--file")
        .arg(&file)
        // Our own control socket, and no metrics listener: other daemons may run on this machine.
        .arg("--control-socket")
        .arg(dir.path().join("ctl.sock"))
        .arg("--metrics-addr")
        .arg("off")
        .args(extra_args)
        .env("NODENAME", name)
        .env("IP", REFLECTOR_ADDR.to_string())
        .env_remove("DATASTORE_TYPE")
        .env_remove("ETCD_ENDPOINTS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot run {daemon}: {e}"))?;
    let mut r = Running {
        label: "rr-daemon".into(),
        child,
        addr: SocketAddr::new(REFLECTOR_ADDR.into(), s.port),
        dir,
    };
    r.wait_listening(Duration::from_secs(60))?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> ReflectorSetup {
        ReflectorSetup {
            plan: Plan::new(3, 10).unwrap(),
            asn: 64512,
            port: 17900,
            add_path: false,
            hold_time: 240,
            nice: None,
        }
    }

    #[test]
    fn bird_config_has_one_protocol_per_client() {
        let c = bird_config(&setup(), Path::new("/tmp/x.log"));
        assert_eq!(c.matches("protocol bgp c").count(), 3);
        assert!(c.contains("neighbor 127.0.1.3 as 64512;"));
        assert!(c.contains("local 127.0.0.1 port 17900 as 64512;"));
        assert!(c.contains("strict bind yes;") && c.contains("rr client;") && c.contains("add paths off"));
    }

    #[test]
    fn bird_config_resolves_next_hops_from_a_base() {
        let mut s = setup();
        assert!(!bird_config(&s, Path::new("/tmp/x.log")).contains("igp table"));
        s.plan = Plan::new(1000, 1)
            .unwrap()
            .with_next_hop_base(Some(Ipv4Addr::new(100, 64, 0, 0)))
            .unwrap();
        assert_eq!(next_hop_cover(&s.plan), Some((Ipv4Addr::new(100, 64, 0, 0), 22)));
        let c = bird_config(&s, Path::new("/tmp/x.log"));
        assert!(c.contains("route 100.64.0.0/22 via \"lo\";"));
        assert_eq!(c.matches("igp table nh4;").count(), 1);
        s.plan = Plan::new(2, 1)
            .unwrap()
            .with_next_hop_base(Some(Ipv4Addr::new(100, 64, 0, 0)))
            .unwrap();
        assert_eq!(next_hop_cover(&s.plan), Some((Ipv4Addr::new(100, 64, 0, 0), 30)));
    }

    #[test]
    fn frr_config_has_one_dynamic_peer_group() {
        let c = frr_config(&setup(), Path::new("/tmp/x/log"));
        assert!(c.contains("bgp listen range 127.0.0.0/8 peer-group rrc"));
        assert!(c.contains("bgp listen limit 3"));
        assert!(c.contains("neighbor rrc route-reflector-client"));
        assert!(c.contains("bgp cluster-id 127.0.0.1"));
        assert!(!c.contains("addpath"));
    }

    #[test]
    fn calico_yaml_lists_every_node() {
        let y = calico_yaml(&setup(), "rr-0");
        assert_eq!(y.matches("kind: Node").count(), 4);
        assert!(y.contains("ipv4Address: 127.0.1.2/32"));
        assert!(y.contains("listenPort: 17900"));
        assert!(y.contains("routeReflectorClusterID: 127.0.0.1"));
    }
}
