//! Operator CLI for the Calico BGP route reflector.

fn main() {}
