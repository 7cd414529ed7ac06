//! Start-up configuration.
//!
//! The daemon takes the environment of the `calico/routereflector` container it replaces (`IP`, `IP6`,
//! `NODENAME`, `DATASTORE_TYPE`, `ETCD_ENDPOINTS`, `ETCD_CA_CERT_FILE`, `ETCD_CERT_FILE`, `ETCD_KEY_FILE`,
//! `KUBECONFIG`; libcalico-go also accepts each with a `CALICO_` prefix) and the same settings as flags. A flag
//! wins over the `CALICO_` variable, which wins over the plain one (as in libcalico-go).
//!
//! [`Args`] is the raw clap view (the environment-backed settings stay strings there, so that a value from the
//! `CALICO_` fallback is checked exactly like one from the flag); [`Config::resolve`] validates everything and
//! returns an error that names the offending setting, so a bad value stops start-up with a clear message.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::router_id::RouterIdSetting;

/// The largest `--batch-interval-ms` accepted.
const MAX_BATCH_INTERVAL_MS: u64 = 1000;
/// The longest batch interval the growth with the connections gives ([`Batching::interval`]).
const MAX_SCALED_BATCH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// How route changes are batched into flushes (`--batch-interval-ms`, `--fanout-writes-per-sec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Batching {
    /// The minimum time between two flushes.
    pub(crate) min: std::time::Duration,
    /// Added per open connection (1 s / the write rate): a flush writes to every member once, so with many
    /// members the interval grows and the writes per second stay bounded. Zero: a fixed interval.
    pub(crate) per_connection: std::time::Duration,
}

impl Batching {
    /// The time between two flushes with `connections` open: the minimum, or connections x per-connection
    /// time when that is longer, at most 250 ms (or the minimum, if that is longer).
    pub(crate) fn interval(&self, connections: usize) -> std::time::Duration {
        let n = u32::try_from(connections).unwrap_or(u32::MAX);
        let scaled = self
            .per_connection
            .saturating_mul(n)
            .min(MAX_SCALED_BATCH_INTERVAL);
        self.min.max(scaled)
    }

    /// Whether `connections` get a paced fan-out: the interval they give is longer than the minimum, so
    /// instead of writing every member at the end of each interval, route changes are flushed every
    /// [`Batching::flush_step`] and each member is written in its turn, once per interval, with what
    /// has gathered for it (the same writes, spread evenly).
    pub(crate) fn paced(&self, connections: usize) -> bool {
        self.interval(connections) > self.min
    }

    /// The time between two flushes of a paced fan-out: [`PACE_STEP`], or the minimum if shorter.
    pub(crate) fn flush_step(&self) -> std::time::Duration {
        self.min.min(PACE_STEP)
    }
}

/// The flush step of a paced fan-out: an UPDATE waits at most this before being held for the members'
/// turns.
const PACE_STEP: std::time::Duration = std::time::Duration::from_millis(2);
/// Upper bound of `--selection-deferral-secs` (FRR allows the same range for `select-defer-time`).
const MAX_SELECTION_DEFERRAL_SECS: u64 = 3600;

/// Which datastore backend to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DatastoreKind {
    /// etcd v3 (`DATASTORE_TYPE=etcdv3`).
    Etcdv3,
    /// The Kubernetes API (`DATASTORE_TYPE=kubernetes`).
    Kubernetes,
    /// A calicoctl-style multi-document YAML file (the embedded default).
    File,
}

/// What to do with the BGP sessions on SIGTERM/SIGINT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum ShutdownMode {
    /// Close the TCP connections without a NOTIFICATION, so clients doing graceful restart (RFC 4724) keep
    /// the reflected routes while the reflector is away (projectcalico/calico#9259).
    #[default]
    Graceful,
    /// Send a Cease / Administrative Shutdown NOTIFICATION with a message (RFC 8203), so clients flush at once.
    Cease,
}

impl std::fmt::Display for ShutdownMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ShutdownMode::Graceful => "graceful",
            ShutdownMode::Cease => "cease",
        })
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Raw command line and environment, as clap sees them.
#[derive(Debug, Clone, Parser)]
#[command(name = "rr-daemon", version, about = "The Calico BGP route reflector daemon")]
pub(crate) struct Args {
    /// This reflector's IPv4 address: router id, source address, and BGP listen address (also `CALICO_IP`).
    #[arg(long, env = "IP")]
    pub(crate) ip: Option<String>,
    /// This reflector's IPv6 address (also `CALICO_IP6`).
    #[arg(long, env = "IP6")]
    pub ip6: Option<String>,
    /// The Calico node name of this reflector (also `CALICO_NODENAME`).
    #[arg(long, env = "NODENAME")]
    pub(crate) nodename: Option<String>,
    /// Datastore backend: `etcdv3`, `kubernetes` or `file` (also `CALICO_DATASTORE_TYPE`).
    #[arg(long = "datastore", env = "DATASTORE_TYPE")]
    pub(crate) datastore: Option<String>,
    /// Comma-separated etcd v3 endpoint URLs (also `CALICO_ETCD_ENDPOINTS`).
    #[arg(long, env = "ETCD_ENDPOINTS")]
    pub(crate) etcd_endpoints: Option<String>,
    /// etcd CA certificate file (also `CALICO_ETCD_CA_CERT_FILE`).
    #[arg(long, env = "ETCD_CA_CERT_FILE")]
    pub(crate) etcd_ca_cert_file: Option<String>,
    /// etcd client certificate file (also `CALICO_ETCD_CERT_FILE`).
    #[arg(long, env = "ETCD_CERT_FILE")]
    pub(crate) etcd_cert_file: Option<String>,
    /// etcd client key file (also `CALICO_ETCD_KEY_FILE`).
    #[arg(long, env = "ETCD_KEY_FILE")]
    pub(crate) etcd_key_file: Option<String>,
    /// kubeconfig for the Kubernetes datastore (also `CALICO_KUBECONFIG`).
    #[arg(long, env = "KUBECONFIG")]
    pub(crate) kubeconfig: Option<String>,
    /// The YAML file for `--datastore file`.
    #[arg(long)]
    pub(crate) file: Option<PathBuf>,
    /// Override the BGP listen port (otherwise BGPConfiguration `node.<name>` / `default` listenPort, or 179).
    #[arg(long)]
    pub(crate) listen_port: Option<u16>,
    /// Address of the HTTP endpoint serving `/metrics`, `/healthz` and `/readyz`; `off` disables it.
    #[arg(long, default_value = "127.0.0.1:9179")]
    pub(crate) metrics_addr: String,
    /// Unix socket of the control API used by `rr-cli` (default: `rr-daemon.sock` in the temp directory).
    #[arg(long)]
    pub(crate) control_socket: Option<PathBuf>,
    /// Also serve the control API on this TCP address. Requires `--control-token-file`: every TCP request
    /// must carry `Authorization: Bearer <token>`. A warning is logged when it is not a loopback address.
    #[arg(long)]
    pub(crate) control_addr: Option<String>,
    /// File holding the bearer token of the TCP control API (every request, including POSTs that reset or
    /// refresh sessions). Surrounding whitespace is ignored; an empty token is refused.
    #[arg(long)]
    pub(crate) control_token_file: Option<PathBuf>,
    /// File holding a second, read-only token for the TCP control API: it is accepted for GET requests
    /// (`status`, `peers`, `routes`) and refused (403) for POSTs.
    #[arg(long)]
    pub(crate) control_read_token_file: Option<PathBuf>,
    /// What to do with sessions on SIGTERM/SIGINT.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) shutdown_mode: ShutdownMode,
    /// Cluster id when this reflector is not (yet) a Calico node with routeReflectorClusterID.
    #[arg(long)]
    pub(crate) cluster_id: Option<String>,
    /// Router id: an IPv4 address, or `hash` for one derived from the node name as calico-node derives it
    /// (for IPv6-only nodes). Default: the node's IPv4 address.
    #[arg(long, env = "CALICO_ROUTER_ID")]
    pub(crate) router_id: Option<String>,
    /// Local AS number when the node and BGPConfiguration do not give one (plain or asdot).
    #[arg(long = "as")]
    pub(crate) asn: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) log_format: LogFormat,
    /// BGP passwords from a directory laid out like a mounted Kubernetes Secret (`DIR/<secret>/<key>`),
    /// instead of the datastore's secrets (the file datastore has none).
    #[arg(long)]
    pub(crate) secrets_dir: Option<PathBuf>,
    /// Bytes queued for one peer above which it stops receiving new updates until it has caught up.
    #[arg(long, default_value_t = 8 << 20)]
    pub(crate) write_queue_high: usize,
    /// Bytes queued for sending across all peers above which members catching up (joining, or back after
    /// falling behind) wait for room instead of being sent more, and members of the shared stream holding
    /// more than their share (this budget divided by the connections, at least 16 KiB) fall behind (to be
    /// caught up later from their group's Adj-RIB-Out). Counts each message once per peer, although the
    /// bytes of an update group's message are shared.
    #[arg(long, default_value_t = 256 << 20)]
    pub(crate) output_budget: usize,
    /// SO_SNDBUF of every BGP session's socket, in bytes (unset: the kernel's own sizing, which grows a
    /// socket's send buffer up to the third field of net.ipv4.tcp_wmem, 4 MiB by default). The kernel holds
    /// up to this much per peer before the daemon's write queue (--write-queue-high) fills; set it to bound
    /// the kernel's memory with thousands of peers that may stall (like FRR bgpd's --socket_size).
    #[arg(long)]
    pub(crate) socket_send_buffer: Option<usize>,
    /// Milliseconds over which route changes are collected into one batch of UPDATEs (0: none; at most 1000).
    /// A change after a quiet period goes out at once; under a stream of changes, at most one batch per
    /// interval, so that every peer gets one larger write instead of one small one per change. With more
    /// connections than `--fanout-writes-per-sec` allows at this interval, changes are flushed every 2 ms (or
    /// this, if shorter) and each connection is written in its turn (see there).
    #[arg(long, default_value_t = 20)]
    pub(crate) batch_interval_ms: u64,
    /// Writes per second that route changes may cause (one per connection per batch interval; 0: no limit).
    /// With many connections under a stream of changes each connection is written at most once per
    /// connections / this rate (at most 250 ms), so the cost of the writes stays bounded: at the default
    /// 70,000, up to 1400 connections keep the 20 ms batch interval and 3000 get 43 ms. Past that point the
    /// fan-out is paced: changes are flushed every 2 ms and held, and the connections are written in turn,
    /// evenly spread over the interval, each with everything held for it, so that a change waits for its
    /// member's turn rather than for the next batch and then for its place among all the members' writes.
    #[arg(long, default_value_t = 70_000)]
    pub(crate) fanout_writes_per_sec: u64,
    /// Paths accepted from one peer in one address family (IPv4 and IPv6 counted apart) before its session is
    /// closed with Cease / Maximum Number of Prefixes Reached (RFC 4486, naming that family); Calico has no
    /// per-peer setting, so this applies to every peer. Unlimited if unset.
    #[arg(long)]
    pub(crate) max_prefixes: Option<usize>,
    /// Seconds to defer route selection after start-up (RFC 4724 section 4.1 Selection_Deferral_Timer; 0:
    /// off). The reflector announces nothing until every configured peer with graceful restart has sent
    /// End-of-RIB, or this expires, so that clients that kept its routes through a restart lose none of a
    /// client that comes back later. At most 3600.
    #[arg(long, default_value_t = 120)]
    pub(crate) selection_deferral_secs: u64,
    /// Write an MRT TABLE_DUMP_V2 of every path of every peer (all Adj-RIBs-In, as `rr-cli dump --mrt --adj-in`)
    /// into this directory every --mrt-dump-interval seconds, as `rib.YYYYMMDDTHHMMSSZ.mrt` (like gobgpd's
    /// mrt-dump table). Old files are not removed.
    #[arg(long)]
    pub(crate) mrt_dump_dir: Option<PathBuf>,
    /// Seconds between two RIB dumps of --mrt-dump-dir (at least 1).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) mrt_dump_interval: u64,
    /// Log every UPDATE received from a peer, and every session going up or down, as MRT BGP4MP records
    /// into this directory (`updates.YYYYMMDDTHHMMSSZ.mrt`, a new file every --mrt-updates-interval
    /// seconds), like gobgpd's mrt-dump of type updates. Old files are not removed.
    #[arg(long)]
    pub(crate) mrt_updates_dir: Option<PathBuf>,
    /// Seconds between two files of --mrt-updates-dir (at least 1).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) mrt_updates_interval: u64,
    /// Export BMP (RFC 7854) to the monitoring station at HOST:PORT: peer up/down, route monitoring of each
    /// peer's Adj-RIB-In (pre-policy; post-policy too for peers with an import filter), statistics,
    /// termination. Repeat the flag for several collectors.
    #[arg(long = "bmp-collector", value_name = "HOST:PORT")]
    pub(crate) bmp_collectors: Vec<String>,
    /// Seconds between two BMP Statistics Reports (at least 1).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) bmp_stats_interval: u64,
    /// Validate the configuration, print it and exit.
    #[arg(long)]
    pub(crate) check_config: bool,
}

impl Args {
    /// Parses `argv`; a setting that clap took from its plain variable (`IP`) yields to the `CALICO_`-prefixed
    /// one (`CALICO_IP`) when that is set too, as libcalico-go does. Flags always win.
    pub(crate) fn parse_env_aware<I, T>(
        argv: I,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Args, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let m = Args::command().try_get_matches_from(argv)?;
        let mut a = Args::from_arg_matches(&m)?;
        let from_env = |id: &str| m.value_source(id) == Some(clap::parser::ValueSource::EnvVariable);
        let fields: [(&str, &str, &mut Option<String>); 9] = [
            ("ip", "IP", &mut a.ip),
            ("ip6", "IP6", &mut a.ip6),
            ("nodename", "NODENAME", &mut a.nodename),
            ("datastore", "DATASTORE_TYPE", &mut a.datastore),
            ("etcd_endpoints", "ETCD_ENDPOINTS", &mut a.etcd_endpoints),
            ("etcd_ca_cert_file", "ETCD_CA_CERT_FILE", &mut a.etcd_ca_cert_file),
            ("etcd_cert_file", "ETCD_CERT_FILE", &mut a.etcd_cert_file),
            ("etcd_key_file", "ETCD_KEY_FILE", &mut a.etcd_key_file),
            ("kubeconfig", "KUBECONFIG", &mut a.kubeconfig),
        ];
        for (id, var, field) in fields {
            if from_env(id)
                && let Some(v) = env(&format!("CALICO_{var}")).filter(|v| !v.trim().is_empty())
            {
                *field = Some(v);
            }
        }
        Ok(a)
    }
}

/// A start-up setting that is invalid. The message names the setting (flag and variables).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {setting}: {reason}")]
pub(crate) struct ConfigError {
    /// The setting, e.g. `--ip / IP / CALICO_IP`.
    pub(crate) setting: String,
    /// What is wrong with it.
    pub(crate) reason: String,
}

impl ConfigError {
    fn new(setting: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            reason: reason.into(),
        }
    }
}

/// etcd v3 connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EtcdSettings {
    /// Endpoint URLs.
    pub(crate) endpoints: Vec<String>,
    /// CA certificate file.
    pub(crate) ca_cert_file: Option<PathBuf>,
    /// Client certificate file.
    pub(crate) cert_file: Option<PathBuf>,
    /// Client key file.
    pub(crate) key_file: Option<PathBuf>,
}

/// The datastore to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DatastoreSettings {
    /// etcd v3.
    Etcd(EtcdSettings),
    /// The Kubernetes API, from a kubeconfig or the in-cluster configuration.
    Kubernetes {
        /// kubeconfig path; `None` means in-cluster / default discovery.
        kubeconfig: Option<PathBuf>,
    },
    /// A YAML file.
    File(PathBuf),
}

/// Validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    /// IPv4 address (router id, listen and source address), when given.
    pub(crate) ip: Option<Ipv4Addr>,
    /// IPv6 address, when given.
    pub ip6: Option<Ipv6Addr>,
    /// Node name, when given.
    pub(crate) nodename: Option<String>,
    /// Datastore.
    pub(crate) datastore: DatastoreSettings,
    /// Listen port override.
    pub(crate) listen_port: Option<u16>,
    /// Metrics endpoint address, `None` when disabled.
    pub(crate) metrics_addr: Option<SocketAddr>,
    /// Control API unix socket.
    pub(crate) control_socket: PathBuf,
    /// Control API TCP address.
    pub(crate) control_addr: Option<SocketAddr>,
    /// Full-access bearer token file of the TCP control API (required with `control_addr`).
    pub(crate) control_token_file: Option<PathBuf>,
    /// Read-only bearer token file of the TCP control API.
    pub(crate) control_read_token_file: Option<PathBuf>,
    /// Shutdown mode.
    pub(crate) shutdown_mode: ShutdownMode,
    /// Cluster id fallback.
    pub(crate) cluster_id: Option<Ipv4Addr>,
    /// Router id override (`--router-id` / `CALICO_ROUTER_ID`).
    pub(crate) router_id: Option<RouterIdSetting>,
    /// Local AS fallback.
    pub(crate) asn: Option<u32>,
    /// Log format.
    pub(crate) log_format: LogFormat,
    /// Secret directory.
    pub(crate) secrets_dir: Option<PathBuf>,
    /// `--kubeconfig` / `KUBECONFIG` with a datastore other than Kubernetes: credentials for reading BGP
    /// password Secrets from the Kubernetes API, as calico-node does.
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Write-queue high watermark in bytes.
    pub(crate) write_queue_high: usize,
    /// Bytes queued across all peers before catch-up output waits.
    pub(crate) output_budget: usize,
    /// SO_SNDBUF of the session sockets; `None`: the kernel's sizing.
    pub(crate) socket_send_buffer: Option<usize>,
    /// Minimum time between two update-group flushes, and its growth with the connections.
    pub(crate) batching: Batching,
    /// Per-peer prefix limit.
    pub(crate) max_prefixes: Option<usize>,
    /// Route-selection deferral after start-up, `None` when off.
    pub(crate) selection_deferral: Option<std::time::Duration>,
    /// Directory and interval of periodic MRT RIB dumps.
    pub(crate) mrt_dump: Option<(PathBuf, std::time::Duration)>,
    /// Directory and file rotation interval of the BGP4MP update log.
    pub(crate) mrt_updates: Option<(PathBuf, std::time::Duration)>,
    /// BMP collectors (`HOST:PORT`).
    pub(crate) bmp_collectors: Vec<String>,
    /// Time between two BMP Statistics Reports.
    pub(crate) bmp_stats_interval: std::time::Duration,
}

/// Look up `name` as clap resolved it (a flag, or the `CALICO_` variable that already replaced the plain one
/// at parse time), else its `CALICO_` twin.
fn pick(flag_or_env: Option<String>, env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    flag_or_env
        .or_else(|| env(&format!("CALICO_{name}")))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn setting(flag: &str, var: &str) -> String {
    format!("--{flag} / {var} / CALICO_{var}")
}

/// Parse an AS number: plain (`64512`) or asdot (`1.10` = 1 * 65536 + 10).
pub(crate) fn parse_asn(s: &str) -> Result<u32, String> {
    if let Some((hi, lo)) = s.split_once('.') {
        let hi: u16 = hi.parse().map_err(|_| format!("{s:?} is not an AS number"))?;
        let lo: u16 = lo.parse().map_err(|_| format!("{s:?} is not an AS number"))?;
        Ok((u32::from(hi) << 16) | u32::from(lo))
    } else {
        s.parse::<u32>().map_err(|_| format!("{s:?} is not an AS number"))
    }
}

fn parse_v4(setting: &str, s: &str) -> Result<Ipv4Addr, ConfigError> {
    // Calico writes addresses as CIDRs in places; accept `a.b.c.d/len` too.
    let addr = s.split('/').next().unwrap_or(s);
    addr.parse::<Ipv4Addr>()
        .map_err(|_| ConfigError::new(setting, format!("{s:?} is not an IPv4 address")))
}

fn file_must_exist(setting: &str, p: &str) -> Result<PathBuf, ConfigError> {
    let path = PathBuf::from(p);
    if path.is_file() {
        Ok(path)
    } else {
        Err(ConfigError::new(setting, format!("{p:?} is not a readable file")))
    }
}

impl Config {
    /// Validate raw arguments; `env` looks up the `CALICO_`-prefixed variables (the process environment in
    /// production, a map in tests).
    pub(crate) fn resolve(args: Args, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let ip = pick(args.ip, env, "IP")
            .filter(|v| v != "autodetect" && v != "none")
            .map(|v| parse_v4(&setting("ip", "IP"), &v))
            .transpose()?;
        let ip6 = pick(args.ip6, env, "IP6")
            .filter(|v| v != "autodetect" && v != "none")
            .map(|v| {
                let a = v.split('/').next().unwrap_or(&v);
                a.parse::<Ipv6Addr>().map_err(|_| {
                    ConfigError::new(setting("ip6", "IP6"), format!("{v:?} is not an IPv6 address"))
                })
            })
            .transpose()?;
        let nodename = pick(args.nodename, env, "NODENAME");
        if let Some(n) = &nodename
            && (n.len() > 253 || n.contains(char::is_whitespace) || n.contains('/'))
        {
            return Err(ConfigError::new(
                setting("nodename", "NODENAME"),
                format!("{n:?} is not a node name"),
            ));
        }

        let bmp_collectors = args
            .bmp_collectors
            .iter()
            .map(|c| {
                let c = c.trim();
                match c.rsplit_once(':') {
                    Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0) => {
                        Ok(c.to_string())
                    }
                    _ => Err(ConfigError::new(
                        "--bmp-collector".to_string(),
                        format!("{c:?} is not HOST:PORT (an IPv6 address as [ADDR]:PORT)"),
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;

        let endpoints = pick(args.etcd_endpoints, env, "ETCD_ENDPOINTS");
        let ds_setting = setting("datastore", "DATASTORE_TYPE");
        let kind = match pick(args.datastore, env, "DATASTORE_TYPE").as_deref() {
            Some("etcdv3") => DatastoreKind::Etcdv3,
            Some("kubernetes") => DatastoreKind::Kubernetes,
            Some("file") => DatastoreKind::File,
            Some(other) => {
                return Err(ConfigError::new(
                    ds_setting,
                    format!("{other:?} is not one of etcdv3, kubernetes, file"),
                ));
            }
            // The old container defaulted to etcdv3 when ETCD_ENDPOINTS was set.
            None if endpoints.is_some() => DatastoreKind::Etcdv3,
            None if args.file.is_some() => DatastoreKind::File,
            None => {
                return Err(ConfigError::new(
                    ds_setting,
                    "no datastore given: use --datastore file --file PATH, or set DATASTORE_TYPE",
                ));
            }
        };
        let datastore = match kind {
            DatastoreKind::File => {
                let p = args
                    .file
                    .ok_or_else(|| ConfigError::new("--file", "--datastore file needs --file PATH"))?;
                if !p.is_file() {
                    return Err(ConfigError::new(
                        "--file",
                        format!("{} is not a readable file", p.display()),
                    ));
                }
                DatastoreSettings::File(p)
            }
            DatastoreKind::Etcdv3 => {
                let es = setting("etcd-endpoints", "ETCD_ENDPOINTS");
                let raw = endpoints.ok_or_else(|| ConfigError::new(&es, "required with etcdv3"))?;
                let mut eps = Vec::new();
                for e in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                    let rest = e
                        .strip_prefix("http://")
                        .or_else(|| e.strip_prefix("https://"))
                        .ok_or_else(|| ConfigError::new(&es, format!("{e:?} is not an http(s):// URL")))?;
                    let hostport = rest.trim_end_matches('/');
                    let ok = hostport
                        .rsplit_once(':')
                        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
                    if !ok {
                        return Err(ConfigError::new(&es, format!("{e:?} has no host:port")));
                    }
                    eps.push(e.to_string());
                }
                if eps.is_empty() {
                    return Err(ConfigError::new(&es, "no endpoint given"));
                }
                let file = |flag: &str, var: &str, v: Option<String>| {
                    pick(v, env, var)
                        .map(|p| file_must_exist(&setting(flag, var), &p))
                        .transpose()
                };
                let ca_cert_file = file("etcd-ca-cert-file", "ETCD_CA_CERT_FILE", args.etcd_ca_cert_file)?;
                let cert_file = file("etcd-cert-file", "ETCD_CERT_FILE", args.etcd_cert_file)?;
                let key_file = file("etcd-key-file", "ETCD_KEY_FILE", args.etcd_key_file)?;
                if cert_file.is_some() != key_file.is_some() {
                    return Err(ConfigError::new(
                        setting("etcd-cert-file", "ETCD_CERT_FILE"),
                        "a client certificate needs its key (ETCD_KEY_FILE) and the other way round",
                    ));
                }
                DatastoreSettings::Etcd(EtcdSettings {
                    endpoints: eps,
                    ca_cert_file,
                    cert_file,
                    key_file,
                })
            }
            DatastoreKind::Kubernetes => {
                let kubeconfig = pick(args.kubeconfig.clone(), env, "KUBECONFIG")
                    .map(|p| file_must_exist(&setting("kubeconfig", "KUBECONFIG"), &p))
                    .transpose()?;
                DatastoreSettings::Kubernetes { kubeconfig }
            }
        };

        // With etcd or a file, a kubeconfig only serves the BGP password Secrets; one that does not exist is
        // reported when the Secrets are first read, not fatal (calico-node runs on without its secret watcher).
        let kubeconfig = match datastore {
            DatastoreSettings::Kubernetes { .. } => None,
            _ => pick(args.kubeconfig, env, "KUBECONFIG").map(PathBuf::from),
        };
        if args.listen_port == Some(0) {
            return Err(ConfigError::new("--listen-port", "port 0 is not a BGP port"));
        }
        let metrics_addr =
            match args.metrics_addr.trim() {
                "off" | "none" | "" => None,
                a => Some(a.parse::<SocketAddr>().map_err(|_| {
                    ConfigError::new("--metrics-addr", format!("{a:?} is not an address:port"))
                })?),
            };
        let control_addr = args
            .control_addr
            .map(|a| {
                a.parse::<SocketAddr>()
                    .map_err(|_| ConfigError::new("--control-addr", format!("{a:?} is not an address:port")))
            })
            .transpose()?;
        if control_addr.is_some() && args.control_token_file.is_none() {
            return Err(ConfigError::new(
                "--control-addr",
                "the TCP control API needs --control-token-file (a bearer token every request must carry)",
            ));
        }
        if control_addr.is_none()
            && (args.control_token_file.is_some() || args.control_read_token_file.is_some())
        {
            return Err(ConfigError::new(
                "--control-token-file",
                "tokens apply to the TCP control API: give --control-addr too",
            ));
        }
        let control_socket = args
            .control_socket
            .unwrap_or_else(|| std::env::temp_dir().join("rr-daemon.sock"));
        let cluster_id = args
            .cluster_id
            .map(|c| parse_v4("--cluster-id", &c))
            .transpose()?;
        let router_id = args
            .router_id
            .filter(|r| !r.trim().is_empty())
            .map(|r| {
                RouterIdSetting::parse(&r).map_err(|e| ConfigError::new("--router-id / CALICO_ROUTER_ID", e))
            })
            .transpose()?;
        let asn = args
            .asn
            .map(|a| match parse_asn(a.trim()) {
                Ok(0) => Err(ConfigError::new("--as", "AS 0 is reserved")),
                Ok(n) => Ok(n),
                Err(e) => Err(ConfigError::new("--as", e)),
            })
            .transpose()?;
        if args.batch_interval_ms > MAX_BATCH_INTERVAL_MS {
            return Err(ConfigError::new(
                "--batch-interval-ms",
                format!(
                    "{} is above {MAX_BATCH_INTERVAL_MS}: route changes would wait too long",
                    args.batch_interval_ms
                ),
            ));
        }
        if args.selection_deferral_secs > MAX_SELECTION_DEFERRAL_SECS {
            return Err(ConfigError::new(
                "--selection-deferral-secs",
                format!(
                    "{} is above {MAX_SELECTION_DEFERRAL_SECS}",
                    args.selection_deferral_secs
                ),
            ));
        }
        Ok(Config {
            ip,
            ip6,
            nodename,
            datastore,
            listen_port: args.listen_port,
            metrics_addr,
            control_socket,
            control_addr,
            control_token_file: args.control_token_file,
            control_read_token_file: args.control_read_token_file,
            shutdown_mode: args.shutdown_mode,
            cluster_id,
            router_id,
            asn,
            log_format: args.log_format,
            secrets_dir: args.secrets_dir,
            kubeconfig,
            write_queue_high: args.write_queue_high.max(4096),
            // At least one peer's worth, so that a catch-up always makes progress.
            output_budget: args.output_budget.max(args.write_queue_high.max(4096)),
            socket_send_buffer: args.socket_send_buffer,
            batching: Batching {
                min: std::time::Duration::from_millis(args.batch_interval_ms),
                per_connection: if args.fanout_writes_per_sec == 0 {
                    std::time::Duration::ZERO
                } else {
                    std::time::Duration::from_secs(1)
                        / u32::try_from(args.fanout_writes_per_sec).unwrap_or(u32::MAX)
                },
            },
            max_prefixes: args.max_prefixes,
            selection_deferral: (args.selection_deferral_secs > 0)
                .then(|| std::time::Duration::from_secs(args.selection_deferral_secs)),
            mrt_dump: args
                .mrt_dump_dir
                .map(|d| (d, std::time::Duration::from_secs(args.mrt_dump_interval))),
            mrt_updates: args
                .mrt_updates_dir
                .map(|d| (d, std::time::Duration::from_secs(args.mrt_updates_interval))),
            bmp_collectors,
            bmp_stats_interval: std::time::Duration::from_secs(args.bmp_stats_interval),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(argv: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut full = vec!["rr-daemon"];
        full.extend_from_slice(argv);
        let args = Args::try_parse_from(full).map_err(|e| ConfigError::new("argv", e.to_string()))?;
        Config::resolve(args, &|k| env.get(k).cloned())
    }

    fn example_file() -> tempfile::NamedTempFile {
        tempfile::NamedTempFile::new().expect("temp file")
    }

    #[test]
    fn the_batch_interval_grows_with_the_connections_within_bounds() {
        let f = example_file();
        let p = f.path().to_str().expect("utf8");
        let ms = std::time::Duration::from_millis;
        let c = resolve(&["--datastore", "file", "--file", p, "--ip", "127.0.1.1"], &[]).expect("valid");
        // Defaults: 20 ms, 70,000 writes per second (14.285 us per connection).
        assert_eq!(c.batching.interval(0), ms(20));
        assert_eq!(c.batching.interval(1400), ms(20));
        assert_eq!(
            c.batching.interval(3000),
            std::time::Duration::from_nanos(14_285 * 3000)
        );
        assert_eq!(c.batching.interval(1_000_000), ms(250), "capped");
        // Paced past the point where the interval grows; flushed every 2 ms then.
        assert!(!c.batching.paced(0) && !c.batching.paced(1400));
        assert!(c.batching.paced(1401) && c.batching.paced(3000));
        assert_eq!(c.batching.flush_step(), ms(2));
        let fixed = resolve(
            &[
                "--datastore",
                "file",
                "--file",
                p,
                "--ip",
                "127.0.1.1",
                "--fanout-writes-per-sec",
                "0",
            ],
            &[],
        )
        .expect("valid");
        assert_eq!(fixed.batching.interval(100_000), ms(20), "0: a fixed interval");
        assert!(!fixed.batching.paced(100_000), "0: never paced");
        let long = resolve(
            &[
                "--datastore",
                "file",
                "--file",
                p,
                "--ip",
                "127.0.1.1",
                "--batch-interval-ms",
                "500",
            ],
            &[],
        )
        .expect("valid");
        assert_eq!(
            long.batching.interval(100_000),
            ms(500),
            "never below the minimum"
        );
        assert!(!long.batching.paced(100_000), "the cap is below the minimum");
    }

    #[test]
    fn file_datastore_from_flags() {
        let f = example_file();
        let p = f.path().to_str().expect("utf8");
        let c = resolve(&["--datastore", "file", "--file", p, "--ip", "127.0.1.1"], &[]).expect("valid");
        assert_eq!(c.datastore, DatastoreSettings::File(f.path().to_path_buf()));
        assert_eq!(c.ip, Some(Ipv4Addr::new(127, 0, 1, 1)));
        assert_eq!(c.shutdown_mode, ShutdownMode::Graceful);
        assert_eq!(c.metrics_addr, Some("127.0.0.1:9179".parse().expect("addr")));
    }

    #[test]
    fn bmp_collectors_and_update_log() {
        let f = example_file();
        let p = f.path().to_str().expect("utf8");
        let base = ["--datastore", "file", "--file", p];
        let c = resolve(&base, &[]).expect("valid");
        assert!(c.bmp_collectors.is_empty());
        assert_eq!(c.bmp_stats_interval, std::time::Duration::from_secs(60));
        assert_eq!(c.mrt_updates, None);
        let mut argv = base.to_vec();
        argv.extend([
            "--bmp-collector",
            "127.0.0.1:11019",
            "--bmp-collector",
            "[::1]:5000",
            "--bmp-collector",
            "bmp.example:1790",
            "--mrt-updates-dir",
            "/tmp",
            "--mrt-updates-interval",
            "60",
        ]);
        let c = resolve(&argv, &[]).expect("valid");
        assert_eq!(
            c.bmp_collectors,
            ["127.0.0.1:11019", "[::1]:5000", "bmp.example:1790"]
        );
        assert_eq!(
            c.mrt_updates,
            Some((PathBuf::from("/tmp"), std::time::Duration::from_secs(60)))
        );
        for bad in ["127.0.0.1", "host:0", ":179", "host:port", "host:70000"] {
            let mut argv = base.to_vec();
            argv.extend(["--bmp-collector", bad]);
            let e = resolve(&argv, &[]).expect_err(bad);
            assert_eq!(e.setting, "--bmp-collector", "{bad}");
        }
        let mut argv = base.to_vec();
        argv.extend(["--mrt-updates-interval", "0"]);
        assert!(resolve(&argv, &[]).is_err());
    }

    #[test]
    fn selection_deferral_default_and_bound() {
        let f = example_file();
        let p = f.path().to_str().expect("utf8");
        let c = resolve(&["--file", p], &[]).expect("valid");
        assert_eq!(c.selection_deferral, Some(std::time::Duration::from_secs(120)));
        let c = resolve(&["--file", p, "--selection-deferral-secs", "0"], &[]).expect("valid");
        assert_eq!(c.selection_deferral, None);
        let e = resolve(&["--file", p, "--selection-deferral-secs", "3601"], &[]).expect_err("too long");
        assert!(e.to_string().contains("--selection-deferral-secs"), "{e}");
    }

    #[test]
    fn router_id_is_an_address_or_hash() {
        let f = example_file();
        let p = f.path().to_str().expect("utf8");
        let c = resolve(&["--file", p, "--router-id", "hash"], &[]).expect("valid");
        assert_eq!(c.router_id, Some(RouterIdSetting::Hash));
        let c = resolve(&["--file", p, "--router-id", "10.9.8.7"], &[]).expect("valid");
        assert_eq!(
            c.router_id,
            Some(RouterIdSetting::Addr(Ipv4Addr::new(10, 9, 8, 7)))
        );
        let e = resolve(&["--file", p, "--router-id", "sha"], &[]).expect_err("invalid");
        assert!(e.to_string().contains("CALICO_ROUTER_ID"), "{e}");
    }

    #[test]
    fn file_implied_by_file_flag() {
        let f = example_file();
        let c = resolve(&["--file", f.path().to_str().expect("utf8")], &[]).expect("valid");
        assert!(matches!(c.datastore, DatastoreSettings::File(_)));
    }

    #[test]
    fn calico_prefixed_variables_are_used() {
        let c = resolve(
            &[],
            &[
                ("CALICO_IP", "10.0.0.5"),
                ("CALICO_IP6", "fd00::5/64"),
                ("CALICO_NODENAME", "rr-a"),
                ("CALICO_DATASTORE_TYPE", "etcdv3"),
                (
                    "CALICO_ETCD_ENDPOINTS",
                    "http://127.0.0.1:2379, https://127.0.0.2:2379",
                ),
            ],
        )
        .expect("valid");
        assert_eq!(c.ip, Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(c.ip6, Some("fd00::5".parse().expect("v6")));
        assert_eq!(c.nodename.as_deref(), Some("rr-a"));
        match c.datastore {
            DatastoreSettings::Etcd(e) => {
                assert_eq!(
                    e.endpoints,
                    vec!["http://127.0.0.1:2379", "https://127.0.0.2:2379"]
                )
            }
            other => panic!("expected etcd, got {other:?}"),
        }
    }

    #[test]
    fn flag_wins_over_calico_variable() {
        let f = example_file();
        let c = resolve(
            &["--file", f.path().to_str().expect("utf8"), "--ip", "127.0.0.9"],
            &[("CALICO_IP", "10.9.9.9")],
        )
        .expect("valid");
        assert_eq!(c.ip, Some(Ipv4Addr::new(127, 0, 0, 9)));
    }

    #[test]
    fn etcd_default_when_endpoints_set() {
        let c = resolve(&["--etcd-endpoints", "http://127.0.0.1:2379"], &[]).expect("valid");
        assert!(matches!(c.datastore, DatastoreSettings::Etcd(_)));
    }

    #[test]
    fn kubernetes_without_kubeconfig_is_in_cluster() {
        let c = resolve(&["--datastore", "kubernetes"], &[]).expect("valid");
        assert_eq!(c.datastore, DatastoreSettings::Kubernetes { kubeconfig: None });
    }

    /// With etcd, a kubeconfig is kept for the BGP password Secrets (calico-node reads them from the
    /// Kubernetes API whenever it has credentials); a missing file is not fatal there.
    #[test]
    fn kubeconfig_with_etcd_is_for_secrets() {
        let c = resolve(
            &[
                "--datastore",
                "etcdv3",
                "--etcd-endpoints",
                "http://127.0.0.1:2379",
            ],
            &[("CALICO_KUBECONFIG", "/nonexistent/kc")],
        )
        .expect("valid");
        assert_eq!(c.kubeconfig, Some(PathBuf::from("/nonexistent/kc")));
        let c = resolve(&["--datastore", "kubernetes"], &[]).expect("valid");
        assert_eq!(c.kubeconfig, None);
    }

    #[test]
    fn bad_settings_name_themselves() {
        let f = example_file();
        let p = f.path().to_str().expect("utf8");
        type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
        let cases: Vec<Case> = vec![
            (vec!["--file", p, "--ip", "300.1.1.1"], vec![], "IP"),
            (vec!["--file", p], vec![("CALICO_IP", "nope")], "CALICO_IP"),
            (vec!["--file", p, "--ip6", "1.2.3.4"], vec![], "IP6"),
            (vec!["--datastore", "etcd"], vec![], "DATASTORE_TYPE"),
            (vec!["--datastore", "etcdv3"], vec![], "ETCD_ENDPOINTS"),
            (
                vec!["--datastore", "etcdv3", "--etcd-endpoints", "127.0.0.1:2379"],
                vec![],
                "ETCD_ENDPOINTS",
            ),
            (
                vec![
                    "--etcd-endpoints",
                    "http://127.0.0.1:2379",
                    "--etcd-ca-cert-file",
                    "/nonexistent/ca.pem",
                ],
                vec![],
                "ETCD_CA_CERT_FILE",
            ),
            (
                vec!["--etcd-endpoints", "http://127.0.0.1:2379", "--etcd-cert-file", p],
                vec![],
                "ETCD_CERT_FILE",
            ),
            (
                vec!["--datastore", "kubernetes", "--kubeconfig", "/nonexistent/kc"],
                vec![],
                "KUBECONFIG",
            ),
            (vec!["--datastore", "file"], vec![], "--file"),
            (
                vec!["--datastore", "file", "--file", "/nonexistent.yaml"],
                vec![],
                "--file",
            ),
            (vec![], vec![], "DATASTORE_TYPE"),
            (
                vec!["--file", p, "--metrics-addr", "localhost"],
                vec![],
                "--metrics-addr",
            ),
            (vec!["--file", p, "--cluster-id", "x"], vec![], "--cluster-id"),
            (vec!["--file", p, "--router-id", "0.0.0.0"], vec![], "--router-id"),
            (vec!["--file", p, "--as", "0"], vec![], "--as"),
            (vec!["--file", p, "--as", "70000.1"], vec![], "--as"),
            (vec!["--file", p, "--listen-port", "0"], vec![], "--listen-port"),
            (vec!["--file", p, "--nodename", "a b"], vec![], "NODENAME"),
        ];
        for (argv, env, name) in cases {
            let err = resolve(&argv, &env).expect_err(&format!("{argv:?} {env:?} must fail"));
            assert!(
                err.to_string().contains(name),
                "{argv:?}: {err} does not name {name}"
            );
        }
    }

    #[test]
    fn clap_rejects_bad_typed_flags() {
        for argv in [
            vec!["rr-daemon", "--listen-port", "70000"],
            vec!["rr-daemon", "--shutdown-mode", "abrupt"],
        ] {
            let err = Args::try_parse_from(&argv).expect_err("must fail").to_string();
            let flag = argv[1];
            assert!(err.contains(flag), "{err} does not name {flag}");
        }
    }

    #[test]
    fn asn_forms() {
        assert_eq!(parse_asn("64512"), Ok(64512));
        assert_eq!(parse_asn("1.10"), Ok(65546));
        assert!(parse_asn("4294967296").is_err());
        assert!(parse_asn("a.b").is_err());
    }

    #[test]
    fn cidr_form_of_ip_accepted() {
        let f = example_file();
        let c = resolve(
            &["--file", f.path().to_str().expect("utf8"), "--ip", "10.1.2.3/16"],
            &[],
        )
        .expect("valid");
        assert_eq!(c.ip, Some(Ipv4Addr::new(10, 1, 2, 3)));
    }
}
