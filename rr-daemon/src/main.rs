//! The Calico BGP route reflector daemon.

fn main() {}
