//! BMP export (RFC 7854) and BGP4MP update logging end to end: a reflector with real BIRD 2 clients exports to
//! a BMP collector played by this test (a TCP listener), whose stream is decoded by an independent parser
//! (bgpkit-parser) and compared with the daemon's RIB (`/routes`): Initiation, a Peer Up per client, route
//! monitoring equal to the Adj-RIBs-In (pre-policy; post-policy for the client with an import filter), a
//! withdrawal at a client seen as a withdrawal, statistics, a re-sync after the collector restarts, a Peer
//! Down when a client dies, a Termination at shutdown. The BGP4MP update log, read back by bgpkit-parser,
//! folds to the same routes and holds the state changes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bgpkit_parser::models::capabilities::AddPathSendReceive;
use bgpkit_parser::models::{BgpMessage, BgpOpenMessage, BgpUpdateMessage, CapabilityValue, ParamValue};
use bgpkit_parser::parser::bmp::messages::{BmpMessageBody, BmpMsgType, PerPeerFlags, StatsData};
use bytes::{Buf, Bytes};
use common::bird::{Bird, BirdNeighbor, BirdSpec};
use common::rr::{NodeDef, Rr, Topology};
use common::{free_port, require, wait_for};

/// This test's loopback block: 127.0.74.x.
const B: u8 = 74;
const T: Duration = Duration::from_secs(40);

/// A path as both sides show it: (peer, prefix, next hop, AS path, LOCAL_PREF).
type Path5 = (IpAddr, String, Option<IpAddr>, Vec<u32>, Option<u32>);

/// What the collector decoded, per connection.
#[derive(Debug, Clone)]
enum Msg {
    Init(Vec<String>),
    Term,
    PeerUp {
        peer: IpAddr,
        add_path: bool,
        local_port: u16,
    },
    PeerDown {
        peer: IpAddr,
        reason: u8,
    },
    Route {
        peer: IpAddr,
        post: bool,
        update: Box<BgpUpdateMessage>,
    },
    Stats {
        peer: IpAddr,
        counters: Vec<(u16, StatsData)>,
    },
}

/// A collector's view of one connection.
#[derive(Debug, Default)]
struct View {
    init: Vec<String>,
    term: bool,
    up: BTreeSet<IpAddr>,
    downs: Vec<(IpAddr, u8)>,
    pre: BTreeMap<(IpAddr, String, u32), Path5>,
    post: BTreeMap<(IpAddr, String, u32), Path5>,
    withdrawn: BTreeSet<(IpAddr, String)>,
    /// End-of-RIB markers seen: (peer, post-policy).
    eor: BTreeSet<(IpAddr, bool)>,
    stats: BTreeMap<IpAddr, Vec<(u16, StatsData)>>,
}

/// Applies an UPDATE of `peer` to a table (announcements, IPv4 and MP_REACH; withdrawals, IPv4 and
/// MP_UNREACH); returns the withdrawn prefixes.
fn apply(
    table: &mut BTreeMap<(IpAddr, String, u32), Path5>,
    peer: IpAddr,
    u: &BgpUpdateMessage,
) -> Vec<String> {
    let a = &u.attributes;
    let mut gone = Vec::new();
    let mut withdrawn: Vec<_> = u.withdrawn_prefixes.clone();
    if let Some(n) = a.get_unreachable_nlri() {
        withdrawn.extend(n.prefixes.iter().cloned());
    }
    for w in withdrawn {
        table.remove(&(peer, w.prefix.to_string(), w.path_id.unwrap_or(0)));
        gone.push(w.prefix.to_string());
    }
    let mut announced: Vec<_> = u.announced_prefixes.clone();
    let mut nh = a.next_hop();
    if let Some(n) = a.get_reachable_nlri() {
        announced.extend(n.prefixes.iter().cloned());
        nh = nh.or_else(|| n.next_hop.as_ref().map(|h| h.addr()));
    }
    let as_path: Vec<u32> = a
        .as_path()
        .map(|p| {
            p.iter_segments()
                .flat_map(|s| s.iter().map(|x| x.to_u32()).collect::<Vec<_>>())
                .collect()
        })
        .unwrap_or_default();
    for p in announced {
        let prefix = p.prefix.to_string();
        table.insert(
            (peer, prefix.clone(), p.path_id.unwrap_or(0)),
            (peer, prefix, nh, as_path.clone(), a.local_preference()),
        );
    }
    gone
}

impl View {
    fn of(msgs: &[Msg]) -> View {
        let mut v = View::default();
        for m in msgs {
            match m {
                Msg::Init(tlvs) => v.init = tlvs.clone(),
                Msg::Term => v.term = true,
                Msg::PeerUp { peer, .. } => {
                    v.up.insert(*peer);
                }
                Msg::PeerDown { peer, reason } => {
                    // A collector forgets a peer's routes when it goes down.
                    v.up.remove(peer);
                    v.downs.push((*peer, *reason));
                    v.pre.retain(|k, _| k.0 != *peer);
                    v.post.retain(|k, _| k.0 != *peer);
                }
                Msg::Route { peer, post, update } => {
                    if update.is_end_of_rib() {
                        v.eor.insert((*peer, *post));
                    }
                    let table = if *post { &mut v.post } else { &mut v.pre };
                    for p in apply(table, *peer, update) {
                        if !post {
                            v.withdrawn.insert((*peer, p));
                        }
                    }
                }
                Msg::Stats { peer, counters } => {
                    v.stats.insert(*peer, counters.clone());
                }
            }
        }
        v
    }

    fn paths(t: &BTreeMap<(IpAddr, String, u32), Path5>) -> BTreeSet<Path5> {
        t.values().cloned().collect()
    }
}

/// Whether the session of an OPEN pair carries path identifiers towards the reflector (RFC 7911): the
/// client offers to send and the reflector to receive.
fn add_path(sent: &BgpMessage, received: &BgpMessage) -> bool {
    let modes = |m: &BgpMessage| -> Vec<AddPathSendReceive> {
        let BgpMessage::Open(BgpOpenMessage { opt_params, .. }) = m else {
            return Vec::new();
        };
        opt_params
            .iter()
            .filter_map(|p| match &p.param_value {
                ParamValue::Capacities(c) => Some(c),
                ParamValue::Raw(_) => None,
            })
            .flatten()
            .filter_map(|c| match &c.value {
                CapabilityValue::AddPath(a) => Some(a.address_families.iter().map(|f| f.send_receive)),
                _ => None,
            })
            .flatten()
            .collect()
    };
    let rx = modes(sent)
        .iter()
        .any(|m| matches!(m, AddPathSendReceive::Receive | AddPathSendReceive::SendReceive));
    let tx = modes(received)
        .iter()
        .any(|m| matches!(m, AddPathSendReceive::Send | AddPathSendReceive::SendReceive));
    rx && tx
}

/// Decodes one BMP message with bgpkit-parser. Route Monitoring of a session with ADD-PATH is parsed as a
/// collector must, with path identifiers (known from that peer's Peer Up); the rest with `parse_bmp_msg`.
fn decode(mut data: Bytes, add_path_peers: &BTreeSet<IpAddr>) -> Msg {
    let raw = data.clone();
    if data.len() > 5 && data[5] == u8::from(BmpMsgType::RouteMonitoring) {
        data.advance(6);
        let h =
            bgpkit_parser::parser::bmp::messages::parse_per_peer_header(&mut data).expect("per-peer header");
        let PerPeerFlags::PeerFlags(flags) = h.peer_flags else {
            panic!("unexpected peer flags {:?}", h.peer_flags)
        };
        let ap = add_path_peers.contains(&h.peer_ip);
        let m = bgpkit_parser::parser::bgp::parse_bgp_message(&mut data, ap, &flags.asn_length())
            .expect("bgpkit-parser reads the embedded UPDATE");
        assert!(data.is_empty(), "trailing bytes after the UPDATE");
        let BgpMessage::Update(u) = m else {
            panic!("route monitoring without an UPDATE: {m:?}")
        };
        return Msg::Route {
            peer: h.peer_ip,
            post: flags.is_post_policy(),
            update: Box::new(u),
        };
    }
    let mut d = raw;
    let m = bgpkit_parser::parser::bmp::parse_bmp_msg(&mut d).expect("bgpkit-parser reads the BMP message");
    let peer = m.per_peer_header.as_ref().map(|h| h.peer_ip);
    match m.message_body {
        BmpMessageBody::InitiationMessage(i) => Msg::Init(i.tlvs.into_iter().map(|t| t.info).collect()),
        BmpMessageBody::TerminationMessage(_) => Msg::Term,
        BmpMessageBody::PeerUpNotification(u) => Msg::PeerUp {
            peer: peer.expect("per-peer header"),
            add_path: add_path(&u.sent_open, &u.received_open),
            local_port: u.local_port,
        },
        BmpMessageBody::PeerDownNotification(d) => Msg::PeerDown {
            peer: peer.expect("per-peer header"),
            reason: u8::from(d.reason),
        },
        BmpMessageBody::StatsReport(s) => Msg::Stats {
            peer: peer.expect("per-peer header"),
            counters: s
                .counters
                .into_iter()
                .map(|c| (u16::from(c.stat_type), c.stat_data))
                .collect(),
        },
        other => panic!("unexpected BMP message {other:?}"),
    }
}

/// A BMP monitoring station on 127.0.0.1: accepts the reflector's connections and decodes what it sends.
struct Collector {
    port: u16,
    conns: Arc<Mutex<Vec<Vec<Msg>>>>,
    stop: Arc<AtomicBool>,
    current: Arc<Mutex<Option<TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Collector {
    fn start(port: u16, conns: Arc<Mutex<Vec<Vec<Msg>>>>) -> Collector {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the collector");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let current = Arc::new(Mutex::new(None::<TcpStream>));
        let (s, c, cur) = (stop.clone(), conns.clone(), current.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Acquire) {
                let stream = match listener.accept() {
                    Ok((stream, _)) => stream,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        // Waiting for the reflector to connect: the test's own waits have the deadlines.
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                    Err(e) => panic!("accept: {e}"),
                };
                stream.set_nonblocking(false).expect("blocking");
                *cur.lock().unwrap() = Some(stream.try_clone().expect("clone"));
                let index = {
                    let mut all = c.lock().unwrap();
                    all.push(Vec::new());
                    all.len() - 1
                };
                read_stream(stream, &c, index);
            }
        });
        Collector {
            port,
            conns,
            stop,
            current,
            thread: Some(thread),
        }
    }

    /// The collector goes away (its connection and listener close) and comes back on the same port.
    fn restart(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(s) = self.current.lock().unwrap().take() {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.thread.take() {
            t.join().expect("collector thread");
        }
        *self = Collector::start(self.port, self.conns.clone());
    }

    fn connections(&self) -> usize {
        self.conns.lock().unwrap().len()
    }

    fn view(&self) -> View {
        let all = self.conns.lock().unwrap();
        all.last().map(|m| View::of(m)).unwrap_or_default()
    }

    fn msgs(&self) -> Vec<Msg> {
        self.conns.lock().unwrap().last().cloned().unwrap_or_default()
    }
}

/// Reads BMP messages (common header: version, 4-octet length, type) until the connection ends.
fn read_stream(mut s: TcpStream, conns: &Mutex<Vec<Vec<Msg>>>, index: usize) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let mut add_path_peers = BTreeSet::new();
    loop {
        while buf.len() >= 6 {
            assert_eq!(buf[0], 3, "BMP version");
            let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
            if buf.len() < len {
                break;
            }
            let msg: Vec<u8> = buf.drain(..len).collect();
            let m = decode(Bytes::from(msg), &add_path_peers);
            if let Msg::PeerUp { peer, add_path, .. } = &m {
                if *add_path {
                    add_path_peers.insert(*peer);
                } else {
                    add_path_peers.remove(peer);
                }
            }
            conns.lock().unwrap()[index].push(m);
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Every path of the daemon's `/routes` (accepted by import policy).
fn rib(rr: &Rr) -> BTreeSet<Path5> {
    let mut out = BTreeSet::new();
    for r in rr.get("/routes").as_array().expect("routes") {
        for p in r["paths"].as_array().expect("paths") {
            out.insert((
                p["from"].as_str().expect("from").parse().expect("address"),
                r["prefix"].as_str().expect("prefix").to_string(),
                p["next_hop"].as_str().map(|n| n.parse().expect("next hop")),
                p["as_path"]
                    .as_array()
                    .expect("as_path")
                    .iter()
                    .map(|a| a.as_u64().expect("asn") as u32)
                    .collect(),
                p["local_pref"].as_u64().map(|l| l as u32),
            ));
        }
    }
    out
}

/// The files of the BGP4MP update log, oldest first (their names sort by time).
fn update_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "mrt"))
        .collect();
    files.sort();
    files
}

/// The BGP4MP update log read back by bgpkit-parser: the routes its UPDATEs fold to, and the state changes
/// (peer, old, new).
fn read_updates(dir: &Path) -> (BTreeSet<Path5>, Vec<(IpAddr, u16, u16)>) {
    let mut table = BTreeMap::new();
    let mut states = Vec::new();
    for f in update_files(dir) {
        let data = std::fs::read(&f).expect("read log");
        let mut cur = std::io::Cursor::new(data.as_slice());
        while (cur.position() as usize) < data.len() {
            let rec = bgpkit_parser::parse_mrt_record(&mut cur).expect("bgpkit-parser reads the record");
            let bgpkit_parser::models::MrtMessage::Bgp4Mp(m) = rec.message else {
                panic!("not a BGP4MP record: {:?}", rec.message)
            };
            match m {
                bgpkit_parser::models::Bgp4MpEnum::StateChange(s) => {
                    states.push((s.peer_ip, s.old_state as u16, s.new_state as u16));
                }
                bgpkit_parser::models::Bgp4MpEnum::Message(msg) => {
                    if let BgpMessage::Update(u) = &msg.bgp_message {
                        let peer = msg.peer_ip;
                        apply(&mut table, peer, u);
                    }
                }
            }
        }
    }
    (table.into_values().collect(), states)
}

#[test]
fn bmp_and_bgp4mp_read_back_by_bgpkit_equal_the_rib() {
    require(&["bird"]);
    let rr_ip = Ipv4Addr::new(127, 0, B, 1);
    let rr_port = free_port("127.0.0.1");
    let bmp_port = free_port("127.0.0.1");
    let conns = Arc::new(Mutex::new(Vec::new()));
    let mut collector = Collector::start(bmp_port, conns);

    let mut topo = Topology::calico_rr(rr_port);
    topo.peers[0].1 = "{nodeSelector: \"!has(filtered)\", peerSelector: route-reflector == 'true'}".into();
    topo.peers.push((
        "filtered-clients".into(),
        "{nodeSelector: filtered == 'true', peerSelector: route-reflector == 'true', filters: [drop-one]}"
            .into(),
    ));
    topo.nodes.push(NodeDef::reflector(
        "rr1",
        rr_ip,
        "244.0.0.74".parse().expect("cluster id"),
    ));
    let mut specs = Vec::new();
    for n in 2..=4u8 {
        let port = free_port("127.0.0.1");
        let mut spec = BirdSpec::client(n, port, 64512);
        spec.addr = Ipv4Addr::new(127, 0, B, n);
        spec.name = format!("bird{B}-{n}");
        spec.routes4 = (0..3).map(|i| format!("10.{B}.{}.0/26", n * 10 + i)).collect();
        spec.routes6 = vec![format!("fd00:{B:x}:{n:x}::/122")];
        spec.neighbors
            .push(BirdNeighbor::new("rr1", rr_ip, rr_port, 64512));
        let node = NodeDef::client(&format!("node{n}"), spec.addr, port);
        // node4 peers through a BGPPeer whose import filter drops one of its blocks: its post-policy view
        // lacks it.
        topo.nodes.push(if n == 4 {
            node.label("filtered", "true")
        } else {
            node
        });
        specs.push(spec);
    }
    let drop_one = format!(
        "---\napiVersion: projectcalico.org/v3\nkind: BGPFilter\nmetadata: {{name: drop-one}}\nspec:\n  importV4:\n    - {{action: Reject, matchOperator: Equal, cidr: 10.{B}.41.0/26}}\n"
    );
    let updates = tempfile::tempdir().expect("tempdir");
    let updates_s = updates.path().to_str().expect("utf-8").to_string();
    let bmp_target = format!("127.0.0.1:{bmp_port}");
    let mut rr = Rr::start(
        "rr1",
        &(topo.yaml() + &drop_one),
        &[
            "--bmp-collector",
            &bmp_target,
            "--bmp-stats-interval",
            "1",
            "--mrt-updates-dir",
            &updates_s,
            "--mrt-updates-interval",
            "1",
        ],
    );
    let mut birds: Vec<Bird> = specs.into_iter().map(Bird::start).collect();
    for n in ["node2", "node3", "node4"] {
        rr.wait_established(n, T);
    }
    let clients: Vec<IpAddr> = (2..=4u8)
        .map(|n| IpAddr::V4(Ipv4Addr::new(127, 0, B, n)))
        .collect();
    let node4 = clients[2];
    let rejected: Path5 = (
        node4,
        format!("10.{B}.41.0/26"),
        Some("100.64.0.4".parse().expect("nh")),
        vec![],
        Some(2_147_482_623),
    );
    // Every client's paths: 3 IPv4 + 1 IPv6 each, less the one the filter drops.
    let want_paths = 3 * 4 - 1;

    // The collector's view equals the RIB: pre-policy is every path received (the rejected one too),
    // post-policy (node4 only, the peer with an import filter) the accepted ones.
    let check = |what: &str, rr: &Rr, collector: &Collector, peers: &[IpAddr], want_paths: usize| {
        wait_for(what, T, || {
            let all = rib(rr);
            if all.len() != want_paths {
                return Err(format!("RIB has {} of {want_paths} paths", all.len()));
            }
            let v = collector.view();
            let want_up: BTreeSet<IpAddr> = peers.iter().copied().collect();
            if v.up != want_up {
                return Err(format!("peers up {:?}, want {want_up:?}", v.up));
            }
            let mut want_pre = all.clone();
            want_pre.insert(rejected.clone());
            let pre = View::paths(&v.pre);
            if pre != want_pre {
                return Err(format!("pre-policy {pre:?}\n != RIB + rejected {want_pre:?}"));
            }
            let post = View::paths(&v.post);
            let want_post: BTreeSet<Path5> = all.iter().filter(|p| p.0 == node4).cloned().collect();
            if post != want_post {
                return Err(format!(
                    "post-policy {post:?}\n != node4's accepted paths {want_post:?}"
                ));
            }
            Ok(v)
        })
    };
    let v = check("BMP view equal to the RIB", &rr, &collector, &clients, want_paths);
    assert!(v.init.iter().any(|t| t == "rr1"), "sysName: {:?}", v.init);
    assert!(
        v.init.iter().any(|t| t.contains("rr-daemon")),
        "sysDescr: {:?}",
        v.init
    );
    let ups: Vec<(IpAddr, bool, u16)> = collector
        .msgs()
        .iter()
        .filter_map(|m| match m {
            Msg::PeerUp {
                peer,
                add_path,
                local_port,
            } => Some((*peer, *add_path, *local_port)),
            _ => None,
        })
        .collect();
    assert_eq!(ups.len(), 3, "one Peer Up per client: {ups:?}");
    for (peer, ap, port) in &ups {
        // BIRD is configured with `add paths on`: the OPENs in the Peer Up say so.
        assert!(*ap, "{peer}: ADD-PATH not seen in the Peer Up OPENs");
        // The clients connect to the reflector's port or the reflector to theirs.
        assert!(*port != 0, "{peer}: no local port");
    }

    // Statistics: Adj-RIB-In (type 7) and accepted (type 8) per client.
    wait_for("statistics of every client", T, || {
        let v = collector.view();
        for (i, peer) in clients.iter().enumerate() {
            let s = v.stats.get(peer).ok_or(format!("no stats for {peer}"))?;
            let gauge = |t: u16| {
                s.iter().find_map(|(k, d)| match d {
                    StatsData::Gauge(g) if *k == t => Some(*g),
                    _ => None,
                })
            };
            let (pre, acc) = (gauge(7), gauge(8));
            let want_acc = if i == 2 { 3 } else { 4 };
            if pre != Some(4) || acc != Some(want_acc) {
                return Err(format!("{peer}: type 7 {pre:?} type 8 {acc:?}"));
            }
        }
        Ok(())
    });

    // A client withdraws a block: the collector sees the withdrawal.
    let gone = format!("10.{B}.20.0/26");
    birds[0].set_routes(
        (1..3).map(|i| format!("10.{B}.{}.0/26", 20 + i)).collect(),
        vec![format!("fd00:{B:x}:2::/122")],
    );
    let want_paths = want_paths - 1;
    let v = check(
        "BMP view after a withdrawal",
        &rr,
        &collector,
        &clients,
        want_paths,
    );
    assert!(
        v.withdrawn.contains(&(clients[0], gone.clone())),
        "no withdrawal of {gone}"
    );

    // The collector restarts: the reflector reconnects and re-sends its table.
    assert_eq!(collector.connections(), 1);
    collector.restart();
    wait_for("the reflector reconnects", T, || {
        if collector.connections() == 2 {
            Ok(())
        } else {
            Err(format!("{} connections", collector.connections()))
        }
    });
    let v = check(
        "BMP view re-synchronised after the collector restarted",
        &rr,
        &collector,
        &clients,
        want_paths,
    );
    assert!(
        v.init.iter().any(|t| t == "rr1"),
        "no Initiation on the new connection"
    );
    // Each peer's initial dump ends with End-of-RIB; node4's post-policy one too.
    let mut want_eor: BTreeSet<(IpAddr, bool)> = clients.iter().map(|c| (*c, false)).collect();
    want_eor.insert((node4, true));
    assert_eq!(v.eor, want_eor, "End-of-RIB after the dump");

    // A client dies: Peer Down (the remote closed without a NOTIFICATION: reason 4).
    birds[1].kill();
    let v = wait_for("Peer Down of the killed client", T, || {
        let v = collector.view();
        if v.downs.iter().any(|(p, _)| *p == clients[1]) {
            Ok(v)
        } else {
            Err(format!("downs {:?}", v.downs))
        }
    });
    assert_eq!(v.downs, vec![(clients[1], 4)]);
    assert!(!v.up.contains(&clients[1]));

    // The BGP4MP log: every client came up; the routes of those still up fold to their paths in the RIB.
    let all = rib(&rr);
    let (logged, states) = wait_for("BGP4MP log with the killed client's state change", T, || {
        let (logged, states) = read_updates(updates.path());
        if states.iter().any(|s| *s == (clients[1], 6, 1)) {
            Ok((logged, states))
        } else {
            Err(format!("states {states:?}"))
        }
    });
    for c in &clients {
        assert!(
            states.contains(&(*c, 5, 6)),
            "{c} Established not logged: {states:?}"
        );
    }
    let live = |p: &Path5| p.0 == clients[0] || p.0 == clients[2];
    let mut want: BTreeSet<Path5> = all.iter().filter(|p| live(p)).cloned().collect();
    want.insert(rejected.clone());
    let got: BTreeSet<Path5> = logged.into_iter().filter(|p| live(p)).collect();
    assert_eq!(got, want, "BGP4MP log differs from the received paths");
    // A new file every second (--mrt-updates-interval 1) while records keep coming: the log was rotated.
    let files = update_files(updates.path());
    assert!(files.len() >= 2, "no rotation: {files:?}");

    // Shutdown: Peer Downs, then a Termination.
    rr.stop("TERM");
    let v = wait_for("Termination at shutdown", T, || {
        let v = collector.view();
        if v.term {
            Ok(v)
        } else {
            Err("no Termination yet".into())
        }
    });
    assert!(v.up.is_empty(), "peers still up at Termination: {:?}", v.up);
    drop(birds);
}
