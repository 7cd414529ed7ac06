//! IPv6 sessions end to end, inside a network namespace this test creates (`ip netns add`, loopback up, ULA
//! addresses on `lo`): the reflector and BIRD clients talk over IPv6 and IPv6 routes are reflected over them.
//! A dual-stack node (ipv4Address and ipv6Address) gets two sessions as calico-node gives it: one over IPv4
//! carrying IPv4 unicast (calico-node's `bird`) and one over IPv6 carrying IPv6 unicast (its `bird6`; confd
//! renders one BIRD configuration per IP version). An IPv6-only node gets the IPv6 session alone, here signed
//! with TCP-MD5 (a BGPPeer password over IPv6). Skipped with
//! a message where network namespaces cannot be created (not root, no `ip`).

mod common;

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::bird::{BirdRoute, parse_routes};
use common::daemon::{Daemon, tail};
use common::{ChildGuard, have, wait_for};
use serde_json::Value;

const T: Duration = Duration::from_secs(45);
const B: u8 = 66;
const RR_PORT: u16 = 1790;

fn v4(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, B, n)
}

fn v6(n: u8) -> Ipv6Addr {
    format!("fd00:{B}::{n}").parse().expect("v6")
}

/// A network namespace deleted on drop.
struct Netns(String);

impl Netns {
    /// Creates it with `lo` up and `addrs` on `lo`; `None` (and why) when namespaces are unavailable here.
    fn create(tag: &str, addrs: &[Ipv6Addr]) -> Result<Netns, String> {
        if !have("ip") {
            return Err("no `ip` command (iproute2)".into());
        }
        let name = format!("rr-{tag}-{}", std::process::id());
        let ip = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("ip")
                .args(args)
                .output()
                .map_err(|e| e.to_string())?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "ip {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        ip(&["netns", "add", &name])?;
        let ns = Netns(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"])?;
        for a in addrs {
            ip(&[
                "-n",
                &ns.0,
                "addr",
                "add",
                &format!("{a}/128"),
                "dev",
                "lo",
                "nodad",
            ])?;
        }
        Ok(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A Calico node's BIRD as calico-node configures it per IP version: a session over IPv4 with the IPv4
/// channel only and one over IPv6 with the IPv6 channel only (either may be absent).
struct NsBird {
    name: String,
    dir: tempfile::TempDir,
    _guard: ChildGuard,
}

impl NsBird {
    fn start(ns: &Netns, n: u8, port: u16, with_v4: bool, password: Option<&str>) -> NsBird {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = String::new();
        // The router id: calico-node's, from the IPv4 address (an IPv6-only node would use CALICO_ROUTER_ID).
        let _ = writeln!(c, "router id {};\nlog stderr all;\nprotocol device {{ }}", v4(n));
        let _ = writeln!(c, "protocol static s4 {{ ipv4; route 10.{n}.0.0/26 blackhole; }}");
        let _ = writeln!(
            c,
            "protocol static s6 {{ ipv6; route fd00:{n:x}::/122 blackhole; }}"
        );
        let _ = writeln!(
            c,
            "filter e4 {{ if source = RTS_STATIC then {{ bgp_next_hop = 100.64.0.{n}; accept; }} \
             if source = RTS_BGP then accept; reject; }}\n\
             filter e6 {{ if source = RTS_STATIC then {{ bgp_next_hop = fd00:64::{n:x}; accept; }} \
             if source = RTS_BGP then accept; reject; }}"
        );
        let common = "multihop; graceful restart; connect delay time 2; connect retry time 5; \
                      error wait time 5,30; strict bind yes;";
        if with_v4 {
            let _ = writeln!(
                c,
                "protocol bgp rr1_4 {{ local {a} port {port} as 64512; source address {a}; \
                 neighbor {rr} port {RR_PORT} as 64512; {common} \
                 ipv4 {{ gateway recursive; import all; export filter e4; add paths on; }}; }}",
                a = v4(n),
                rr = v4(1)
            );
        }
        let pw = password.map(|p| format!("password \"{p}\";")).unwrap_or_default();
        let _ = writeln!(
            c,
            "protocol bgp rr1_6 {{ local {a} port {port} as 64512; source address {a}; \
             neighbor {rr} port {RR_PORT} as 64512; {common} {pw} \
             ipv6 {{ gateway recursive; import all; export filter e6; add paths on; }}; }}",
            a = v6(n),
            rr = v6(1)
        );
        Self::spawn(ns, n, dir, &c)
    }

    fn spawn(ns: &Netns, n: u8, dir: tempfile::TempDir, c: &str) -> NsBird {
        let conf = dir.path().join("bird.conf");
        std::fs::write(&conf, c).expect("bird.conf");
        let log = std::fs::File::create(dir.path().join("bird.log")).expect("log");
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.0, "bird", "-f", "-c"])
            .arg(&conf)
            .arg("-s")
            .arg(dir.path().join("bird.ctl"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn bird");
        let b = NsBird {
            name: format!("bird{B}-{n}"),
            dir,
            _guard: ChildGuard::new(&format!("bird{B}-{n}"), child),
        };
        wait_for("bird control socket", Duration::from_secs(10), || {
            if b.ctl().exists() { Ok(()) } else { Err(b.log()) }
        });
        b
    }

    /// An IPv6-only node at `me` (BIRD needs some IPv4-formatted router id; any unique one will do) with one
    /// IPv6 session to the reflector at `rr`.
    fn start_v6_only(ns: &Netns, n: u8, me: Ipv6Addr, rr: Ipv6Addr, port: u16) -> NsBird {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = format!(
            "router id 10.255.{B}.{n};\nlog stderr all;\nprotocol device {{ }}\n\
             protocol static s6 {{ ipv6; route fd00:{n:x}::/122 blackhole; }}\n\
             filter e6 {{ if source = RTS_STATIC then {{ bgp_next_hop = fd00:64::{n:x}; accept; }} \
             if source = RTS_BGP then accept; reject; }}\n\
             protocol bgp rr1_6 {{ local {me} port {port} as 64512; source address {me}; \
             neighbor {rr} port {RR_PORT} as 64512; multihop; graceful restart; connect delay time 2; \
             connect retry time 5; strict bind yes; \
             ipv6 {{ gateway recursive; import all; export filter e6; add paths on; }}; }}\n"
        );
        Self::spawn(ns, n, dir, &c)
    }

    fn ctl(&self) -> PathBuf {
        self.dir.path().join("bird.ctl")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("bird.log")).unwrap_or_default()
    }

    fn birdc(&self, cmd: &str) -> String {
        let out = Command::new("birdc")
            .arg("-s")
            .arg(self.ctl())
            .args(cmd.split_whitespace())
            .output()
            .expect("birdc");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_established(&self, proto: &str) {
        wait_for(&format!("{} {proto} Established", self.name), T, || {
            let out = self.birdc("show protocols");
            if out
                .lines()
                .any(|l| l.split_whitespace().next() == Some(proto) && l.contains("Established"))
            {
                Ok(())
            } else {
                Err(format!("{out}\n{}", tail(&self.log())))
            }
        });
    }

    fn bgp_routes(&self, prefix: &str) -> Vec<BirdRoute> {
        parse_routes(&self.birdc("show route all"))
            .into_iter()
            .filter(|r| r.prefix == prefix && r.is_bgp())
            .collect()
    }
}

fn families(p: &Value) -> Vec<String> {
    p["negotiated"]["families"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

#[test]
fn ipv6_sessions_and_dual_stack_nodes_in_a_network_namespace() {
    if !have("bird") || !have("birdc") {
        eprintln!("SKIP ipv6 sessions: bird/birdc not installed");
        return;
    }
    let ns = match Netns::create("ipv6", &[v6(1), v6(2), v6(3)]) {
        Ok(ns) => ns,
        Err(e) => {
            eprintln!("SKIP ipv6 sessions: cannot create a network namespace here ({e})");
            return;
        }
    };
    // rr1: dual-stack reflector; node2: dual-stack client; node3: IPv6-only client.
    let yaml = format!(
        "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {{name: default}}\n\
         spec: {{nodeToNodeMeshEnabled: false, asNumber: 64512, listenPort: {RR_PORT}}}\n\
         ---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {{name: peer-with-route-reflectors}}\n\
         spec: {{nodeSelector: '!has(signed)', peerSelector: route-reflector == 'true'}}\n\
         ---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {{name: signed-to-reflectors}}\n\
         spec: {{nodeSelector: has(signed), peerSelector: route-reflector == 'true', \
         password: {{secretKeyRef: {{name: bgp-secrets, key: v6}}}}}}\n\
         ---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{name: rr1, labels: {{route-reflector: 'true'}}}}\n\
         spec: {{bgp: {{ipv4Address: {}/32, ipv6Address: {}/128, routeReflectorClusterID: 244.0.0.1}}}}\n\
         ---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{name: node2}}\n\
         spec: {{bgp: {{ipv4Address: {}/32, ipv6Address: {}/128}}}}\n\
         ---\napiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {{name: node.node2}}\nspec: {{listenPort: 1792}}\n\
         ---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{name: node3, labels: {{signed: 'yes'}}}}\n\
         spec: {{bgp: {{ipv6Address: {}/128}}}}\n\
         ---\napiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {{name: node.node3}}\nspec: {{listenPort: 1793}}\n",
        v4(1),
        v6(1),
        v4(2),
        v6(2),
        v6(3)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("calico.yaml");
    std::fs::write(&file, yaml).expect("yaml");
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(secrets.join("bgp-secrets")).expect("mkdir");
    std::fs::write(secrets.join("bgp-secrets/v6"), "v6-md5-key\n").expect("secret");
    let rr = Daemon::start_in(
        Some(&ns.0),
        "rr1",
        &[
            "--datastore".into(),
            "file".into(),
            "--file".into(),
            file.display().to_string(),
            "--secrets-dir".into(),
            secrets.display().to_string(),
        ],
        &[],
    );
    let b2 = NsBird::start(&ns, 2, 1792, true, None);
    let b3 = NsBird::start(&ns, 3, 1793, false, Some("v6-md5-key"));

    // The dual-stack node: two sessions, one per IP version, each carrying its own family.
    b2.wait_established("rr1_4");
    b2.wait_established("rr1_6");
    b3.wait_established("rr1_6");
    let s24 = rr.wait_peer(v4(2), "Established", |p| p["state"] == "Established");
    let s26 = rr.wait_peer(v6(2), "Established", |p| p["state"] == "Established");
    let s36 = rr.wait_peer(v6(3), "Established", |p| p["state"] == "Established");
    assert_eq!(families(&s24), ["ipv4-unicast"], "{s24}");
    assert_eq!(families(&s26), ["ipv6-unicast"], "{s26}");
    assert_eq!(families(&s36), ["ipv6-unicast"], "{s36}");
    for p in [&s24, &s26, &s36] {
        assert_eq!(p["role"], "rr-client", "{p}");
    }
    // TCP-MD5 over IPv6 (the key set for an IPv6 peer address, on the IPv6 listener and connection).
    assert_eq!(s36["md5"], true, "{s36}");
    assert_eq!(s26["md5"], false, "{s26}");
    // The IPv6-only node has no IPv4 session.
    let peers = rr.get("/peers").expect("peers");
    let addrs: Vec<IpAddr> = peers
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["address"].as_str()?.parse().ok())
        .collect();
    assert_eq!(addrs.len(), 3, "{peers}");

    // IPv6 routes reflected over the IPv6 sessions, with the reflection attributes.
    let r = wait_for("fd00:2::/122 reflected to the IPv6-only node", T, || {
        match b3.bgp_routes("fd00:2::/122").into_iter().next() {
            Some(r) => Ok(r),
            None => Err(format!("{}\n{}", b3.birdc("show route"), tail(&rr.log()))),
        }
    });
    assert_eq!(r.proto, "rr1_6", "{r:?}");
    assert_eq!(r.attr("originator_id"), Some(v4(2).to_string().as_str()), "{r:?}");
    assert_eq!(r.attr("cluster_list"), Some("244.0.0.1"), "{r:?}");
    assert_eq!(r.attr("next_hop"), Some("fd00:64::2"), "{r:?}");
    let r = wait_for("fd00:3::/122 reflected to the dual-stack node", T, || {
        match b2.bgp_routes("fd00:3::/122").into_iter().next() {
            Some(r) => Ok(r),
            None => Err(b2.birdc("show route")),
        }
    });
    assert_eq!(r.proto, "rr1_6", "{r:?}");
    // IPv4 stays on IPv4: node2's IPv4 block reaches nobody over an IPv6 session, and node3 (IPv6 only)
    // gets no IPv4 route at all.
    assert!(b3.bgp_routes("10.2.0.0/26").is_empty());
    let v4_prefixes = rr.get("/routes?prefix=10.2.0.0/26").expect("routes");
    assert!(
        !v4_prefixes.to_string().contains(&v6(2).to_string()),
        "{v4_prefixes}"
    );
}

/// An IPv6-only reflector (no ipv4Address, so no address to take the router id from): with
/// `CALICO_ROUTER_ID=hash`, as calico-node on an IPv6-only node, it gets the router id confd's `hashToIPv4`
/// derives from its node name and reflects between IPv6-only clients.
#[test]
fn ipv6_only_reflector_with_hashed_router_id() {
    if !have("bird") || !have("birdc") {
        eprintln!("SKIP ipv6-only reflector: bird/birdc not installed");
        return;
    }
    let addr = |n: u8| -> Ipv6Addr { format!("fd00:67::{n}").parse().expect("v6") };
    let ns = match Netns::create("ipv6only", &[addr(1), addr(2), addr(3)]) {
        Ok(ns) => ns,
        Err(e) => {
            eprintln!("SKIP ipv6-only reflector: cannot create a network namespace here ({e})");
            return;
        }
    };
    let mut yaml = format!(
        "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {{name: default}}\n\
         spec: {{nodeToNodeMeshEnabled: false, asNumber: 64512, listenPort: {RR_PORT}}}\n\
         ---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {{name: peer-with-route-reflectors}}\n\
         spec: {{nodeSelector: all(), peerSelector: route-reflector == 'true'}}\n\
         ---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{name: rr-v6, labels: {{route-reflector: 'true'}}}}\n\
         spec: {{bgp: {{ipv6Address: {}/128, routeReflectorClusterID: 244.0.0.9}}}}\n",
        addr(1)
    );
    for n in [2u8, 3] {
        yaml.push_str(&format!(
            "---\napiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {{name: node{n}}}\n\
             spec: {{bgp: {{ipv6Address: {}/128}}}}\n\
             ---\napiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {{name: node.node{n}}}\n\
             spec: {{listenPort: {}}}\n",
            addr(n),
            1790 + u16::from(n)
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("calico.yaml");
    std::fs::write(&file, yaml).expect("yaml");
    let rr = Daemon::start_in(
        Some(&ns.0),
        "rr-v6",
        &[
            "--datastore".into(),
            "file".into(),
            "--file".into(),
            file.display().to_string(),
        ],
        &[("CALICO_ROUTER_ID", "hash".into())],
    );
    let birds: Vec<NsBird> = [2u8, 3]
        .into_iter()
        .map(|n| NsBird::start_v6_only(&ns, n, addr(n), addr(1), 1790 + u16::from(n)))
        .collect();
    for b in &birds {
        b.wait_established("rr1_6");
    }
    // SHA-256("rr-v6") begins 8e 86 13 3a (`printf %s rr-v6 | sha256sum`): 142.134.19.58.
    let status = rr.get("/status").expect("status");
    assert_eq!(status["router_id"], "142.134.19.58", "{status}");
    let proto = birds[0].birdc("show protocols all rr1_6");
    let id = proto
        .lines()
        .find_map(|l| l.trim().strip_prefix("Neighbor ID:").map(str::trim));
    assert_eq!(id, Some("142.134.19.58"), "{proto}");
    let r = wait_for("fd00:2::/122 reflected to node3", T, || {
        match birds[1].bgp_routes("fd00:2::/122").into_iter().next() {
            Some(r) => Ok(r),
            None => Err(format!("{}\n{}", birds[1].birdc("show route"), tail(&rr.log()))),
        }
    });
    assert_eq!(r.attr("cluster_list"), Some("244.0.0.9"), "{r:?}");
}
