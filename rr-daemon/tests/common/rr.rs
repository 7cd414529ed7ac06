//! The rr-daemon binary under test, its file datastore, and a YAML builder for Calico topologies.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::bird::{BirdNeighbor, BirdSpec};
use super::{ChildGuard, wait_for};

/// A Calico node in a test topology.
#[derive(Clone, Debug)]
pub struct NodeDef {
    pub name: String,
    pub ipv4: Ipv4Addr,
    pub cluster_id: Option<Ipv4Addr>,
    pub labels: Vec<(String, String)>,
    /// Per-node listenPort (`BGPConfiguration node.<name>`).
    pub listen_port: Option<u16>,
}

impl NodeDef {
    pub fn reflector(name: &str, ipv4: Ipv4Addr, cluster_id: Ipv4Addr) -> Self {
        Self {
            name: name.into(),
            ipv4,
            cluster_id: Some(cluster_id),
            labels: vec![("route-reflector".into(), "true".into())],
            listen_port: None,
        }
    }
    pub fn client(name: &str, ipv4: Ipv4Addr, port: u16) -> Self {
        Self {
            name: name.into(),
            ipv4,
            cluster_id: None,
            labels: Vec::new(),
            listen_port: Some(port),
        }
    }
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.labels.push((k.into(), v.into()));
        self
    }
}

/// A Calico datastore as calicoctl manifests.
#[derive(Clone, Debug)]
pub struct Topology {
    pub as_number: u32,
    /// Global listenPort (the reflectors listen there).
    pub listen_port: u16,
    pub nodes: Vec<NodeDef>,
    /// BGPPeers: (name, spec as a YAML flow mapping).
    pub peers: Vec<(String, String)>,
    /// BGPConfiguration default `bindMode`. `NodeIP` unless a test asks otherwise: a wildcard listener
    /// (`None`) conflicts with any socket on the machine that holds the same port on another address
    /// (other tests' speakers and connections), which these tests do not control.
    pub bind_mode: Option<String>,
}

impl Topology {
    /// Adds node `node<n>` for a BIRD client at 127.0.`base`.`n` with AS `asn` on a free port, peering with
    /// the reflector `rr1` at `rr_ip`:`rr_port`, and returns the client's spec (named `bird<base>-<n>`, with
    /// [`BirdSpec::client`]'s routes until the test changes them).
    pub fn add_bird_client(&mut self, base: u8, n: u8, asn: u32, rr_ip: Ipv4Addr, rr_port: u16) -> BirdSpec {
        let port = super::free_port("127.0.0.1");
        let mut spec = BirdSpec::client(n, port, asn);
        spec.addr = Ipv4Addr::new(127, 0, base, n);
        spec.name = format!("bird{base}-{n}");
        spec.neighbors
            .push(BirdNeighbor::new("rr1", rr_ip, rr_port, 64512));
        self.nodes
            .push(NodeDef::client(&format!("node{n}"), spec.addr, port));
        spec
    }

    /// Calico's documented reflector setup: mesh off, every node peers with `route-reflector == 'true'`.
    pub fn calico_rr(listen_port: u16) -> Self {
        Self {
            as_number: 64512,
            listen_port,
            nodes: Vec::new(),
            peers: vec![(
                "peer-with-route-reflectors".into(),
                "{nodeSelector: all(), peerSelector: route-reflector == 'true'}".into(),
            )],
            bind_mode: Some("NodeIP".into()),
        }
    }

    pub fn yaml(&self) -> String {
        let mut y = String::new();
        let _ = write!(
            y,
            "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {{name: default}}\n\
             spec: {{nodeToNodeMeshEnabled: false, asNumber: {}, listenPort: {}{}}}\n",
            self.as_number,
            self.listen_port,
            self.bind_mode
                .as_ref()
                .map(|m| format!(", bindMode: {m}"))
                .unwrap_or_default()
        );
        for n in &self.nodes {
            let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}: \"{v}\"")).collect();
            let _ = write!(
                y,
                "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{name: {}, labels: {{{}}}}}\n\
                 spec: {{bgp: {{ipv4Address: {}/32{}}}}}\n",
                n.name,
                labels.join(", "),
                n.ipv4,
                n.cluster_id
                    .map(|c| format!(", routeReflectorClusterID: {c}"))
                    .unwrap_or_default()
            );
            if let Some(p) = n.listen_port {
                let _ = write!(
                    y,
                    "---\napiVersion: projectcalico.org/v3\nkind: BGPConfiguration\n\
                     metadata: {{name: node.{}}}\nspec: {{listenPort: {p}}}\n",
                    n.name
                );
            }
        }
        for (name, spec) in &self.peers {
            let _ = write!(
                y,
                "---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {{name: {name}}}\nspec: {spec}\n"
            );
        }
        y
    }
}

/// A running rr-daemon.
pub struct Rr {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub yaml: PathBuf,
    pub ctl: PathBuf,
    pub metrics_port: u16,
    guard: ChildGuard,
}

impl Rr {
    /// Starts rr-daemon as node `node` on `yaml`, with `extra` flags.
    pub fn start(node: &str, yaml: &str, extra: &[&str]) -> Rr {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("calico.yaml");
        std::fs::write(&path, yaml).expect("write yaml");
        Self::start_with_file(node, dir, path, extra)
    }

    /// Starts rr-daemon on an existing datastore file.
    pub fn start_with_file(node: &str, dir: tempfile::TempDir, yaml: PathBuf, extra: &[&str]) -> Rr {
        Self::start_full(node, dir, yaml, extra, None, true)
    }

    /// Starts rr-daemon as [`Rr::start`] does, but without `RUST_LOG` (the datastore's logSeverityScreen
    /// applies).
    #[allow(dead_code)]
    pub fn start_without_rust_log(node: &str, yaml: &str, extra: &[&str]) -> Rr {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("calico.yaml");
        std::fs::write(&path, yaml).expect("write yaml");
        Self::start_full(node, dir, path, extra, None, false)
    }

    /// Like [`Rr::start`], with the daemon started under `umask` (through `sh -c 'umask U; exec ...'`).
    #[allow(dead_code)]
    pub fn start_with_umask(node: &str, yaml: &str, extra: &[&str], umask: &str) -> Rr {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("calico.yaml");
        std::fs::write(&path, yaml).expect("write yaml");
        Self::start_full(node, dir, path, extra, Some(umask), true)
    }

    fn start_full(
        node: &str,
        dir: tempfile::TempDir,
        yaml: PathBuf,
        extra: &[&str],
        umask: Option<&str>,
        rust_log: bool,
    ) -> Rr {
        let ctl = dir.path().join("ctl.sock");
        let metrics_port = super::free_port("127.0.0.1");
        let log = std::fs::File::create(dir.path().join("rr.log")).expect("log");
        let mut cmd = match umask {
            None => Command::new(env!("CARGO_BIN_EXE_rr-daemon")),
            Some(u) => {
                let mut c = Command::new("sh");
                c.args([
                    "-c",
                    &format!("umask {u}; exec \"$0\" \"$@\""),
                    env!("CARGO_BIN_EXE_rr-daemon"),
                ]);
                c
            }
        };
        cmd.args(["--datastore", "file", "--file"])
            .arg(&yaml)
            .args(["--control-socket"])
            .arg(&ctl)
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(extra)
            .env_remove("RUST_LOG")
            .env_remove("IP")
            .env_remove("NODENAME")
            .env_remove("DATASTORE_TYPE")
            .env_remove("ETCD_ENDPOINTS");
        if !node.is_empty() {
            cmd.args(["--nodename", node]);
        }
        // Many topologies list nodes that never run a BIRD: with the daemon's 120 s default every route would
        // wait that long for their End-of-RIB. Tests about the deferral itself pass their own value.
        if !extra.contains(&"--selection-deferral-secs") {
            cmd.args(["--selection-deferral-secs", "10"]);
        }
        if rust_log {
            cmd.env("RUST_LOG", "info,rr_daemon=debug");
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn rr-daemon");
        let rr = Rr {
            name: node.to_string(),
            dir,
            yaml,
            ctl,
            metrics_port,
            guard: ChildGuard::new(node, child),
        };
        wait_for("rr-daemon control socket", Duration::from_secs(20), || {
            rr.try_get("/status")
                .map(|_| ())
                .map_err(|e| format!("{e}; log: {}", rr.log()))
        });
        rr
    }

    /// The daemon's process id.
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// Replaces the datastore file (atomically, as editors and config management do).
    pub fn write_yaml(&self, yaml: &str) {
        let tmp = self.yaml.with_extension("tmp");
        std::fs::write(&tmp, yaml).expect("write yaml");
        std::fs::rename(&tmp, &self.yaml).expect("rename yaml");
    }

    fn http(&self, method: &str, path: &str) -> Result<(u16, Value), String> {
        let mut s = UnixStream::connect(&self.ctl).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: rr\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header end")?;
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("bad status")?;
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(body)
        } else {
            body.to_string()
        };
        let v = serde_json::from_str(&body).unwrap_or(Value::String(body));
        Ok((status, v))
    }

    /// GET with the status code, whatever it is.
    #[allow(dead_code)]
    pub fn try_get_status(&self, path: &str) -> (u16, Value) {
        self.http("GET", path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub fn try_get(&self, path: &str) -> Result<Value, String> {
        match self.http("GET", path)? {
            (200, v) => Ok(v),
            (s, v) => Err(format!("HTTP {s}: {v}")),
        }
    }

    pub fn get(&self, path: &str) -> Value {
        self.try_get(path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub fn post(&self, path: &str) -> (u16, Value) {
        self.http("POST", path)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// Every peer of `/peers`, page after page (a page shorter than the limit is the last).
    pub fn peers(&self) -> Vec<Value> {
        super::all_peers(|path| self.try_get(path))
    }

    /// The `/peers` entry for `name` (node name or address).
    pub fn peer(&self, name: &str) -> Option<Value> {
        self.peers()
            .into_iter()
            .find(|p| p["name"] == name || p["address"] == name)
    }

    pub fn peer_state(&self, name: &str) -> String {
        self.peer(name)
            .and_then(|p| p["state"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    pub fn wait_established(&self, name: &str, timeout: Duration) {
        wait_for(&format!("{} peer {name} Established", self.name), timeout, || {
            let s = self.peer_state(name);
            if s == "Established" {
                Ok(())
            } else {
                Err(format!("{s}; peers: {:?}", self.peers()))
            }
        });
    }

    /// Sends a signal (`TERM`, `INT`) and waits for the exit.
    pub fn stop(&mut self, sig: &str) -> Option<std::process::ExitStatus> {
        self.guard.signal(sig);
        self.guard.wait_timeout(Duration::from_secs(10))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rr.log")).unwrap_or_default()
    }

    /// Raw HTTP GET on the metrics port.
    pub fn metrics_get(&self, path: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).expect("metrics connect");
        write!(s, "GET {path} HTTP/1.1\r\nHost: rr\r\nConnection: close\r\n\r\n").expect("write");
        let mut buf = String::new();
        s.read_to_string(&mut buf).expect("read");
        let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(body)
        } else {
            body.to_string()
        };
        (status, body)
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}
