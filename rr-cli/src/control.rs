//! Daemon inspection over the control API (HTTP/JSON on the daemon's unix socket, or TCP):
//! `status`, `peers`, `routes [PREFIX]` (with the best-path reason), `peer reset|refresh NAME`.
//!
//! `dump --mrt FILE` ([`mod@dump`]) writes the RIB as MRT TABLE_DUMP_V2 from `GET /rib` pages.
//!
//! Routes used (served by `rr-daemon`): `GET /status`, `GET /peers`, `GET /routes?prefix=P`, `GET /rib`,
//! `GET /routes?limit=N&after=P` (the whole table, page by page),
//! `POST /peers/{name}/reset`, `POST /peers/{name}/refresh`. Errors come back as HTTP 400 with
//! `{"error": "..."}`, which is printed as is.

mod dump;
mod http;

pub(crate) use dump::{DumpArgs, run as dump};

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use crate::admin::render_table;
use http::Endpoint;

/// Exit code when the daemon refused the request.
const EXIT_REFUSED: u8 = 1;

/// Output format of the inspection commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum Output {
    /// Aligned columns.
    #[default]
    Table,
    /// The control API's JSON, pretty-printed.
    Json,
}

/// How to reach the daemon.
#[derive(Debug, Clone, Args)]
pub(crate) struct ControlArgs {
    /// The daemon's control socket (its --control-socket; default: `rr-daemon.sock` in the temp directory).
    #[arg(long, global = true, env = "RR_CONTROL_SOCKET")]
    socket: Option<PathBuf>,
    /// Use the daemon's TCP control address (its --control-addr) instead of the socket.
    #[arg(long, global = true, conflicts_with = "socket")]
    control_addr: Option<String>,
    /// File holding the bearer token for the TCP control API (the daemon's --control-token-file, or its
    /// --control-read-token-file for status, peers and routes only).
    #[arg(long, global = true, env = "RR_CONTROL_TOKEN_FILE")]
    control_token_file: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, global = true, value_enum, default_value_t)]
    output: Output,
}

impl ControlArgs {
    fn endpoint(&self) -> Endpoint {
        match (&self.control_addr, &self.socket) {
            (Some(a), _) => Endpoint::Tcp(a.clone()),
            (None, Some(p)) => Endpoint::Unix(p.clone()),
            // The daemon's default (rr-daemon/src/config.rs).
            (None, None) => Endpoint::Unix(std::env::temp_dir().join("rr-daemon.sock")),
        }
    }
}

/// `status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    ctl: ControlArgs,
}

/// `peers`.
#[derive(Debug, Args)]
pub(crate) struct PeersArgs {
    #[command(flatten)]
    ctl: ControlArgs,
}

/// `routes [PREFIX]`.
#[derive(Debug, Args)]
pub(crate) struct RoutesArgs {
    /// A prefix in the Loc-RIB (e.g. 10.2.0.0/26), or an address (e.g. 10.2.0.5: the longest prefix that
    /// covers it); the whole Loc-RIB when omitted, fetched in pages of 1000 routes (in prefix order: IPv4
    /// first, then by address and length) so that the daemon never builds a full-table answer. Exits 1 when
    /// there is no such route.
    prefix: Option<String>,
    #[command(flatten)]
    ctl: ControlArgs,
}

/// `peer reset|refresh NAME`.
#[derive(Debug, Args)]
pub(crate) struct PeerArgs {
    #[command(subcommand)]
    action: PeerAction,
    #[command(flatten)]
    ctl: ControlArgs,
}

#[derive(Debug, Subcommand)]
enum PeerAction {
    /// Close the session with a Cease / Administrative Reset and let it come back.
    Reset {
        /// The peer: its session name (as `peers` shows) or its address.
        name: String,
    },
    /// Ask the peer to resend its routes (ROUTE-REFRESH, RFC 2918).
    Refresh {
        /// The peer: its session name (as `peers` shows) or its address.
        name: String,
    },
}

/// Percent-encodes everything but unreserved characters (RFC 3986 section 2.3).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Calls the API; `Ok(Err(message))` when the daemon answered with an error.
fn call(ctl: &ControlArgs, method: &str, path: &str) -> anyhow::Result<Result<Value, String>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let token = ctl
        .control_token_file
        .as_ref()
        .map(|p| {
            std::fs::read_to_string(p)
                .map(|t| t.trim().to_string())
                .with_context(|| format!("reading the control token file {}", p.display()))
        })
        .transpose()?;
    if token.as_deref().is_some_and(|t| t.chars().any(char::is_control)) {
        return Err(anyhow!("the control token file holds control characters"));
    }
    let resp = rt.block_on(http::request(&ctl.endpoint(), method, path, token.as_deref()))?;
    let text = String::from_utf8_lossy(&resp.body);
    if (200..300).contains(&resp.status) {
        let v = serde_json::from_str(&text).context("the daemon's answer is not JSON")?;
        return Ok(Ok(v));
    }
    let msg = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| text.trim().to_string());
    // The daemon's message only: request paths and HTTP codes mean nothing to an operator.
    Ok(Err(msg))
}

/// Runs `call` and prints the result as JSON or with `table`.
fn show(
    ctl: &ControlArgs,
    method: &str,
    path: &str,
    table: impl Fn(&Value) -> String,
) -> anyhow::Result<ExitCode> {
    render(ctl, call(ctl, method, path)?, table)
}

/// Prints an answer of the daemon as a table or JSON, or its refusal.
fn render(
    ctl: &ControlArgs,
    answer: Result<Value, String>,
    table: impl Fn(&Value) -> String,
) -> anyhow::Result<ExitCode> {
    match answer {
        Ok(v) => {
            match ctl.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&v)?),
                Output::Table => print!("{}", table(&v)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(msg) => {
            eprintln!("rr-cli: {msg}");
            Ok(ExitCode::from(EXIT_REFUSED))
        }
    }
}

/// A JSON value as a table cell: strings bare, null as `-`.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "-".to_string(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

/// `1d2h`, `3h4m`, `5m6s`, `7s`.
fn duration(v: &Value) -> String {
    let Some(s) = v.as_u64() else {
        return "-".to_string();
    };
    let (d, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m{sec}s"),
        (0, _, _) => format!("{h}h{m}m"),
        _ => format!("{d}d{h}h"),
    }
}

/// `log-level LEVEL [--peer NAME]`.
#[derive(Debug, Args)]
pub(crate) struct LogLevelArgs {
    /// trace, debug, info, warn, error or off (with --peer also `default`: drop the peer's own level).
    level: String,
    /// Only for this peer's session (its name as `peers` shows it), like `birdc debug PROTOCOL`.
    #[arg(long)]
    peer: Option<String>,
    #[command(flatten)]
    ctl: ControlArgs,
}

/// `log-level`.
pub(crate) fn log_level(args: &LogLevelArgs) -> anyhow::Result<ExitCode> {
    let mut path = format!("/log-level?level={}", encode(&args.level));
    if let Some(p) = &args.peer {
        path.push_str(&format!("&peer={}", encode(p)));
    }
    show(&args.ctl, "POST", &path, |v| {
        format!("log filter: {}\n", cell(&v["filter"]))
    })
}

/// LAST-DOWN: `administrative reset (6/4) sent 2026-12-04T19:30:00Z`, `connection lost 2026-...`, or `-`.
fn last_down(v: &Value) -> String {
    if v.is_null() {
        return "-".to_string();
    }
    let at = v["at"].as_str().map(|t| format!(" {t}")).unwrap_or_default();
    match v["name"].as_str() {
        Some(name) => {
            let dir = if v["reason"] == "notification sent" {
                "sent"
            } else {
                "received"
            };
            let msg = v["message"]
                .as_str()
                .map(|m| format!(" \"{m}\""))
                .unwrap_or_default();
            format!(
                "{name} ({}/{}){msg} {dir}{at}",
                cell(&v["code"]),
                cell(&v["subcode"])
            )
        }
        None => format!("{}{at}", cell(&v["reason"])),
    }
}

/// `version`: this client's, then the daemon's (non-zero when the daemon cannot be asked).
pub(crate) fn version(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    println!(
        "client: rr-cli {} (commit {})",
        env!("CARGO_PKG_VERSION"),
        env!("RR_GIT_COMMIT")
    );
    match call(&args.ctl, "GET", "/status") {
        Ok(Ok(v)) => {
            println!(
                "daemon: rr-daemon {} (commit {})",
                cell(&v["version"]),
                cell(&v["git_commit"])
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(Err(msg)) => {
            eprintln!("rr-cli: daemon: {msg}");
            Ok(ExitCode::from(EXIT_REFUSED))
        }
        Err(e) => {
            eprintln!("rr-cli: daemon: {e:#}");
            Ok(ExitCode::from(EXIT_REFUSED))
        }
    }
}

/// `status`.
pub(crate) fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    show(&args.ctl, "GET", "/status", |v| {
        let Some(obj) = v.as_object() else {
            return format!("{v}\n");
        };
        let mut out = String::new();
        for (k, val) in obj {
            let shown = if k == "uptime_secs" {
                duration(val)
            } else {
                cell(val)
            };
            out.push_str(&format!("{:<18} {shown}\n", format!("{k}:")));
        }
        out
    })
}

/// `peers`.
pub(crate) fn peers(args: &PeersArgs) -> anyhow::Result<ExitCode> {
    show(&args.ctl, "GET", "/peers", |v| {
        let rows: Vec<Vec<String>> = v
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|p| {
                vec![
                    cell(&p["name"]),
                    cell(&p["address"]),
                    cell(&p["remote_as"]),
                    cell(&p["role"]),
                    cell(&p["state"]),
                    duration(&p["established_for_secs"]),
                    cell(&p["prefixes_received"]),
                    cell(&p["prefixes_advertised"]),
                    // A peer that is not started shows why instead (e.g. an unreadable TCP-MD5 password).
                    if p["disabled_reason"].is_string() {
                        cell(&p["disabled_reason"])
                    } else {
                        last_down(&p["last_down"])
                    },
                ]
            })
            .collect();
        render_table(
            &[
                "NAME",
                "ADDRESS",
                "ASN",
                "ROLE",
                "STATE",
                "SINCE",
                "RECEIVED",
                "ADVERTISED",
                "LAST-DOWN",
            ],
            &rows,
        )
    })
}

/// Routes per `GET /routes` page when `rr-cli routes` walks the whole table.
const ROUTES_PAGE: usize = 1000;

/// The whole Loc-RIB, one bounded page after the other (each page resumes after the last prefix of the
/// previous one; a short page is the last), so that the daemon never builds a full-table answer.
fn all_routes(ctl: &ControlArgs) -> anyhow::Result<Result<Value, String>> {
    let mut all: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            None => format!("/routes?limit={ROUTES_PAGE}"),
            Some(a) => format!("/routes?limit={ROUTES_PAGE}&after={}", encode(a)),
        };
        let page = match call(ctl, "GET", &path)? {
            Ok(Value::Array(page)) => page,
            Ok(other) => return Err(anyhow!("unexpected /routes answer: {other}")),
            Err(msg) => return Ok(Err(msg)),
        };
        let n = page.len();
        after = page.last().and_then(|r| r["prefix"].as_str()).map(str::to_string);
        all.extend(page);
        if n < ROUTES_PAGE || after.is_none() {
            return Ok(Ok(Value::Array(all)));
        }
    }
}

/// `routes [PREFIX]`.
pub(crate) fn routes(args: &RoutesArgs) -> anyhow::Result<ExitCode> {
    let answer = match &args.prefix {
        Some(p) => call(&args.ctl, "GET", &format!("/routes?prefix={}", encode(p)))?,
        None => all_routes(&args.ctl)?,
    };
    render(&args.ctl, answer, |v| {
        let mut rows = Vec::new();
        for r in v.as_array().map(Vec::as_slice).unwrap_or_default() {
            for p in r["paths"].as_array().map(Vec::as_slice).unwrap_or_default() {
                let best = p["best"].as_bool().unwrap_or(false);
                let mut flags = String::new();
                flags.push(if best { '*' } else { ' ' });
                if p["stale"].as_bool().unwrap_or(false) {
                    flags.push('S');
                }
                rows.push(vec![
                    cell(&r["prefix"]),
                    flags.trim_end().to_string(),
                    cell(&p["from"]),
                    cell(&p["next_hop"]),
                    cell(&p["local_pref"]),
                    cell(&p["med"]),
                    cell(&p["as_path"]),
                    cell(&p["originator_id"]),
                    cell(&p["cluster_list"]),
                    if best {
                        cell(&r["best_reason"])
                    } else {
                        String::new()
                    },
                ]);
            }
        }
        render_table(
            &[
                "PREFIX",
                "BEST",
                "FROM",
                "NEXT-HOP",
                "LOCAL-PREF",
                "MED",
                "AS-PATH",
                "ORIGINATOR",
                "CLUSTER-LIST",
                "REASON",
            ],
            &rows,
        )
    })
}

/// `peer reset|refresh NAME`.
pub(crate) fn peer(args: &PeerArgs) -> anyhow::Result<ExitCode> {
    let (name, verb) = match &args.action {
        PeerAction::Reset { name } => (name, "reset"),
        PeerAction::Refresh { name } => (name, "refresh"),
    };
    if name.is_empty() {
        return Err(anyhow!("the peer name is empty"));
    }
    let path = format!("/peers/{}/{verb}", encode(name));
    show(&args.ctl, "POST", &path, |_| format!("{verb} sent to {name}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_and_durations() {
        assert_eq!(encode("10.0.0.0/8"), "10.0.0.0%2F8");
        assert_eq!(encode("fd00::/64"), "fd00%3A%3A%2F64");
        assert_eq!(duration(&Value::from(59)), "59s");
        assert_eq!(duration(&Value::from(3725)), "1h2m");
        assert_eq!(duration(&Value::from(90061)), "1d1h");
        assert_eq!(duration(&Value::Null), "-");
        assert_eq!(cell(&serde_json::json!([64512, 64513])), "64512 64513");
    }
}
