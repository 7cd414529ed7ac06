//! Route policy in the engine: import between Adj-RIB-In and best path, export per update group,
//! both changed live (no session reset, only the difference sent).

use std::collections::{BTreeMap, HashMap};

use bgp_wire::{
    AfiSafi, AsPath, Asn, AttrValue, Capability, Community, DecodeCtx, HoldTime, Message, Nlri, Open,
    PathAttribute, Prefix, RouterId, Update,
};
use proptest::prelude::*;
use rr_core::policy::{Action, Match, Modification, Policy, PolicyCommunity, PrefixMatch, Rule};
use rr_core::{ConnId, Engine, EngineConfig, Instant, Output, PeerConfig, PeerId, Role};

#[path = "../benches/common/workload.rs"]
mod workload;
use workload::{AS, frame};

/// What each peer was sent: prefix to the UPDATE attributes, applied in order.
#[derive(Default)]
struct Sim {
    e: Option<Engine>,
    peers: HashMap<&'static str, (PeerId, ConnId)>,
    held: HashMap<ConnId, BTreeMap<Prefix, Update>>,
    /// UPDATEs (other than End-of-RIB) each connection was sent.
    sent: HashMap<ConnId, usize>,
}

impl Sim {
    fn new() -> Sim {
        Sim {
            e: Some(Engine::new(EngineConfig::new("10.0.0.1".parse().unwrap(), AS))),
            ..Sim::default()
        }
    }

    fn e(&mut self) -> &mut Engine {
        self.e.as_mut().unwrap()
    }

    fn add(&mut self, name: &'static str, addr: &str, cfg: impl FnOnce(&mut PeerConfig)) {
        let now = Instant::from_millis(1);
        let mut c = PeerConfig::new(addr.parse().unwrap(), AS, Role::RrClient);
        c.passive = true;
        cfg(&mut c);
        let e = self.e();
        let id = e.add_peer(now, c).unwrap();
        let (_, conn) = e.handle_incoming(now, addr.parse().unwrap(), None).unwrap();
        let open = Open::new(
            Asn::new(AS).unwrap(),
            HoldTime::DEFAULT,
            RouterId::new(addr.parse().unwrap()).unwrap(),
            vec![
                Capability::MultiProtocol(AfiSafi::IPV4_UNICAST),
                Capability::FourOctetAs(AS),
            ],
        );
        e.handle_frame(now, conn, &frame(Message::Open(open)));
        e.handle_frame(now, conn, &frame(Message::Keepalive));
        self.peers.insert(name, (id, conn));
        self.drain();
    }

    fn id(&self, name: &str) -> PeerId {
        self.peers[name].0
    }

    fn drain(&mut self) {
        let ctx = DecodeCtx {
            four_octet_as: true,
            ..DecodeCtx::default()
        };
        while let Some(o) = self.e().poll_output() {
            let Output::Send { conn, bytes } = o else { continue };
            for m in rr_core::split_messages(&bytes) {
                let Ok(Message::Update(u)) = Message::decode(&m, &ctx) else {
                    continue;
                };
                if u.end_of_rib().is_some() {
                    continue;
                }
                *self.sent.entry(conn).or_default() += 1;
                let t = self.held.entry(conn).or_default();
                for (_, n) in u.withdrawals() {
                    t.remove(&n.prefix);
                }
                for (_, n) in u.announced() {
                    t.insert(n.prefix, u.clone());
                }
            }
        }
    }

    /// `from` announces `prefixes` with `as_path` and `communities`.
    fn announce(&mut self, from: &str, prefixes: &[&str], as_path: &[u32], communities: &[Community]) {
        let conn = self.peers[from].1;
        let mut attributes = vec![
            PathAttribute::new(AttrValue::Origin(bgp_wire::Origin::Igp)),
            PathAttribute::new(AttrValue::AsPath(AsPath::from_sequence(as_path.iter().copied()))),
            PathAttribute::new(AttrValue::NextHop("10.9.9.9".parse().unwrap())),
            PathAttribute::new(AttrValue::LocalPref(100)),
        ];
        if !communities.is_empty() {
            attributes.push(PathAttribute::new(AttrValue::Communities(communities.to_vec())));
        }
        let upd = Update {
            withdrawn: vec![],
            attributes,
            nlri: prefixes.iter().map(|p| Nlri::new(p.parse().unwrap())).collect(),
        };
        self.e()
            .handle_frame(Instant::from_millis(2), conn, &frame(Message::Update(upd)));
        self.drain();
    }

    fn held(&self, name: &str) -> Vec<String> {
        let conn = self.peers[name].1;
        self.held
            .get(&conn)
            .map(|t| t.keys().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    fn update_of(&self, name: &str, prefix: &str) -> Update {
        self.held[&self.peers[name].1][&prefix.parse::<Prefix>().unwrap()].clone()
    }

    fn sent(&self, name: &str) -> usize {
        self.sent.get(&self.peers[name].1).copied().unwrap_or(0)
    }

    fn set(&mut self, name: &str, f: impl FnOnce(&mut PeerConfig)) {
        let id = self.id(name);
        let mut c = self.e().peer_info_of(id).unwrap().config;
        f(&mut c);
        self.e().update_peer(Instant::from_millis(3), id, c).unwrap();
        self.drain();
    }

    fn transitions(&mut self, name: &str) -> u64 {
        let id = self.id(name);
        self.e().peer_info_of(id).unwrap().stats.established_transitions
    }
}

fn reject(prefixes: &[&str]) -> Policy {
    Policy::new(
        prefixes
            .iter()
            .map(|p| {
                Rule::new(
                    Match {
                        prefix: Some(PrefixMatch::exact(p.parse().unwrap())),
                        ..Match::default()
                    },
                    Action::Reject,
                )
            })
            .collect(),
        Action::Accept,
    )
}

const P1: &str = "10.1.0.0/16";
const P2: &str = "10.2.0.0/16";

#[test]
fn import_policy_rejects_and_a_loosened_policy_re_evaluates_without_refresh() {
    let mut s = Sim::new();
    s.add("a", "10.0.0.2", |c| c.import_policy = reject(&[P1]));
    s.add("b", "10.0.0.3", |_| {});
    s.announce("a", &[P1, P2], &[], &[]);
    assert_eq!(s.held("b"), [P2]);
    let a = s.id("a");
    assert_eq!(
        s.e().peer_info_of(a).unwrap().prefixes_received,
        2,
        "the Adj-RIB-In keeps both"
    );
    assert_eq!(s.e().peer_info_of(a).unwrap().accepted_by_family[0], 1);
    // The whole-table listing counts the same (gathered in one pass over the Loc-RIB).
    let all = s.e().peers().find(|p| p.id == a).unwrap();
    assert_eq!((all.prefixes_received, all.accepted_by_family[0]), (2, 1));
    assert_eq!(s.e().import_accepted(a, &P1.parse().unwrap(), 0), Some(false));
    assert!(s.e().route(&P1.parse().unwrap()).is_none());
    assert!(
        !s.e().prefixes().any(|p| p.to_string() == P1),
        "{P1} has no accepted path"
    );
    // Loosen: the kept path is accepted with nothing new from "a".
    let before = s.sent("b");
    s.set("a", |c| c.import_policy = Policy::default());
    assert_eq!(s.held("b"), [P1, P2]);
    assert_eq!(s.sent("b"), before + 1, "only the changed route is announced");
    // Tighten again: withdrawn.
    s.set("a", |c| c.import_policy = reject(&[P1, P2]));
    assert!(s.held("b").is_empty());
    assert_eq!(
        (s.transitions("a"), s.transitions("b")),
        (1, 1),
        "no session reset"
    );
}

#[test]
fn import_modifications_are_reflected_and_undone_live() {
    let mut s = Sim::new();
    let tag = Community::new(65000, 42);
    let pol = Policy::new(
        vec![Rule {
            matches: Match {
                prefix: Some(PrefixMatch::within("10.0.0.0/8".parse().unwrap(), 8, 32)),
                ..Match::default()
            },
            action: Action::Accept,
            modifications: vec![
                Modification::AddCommunity(PolicyCommunity::Standard(tag)),
                Modification::SetLocalPref(300),
            ],
        }],
        Action::Accept,
    );
    s.add("a", "10.0.0.2", |c| c.import_policy = pol);
    s.add("b", "10.0.0.3", |_| {});
    s.announce("a", &[P1, "192.168.0.0/16"], &[], &[]);
    let u = s.update_of("b", P1);
    assert!(u.communities().contains(&tag));
    assert_eq!(u.local_pref(), Some(300));
    let u = s.update_of("b", "192.168.0.0/16");
    assert!(!u.communities().contains(&tag));
    assert_eq!(u.local_pref(), Some(100));
    // The Adj-RIB-In shows the attributes as received.
    let a = s.id("a");
    let e = s.e();
    let (_, _, attrs, _) = e.adj_rib_in(a).find(|(p, ..)| p.to_string() == P1).unwrap();
    assert!(!attrs.has_community(tag));
    s.set("a", |c| c.import_policy = Policy::default());
    let u = s.update_of("b", P1);
    assert!(!u.communities().contains(&tag), "modification undone");
    assert_eq!(u.local_pref(), Some(100));
}

#[test]
fn export_policy_is_part_of_the_group_key_and_changes_send_only_the_difference() {
    let mut s = Sim::new();
    s.add("a", "10.0.0.2", |_| {});
    s.add("b", "10.0.0.3", |c| c.export_policy = reject(&[P2]));
    s.add("c", "10.0.0.4", |_| {});
    s.add("d", "10.0.0.5", |c| c.export_policy = reject(&[P2]));
    assert_eq!(s.e().update_groups(), 2, "equal export policies share one group");
    s.announce("a", &[P1, P2], &[], &[]);
    assert_eq!(s.held("b"), [P1]);
    assert_eq!(s.held("d"), [P1]);
    assert_eq!(s.held("c"), [P1, P2]);
    let (b0, c0) = (s.sent("b"), s.sent("c"));
    // Loosen b's policy: b joins c's group and is sent P2 only.
    s.set("b", |c| c.export_policy = Policy::default());
    assert_eq!(s.held("b"), [P1, P2]);
    assert_eq!(s.sent("b"), b0 + 1);
    assert_eq!(s.sent("c"), c0, "the others are sent nothing");
    assert_eq!(s.e().update_groups(), 2);
    // Hide P1 from c: a withdrawal, nothing else.
    s.set("c", |c| c.export_policy = reject(&[P1]));
    assert_eq!(s.held("c"), [P2]);
    assert_eq!(s.sent("c"), c0 + 1);
    // The groups follow the routes after the move.
    s.announce("a", &["10.3.0.0/16"], &[], &[]);
    assert_eq!(s.held("c"), [P2, "10.3.0.0/16"]);
    assert_eq!(s.held("b"), [P1, P2, "10.3.0.0/16"]);
    for n in ["a", "b", "c", "d"] {
        assert_eq!(s.transitions(n), 1, "{n}: no session reset");
    }
}

#[test]
fn export_prepend_and_match_on_as_path_and_community() {
    let mut s = Sim::new();
    let tag = Community::new(65000, 7);
    let pol = Policy::new(
        vec![
            Rule::new(
                Match {
                    communities: vec![PolicyCommunity::Standard(tag)],
                    ..Match::default()
                },
                Action::Reject,
            ),
            Rule {
                matches: Match {
                    as_path_prefix: vec![65010],
                    ..Match::default()
                },
                action: Action::Accept,
                modifications: vec![Modification::PrependAsPath(vec![65099, 65099])],
            },
        ],
        Action::Accept,
    );
    s.add("a", "10.0.0.2", |_| {});
    s.add("b", "10.0.0.3", |c| c.export_policy = pol);
    s.announce("a", &[P1], &[65010, 65020], &[]);
    s.announce("a", &[P2], &[65020], &[tag]);
    s.announce("a", &["10.3.0.0/16"], &[65020], &[]);
    assert_eq!(s.held("b"), [P1, "10.3.0.0/16"]);
    let path: Vec<u32> = s.update_of("b", P1).as_path().unwrap().asns().collect();
    assert_eq!(path, [65099, 65099, 65010, 65020]);
    let path: Vec<u32> = s
        .update_of("b", "10.3.0.0/16")
        .as_path()
        .unwrap()
        .asns()
        .collect();
    assert_eq!(path, [65020]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever sequence of import and export policy changes: each client holds exactly the
    /// prefixes both the source's import policy and its own export policy accept, and no session
    /// is reset.
    #[test]
    fn live_policy_changes_converge_to_the_policies_in_force(
        steps in prop::collection::vec((0u8..3, prop::collection::vec(any::<bool>(), 6)), 1..12),
    ) {
        let prefixes: Vec<String> = (0..6).map(|i| format!("10.{i}.0.0/16")).collect();
        let all: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        let mut s = Sim::new();
        s.add("a", "10.0.0.2", |_| {});
        s.add("b", "10.0.0.3", |_| {});
        s.add("c", "10.0.0.4", |_| {});
        s.announce("a", &all, &[], &[]);
        let (mut imp, mut exp_b, mut exp_c) = (vec![false; 6], vec![false; 6], vec![false; 6]);
        for (who, mask) in steps {
            let rejected: Vec<&str> = all.iter().zip(&mask).filter(|(_, r)| **r).map(|(p, _)| *p).collect();
            match who {
                0 => { s.set("a", |c| c.import_policy = reject(&rejected)); imp = mask; }
                1 => { s.set("b", |c| c.export_policy = reject(&rejected)); exp_b = mask; }
                _ => { s.set("c", |c| c.export_policy = reject(&rejected)); exp_c = mask; }
            }
            for (name, exp) in [("b", &exp_b), ("c", &exp_c)] {
                let mut want: Vec<String> = (0..6).filter(|&i| !imp[i] && !exp[i]).map(|i| prefixes[i].clone()).collect();
                want.sort();
                prop_assert_eq!(s.held(name), want, "{}", name);
            }
        }
        for n in ["a", "b", "c"] {
            prop_assert_eq!(s.transitions(n), 1);
        }
    }
}

proptest! {
    /// `PrefixMatch` agrees with the arithmetic definition (same leading bits, length in range), and
    /// negation is its complement.
    #[test]
    fn prefix_match_is_the_arithmetic_definition(
        net in any::<u32>(), net_len in 0u8..=32, lo in 0u8..=32, hi in 0u8..=32,
        addr in any::<u32>(), len in 0u8..=32,
    ) {
        let mask = |l: u8| if l == 0 { 0 } else { u32::MAX << (32 - l) };
        let n: Prefix = format!("{}/{net_len}", std::net::Ipv4Addr::from(net & mask(net_len))).parse().unwrap();
        let p: Prefix = format!("{}/{len}", std::net::Ipv4Addr::from(addr & mask(len))).parse().unwrap();
        let m = PrefixMatch::within(n, lo, hi);
        let want = len >= net_len && (addr & mask(net_len)) == (net & mask(net_len)) && (lo..=hi).contains(&len);
        prop_assert_eq!(m.matches(&p), want);
        prop_assert_eq!(m.negated().matches(&p), !want);
    }
}
