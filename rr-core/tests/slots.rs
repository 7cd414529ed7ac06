//! Peer slots: a removed peer's slot is reused, and an id kept from its old occupant is refused.

use std::net::{IpAddr, Ipv4Addr};

use rr_core::{ConfigError, Engine, EngineConfig, Instant, PeerConfig, Role};

fn engine() -> Engine {
    let mut c = EngineConfig::new("10.0.0.1".parse().unwrap(), 64512);
    c.selection_deferral = None;
    Engine::new(c)
}

fn addr(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a01_0000 + i))
}

fn client(i: u32) -> PeerConfig {
    let mut c = PeerConfig::new(addr(i), 64512, Role::RrClient);
    c.passive = true;
    c
}

#[test]
fn ten_thousand_peers_added_and_removed_keep_the_table_at_the_live_count() {
    let mut e = engine();
    let now = Instant::ZERO;
    // Three peers stay for the whole run.
    let keep: Vec<_> = (0..3).map(|i| e.add_peer(now, client(i)).unwrap()).collect();
    let mut live = std::collections::VecDeque::new();
    for i in 0..10_000u32 {
        live.push_back(e.add_peer(now, client(100 + i)).unwrap());
        // At most five come and go at once.
        if live.len() == 5 {
            let id = live.pop_front().unwrap();
            e.remove_peer(now, id).unwrap();
        }
        while e.poll_output().is_some() {}
    }
    assert_eq!(e.peers().count(), 3 + 4);
    assert_eq!(
        e.peer_slots(),
        3 + 5,
        "the table never holds more than the peers configured at once"
    );
    for id in keep {
        assert!(e.peer_info_of(id).is_some());
    }
    assert_eq!(
        e.poll_timeout(),
        None,
        "passive peers arm no timer, and removed ones left none"
    );
}

#[test]
fn a_stale_id_is_refused_not_taken_for_the_new_occupant() {
    let mut e = engine();
    let now = Instant::ZERO;
    let old = e.add_peer(now, client(1)).unwrap();
    e.remove_peer(now, old).unwrap();
    let new = e.add_peer(now, client(2)).unwrap();
    assert_eq!(e.peer_slots(), 1, "the slot was reused");
    assert_ne!(old, new);
    assert_eq!(e.peer_info_of(old).map(|p| p.id), None);
    assert_eq!(e.remove_peer(now, old), Err(ConfigError::UnknownPeer(old)));
    assert_eq!(e.reset_peer(now, old, None), Err(ConfigError::UnknownPeer(old)));
    assert_eq!(
        e.update_peer(now, old, client(3)),
        Err(ConfigError::UnknownPeer(old))
    );
    assert!(!e.route_refresh(now, old));
    // The new peer is untouched by the calls made with the stale id.
    let info = e.peer_info_of(new).unwrap();
    assert_eq!(info.config.remote_addr, addr(2));
    assert_eq!(e.peer_by_addr(addr(2)), Some(new));
    assert_eq!(e.peer_by_addr(addr(1)), None);
    assert_ne!(old.to_string(), new.to_string());
}
