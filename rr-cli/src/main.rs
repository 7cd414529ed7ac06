//! Operator CLI for the Calico BGP route reflector.
//!
//! One module per subcommand group; `main` only parses the command line and dispatches:
//! - `decode` ([`decode`]): decode (and round-trip) MRT captures with `bgp-wire`.
//!
//! Datastore administration (`get`, `apply`, `delete`, `reflector`) and daemon inspection (`status`,
//! `peers`, `routes`) are added as further variants of [`Command`], each in its own module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod admin;
mod control;
mod decode;

/// Operator CLI for the Calico BGP route reflector.
#[derive(Debug, Parser)]
#[command(name = "rr-cli", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Decode an MRT file (BGP4MP, TABLE_DUMP_V2; gzip/bzip2 detected) into one JSON object per line.
    Decode(decode::DecodeArgs),
    /// Show nodes, bgppeers, bgpconfigurations or bgpfilters from the datastore.
    Get(admin::GetArgs),
    /// Create or update resources from a manifest file (compare-and-swap).
    Apply(admin::ApplyArgs),
    /// Delete a resource from the datastore.
    Delete(admin::DeleteArgs),
    /// Make nodes route reflectors, list reflectors and check the topology.
    Reflector(admin::ReflectorArgs),
    /// The running daemon's identity and counters (control API).
    Status(control::StatusArgs),
    /// The running daemon's BGP sessions (control API).
    Peers(control::PeersArgs),
    /// The running daemon's Loc-RIB with the best-path reason (control API).
    Routes(control::RoutesArgs),
    /// Reset or refresh one session of the running daemon (control API).
    Peer(control::PeerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Decode(args) => decode::run(args),
        Command::Get(args) => admin::get(args),
        Command::Apply(args) => admin::apply(args),
        Command::Delete(args) => admin::delete(args),
        Command::Reflector(args) => admin::reflector(args),
        Command::Status(args) => control::status(args),
        Command::Peers(args) => control::peers(args),
        Command::Routes(args) => control::routes(args),
        Command::Peer(args) => control::peer(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rr-cli: {e:#}");
            ExitCode::from(decode::EXIT_FAILURE)
        }
    }
}
