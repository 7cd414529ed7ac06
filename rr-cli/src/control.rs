//! Daemon inspection over the control API (HTTP/JSON on the daemon's unix socket, or TCP):
//! `status`, `peers` (every peer, fetched in pages of 1000; `--limit N`/`--after ADDRESS` for one page),
//! `routes [PREFIX]` (with the best-path reason), `peer reset|refresh NAME`, `log-level`,
//! `version`.
//!
//! `dump --mrt FILE` ([`mod@dump`]) writes the RIB as MRT TABLE_DUMP_V2 from `GET /rib` pages.
//!
//! The requests and answers are the typed structs of the `control-api` crate, which `rr-daemon` serves; the
//! client is hyper's ([`http`]). A refusal comes back as an HTTP 4xx with a [`control_api::ApiError`], whose
//! message is printed as is (no request paths or HTTP codes).

mod dump;
mod http;

pub(crate) use dump::{DumpArgs, run as dump};

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow};
use clap::{Args, Subcommand, ValueEnum};
use control_api::{
    ApiError, LastDown, LogLevel, LogLevelQuery, Peer, PeerState, PeersQuery, RefreshDone, ResetDone, Route,
    RoutesQuery, Status, path, with_query,
};
use hyper::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

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
    /// Show one page of at most this many peers (1 to 10000) instead of every peer.
    #[arg(long)]
    limit: Option<usize>,
    /// Show one page of the peers whose address comes after this one (in the order `peers` lists them,
    /// the address as text), e.g. the last address of the previous page.
    #[arg(long)]
    after: Option<String>,
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

/// Calls the API and decodes its answer as `T`; `Ok(Err(message))` when the daemon refused.
fn call<T: DeserializeOwned>(
    ctl: &ControlArgs,
    method: Method,
    path: &str,
) -> anyhow::Result<Result<T, String>> {
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
    if (200..300).contains(&resp.status) {
        let v = serde_json::from_slice(&resp.body)
            .context("the daemon's answer is not what this rr-cli expects")?;
        return Ok(Ok(v));
    }
    // The daemon's message only: request paths and HTTP codes mean nothing to an operator.
    let msg = serde_json::from_slice::<ApiError>(&resp.body)
        .map(|e| e.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(&resp.body).trim().to_string());
    Ok(Err(msg))
}

/// Runs `call` and prints the result as JSON or with `table`.
fn show<T: DeserializeOwned + Serialize>(
    ctl: &ControlArgs,
    method: Method,
    path: &str,
    table: impl Fn(&T) -> String,
) -> anyhow::Result<ExitCode> {
    render(ctl, call(ctl, method, path)?, table)
}

/// Prints an answer of the daemon as a table or JSON, or its refusal.
fn render<T: Serialize>(
    ctl: &ControlArgs,
    answer: Result<T, String>,
    table: impl Fn(&T) -> String,
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

/// An optional value as a table cell: `-` when absent.
fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |x| x.to_string())
}

/// A list as a table cell: space-separated, `-` when empty.
fn list<T: ToString>(v: &[T]) -> String {
    if v.is_empty() {
        return "-".to_string();
    }
    v.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
}

/// `1d2h`, `3h4m`, `5m6s`, `7s`.
fn duration(secs: Option<u64>) -> String {
    let Some(s) = secs else {
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
    let q = LogLevelQuery {
        level: args.level.clone(),
        peer: args.peer.clone(),
    };
    let path = with_query(path::LOG_LEVEL, &q).context("encoding the request")?;
    show(&args.ctl, Method::POST, &path, |v: &LogLevel| {
        format!("log filter: {}\n", v.filter)
    })
}

/// LAST-DOWN: `administrative reset (6/4) sent 2026-12-04T19:30:00Z`, `connection lost 2026-...`, or `-`.
fn last_down(v: Option<&LastDown>) -> String {
    let Some(v) = v else {
        return "-".to_string();
    };
    let at = v.at.as_deref().map(|t| format!(" {t}")).unwrap_or_default();
    match &v.name {
        Some(name) => {
            let dir = if v.reason == control_api::DownKind::NotificationSent {
                "sent"
            } else {
                "received"
            };
            let msg = v
                .message
                .as_deref()
                .map(|m| format!(" \"{m}\""))
                .unwrap_or_default();
            format!("{name} ({}/{}){msg} {dir}{at}", opt(v.code), opt(v.subcode))
        }
        None => format!("{}{at}", v.reason.as_str()),
    }
}

/// `version`: this client's, then the daemon's (non-zero when the daemon cannot be asked).
pub(crate) fn version(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    println!(
        "client: rr-cli {} (commit {})",
        env!("CARGO_PKG_VERSION"),
        env!("RR_GIT_COMMIT")
    );
    match call::<Status>(&args.ctl, Method::GET, path::STATUS) {
        Ok(Ok(v)) => {
            println!("daemon: rr-daemon {} (commit {})", v.version, v.git_commit);
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

/// The `status` table: one `field: value` line each.
fn status_table(s: &Status) -> String {
    let rows: Vec<(&str, String)> = vec![
        ("node", s.node.clone()),
        ("version", format!("{} (commit {})", s.version, s.git_commit)),
        ("ready", s.ready.to_string()),
        ("router_id", opt(s.router_id.as_deref())),
        ("cluster_id", opt(s.cluster_id.as_deref())),
        ("local_as", opt(s.local_as)),
        ("listen_port", s.listen_port.to_string()),
        ("listeners", list(&s.listeners)),
        ("peers", s.peers.to_string()),
        ("established", s.established.to_string()),
        ("prefixes", s.prefixes.to_string()),
        ("attribute_sets", s.attribute_sets.to_string()),
        ("selection_deferred", s.selection_deferred.to_string()),
        ("selection_deferral_waiting", list(&s.selection_deferral_waiting)),
        ("datastore_synced", s.datastore_synced.to_string()),
        ("datastore_problem", opt(s.datastore_problem.as_deref())),
        ("uptime", duration(Some(s.uptime_secs))),
    ];
    rows.into_iter()
        .map(|(k, v)| format!("{:<27} {v}\n", format!("{k}:")))
        .collect()
}

/// `status`.
pub(crate) fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    show(&args.ctl, Method::GET, path::STATUS, status_table)
}

/// The `peers` table.
fn peers_table(peers: &[Peer]) -> String {
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            vec![
                opt(p.name.as_deref()),
                p.address.clone(),
                p.remote_as.to_string(),
                opt(p.role.as_deref()),
                p.state.to_string(),
                duration(p.established_for_secs),
                p.prefixes_received.to_string(),
                p.prefixes_advertised.to_string(),
                // A peer that is not started shows why instead (e.g. an unreadable TCP-MD5 password).
                match (&p.disabled_reason, p.state) {
                    (Some(r), _) => r.clone(),
                    (None, PeerState::Disabled) => "-".to_string(),
                    (None, _) => last_down(p.last_down.as_ref()),
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
}

/// `peers`: every peer, fetched page after page; with `--limit` or `--after`, one page.
pub(crate) fn peers(args: &PeersArgs) -> anyhow::Result<ExitCode> {
    let answer = if args.limit.is_some() || args.after.is_some() {
        let q = PeersQuery {
            after: args.after.clone(),
            limit: args.limit,
        };
        let path = with_query(path::PEERS, &q).context("encoding the request")?;
        call(&args.ctl, Method::GET, &path)?
    } else {
        all_pages(
            |after| {
                let q = PeersQuery {
                    after,
                    limit: Some(PeersQuery::DEFAULT_LIMIT),
                };
                Ok(with_query(path::PEERS, &q)?)
            },
            PeersQuery::DEFAULT_LIMIT,
            |p: &Peer| p.address.clone(),
            |path| call(&args.ctl, Method::GET, path),
        )?
    };
    render(&args.ctl, answer, |v: &Vec<Peer>| peers_table(v))
}

/// Every item of a paged list, one bounded page after the other, so that the daemon never builds a
/// whole-table answer: `path(after)` asks for the page after the key `after` (none for the first page), `key`
/// is an item's cursor (the next page starts after the last item's), and a page shorter than `page_size`
/// is the last.
fn all_pages<T>(
    path: impl Fn(Option<String>) -> anyhow::Result<String>,
    page_size: usize,
    key: impl Fn(&T) -> String,
    mut get: impl FnMut(&str) -> anyhow::Result<Result<Vec<T>, String>>,
) -> anyhow::Result<Result<Vec<T>, String>> {
    let mut all: Vec<T> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = path(after.take()).context("encoding the request")?;
        let page = match get(&path)? {
            Ok(page) => page,
            Err(msg) => return Ok(Err(msg)),
        };
        let n = page.len();
        after = page.last().map(&key);
        all.extend(page);
        if n < page_size || after.is_none() {
            return Ok(Ok(all));
        }
    }
}

/// The whole Loc-RIB, page after page ([`all_pages`]).
fn all_routes(ctl: &ControlArgs) -> anyhow::Result<Result<Vec<Route>, String>> {
    let page_size = RoutesQuery::DEFAULT_LIMIT;
    all_pages(
        |after| {
            let q = RoutesQuery {
                prefix: None,
                after,
                limit: Some(page_size),
            };
            Ok(with_query(path::ROUTES, &q)?)
        },
        page_size,
        |r: &Route| r.prefix.clone(),
        |path| call(ctl, Method::GET, path),
    )
}

/// The `routes` table: one row per path, the best one starred with the reason it won.
fn routes_table(routes: &[Route]) -> String {
    let mut rows = Vec::new();
    for r in routes {
        for p in &r.paths {
            let mut flags = String::new();
            flags.push(if p.best { '*' } else { ' ' });
            if p.stale {
                flags.push('S');
            }
            rows.push(vec![
                r.prefix.clone(),
                flags.trim_end().to_string(),
                opt(p.from.as_deref()),
                opt(p.next_hop.as_deref()),
                opt(p.local_pref),
                opt(p.med),
                list(&p.as_path),
                opt(p.originator_id.as_deref()),
                list(&p.cluster_list),
                if p.best {
                    r.best_reason.clone()
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
}

/// `routes [PREFIX]`.
pub(crate) fn routes(args: &RoutesArgs) -> anyhow::Result<ExitCode> {
    let answer = match &args.prefix {
        Some(p) => {
            let q = RoutesQuery {
                prefix: Some(p.clone()),
                ..RoutesQuery::default()
            };
            let path = with_query(path::ROUTES, &q).context("encoding the request")?;
            call(&args.ctl, Method::GET, &path)?
        }
        None => all_routes(&args.ctl)?,
    };
    render(&args.ctl, answer, |v: &Vec<Route>| routes_table(v))
}

/// `peer reset|refresh NAME`.
pub(crate) fn peer(args: &PeerArgs) -> anyhow::Result<ExitCode> {
    let name = match &args.action {
        PeerAction::Reset { name } | PeerAction::Refresh { name } => name,
    };
    if name.is_empty() {
        return Err(anyhow!("the peer name is empty"));
    }
    match &args.action {
        PeerAction::Reset { .. } => show(&args.ctl, Method::POST, &path::reset(name), |_: &ResetDone| {
            format!("reset sent to {name}\n")
        }),
        PeerAction::Refresh { .. } => show(
            &args.ctl,
            Method::POST,
            &path::refresh(name),
            |_: &RefreshDone| format!("refresh sent to {name}\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use control_api::{DownKind, RoutePath};

    #[test]
    fn all_pages_follows_the_cursor_to_a_short_page() {
        let items: Vec<u32> = (1..=7).collect();
        let mut asked = Vec::new();
        let got = all_pages(
            |after| Ok(format!("/x?after={}", after.unwrap_or_default())),
            3,
            |i: &u32| i.to_string(),
            |path| {
                asked.push(path.to_string());
                let after: u32 = path.rsplit('=').next().and_then(|a| a.parse().ok()).unwrap_or(0);
                Ok(Ok(items.iter().copied().filter(|&i| i > after).take(3).collect()))
            },
        )
        .expect("pages")
        .expect("answer");
        assert_eq!(got, items);
        assert_eq!(asked, ["/x?after=", "/x?after=3", "/x?after=6"]);
        // An exact multiple ends with an empty page.
        let mut calls = 0;
        let got = all_pages(
            |after| Ok(after.unwrap_or_default()),
            3,
            |i: &u32| i.to_string(),
            |after| {
                calls += 1;
                let after: u32 = after.parse().unwrap_or(0);
                Ok(Ok((1..=6).filter(|&i| i > after).take(3).collect()))
            },
        )
        .expect("pages")
        .expect("answer");
        assert_eq!((got.len(), calls), (6, 3));
        // A refusal comes back as is.
        let refused = all_pages(
            |_| Ok(String::new()),
            3,
            |i: &u32| i.to_string(),
            |_| Ok(Err("no".to_string())),
        )
        .expect("call");
        assert_eq!(refused, Err("no".to_string()));
    }

    #[test]
    fn cells_and_durations() {
        assert_eq!(duration(Some(59)), "59s");
        assert_eq!(duration(Some(3725)), "1h2m");
        assert_eq!(duration(Some(90061)), "1d1h");
        assert_eq!(duration(None), "-");
        assert_eq!(list(&[64512, 64513]), "64512 64513");
        assert_eq!(list::<u32>(&[]), "-");
        assert_eq!(opt::<u32>(None), "-");
    }

    #[test]
    fn last_down_names_the_notification_and_when() {
        let d = LastDown {
            reason: DownKind::NotificationSent,
            code: Some(6),
            subcode: Some(4),
            name: Some("administrative reset".into()),
            message: Some("reset by operator".into()),
            at: Some("2026-12-04T19:30:00Z".into()),
        };
        assert_eq!(
            last_down(Some(&d)),
            "administrative reset (6/4) \"reset by operator\" sent 2026-12-04T19:30:00Z"
        );
        let lost = LastDown {
            reason: DownKind::ConnectionLost,
            code: None,
            subcode: None,
            name: None,
            message: None,
            at: None,
        };
        assert_eq!(last_down(Some(&lost)), "connection lost");
        assert_eq!(last_down(None), "-");
    }

    #[test]
    fn tables_show_plain_values() {
        let status = status_table(&Status {
            node: "rr1".into(),
            cluster_id: Some("244.0.0.1".into()),
            ..Status::default()
        });
        assert!(
            status
                .lines()
                .any(|l| l.starts_with("node:") && l.ends_with(" rr1")),
            "{status}"
        );
        assert!(
            status
                .lines()
                .any(|l| l.starts_with("router_id:") && l.ends_with(" -")),
            "{status}"
        );
        let routes = routes_table(&[Route {
            prefix: "10.0.0.0/24".into(),
            best_reason: "only path".into(),
            paths: vec![RoutePath {
                best: true,
                next_hop: Some("100.64.0.2".into()),
                as_path: vec![65001],
                ..RoutePath::default()
            }],
        }]);
        let row = routes.lines().nth(1).expect("row");
        assert!(
            row.starts_with("10.0.0.0/24") && row.contains('*') && row.contains("only path"),
            "{routes}"
        );
        assert!(!routes.contains("Some(") && !routes.contains("None"), "{routes}");
    }
}
