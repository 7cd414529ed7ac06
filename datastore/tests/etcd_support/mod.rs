//! Test fixtures for the etcd backend: a real `etcd` (Debian `etcd-server`) on 127.0.0.1 with a temporary
//! data directory and free ports, killed on drop; a throw-away PKI made with the `openssl` command.
//!
//! Nothing is skipped: without `etcd`, `etcdctl` or `openssl` the tests fail with a message that says
//! which package to install.

#![allow(dead_code, unreachable_pub)]

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use datastore::etcd::{EtcdConfig, EtcdTlsFiles, RawEvent, RawWatch};
use tempfile::TempDir;

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

fn require(binary: &str, package: &str) {
    match Command::new(binary).arg("--version").output() {
        Ok(_) => {}
        Err(e) => panic!(
            "`{binary}` is needed by the etcd tests and cannot be run ({e}); \
             install the Debian package: apt-get install -y {package}"
        ),
    }
}

/// Server-side TLS files for etcd with client-certificate authentication.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A running (or stopped) etcd: a single-member cluster, or one member of an [`EtcdCluster`].
pub struct EtcdServer {
    dir: TempDir,
    name: String,
    /// `--initial-cluster`.
    cluster: String,
    client_port: u16,
    peer_port: u16,
    tls: Option<ServerTls>,
    /// Client files for etcdctl when TLS is on.
    ctl_tls: Option<ServerTls>,
    child: Option<Child>,
    started: u32,
}

impl EtcdServer {
    /// Starts a plain-HTTP etcd.
    pub fn start() -> Self {
        Self::start_with(None, None)
    }

    /// Starts etcd with `--client-cert-auth`; `client` holds the files etcdctl uses.
    pub fn start_tls(server: ServerTls, client: ServerTls) -> Self {
        Self::start_with(Some(server), Some(client))
    }

    fn start_with(tls: Option<ServerTls>, ctl_tls: Option<ServerTls>) -> Self {
        require("etcd", "etcd-server");
        require("etcdctl", "etcd-client");
        // Free ports are found by binding and releasing them, so a parallel test may take one first: on a
        // failed start, try again with new ports.
        let mut last = String::new();
        for _ in 0..3 {
            let peer_port = free_port();
            let mut s = EtcdServer {
                dir: tempfile::tempdir().expect("temporary directory"),
                // A name of its own: the start-up check below tells this etcd from another test's that took
                // the client port first.
                name: format!("rr-test-{peer_port}"),
                cluster: format!("rr-test-{peer_port}=http://127.0.0.1:{peer_port}"),
                client_port: free_port(),
                peer_port,
                tls: tls.clone(),
                ctl_tls: ctl_tls.clone(),
                child: None,
                started: 0,
            };
            let port = s.client_port;
            let log = s.spawn_nowait(port);
            match s.wait_healthy(port, &log) {
                Ok(()) => return s,
                Err(e) => last = e,
            }
        }
        panic!("etcd did not start (3 attempts); last log:\n{last}");
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The client URL.
    pub fn endpoint(&self) -> String {
        self.endpoint_on(self.client_port)
    }

    fn endpoint_on(&self, port: u16) -> String {
        format!("{}://127.0.0.1:{port}", self.scheme())
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.client_port
    }

    /// A backend configuration for this server with short timeouts (TLS files left empty).
    pub fn config(&self) -> EtcdConfig {
        fast(EtcdConfig::new([self.endpoint()]))
    }

    fn spawn(&mut self, client_port: u16) {
        let log = self.spawn_nowait(client_port);
        if let Err(e) = self.wait_healthy(client_port, &log) {
            panic!("etcd did not start again; log:\n{e}");
        }
    }

    /// Starts the process and returns its log path (a cluster member waits for its peers).
    fn spawn_nowait(&mut self, client_port: u16) -> PathBuf {
        self.started += 1;
        let data = self.dir.path().join("data");
        let log_path = self.dir.path().join(format!("etcd-{}.log", self.started));
        let log = File::create(&log_path).expect("create etcd log");
        let err = log.try_clone().expect("clone log handle");
        let client = self.endpoint_on(client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let mut cmd = Command::new("etcd");
        // etcd reads ETCD_* variables as flags: start it with a clean environment.
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .arg(format!("--name={}", self.name))
            .arg(format!("--data-dir={}", data.display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster={}", self.cluster))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        if let Some(t) = &self.tls {
            cmd.arg("--client-cert-auth")
                .arg(format!("--trusted-ca-file={}", t.ca.display()))
                .arg(format!("--cert-file={}", t.cert.display()))
                .arg(format!("--key-file={}", t.key.display()));
        }
        let child = cmd.spawn().expect("spawn etcd");
        self.child = Some(child);
        log_path
    }

    /// Waits until etcd answers on `port`; `Err(log)` if it exited meanwhile (e.g. a port taken).
    fn wait_healthy(&mut self, port: u16, log: &Path) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!("etcd exited ({status}) during start-up:\n{}", tail(log)));
            }
            let out = self.ctl_on(port, &["endpoint", "health"]);
            if out.status.success() {
                // Healthy, but is it ours? Free ports are found by binding and releasing them, so a parallel
                // test's etcd may listen on this port (and ours then exits): only a member of our name counts.
                let members = self.ctl_on(port, &["member", "list"]);
                if String::from_utf8_lossy(&members.stdout)
                    .split([',', '\n'])
                    .any(|f| f.trim() == self.name)
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "etcd on port {port} not healthy after 30 s: {}\nlog:\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    tail(log)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills etcd (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends a signal (`STOP`, `CONT`) to etcd: a stopped etcd keeps its sockets open but never answers,
    /// like a host behind a silent network partition.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().map(Child::id).expect("etcd is running");
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(ok.success(), "kill -{sig} {pid}");
    }

    /// Starts etcd again on the same data directory and port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn(self.client_port);
    }

    /// Starts etcd on the same data directory but another client port (clients of the usual port see it
    /// down) and returns that port; `restart` moves it back.
    pub fn restart_elsewhere(&mut self) -> u16 {
        self.stop();
        let port = free_port();
        self.spawn(port);
        port
    }

    /// Runs etcdctl against the usual port.
    pub fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_on(self.client_port, args)
    }

    /// Runs etcdctl against `port`.
    pub fn ctl_on(&self, port: u16, args: &[&str]) -> Output {
        let mut cmd = Command::new("etcdctl");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint_on(port)))
            .arg("--command-timeout=2s")
            .arg("--dial-timeout=1s");
        if let Some(t) = &self.ctl_tls {
            cmd.arg(format!("--cacert={}", t.ca.display()))
                .arg(format!("--cert={}", t.cert.display()))
                .arg(format!("--key={}", t.key.display()));
        }
        cmd.args(args).output().expect("run etcdctl")
    }

    /// Runs etcdctl and insists that it succeeds; returns its stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        self.ctl_ok_on(self.client_port, args)
    }

    /// [`EtcdServer::ctl_ok`] against `port`.
    pub fn ctl_ok_on(&self, port: u16, args: &[&str]) -> String {
        let out = self.ctl_on(port, args);
        assert!(
            out.status.success(),
            "etcdctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `etcdctl put` and the revision it created (from `-w json`).
    pub fn put(&self, key: &str, value: &str) -> i64 {
        self.put_on(self.client_port, key, value)
    }

    /// [`EtcdServer::put`] against `port`.
    pub fn put_on(&self, port: u16, key: &str, value: &str) -> i64 {
        let out = self.ctl_ok_on(port, &["put", "-w", "json", key, value]);
        header_revision(&out)
    }

    /// `etcdctl del` and the revision of the deletion.
    pub fn del_on(&self, port: u16, key: &str) -> i64 {
        let out = self.ctl_ok_on(port, &["del", "-w", "json", key]);
        header_revision(&out)
    }

    /// The current store revision.
    pub fn revision_on(&self, port: u16) -> i64 {
        let out = self.ctl_ok_on(port, &["get", "-w", "json", "--limit=1", "/"]);
        header_revision(&out)
    }
}

/// A cluster of etcd members on 127.0.0.1.
pub struct EtcdCluster {
    pub members: Vec<EtcdServer>,
}

impl EtcdCluster {
    /// Starts `n` members and waits until each is healthy (with new ports if a start fails).
    pub fn start(n: usize) -> Self {
        require("etcd", "etcd-server");
        require("etcdctl", "etcd-client");
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(n) {
                Ok(c) => return c,
                Err(e) => last = e,
            }
        }
        panic!("etcd cluster did not start (3 attempts); last log:\n{last}");
    }

    fn try_start(n: usize) -> Result<Self, String> {
        let peers: Vec<u16> = (0..n).map(|_| free_port()).collect();
        // Names of this cluster's own (like a single server's), so that the start-up check tells its members
        // from another test's etcd that took one of the ports.
        let name = |i: usize| format!("rr-test-{}-m{i}", peers[0]);
        let cluster = peers
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}=http://127.0.0.1:{p}", name(i)))
            .collect::<Vec<_>>()
            .join(",");
        let mut members: Vec<EtcdServer> = peers
            .iter()
            .enumerate()
            .map(|(i, p)| EtcdServer {
                dir: tempfile::tempdir().expect("temporary directory"),
                name: name(i),
                cluster: cluster.clone(),
                client_port: free_port(),
                peer_port: *p,
                tls: None,
                ctl_tls: None,
                child: None,
                started: 0,
            })
            .collect();
        let logs: Vec<PathBuf> = members
            .iter_mut()
            .map(|m| {
                let port = m.client_port;
                m.spawn_nowait(port)
            })
            .collect();
        for (m, log) in members.iter_mut().zip(&logs) {
            let port = m.client_port;
            m.wait_healthy(port, log)?;
        }
        Ok(EtcdCluster { members })
    }

    /// Every member's client URL, in order.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(EtcdServer::endpoint).collect()
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn header_revision(json: &str) -> i64 {
    let v: serde_json::Value = serde_json::from_str(json).expect("etcdctl -w json output");
    v["header"]["revision"]
        .as_i64()
        .unwrap_or_else(|| panic!("no header.revision in {json}"))
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Short timeouts and backoff so outage tests run in seconds.
pub fn fast(mut cfg: EtcdConfig) -> EtcdConfig {
    cfg.request_timeout = Duration::from_secs(2);
    cfg.backoff_initial = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(500);
    cfg
}

/// The next raw event within `secs` seconds, or a panic naming what was awaited.
pub async fn next_event(w: &mut RawWatch, secs: u64, what: &str) -> RawEvent {
    match tokio::time::timeout(Duration::from_secs(secs), w.next()).await {
        Ok(Some(e)) => e,
        Ok(None) => panic!("watch ended while waiting for {what}"),
        Err(_) => panic!("no event within {secs} s while waiting for {what}"),
    }
}

/// A CA and certificates signed by it, made with `openssl`.
pub struct Pki {
    pub dir: TempDir,
}

impl Pki {
    /// A new CA (`ca.pem`/`ca.key`) in a temporary directory.
    pub fn new() -> Self {
        require("openssl", "openssl");
        let pki = Pki {
            dir: tempfile::tempdir().expect("temporary directory"),
        };
        pki.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=rr-test-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        pki
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Path of a file of this PKI.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Issues `<name>.pem`/`<name>.key` for 127.0.0.1 and localhost, usable as server and client.
    pub fn issue(&self, name: &str) -> ServerTls {
        let ext = format!("{name}.ext");
        std::fs::write(
            self.path(&ext),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n\
             basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth,clientAuth\n",
        )
        .expect("write extension file");
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={name}"),
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
        ServerTls {
            ca: self.path("ca.pem"),
            cert: self.path(&pem),
            key: self.path(&key),
        }
    }
}

/// Client TLS settings from issued files.
pub fn client_tls(files: &ServerTls) -> EtcdTlsFiles {
    EtcdTlsFiles {
        ca_file: Some(files.ca.clone()),
        cert_file: Some(files.cert.clone()),
        key_file: Some(files.key.clone()),
    }
}
