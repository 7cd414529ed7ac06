//! BGP-4 message codec (RFC 4271 and extensions) and MRT (RFC 6396), pure and I/O-free.

pub mod mrt;
