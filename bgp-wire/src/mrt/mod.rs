//! MRT (RFC 6396, RFC 8050) reading and writing.
