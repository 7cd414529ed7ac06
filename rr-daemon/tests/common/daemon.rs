//! rr-daemon with any datastore arguments and environment, optionally inside a network namespace
//! (`ip netns exec NS`), with the control API over its unix socket (which works across namespaces).

use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{ChildGuard, free_port, wait_for};

/// How long a peer may take to reach a state.
const T: Duration = Duration::from_secs(45);

/// A running rr-daemon.
pub struct Daemon {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub ctl: PathBuf,
    guard: ChildGuard,
}

impl Daemon {
    /// Starts rr-daemon as node `node` with `args` and `env` (the datastore and identity variables of the
    /// test process are cleared first, so only what the test gives counts).
    pub fn start(node: &str, args: &[String], env: &[(&str, String)]) -> Daemon {
        Self::start_in(None, node, args, env)
    }

    /// Like [`Daemon::start`], inside network namespace `netns` (metrics off: the port would be the
    /// namespace's).
    pub fn start_in(netns: Option<&str>, node: &str, args: &[String], env: &[(&str, String)]) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctl = dir.path().join("ctl.sock");
        let log = std::fs::File::create(dir.path().join("rr.log")).expect("log");
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_rr-daemon")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_rr-daemon")),
        };
        for var in [
            "IP",
            "IP6",
            "NODENAME",
            "DATASTORE_TYPE",
            "ETCD_ENDPOINTS",
            "KUBECONFIG",
            "ETCD_CA_CERT_FILE",
            "ETCD_CERT_FILE",
            "ETCD_KEY_FILE",
            "ROUTER_ID",
            "API_GROUP",
        ] {
            cmd.env_remove(var).env_remove(format!("CALICO_{var}"));
        }
        // Never the machine's own cluster: only the credentials the test gives.
        cmd.env_remove("KUBERNETES_SERVICE_HOST").env_remove("NAMESPACE");
        cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let metrics = match netns {
            Some(_) => "off".to_string(),
            None => format!("127.0.0.1:{}", free_port("127.0.0.1")),
        };
        // As in common::rr: nodes that never run a BIRD would hold every route for the 120 s default.
        if !args.iter().any(|a| a == "--selection-deferral-secs") {
            cmd.args(["--selection-deferral-secs", "10"]);
        }
        let child = cmd
            .args(args)
            .args(["--nodename", node, "--control-socket"])
            .arg(&ctl)
            .args(["--metrics-addr", &metrics])
            .env("RUST_LOG", "info,rr_daemon=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn rr-daemon");
        let d = Daemon {
            name: node.into(),
            dir,
            ctl,
            guard: ChildGuard::new(node, child),
        };
        wait_for("rr-daemon control socket", Duration::from_secs(20), || {
            d.get("/status")
                .map(|_| ())
                .map_err(|e| format!("{e}; log: {}", d.log()))
        });
        d
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rr.log")).unwrap_or_default()
    }

    /// GET on the control API.
    pub fn get(&self, path: &str) -> Result<Value, String> {
        let mut s = UnixStream::connect(&self.ctl).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: rr\r\nConnection: close\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header end")?;
        if head.split_whitespace().nth(1) != Some("200") {
            return Err(format!("{head}: {body}"));
        }
        serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))
    }

    /// The `/peers` entry of the session with `addr`.
    pub fn peer(&self, addr: impl Into<IpAddr>) -> Option<Value> {
        let addr = addr.into().to_string();
        super::all_peers(|path| self.get(path))
            .into_iter()
            .find(|p| p["address"] == addr)
    }

    /// Waits until the session with `addr` satisfies `f`.
    pub fn wait_peer(&self, addr: impl Into<IpAddr>, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        let addr = addr.into();
        wait_for(&format!("{}: peer {addr} {what}", self.name), T, || {
            match self.peer(addr) {
                Some(p) if f(&p) => Ok(p),
                other => Err(format!("{other:?}; log tail: {}", tail(&self.log()))),
            }
        })
    }

    /// `established_transitions` of the session with `addr`.
    pub fn transitions(&self, addr: impl Into<IpAddr>) -> u64 {
        self.peer(addr)
            .and_then(|p| p["established_transitions"].as_u64())
            .unwrap_or_default()
    }

    /// The process id (inside a namespace: of `ip netns exec`, which execs the daemon).
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }
}

/// The last 15 lines of a log.
pub fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
