//! Operator CLI for the Calico BGP route reflector.
//!
//! One module per subcommand group; `main` only parses the command line and dispatches:
//! - [`decode`]: `decode` (and round-trip, or summarize) MRT captures with `bgp-wire`.
//! - [`admin`]: datastore administration, calicoctl style: `get`, `apply`, `delete`, `reflector`.
//! - [`explain`]: why a node and a reflector have a session, or why not (datastore only).
//! - [`control`]: the running daemon over its control API: `status`, `peers`, `routes`, `peer`, `dump`,
//!   `log-level`, `version`.
//! - here: `completion` and `man`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod admin;
mod control;
mod decode;
mod explain;

/// Operator CLI for the Calico BGP route reflector.
#[derive(Debug, Parser)]
#[command(name = "rr-cli", version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("RR_GIT_COMMIT"), ")"), about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Decode an MRT file (BGP4MP, TABLE_DUMP_V2; gzip/bzip2 detected) into one JSON object per line, or check
    /// it all and print one summary object (--summary).
    Decode(decode::DecodeArgs),
    /// Show nodes, bgppeers, bgpconfigurations or bgpfilters from the datastore.
    Get(admin::GetArgs),
    /// Create or update resources from a manifest file (compare-and-swap).
    Apply(admin::ApplyArgs),
    /// Delete a resource from the datastore.
    Delete(admin::DeleteArgs),
    /// Make nodes route reflectors, list reflectors and check the topology.
    Reflector(admin::ReflectorArgs),
    /// Why a node and a reflector have a BGP session (which BGPPeer and selector, each side's role, the
    /// cluster-id reasoning), or why not; exits 1 when they have none.
    Explain(explain::ExplainArgs),
    /// The running daemon's identity and counters (control API).
    Status(control::StatusArgs),
    /// The running daemon's BGP sessions (control API).
    Peers(control::PeersArgs),
    /// The running daemon's Loc-RIB with the best-path reason (control API).
    Routes(control::RoutesArgs),
    /// Write the running daemon's Loc-RIB (or, with --adj-in, every Adj-RIB-In) as an MRT TABLE_DUMP_V2 file
    /// (control API).
    Dump(control::DumpArgs),
    /// Reset or refresh one session of the running daemon (control API).
    Peer(control::PeerArgs),
    /// Change the running daemon's log level, for everything or one peer (control API).
    LogLevel(control::LogLevelArgs),
    /// This client's version and git commit, and the running daemon's (control API).
    Version(control::StatusArgs),
    /// Print a shell completion script (e.g. `rr-cli completion bash > /etc/bash_completion.d/rr-cli`).
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write man pages (rr-cli.1 and one per subcommand) into DIR.
    Man {
        /// The directory (created when missing).
        dir: std::path::PathBuf,
    },
}

/// `completion SHELL`.
fn completion(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "rr-cli", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// `man DIR`.
fn man(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cmd = <Cli as clap::CommandFactory>::command();
    clap_mangen::generate_to(cmd, dir).with_context(|| format!("writing man pages to {}", dir.display()))?;
    println!("man pages written to {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Decode(args) => decode::run(args),
        Command::Get(args) => admin::get(args),
        Command::Apply(args) => admin::apply(args),
        Command::Delete(args) => admin::delete(args),
        Command::Reflector(args) => admin::reflector(args),
        Command::Explain(args) => explain::run(args),
        Command::Status(args) => control::status(args),
        Command::Peers(args) => control::peers(args),
        Command::Routes(args) => control::routes(args),
        Command::Peer(args) => control::peer(args),
        Command::Dump(args) => control::dump(args),
        Command::Version(args) => control::version(args),
        Command::LogLevel(args) => control::log_level(args),
        Command::Completion { shell } => completion(*shell),
        Command::Man { dir } => man(dir),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rr-cli: {e:#}");
            ExitCode::from(decode::EXIT_FAILURE)
        }
    }
}
