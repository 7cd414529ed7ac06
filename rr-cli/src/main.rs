//! Operator CLI for the Calico BGP route reflector.
//!
//! One module per subcommand group; `main` only parses the command line and dispatches:
//! - `decode` ([`decode`]): decode (and round-trip) MRT captures with `bgp-wire`.
//!
//! Datastore administration (`get`, `apply`, `delete`, `reflector`) and daemon inspection (`status`,
//! `peers`, `routes`) are added as further variants of [`Command`], each in its own module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Decode(args) => decode::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rr-cli: {e:#}");
            ExitCode::from(decode::EXIT_FAILURE)
        }
    }
}
