//! One test per RFC 4271 section 8.2.2 transition the engine implements, driving a single engine
//! directly (no harness): events in, outputs checked.

use std::time::Duration;

use bgp_wire::{Asn, Capability, DecodeCtx, HoldTime, Message, Notification, Open, RouterId, frame_len};
use bytes::Bytes;
use rr_core::{ConnId, DownReason, Engine, EngineConfig, Instant, Output, PeerConfig, PeerId, Role, State};

const AS: u32 = 64512;

fn t(secs: u64) -> Instant {
    Instant::from_millis(secs * 1000)
}

fn engine() -> Engine {
    let mut c = EngineConfig::new("10.0.0.1".parse().unwrap(), AS);
    // These tests follow one peer's timers; the route-selection deferral has its own tests.
    c.selection_deferral = None;
    Engine::new(c)
}

fn cfg(passive: bool) -> PeerConfig {
    let mut c = PeerConfig::new("10.0.0.2".parse().unwrap(), AS, Role::RrClient);
    c.passive = passive;
    c
}

fn drain(e: &mut Engine) -> Vec<Output> {
    std::iter::from_fn(|| e.poll_output()).collect()
}

/// Every message in the `Send` outputs.
fn sent(outs: &[Output]) -> Vec<Message> {
    let mut v = Vec::new();
    for o in outs {
        if let Output::Send { bytes, .. } = o {
            let mut b = bytes.clone();
            while !b.is_empty() {
                let len = frame_len(&b, 65535).unwrap().unwrap();
                let f = b.split_to(len);
                v.push(Message::decode(&f, &DecodeCtx::default()).unwrap());
            }
        }
    }
    v
}

fn notification(outs: &[Output]) -> Option<Notification> {
    sent(outs).into_iter().find_map(|m| match m {
        Message::Notification(n) => Some(n),
        _ => None,
    })
}

fn peer_open(asn: u32, rid: &str, hold: u16) -> Message {
    Message::Open(Open::new(
        Asn::new(asn).unwrap(),
        HoldTime::new(hold).unwrap(),
        RouterId::new(rid.parse().unwrap()).unwrap(),
        vec![Capability::FourOctetAs(asn), Capability::RouteRefresh],
    ))
}

fn state(e: &Engine, p: PeerId) -> State {
    e.peer_info_of(p).unwrap().state
}

/// Idle -> Connect -> OpenSent.
fn to_opensent(e: &mut Engine) -> (PeerId, ConnId) {
    let p = e.add_peer(t(0), cfg(false)).unwrap();
    let conn = match drain(e).as_slice() {
        [Output::Connect { conn, .. }] => *conn,
        other => panic!("{other:?}"),
    };
    e.handle_connected(t(0), conn, Some("10.0.0.1".parse().unwrap()));
    drain(e);
    (p, conn)
}

fn to_openconfirm(e: &mut Engine) -> (PeerId, ConnId) {
    let (p, c) = to_opensent(e);
    e.handle_received(t(1), c, peer_open(AS, "10.0.0.2", 30));
    drain(e);
    (p, c)
}

fn to_established(e: &mut Engine) -> (PeerId, ConnId) {
    let (p, c) = to_openconfirm(e);
    e.handle_received(t(1), c, Message::Keepalive);
    drain(e);
    (p, c)
}

#[test]
fn idle_to_connect_on_manual_start() {
    let mut e = engine();
    let p = e.add_peer(t(0), cfg(false)).unwrap();
    let outs = drain(&mut e);
    assert!(matches!(outs.as_slice(), [Output::Connect { peer, .. }] if *peer == p));
    assert_eq!(state(&e, p), State::Connect);
}

#[test]
fn passive_start_waits_in_active_then_accepts() {
    let mut e = engine();
    let p = e.add_peer(t(0), cfg(true)).unwrap();
    assert!(drain(&mut e).is_empty());
    assert_eq!(state(&e, p), State::Active);
    let (pp, _c) = e
        .handle_incoming(t(1), "10.0.0.2".parse().unwrap(), None)
        .unwrap();
    assert_eq!(pp, p);
    let msgs = sent(&drain(&mut e));
    assert!(matches!(msgs.as_slice(), [Message::Open(_)]));
    assert_eq!(state(&e, p), State::OpenSent);
}

#[test]
fn incoming_from_unknown_address_is_refused() {
    let mut e = engine();
    e.add_peer(t(0), cfg(true)).unwrap();
    assert!(
        e.handle_incoming(t(1), "10.9.9.9".parse().unwrap(), None)
            .is_none()
    );
}

#[test]
fn connect_to_opensent_sends_open_with_capabilities() {
    let mut e = engine();
    let p = e.add_peer(t(0), cfg(false)).unwrap();
    let Some(Output::Connect { conn, .. }) = e.poll_output() else {
        panic!()
    };
    e.handle_connected(t(0), conn, None);
    let msgs = sent(&drain(&mut e));
    let Message::Open(o) = &msgs[0] else {
        panic!("{msgs:?}")
    };
    assert_eq!(o.asn(), AS);
    assert_eq!(o.hold_time.secs(), 90);
    let codes: Vec<u8> = o.capabilities().map(Capability::code).collect();
    for c in [1, 2, 65, 69, 70, 64, 6] {
        assert!(codes.contains(&c), "capability {c} missing from {codes:?}");
    }
    assert_eq!(state(&e, p), State::OpenSent);
}

#[test]
fn connect_failure_goes_active_and_retries_after_jittered_connect_retry() {
    let mut e = engine();
    let p = e.add_peer(t(0), cfg(false)).unwrap();
    let Some(Output::Connect { conn, .. }) = e.poll_output() else {
        panic!()
    };
    e.handle_connect_failed(t(1), conn);
    assert_eq!(state(&e, p), State::Active);
    let at = e.poll_timeout().unwrap();
    assert!(
        at >= t(1) + Duration::from_secs(90) && at <= t(1) + Duration::from_secs(120),
        "{at:?}"
    );
    e.handle_timeout(at);
    assert!(matches!(drain(&mut e).as_slice(), [Output::Connect { .. }]));
}

/// A peer with a 5 s retry growing to 120 s (the daemon's policy for absent clients).
fn backoff_cfg() -> PeerConfig {
    let mut c = cfg(false);
    c.connect_retry = Duration::from_secs(5);
    c.connect_retry_max = Duration::from_secs(120);
    c
}

/// The next `Connect` the engine asks for, firing its retry timer (after closing an unanswered attempt,
/// if any); returns (conn, time of the attempt).
fn next_attempt(e: &mut Engine) -> (ConnId, Instant) {
    let at = e.poll_timeout().expect("a retry is scheduled");
    e.handle_timeout(at);
    match drain(e).as_slice() {
        [Output::Connect { conn, .. }] | [Output::Close { .. }, Output::Connect { conn, .. }] => (*conn, at),
        other => panic!("{other:?}"),
    }
}

/// Asserts that the retry scheduled at `now` waits `base` seconds, jittered to 0.75..=1.0 of it.
fn assert_retry_in(e: &Engine, now: Instant, base: u64) {
    let wait = Duration::from_nanos(e.poll_timeout().unwrap().as_nanos() - now.as_nanos());
    let base = Duration::from_secs(base);
    assert!(
        wait >= base * 3 / 4 && wait <= base,
        "waits {wait:?}, expected about {base:?}"
    );
}

#[test]
fn refused_attempts_back_off_doubling_to_the_cap_with_jitter() {
    let mut e = engine();
    let p = e.add_peer(t(0), backoff_cfg()).unwrap();
    let Some(Output::Connect { mut conn, .. }) = e.poll_output() else {
        panic!()
    };
    let mut now = t(0);
    for (n, base) in [5, 10, 20, 40, 80, 120, 120, 120].into_iter().enumerate() {
        e.handle_connect_failed(now, conn);
        assert_eq!(e.peer_info_of(p).unwrap().connect_failures, n as u32 + 1);
        assert_eq!(state(&e, p), State::Active);
        assert_retry_in(&e, now, base);
        (conn, now) = next_attempt(&mut e);
    }
}

#[test]
fn unanswered_attempts_count_as_failures_and_back_off() {
    let mut e = engine();
    let p = e.add_peer(t(0), backoff_cfg()).unwrap();
    drain(&mut e);
    // Nobody answers: each ConnectRetry expiry drops the attempt and starts the next, waiting longer.
    let mut now = t(0);
    for (n, base) in [5, 10, 20, 40].into_iter().enumerate() {
        assert_retry_in(&e, now, base);
        (_, now) = next_attempt(&mut e);
        assert_eq!(e.peer_info_of(p).unwrap().connect_failures, n as u32 + 1);
    }
}

#[test]
fn backoff_restarts_when_the_peer_connects_to_us_or_is_reconfigured() {
    let mut e = engine();
    let p = e.add_peer(t(0), backoff_cfg()).unwrap();
    let Some(Output::Connect { mut conn, .. }) = e.poll_output() else {
        panic!()
    };
    let mut now = t(0);
    for _ in 0..5 {
        e.handle_connect_failed(now, conn);
        (conn, now) = next_attempt(&mut e);
    }
    e.handle_connect_failed(now, conn);
    assert_retry_in(&e, now, 120);
    // The peer connects to us; the connection then fails before OPEN.
    let (_, inbound) = e.handle_incoming(now, "10.0.0.2".parse().unwrap(), None).unwrap();
    assert_eq!(e.peer_info_of(p).unwrap().connect_failures, 0);
    e.handle_disconnected(now, inbound);
    drain(&mut e);
    (conn, now) = next_attempt(&mut e);
    e.handle_connect_failed(now, conn);
    assert_retry_in(&e, now, 5);
    for _ in 0..4 {
        (conn, now) = next_attempt(&mut e);
        e.handle_connect_failed(now, conn);
    }
    assert_retry_in(&e, now, 80);
    // A configuration change (here the keepalive, which does not reset the session) restarts the count.
    let mut c = backoff_cfg();
    c.keepalive = Some(Duration::from_secs(10));
    e.update_peer(now, p, c).unwrap();
    assert_eq!(e.peer_info_of(p).unwrap().connect_failures, 0);
    assert_retry_in(&e, now, 5);
}

#[test]
fn equal_retry_and_cap_keep_a_fixed_interval() {
    let mut e = engine();
    let mut c = backoff_cfg();
    c.connect_retry_max = c.connect_retry;
    e.add_peer(t(0), c).unwrap();
    let Some(Output::Connect { mut conn, .. }) = e.poll_output() else {
        panic!()
    };
    let mut now = t(0);
    for _ in 0..6 {
        e.handle_connect_failed(now, conn);
        assert_retry_in(&e, now, 5);
        (conn, now) = next_attempt(&mut e);
    }
}

#[test]
fn opensent_to_openconfirm_on_valid_open() {
    let mut e = engine();
    let (p, c) = to_opensent(&mut e);
    e.handle_received(t(1), c, peer_open(AS, "10.0.0.2", 30));
    let msgs = sent(&drain(&mut e));
    assert!(matches!(msgs.as_slice(), [Message::Keepalive]));
    assert_eq!(state(&e, p), State::OpenConfirm);
}

#[test]
fn opensent_bad_peer_as_sends_open_error_2_2() {
    let mut e = engine();
    let (p, c) = to_opensent(&mut e);
    e.handle_received(t(1), c, peer_open(65000, "10.0.0.2", 30));
    let outs = drain(&mut e);
    let n = notification(&outs).unwrap();
    assert_eq!((n.code, n.subcode), (2, 2));
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Close { conn } if *conn == c))
    );
    assert_ne!(state(&e, p), State::OpenSent);
}

#[test]
fn opensent_own_router_id_sends_bad_bgp_identifier_2_3() {
    let mut e = engine();
    let (_p, c) = to_opensent(&mut e);
    e.handle_received(t(1), c, peer_open(AS, "10.0.0.1", 30));
    let n = notification(&drain(&mut e)).unwrap();
    assert_eq!((n.code, n.subcode), (2, 3));
}

#[test]
fn opensent_hold_timer_expires_after_four_minutes() {
    let mut e = engine();
    let (_p, _c) = to_opensent(&mut e);
    assert_eq!(e.poll_timeout(), Some(t(240)));
    e.handle_timeout(t(240));
    let n = notification(&drain(&mut e)).unwrap();
    assert_eq!((n.code, n.subcode), (4, 0));
    assert_eq!(
        e.peer_info_of(_p).unwrap().last_event,
        Some(rr_core::Event::HoldTimerExpires)
    );
}

#[test]
fn opensent_unexpected_keepalive_is_fsm_error_5_1() {
    let mut e = engine();
    let (_p, c) = to_opensent(&mut e);
    e.handle_received(t(1), c, Message::Keepalive);
    let n = notification(&drain(&mut e)).unwrap();
    assert_eq!((n.code, n.subcode), (5, 1));
}

#[test]
fn openconfirm_to_established_on_keepalive() {
    let mut e = engine();
    let (p, c) = to_openconfirm(&mut e);
    e.handle_received(t(2), c, Message::Keepalive);
    let outs = drain(&mut e);
    let est = outs.iter().find_map(|o| match o {
        Output::Established {
            peer,
            conn,
            decode_ctx,
            negotiated,
        } => Some((*peer, *conn, decode_ctx.clone(), negotiated.clone())),
        _ => None,
    });
    let (pp, cc, ctx, neg) = est.expect("Established output");
    assert_eq!((pp, cc), (p, c));
    assert!(ctx.four_octet_as);
    assert_eq!(neg.hold_time, Duration::from_secs(30));
    assert_eq!(state(&e, p), State::Established);
    // The initial table is empty: just End-of-RIB for IPv4 (the peer has no MP capability).
    let eor: Vec<_> = sent(&outs)
        .into_iter()
        .filter_map(|m| match m {
            Message::Update(u) => u.end_of_rib(),
            _ => None,
        })
        .collect();
    assert_eq!(eor, vec![bgp_wire::AfiSafi::IPV4_UNICAST]);
}

#[test]
fn openconfirm_hold_timer_expires_with_negotiated_hold() {
    let mut e = engine();
    let (_p, _c) = to_openconfirm(&mut e);
    // Keepalive every <= 10 s fires first; the hold timer at 1 + 30 s.
    e.handle_timeout(t(31));
    let n = notification(&drain(&mut e)).unwrap();
    assert_eq!((n.code, n.subcode), (4, 0));
}

#[test]
fn openconfirm_unexpected_open_is_fsm_error_5_2() {
    let mut e = engine();
    let (_p, c) = to_openconfirm(&mut e);
    e.handle_received(t(2), c, peer_open(AS, "10.0.0.2", 30));
    let n = notification(&drain(&mut e)).unwrap();
    assert_eq!((n.code, n.subcode), (5, 2));
}

#[test]
fn established_keepalive_timer_sends_keepalive() {
    let mut e = engine();
    let (_p, _c) = to_established(&mut e);
    let at = e.poll_timeout().unwrap();
    assert!(
        at <= t(1) + Duration::from_secs(10),
        "keepalive at most hold/3: {at:?}"
    );
    e.handle_timeout(at);
    assert!(matches!(sent(&drain(&mut e)).as_slice(), [Message::Keepalive]));
}

#[test]
fn established_hold_timer_expiry_takes_session_down() {
    let mut e = engine();
    let (p, c) = to_established(&mut e);
    let mut now = t(1);
    let mut outs = Vec::new();
    while now < t(40) {
        now = e.poll_timeout().unwrap();
        e.handle_timeout(now);
        outs.extend(drain(&mut e));
    }
    let n = notification(&outs).unwrap();
    assert_eq!((n.code, n.subcode), (4, 0));
    assert!(outs.iter().any(
        |o| matches!(o, Output::SessionDown { peer, reason: DownReason::NotificationSent(_) } if *peer == p)
    ));
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Close { conn } if *conn == c))
    );
}

#[test]
fn established_received_notification_closes_without_answer() {
    let mut e = engine();
    let (p, c) = to_established(&mut e);
    e.handle_received(t(5), c, Message::Notification(Notification::new(6, 2)));
    let outs = drain(&mut e);
    assert!(notification(&outs).is_none());
    assert!(outs.iter().any(|o| matches!(o, Output::SessionDown { reason: DownReason::NotificationReceived(n), .. } if n.subcode == 2)));
    assert_ne!(state(&e, p), State::Established);
}

#[test]
fn established_tcp_failure_reconnects_after_idle_hold() {
    let mut e = engine();
    let (p, c) = to_established(&mut e);
    e.handle_disconnected(t(5), c);
    let outs = drain(&mut e);
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::SessionDown {
            reason: DownReason::ConnectionLost,
            ..
        }
    )));
    assert_eq!(state(&e, p), State::Idle);
    let at = e.poll_timeout().unwrap();
    assert!(at <= t(10));
    e.handle_timeout(at);
    assert!(matches!(drain(&mut e).as_slice(), [Output::Connect { .. }]));
}

#[test]
fn established_open_is_fsm_error_5_3() {
    let mut e = engine();
    let (_p, c) = to_established(&mut e);
    e.handle_received(t(5), c, peer_open(AS, "10.0.0.2", 30));
    let n = notification(&drain(&mut e)).unwrap();
    assert_eq!((n.code, n.subcode), (5, 3));
}

#[test]
fn decode_error_with_session_reset_sends_its_notification() {
    let mut e = engine();
    let (_p, c) = to_established(&mut e);
    // A KEEPALIVE frame with a bad length: Message Header Error / Bad Message Length.
    let mut f = vec![0xff; 16];
    f.extend_from_slice(&[0, 20, 4, 0]);
    e.handle_frame(t(5), c, &Bytes::from(f));
    let n = notification(&drain(&mut e)).unwrap();
    assert_eq!((n.code, n.subcode), (1, 2));
}

#[test]
fn remove_peer_sends_cease_peer_deconfigured() {
    let mut e = engine();
    let (p, _c) = to_established(&mut e);
    e.remove_peer(t(5), p).unwrap();
    let n = notification(&drain(&mut e)).unwrap();
    assert_eq!((n.code, n.subcode), (6, 3));
    assert!(e.peer_info_of(p).is_none());
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn stop_peer_sends_admin_shutdown_with_message_and_stays_idle() {
    let mut e = engine();
    let (p, _c) = to_established(&mut e);
    e.stop_peer(t(5), p, Some("maintenance")).unwrap();
    let n = notification(&drain(&mut e)).unwrap();
    assert_eq!((n.code, n.subcode), (6, 2));
    assert_eq!(n.shutdown_message(), Some(Ok("maintenance")));
    assert_eq!(state(&e, p), State::Idle);
    assert_eq!(
        e.peer_info_of(p).unwrap().last_event,
        Some(rr_core::Event::ManualStop)
    );
    assert_eq!(e.poll_timeout(), None, "no reconnect while stopped");
    e.start_peer(t(6), p).unwrap();
    assert!(matches!(drain(&mut e).as_slice(), [Output::Connect { .. }]));
}

#[test]
fn reset_peer_sends_admin_reset_and_reconnects() {
    let mut e = engine();
    let (p, _c) = to_established(&mut e);
    e.reset_peer(t(5), p, None).unwrap();
    let outs = drain(&mut e);
    let n = notification(&outs).unwrap();
    assert_eq!((n.code, n.subcode), (6, 4));
    assert!(outs.iter().any(|o| matches!(o, Output::Connect { .. })));
}

#[test]
fn config_change_resets_with_cease_6() {
    let mut e = engine();
    let (p, _c) = to_established(&mut e);
    let mut c = cfg(false);
    c.role = Role::NonClient;
    e.update_peer(t(5), p, c).unwrap();
    let n = notification(&drain(&mut e)).unwrap();
    assert_eq!((n.code, n.subcode), (6, 6));
}

#[test]
fn graceful_shutdown_of_all_peers() {
    let mut e = engine();
    let (p, _c) = to_established(&mut e);
    e.shutdown(t(5), Some("bye"));
    let n = notification(&drain(&mut e)).unwrap();
    assert_eq!(n.shutdown_message(), Some(Ok("bye")));
    assert_eq!(state(&e, p), State::Idle);
}

#[test]
fn connect_manual_stop_goes_idle_without_notification() {
    let mut e = engine();
    let p = e.add_peer(t(0), cfg(false)).unwrap();
    drain(&mut e);
    e.stop_peer(t(1), p, None).unwrap();
    let outs = drain(&mut e);
    assert!(
        notification(&outs).is_none(),
        "no OPEN sent yet: nothing to notify"
    );
    assert!(outs.iter().any(|o| matches!(o, Output::Close { .. })));
    assert_eq!(state(&e, p), State::Idle);
}

#[test]
fn opensent_tcp_failure_retries_without_session_down() {
    let mut e = engine();
    let (p, c) = to_opensent(&mut e);
    e.handle_disconnected(t(2), c);
    let outs = drain(&mut e);
    assert!(
        !outs.iter().any(|o| matches!(o, Output::SessionDown { .. })),
        "never established"
    );
    assert_eq!(
        e.peer_info_of(p).unwrap().last_event,
        Some(rr_core::Event::TcpConnectionFails)
    );
    assert!(e.poll_timeout().is_some(), "a retry is scheduled");
}

#[test]
fn openconfirm_notification_received_closes() {
    let mut e = engine();
    let (p, c) = to_openconfirm(&mut e);
    e.handle_received(t(2), c, Message::Notification(Notification::new(2, 2)));
    let outs = drain(&mut e);
    assert!(notification(&outs).is_none());
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Close { conn } if *conn == c))
    );
    assert!(state(&e, p) < State::OpenSent);
}

#[test]
fn established_update_restarts_the_hold_timer() {
    let mut e = engine();
    let (p, c) = to_established(&mut e);
    // KEEPALIVEs from the peer at 20 s and 40 s keep a 30 s hold timer from expiring.
    for s in [20, 40] {
        while let Some(at) = e.poll_timeout().filter(|at| *at <= t(s)) {
            e.handle_timeout(at);
        }
        e.handle_received(t(s), c, Message::Keepalive);
        drain(&mut e);
    }
    assert_eq!(state(&e, p), State::Established);
}

#[test]
fn connect_retry_expiry_in_connect_drops_the_attempt_and_retries() {
    let mut e = engine();
    let p = e.add_peer(t(0), cfg(false)).unwrap();
    let Some(Output::Connect { conn: first, .. }) = e.poll_output() else {
        panic!()
    };
    // The caller never reports the outcome; ConnectRetry fires (Event 9).
    let at = e.poll_timeout().unwrap();
    e.handle_timeout(at);
    let outs = drain(&mut e);
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Close { conn } if *conn == first))
    );
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Connect { conn, .. } if *conn != first))
    );
    assert_eq!(state(&e, p), State::Connect);
    assert_eq!(
        e.peer_info_of(p).unwrap().last_event,
        Some(rr_core::Event::ConnectRetryTimerExpires)
    );
}
