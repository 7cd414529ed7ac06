//! Sans-I/O BGP route reflection engine: session FSM, RIB, best path, RFC 4456 reflection, update groups.
//!
//! The [`Engine`] takes decoded messages, connection events and the current time, and returns
//! [`Output`]s: bytes to send, connections to open or close, session state changes. It never
//! touches a socket, a clock or a global RNG, so the same engine runs under the tokio daemon, a
//! deterministic test harness on virtual time, or a fuzzer.
//!
//! Modules: [`session`] (RFC 4271 FSM and OPEN negotiation), [`timer`] (enum-indexed timers and
//! seeded jitter), [`attrs`] (interned attribute sets), [`best_path`] (RFC 4271 9.1.2.2 and RFC
//! 4456 section 9), [`reflect`] (RFC 4456 section 8 rules), the RIBs and update groups inside
//! [`Engine`].

mod encode;
mod engine;
mod group;
mod output;
mod rib;
mod wire;

pub mod attrs;
pub mod best_path;
pub mod config;
pub mod reflect;
pub mod session;
pub mod timer;
pub mod types;

pub use config::{EngineConfig, GracefulRestartConfig, PeerConfig, Role};
pub use engine::{ConfigError, Engine, PathInfo, PeerInfo, PeerStats, RibMemory, RouteInfo};
pub use output::{DownReason, Output};
pub use session::{Negotiated, State};
pub use types::{ConnId, Direction, Family, FamilySet, Instant, PeerId, Prefix};
pub use wire::Notification;
