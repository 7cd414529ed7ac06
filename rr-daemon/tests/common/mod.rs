//! Test harness: real BIRD 2 and GoBGP processes, the rr-daemon binary, and small helpers, all on loopback
//! addresses with unprivileged ports. Every child process is killed when its handle is dropped.

#![allow(dead_code, unreachable_pub)]

pub mod bird;
pub mod daemon;
pub mod gobgp;
pub mod raw;
pub mod rr;

use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A free TCP port on `addr` (bind port 0, read it, release it).
pub fn free_port(addr: &str) -> u16 {
    let l = TcpListener::bind((addr, 0)).expect("bind port 0");
    l.local_addr().expect("local addr").port()
}

/// A TCP port free on every address and below the kernel's ephemeral range, so that no other process's
/// outgoing connection can be given it (a connected socket on a port conflicts with a wildcard listener on
/// that port). For listeners on every address; [`free_port`]'s ports come from the ephemeral range.
pub fn port_below_ephemeral_range() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (from, to) = (low / 2, low);
    for _ in 0..1000 {
        let port = rand::random_range(from..to);
        if TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {from}..{to}");
}

/// Polls `f` every 100 ms until it returns `Some`, or panics with `what` and the last observation after
/// `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < timeout {
        match f() {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {timeout:?} waiting for {what}; last: {last}");
}

/// Every peer of the control API's `GET /peers`, page after page as `rr-cli peers` fetches them (the next
/// page starts after the last address of this one; a page shorter than the limit is the last). `get` answers
/// a request path; a failed request ends the list (callers poll).
pub fn all_peers(get: impl Fn(&str) -> Result<serde_json::Value, String>) -> Vec<serde_json::Value> {
    const LIMIT: usize = 1000;
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let path = if after.is_empty() {
            format!("/peers?limit={LIMIT}")
        } else {
            format!("/peers?limit={LIMIT}&after={}", after.replace(':', "%3A"))
        };
        let Some(page) = get(&path).ok().and_then(|v| v.as_array().cloned()) else {
            return all;
        };
        let n = page.len();
        after = page
            .last()
            .and_then(|p| p["address"].as_str())
            .unwrap_or_default()
            .to_string();
        all.extend(page);
        if n < LIMIT || after.is_empty() {
            return all;
        }
    }
}

/// Panics, naming the Debian package, when a peer program the test needs is missing: these tests exist to
/// run against the real BIRD and GoBGP, so a missing one is a failure, never a silent pass.
/// `scripts/test.sh` installs them.
pub fn require(bins: &[&str]) {
    for bin in bins {
        let pkg = match *bin {
            "bird" | "birdc" => "bird2",
            "gobgpd" | "gobgp" => "gobgpd",
            other => other,
        };
        assert!(
            have(bin),
            "`{bin}` not found: install the Debian package {pkg} (scripts/test.sh does)"
        );
    }
}

/// Whether `bird`/`birdc` and `gobgpd`/`gobgp` are installed; tests print a note and return early when not
/// (scripts/test.sh installs them).
pub fn have(bin: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A child process killed (SIGKILL) and reaped on drop.
pub struct ChildGuard {
    pub child: Option<std::process::Child>,
    pub name: String,
}

impl ChildGuard {
    pub fn new(name: &str, child: std::process::Child) -> Self {
        Self {
            child: Some(child),
            name: name.to_string(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Sends `sig` (e.g. `libc::SIGTERM`) to the child.
    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = std::process::Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(c.id().to_string())
                .status();
        }
    }

    /// Waits for the child to exit, up to `timeout`; returns its status.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(c) = &mut self.child
                && let Ok(Some(st)) = c.try_wait()
            {
                self.child = None;
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}
