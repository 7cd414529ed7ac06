//! Sans-I/O BGP route reflection engine: session FSM, RIB, best path, RFC 4456 reflection, update groups.
//!
//! The [`Engine`] takes decoded messages, connection events and the current time, and returns
//! [`Output`]s: bytes to send, connections to open or close, session state changes. It never
//! touches a socket, a clock or a global RNG, so the same engine runs under the tokio daemon, a
//! deterministic test harness on virtual time, or a fuzzer.
//!
//! # Driving an engine
//!
//! The caller owns sockets and time. A typical loop: feed everything that arrived
//! (`handle_incoming`, `handle_connected`, each received message with `handle_received` (or
//! `handle_frame`, which decodes it first), `handle_disconnected`), call `handle_timeout` when `poll_timeout` is due, then drain
//! `poll_output` and act on each [`Output`]. Draining runs best path, reflection and update-group
//! encoding once for everything fed since the last drain.
//!
//! ```
//! use bgp_wire::{Asn, Capability, DecodeCtx, EncodeCtx, HoldTime, Message, Open, RouterId};
//! use bytes::BytesMut;
//! use rr_core::{Engine, EngineConfig, Instant, Output, PeerConfig, Role, State, split_messages};
//!
//! let mut rr = Engine::new(EngineConfig::new("192.0.2.1".parse()?, 64512));
//! let t0 = Instant::ZERO;
//! let mut client = PeerConfig::new("192.0.2.2".parse()?, 64512, Role::RrClient);
//! client.passive = true;
//! let peer = rr.add_peer(t0, client)?;
//!
//! // The client connects and sends its OPEN and a KEEPALIVE (encoded with bgp-wire).
//! let (_, conn) = rr.handle_incoming(t0, "192.0.2.2".parse()?, None).expect("configured peer");
//! let open = Open::new(Asn::new(64512)?, HoldTime::DEFAULT, RouterId::new("192.0.2.2".parse()?)?,
//!     vec![Capability::FourOctetAs(64512)]);
//! for m in [Message::Open(open), Message::Keepalive] {
//!     let mut buf = BytesMut::new();
//!     m.encode(&EncodeCtx::default(), &mut buf)?;
//!     rr.handle_frame(t0, conn, &buf.freeze());
//! }
//!
//! // The engine answered with OPEN, KEEPALIVE, the (empty) table and End-of-RIB.
//! let mut sent = Vec::new();
//! while let Some(o) = rr.poll_output() {
//!     match o {
//!         // One or more whole messages per send.
//!         Output::Send { bytes, .. } => for m in split_messages(&bytes) {
//!             sent.push(Message::decode(&m, &DecodeCtx::default())?);
//!         },
//!         Output::Established { decode_ctx, .. } => assert!(decode_ctx.four_octet_as),
//!         _ => {}
//!     }
//! }
//! assert!(matches!(sent[0], Message::Open(_)));
//! assert!(matches!(sent.last(), Some(Message::Update(u)) if u.end_of_rib().is_some()));
//! assert_eq!(rr.peer_info_of(peer).unwrap().state, State::Established);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # For embedders
//!
//! Besides reflecting, an engine can carry routes of its own ([`Engine::originate`],
//! [`Engine::withdraw_local`]), report its Loc-RIB's best-path changes as outputs
//! ([`Engine::set_loc_rib_events`], [`Output::LocRibChanged`]), and change its router id, AS and
//! cluster id in place ([`Engine::set_identity`]). `examples/` has a runnable program per use.
//!
//! Public modules: [`attrs`] (the attribute sets routes carry), [`best_path`] (RFC 4271 9.1.2.2
//! and RFC 4456 section 9), [`reflect`] (RFC 4456 section 8 rules), [`policy`] (import and export
//! route policy). Everything else is at the crate root; the session FSM, timers, RIBs and update
//! groups are inside [`Engine`]. `tests/public-api.txt` lists every public item.

mod config;
mod encode;
mod engine;
mod group;
mod hash;
mod output;
mod peers;
mod pmap;
mod rib;
mod session;
mod timer;
mod types;
mod wire;

pub mod attrs;
pub mod best_path;
pub mod policy;
pub mod reflect;

pub use config::{EngineConfig, GracefulRestartConfig, NextHopMode, PeerConfig, Role};
pub use engine::{ConfigError, Engine, OriginateError, PathInfo, PeerInfo, PeerStats, RibMemory, RouteInfo};
pub use output::{DownReason, Output, split_messages};
pub use session::{Event, Negotiated, PeerGr, State};
pub use types::{ConnId, Direction, Family, FamilySet, Instant, PeerId, Prefix, PrefixFamily};
pub use wire::{Notification, Received};
