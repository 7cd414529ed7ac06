//! Datastore administration, calicoctl style: `get`, `apply -f`, `delete` and `reflector add|list|check|remove`.
//!
//! Everything goes through the `datastore` crate's [`Datastore`] trait, so the same commands work on the file,
//! etcd v3 and Kubernetes backends. The backend is chosen with the same flags and variables as `rr-daemon`
//! (`--datastore` / `DATASTORE_TYPE`, `--file`, `--etcd-endpoints` / `ETCD_ENDPOINTS`, the `ETCD_*_FILE`
//! variables, `--kubeconfig` / `KUBECONFIG`, each variable also with a `CALICO_` prefix).
//!
//! Writes are compare-and-swap: `apply` updates at the revision it just read (or at the manifest's
//! `metadata.resourceVersion` when it carries one, so a stale `get -o yaml` edit is refused), and `reflector
//! add|remove` re-read and retry when another writer got in between.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use datastore::{Datastore, Error, Identity, Kind, Resource, Revision, Snapshot, Versioned};

/// Exit code for a refused write (conflict, invalid manifest, missing object).
const EXIT_REFUSED: u8 = 1;
/// Exit code of `reflector check` when it has findings.
const EXIT_FINDINGS: u8 = 1;
/// Attempts of a read-modify-write before giving up on repeated conflicts.
const CAS_ATTEMPTS: usize = 8;

/// Which datastore to talk to: the same settings as `rr-daemon`.
#[derive(Debug, Clone, Args)]
pub(crate) struct DatastoreArgs {
    /// Datastore backend: `etcdv3`, `kubernetes` or `file` (env `DATASTORE_TYPE` / `CALICO_DATASTORE_TYPE`;
    /// default: etcdv3 when ETCD_ENDPOINTS is set, file when --file is given).
    #[arg(long = "datastore", global = true)]
    datastore: Option<String>,
    /// The YAML file of `--datastore file`.
    #[arg(long, global = true)]
    file: Option<PathBuf>,
    /// Comma-separated etcd v3 endpoint URLs (env `ETCD_ENDPOINTS` / `CALICO_ETCD_ENDPOINTS`).
    #[arg(long, global = true)]
    etcd_endpoints: Option<String>,
    /// etcd CA certificate file (env `ETCD_CA_CERT_FILE`).
    #[arg(long, global = true)]
    etcd_ca_cert_file: Option<String>,
    /// etcd client certificate file (env `ETCD_CERT_FILE`).
    #[arg(long, global = true)]
    etcd_cert_file: Option<String>,
    /// etcd client key file (env `ETCD_KEY_FILE`).
    #[arg(long, global = true)]
    etcd_key_file: Option<String>,
    /// kubeconfig of the Kubernetes datastore (env `KUBECONFIG` / `CALICO_KUBECONFIG`).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
}

/// Output format of `get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum Output {
    /// Aligned columns.
    #[default]
    Table,
    /// Multi-document YAML manifests (re-appliable with `apply -f`).
    Yaml,
    /// JSON (`kind: List` for several objects, re-appliable with `apply -f`).
    Json,
}

/// `get KIND [NAME]`.
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// nodes, bgppeers, bgpconfigurations or bgpfilters (singular and calicoctl spellings accepted).
    kind: String,
    /// One object; all of the kind when omitted.
    name: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    output: Output,
    #[command(flatten)]
    store: DatastoreArgs,
}

/// `apply -f FILE`.
#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// A multi-document YAML (or JSON) file of `projectcalico.org/v3` manifests; `-` reads stdin.
    #[arg(short = 'f', long = "filename")]
    filename: PathBuf,
    #[command(flatten)]
    store: DatastoreArgs,
}

/// `delete KIND NAME`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// nodes, bgppeers, bgpconfigurations or bgpfilters.
    kind: String,
    /// The object name.
    name: String,
    /// Succeed when the object does not exist.
    #[arg(long)]
    ignore_not_found: bool,
    #[command(flatten)]
    store: DatastoreArgs,
}

/// `reflector add|list|check|remove`.
#[derive(Debug, Args)]
pub(crate) struct ReflectorArgs {
    #[command(subcommand)]
    command: ReflectorCommand,
    #[command(flatten)]
    store: DatastoreArgs,
}

/// The reflector subcommands.
#[derive(Debug, Subcommand)]
enum ReflectorCommand {
    /// Make a Calico node a route reflector: set spec.bgp.routeReflectorClusterID and the reflector label.
    ///
    /// For a standalone reflector that is not a Calico node, either create a Node for it
    /// (`apply -f` with spec.bgp.ipv4Address and routeReflectorClusterID) so clients select it by label, or
    /// run rr-daemon with --nodename, --ip, --cluster-id and --as and point a global BGPPeer (peerIP) at it.
    Add {
        /// The node name.
        node: String,
        /// The cluster id (an IPv4 address, e.g. 244.0.0.1).
        #[arg(long)]
        cluster_id: Ipv4Addr,
        /// The label clients' BGPPeer peerSelector matches, as KEY=VALUE.
        #[arg(long, default_value = "route-reflector=true")]
        label: String,
    },
    /// List reflectors grouped by cluster id, with their client counts and topology warnings.
    List {
        /// Output format (table or json).
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Check the topology: print the same findings as `list` warns about, one per line; exit 1 when there
    /// is any (for CI and monitoring), 0 when there is none.
    Check {
        /// Output format (table: one finding per line; yaml or json: the `list` analysis as data).
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Make a node an ordinary node again: clear the cluster id and remove the reflector label.
    Remove {
        /// The node name.
        node: String,
        /// The label key to remove (from KEY=VALUE or KEY).
        #[arg(long, default_value = "route-reflector=true")]
        label: String,
    },
}

/// A variable from the process environment, the `CALICO_`-prefixed one first (as libcalico-go).
fn env_var(name: &str) -> Option<String> {
    [format!("CALICO_{name}"), name.to_string()]
        .iter()
        .filter_map(|n| std::env::var(n).ok())
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
}

impl DatastoreArgs {
    /// Opens the backend. The file backend is opened outside any runtime so it does not start watching.
    pub(crate) fn open(&self) -> anyhow::Result<Arc<dyn Datastore>> {
        let endpoints = self.etcd_endpoints.clone().or_else(|| env_var("ETCD_ENDPOINTS"));
        let kind = match self
            .datastore
            .clone()
            .or_else(|| env_var("DATASTORE_TYPE"))
            .as_deref()
        {
            Some("file") => "file",
            Some("etcdv3") => "etcdv3",
            Some("kubernetes") => "kubernetes",
            Some(other) => {
                bail!("--datastore / DATASTORE_TYPE: {other:?} is not one of etcdv3, kubernetes, file")
            }
            None if self.file.is_some() => "file",
            None if endpoints.is_some() => "etcdv3",
            None => bail!("no datastore given: use --datastore file --file PATH, or set DATASTORE_TYPE"),
        };
        Ok(match kind {
            "file" => {
                let p = self
                    .file
                    .as_ref()
                    .ok_or_else(|| anyhow!("--datastore file needs --file PATH"))?;
                Arc::new(
                    datastore::FileDatastore::open(p)
                        .with_context(|| format!("opening datastore file {}", p.display()))?,
                )
            }
            "etcdv3" => {
                // Flags win over the variables; EtcdConfig reads the rest (CALICO_ prefix, username/password).
                let flags: BTreeMap<&str, Option<String>> = [
                    ("ETCD_ENDPOINTS", endpoints),
                    ("ETCD_CA_CERT_FILE", self.etcd_ca_cert_file.clone()),
                    ("ETCD_CERT_FILE", self.etcd_cert_file.clone()),
                    ("ETCD_KEY_FILE", self.etcd_key_file.clone()),
                ]
                .into_iter()
                .collect();
                let cfg = datastore::etcd::EtcdConfig::from_lookup(|name| {
                    let plain = name.strip_prefix("CALICO_").unwrap_or(name);
                    match flags.get(plain) {
                        Some(Some(v)) => Some(v.clone()),
                        // No flag: the variable itself (CALICO_X is asked first, then X).
                        _ => std::env::var(name).ok(),
                    }
                })
                .ok_or_else(|| anyhow!("--datastore etcdv3 needs --etcd-endpoints / ETCD_ENDPOINTS"))?;
                Arc::new(datastore::etcd::EtcdBackend::new(cfg).context("etcd datastore")?)
            }
            _ => {
                let mut k = datastore::kube::KubeConfig::from_env();
                if let Some(p) = &self.kubeconfig {
                    k.kubeconfig = Some(p.clone());
                }
                let rt = runtime()?;
                Arc::new(
                    rt.block_on(datastore::kube::KubeDatastore::connect(&k))
                        .context("kubernetes datastore")?,
                )
            }
        })
    }
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// The kinds `get` and `delete` accept.
fn parse_kind(s: &str) -> anyhow::Result<Kind> {
    match Kind::parse(s) {
        Some(k @ (Kind::Node | Kind::BgpPeer | Kind::BgpConfiguration | Kind::BgpFilter)) => Ok(k),
        Some(k) => bail!("{k} is read by the reflector but not managed by rr-cli (use calicoctl)"),
        None => bail!("unknown kind {s:?}: expected nodes, bgppeers, bgpconfigurations or bgpfilters"),
    }
}

/// A resource with `metadata.resourceVersion` set to its store revision (for `get -o yaml|json`).
fn with_version(v: &Versioned<Resource>) -> Resource {
    let mut r = v.value.clone();
    r.metadata_mut().resource_version = Some(v.revision.to_string());
    r
}

/// `get`.
pub(crate) fn get(args: &GetArgs) -> anyhow::Result<ExitCode> {
    let kind = parse_kind(&args.kind)?;
    let store = args.store.open()?;
    let rt = runtime()?;
    let items: Vec<Versioned<Resource>> = match &args.name {
        Some(name) => match rt.block_on(store.get(kind, name)) {
            Ok(v) => vec![v],
            Err(e @ Error::NotFound { .. }) => {
                eprintln!("rr-cli: {e}");
                return Ok(ExitCode::from(EXIT_REFUSED));
            }
            Err(e) => return Err(e.into()),
        },
        None => {
            let listing = rt.block_on(store.list(kind))?;
            for bad in &listing.invalid {
                eprintln!("warning: skipped invalid record {bad}");
            }
            listing.resources
        }
    };
    let mut out = std::io::stdout().lock();
    match args.output {
        Output::Yaml => {
            for v in &items {
                let doc = serde_yaml_ng::to_string(&with_version(v))?;
                write!(out, "---\n{doc}")?;
            }
        }
        Output::Json => {
            let value = if args.name.is_some() && items.len() == 1 {
                with_version(&items[0]).to_value()
            } else {
                serde_json::json!({
                    "apiVersion": "projectcalico.org/v3",
                    "kind": "List",
                    "items": items.iter().map(|v| with_version(v).to_value()).collect::<Vec<_>>(),
                })
            };
            writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        }
        Output::Table => {
            let rows: Vec<Vec<String>> = items.iter().map(|v| table_row(&v.value)).collect();
            write!(out, "{}", render_table(table_header(kind), &rows))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn table_header(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Node => &["NAME", "ASN", "IPV4", "IPV6", "CLUSTER-ID", "LABELS"],
        Kind::BgpPeer => &["NAME", "PEERIP", "NODE", "PEERSELECTOR", "ASN"],
        Kind::BgpFilter => &["NAME", "EXPORTV4", "IMPORTV4", "EXPORTV6", "IMPORTV6"],
        _ => &["NAME", "ASN", "MESH", "LISTENPORT"],
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn table_row(r: &Resource) -> Vec<String> {
    match r {
        Resource::Node(n) => {
            let bgp = n.spec.bgp.as_ref();
            let labels: Vec<String> = n
                .metadata
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            vec![
                n.name().to_string(),
                opt(n.as_number()),
                opt(bgp.and_then(|b| b.ipv4_address.as_ref())),
                opt(bgp.and_then(|b| b.ipv6_address.as_ref())),
                opt(n.cluster_id()),
                if labels.is_empty() {
                    "-".into()
                } else {
                    labels.join(",")
                },
            ]
        }
        Resource::BgpPeer(p) => {
            let s = &p.spec;
            let node = match (&s.node, &s.node_selector) {
                (Some(n), _) => n.clone(),
                (None, Some(sel)) => sel.to_string(),
                (None, None) => "(global)".to_string(),
            };
            vec![
                p.metadata.name.clone(),
                opt(s.peer_ip.as_ref()),
                node,
                opt(s.peer_selector.as_ref()),
                opt(s.as_number),
            ]
        }
        Resource::BgpConfiguration(c) => vec![
            c.metadata.name.clone(),
            opt(c.spec.as_number),
            opt(c.spec.node_to_node_mesh_enabled),
            opt(c.spec.listen_port),
        ],
        Resource::BgpFilter(f) => {
            let mut row = vec![f.metadata.name.clone()];
            row.extend(
                datastore::model::RuleList::ALL
                    .iter()
                    .map(|l| format!("{} rules", f.spec.rules(*l).len())),
            );
            row
        }
        other => vec![other.name().to_string()],
    }
}

/// Left-aligned columns separated by three spaces (calicoctl's look).
pub(crate) fn render_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, c) in cells.enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            l.push_str(&format!("{c:<w$}   "));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// Reads `-f FILE` (or stdin for `-`).
fn read_manifest(path: &Path) -> anyhow::Result<(String, String)> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).context("reading stdin")?;
        Ok(("<stdin>".to_string(), s))
    } else {
        let s = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Ok((path.display().to_string(), s))
    }
}

/// `apply -f`: every document is validated first; nothing is written when one is invalid.
pub(crate) fn apply(args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    let (source, text) = read_manifest(&args.filename)?;
    let (resources, invalid) = datastore::parse_manifests(&source, &text);
    if !invalid.is_empty() {
        for bad in &invalid {
            eprintln!("rr-cli: invalid manifest {bad}");
        }
        eprintln!("rr-cli: nothing applied");
        return Ok(ExitCode::from(EXIT_REFUSED));
    }
    if resources.is_empty() {
        bail!("{source}: no resources found");
    }
    for r in &resources {
        if r.kind() == Kind::IpPool {
            bail!("{}: IPPools are not managed by rr-cli (use calicoctl)", r.id());
        }
    }
    let store = args.store.open()?;
    let rt = runtime()?;
    let mut failed = 0usize;
    for r in resources {
        match rt.block_on(apply_one(store.as_ref(), r.clone())) {
            Ok((verb, rev)) => println!("{} {verb} (revision {rev})", r.id()),
            Err(e) => {
                failed += 1;
                match e {
                    Error::Conflict { .. } => eprintln!(
                        "rr-cli: {}: {e}; it changed since it was read: `get` it again, re-apply your edit",
                        r.id()
                    ),
                    e => eprintln!("rr-cli: {}: {e}", r.id()),
                }
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_REFUSED)
    })
}

/// Creates `r`, or updates it at the revision named by its `resourceVersion` (when set) or just read.
async fn apply_one(store: &dyn Datastore, mut r: Resource) -> Result<(&'static str, Revision), Error> {
    let pinned = r.metadata_mut().resource_version.take();
    let expected = match pinned.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => Some(Revision(v.parse().map_err(|_| {
            Error::invalid(r.id(), "metadata.resourceVersion", v, "not a revision number")
        })?)),
        None => None,
    };
    match store.get(r.kind(), r.name()).await {
        Ok(cur) => {
            // Re-applying what is stored writes nothing (as `kubectl apply` reports "unchanged"), unless the
            // manifest pins a revision that is no longer current: that is still a conflict.
            let mut stored = cur.value.clone();
            stored.metadata_mut().resource_version = None;
            if stored == r && expected.is_none_or(|e| e == cur.revision) {
                return Ok(("unchanged", cur.revision));
            }
            let rev = store.update(&r, expected.unwrap_or(cur.revision)).await?;
            Ok(("configured", rev))
        }
        Err(Error::NotFound { kind, name }) => {
            if expected.is_some() {
                // A manifest read from the store whose object has since been deleted: do not resurrect it.
                return Err(Error::NotFound { kind, name });
            }
            Ok(("created", store.create(&r).await?))
        }
        Err(e) => Err(e),
    }
}

/// `delete KIND NAME`.
pub(crate) fn delete(args: &DeleteArgs) -> anyhow::Result<ExitCode> {
    let kind = parse_kind(&args.kind)?;
    let store = args.store.open()?;
    let rt = runtime()?;
    match rt.block_on(store.delete(kind, &args.name, None)) {
        Ok(()) => {
            println!("{kind}/{} deleted", args.name);
            Ok(ExitCode::SUCCESS)
        }
        Err(Error::NotFound { .. }) if args.ignore_not_found => Ok(ExitCode::SUCCESS),
        Err(e @ Error::NotFound { .. }) => {
            eprintln!("rr-cli: {e}");
            Ok(ExitCode::from(EXIT_REFUSED))
        }
        Err(e) => Err(e.into()),
    }
}

fn split_label(label: &str) -> anyhow::Result<(String, String)> {
    let (k, v) = label.split_once('=').unwrap_or((label, ""));
    let k = k.trim();
    if k.is_empty() {
        bail!("--label {label:?}: expected KEY=VALUE");
    }
    Ok((k.to_string(), v.trim().to_string()))
}

/// `reflector add|list|check|remove`.
pub(crate) fn reflector(args: &ReflectorArgs) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let rt = runtime()?;
    match &args.command {
        ReflectorCommand::Add {
            node,
            cluster_id,
            label,
        } => {
            let (k, v) = split_label(label)?;
            let cid = *cluster_id;
            let res = rt.block_on(modify_node(store.as_ref(), node, |n| {
                let Some(bgp) = n.spec.bgp.as_mut() else {
                    return Err(format!(
                        "node {:?} has no spec.bgp (no BGP address): give it spec.bgp.ipv4Address first",
                        n.metadata.name
                    ));
                };
                bgp.route_reflector_cluster_id = Some(cid);
                n.metadata.labels.insert(k.clone(), v.clone());
                Ok(())
            }));
            report_modify(res, node, &format!("is a reflector with cluster id {cid}"), true)
        }
        ReflectorCommand::Remove { node, label } => {
            let (k, _) = split_label(label)?;
            let res = rt.block_on(modify_node(store.as_ref(), node, |n| {
                if let Some(bgp) = n.spec.bgp.as_mut() {
                    bgp.route_reflector_cluster_id = None;
                }
                n.metadata.labels.remove(&k);
                Ok(())
            }));
            report_modify(res, node, "is no longer a reflector", false)
        }
        ReflectorCommand::List { output } => {
            let topo = Topology::analyse(&load_snapshot(store.as_ref(), &rt)?);
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&topo.to_json())?),
                Output::Yaml => print!("{}", serde_yaml_ng::to_string(&topo.to_json())?),
                Output::Table => print!("{}", topo.render()),
            }
            for w in &topo.warnings {
                eprintln!("warning: {w}");
            }
            Ok(ExitCode::SUCCESS)
        }
        ReflectorCommand::Check { output } => {
            let topo = Topology::analyse(&load_snapshot(store.as_ref(), &rt)?);
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&topo.to_json())?),
                Output::Yaml => print!("{}", serde_yaml_ng::to_string(&topo.to_json())?),
                Output::Table => {
                    for w in &topo.warnings {
                        println!("{w}");
                    }
                    match topo.warnings.len() {
                        0 => println!("no findings"),
                        n => eprintln!("{n} finding(s)"),
                    }
                }
            }
            Ok(if topo.warnings.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FINDINGS)
            })
        }
    }
}

/// Reads nodes, BGPPeers, BGPConfigurations and BGPFilters into a [`Snapshot`]; invalid records are named
/// on stderr and skipped, as the daemon does.
pub(crate) fn load_snapshot(store: &dyn Datastore, rt: &tokio::runtime::Runtime) -> anyhow::Result<Snapshot> {
    let mut resources = Vec::new();
    for kind in [Kind::Node, Kind::BgpPeer, Kind::BgpConfiguration, Kind::BgpFilter] {
        let listing = rt.block_on(store.list(kind))?;
        for bad in &listing.invalid {
            eprintln!("warning: skipped invalid record {bad}");
        }
        resources.extend(listing.resources.into_iter().map(|v| v.value));
    }
    Ok(Snapshot::from_resources(resources))
}

/// Why a node modification failed.
enum ModifyError {
    /// The node does not exist.
    Missing,
    /// The node cannot take the change.
    Refused(String),
    /// Still conflicting after [`CAS_ATTEMPTS`] re-reads.
    Conflicts(Error),
    /// Any other datastore error.
    Store(Error),
}

/// Read-modify-write of a Node with compare-and-swap, re-reading on conflict.
async fn modify_node(
    store: &dyn Datastore,
    name: &str,
    mut change: impl FnMut(&mut datastore::Node) -> Result<(), String>,
) -> Result<Revision, ModifyError> {
    let mut last = None;
    for _ in 0..CAS_ATTEMPTS {
        let cur = match store.get(Kind::Node, name).await {
            Ok(v) => v,
            Err(Error::NotFound { .. }) => return Err(ModifyError::Missing),
            Err(e) => return Err(ModifyError::Store(e)),
        };
        let Resource::Node(mut node) = cur.value else {
            return Err(ModifyError::Refused(format!("{name:?} is not a Node")));
        };
        change(&mut node).map_err(ModifyError::Refused)?;
        node.metadata.resource_version = None;
        match store.update(&Resource::Node(node), cur.revision).await {
            Ok(rev) => return Ok(rev),
            // Someone else wrote the node between our read and write: read it again.
            Err(e @ (Error::Conflict { .. } | Error::NotFound { .. })) => last = Some(e),
            Err(e) => return Err(ModifyError::Store(e)),
        }
    }
    Err(ModifyError::Conflicts(
        last.unwrap_or_else(|| Error::Backend("no attempt".into())),
    ))
}

fn report_modify(
    res: Result<Revision, ModifyError>,
    node: &str,
    done: &str,
    adding: bool,
) -> anyhow::Result<ExitCode> {
    match res {
        Ok(rev) => {
            println!("Node/{node} {done} (revision {rev})");
            Ok(ExitCode::SUCCESS)
        }
        Err(ModifyError::Missing) => {
            eprintln!("rr-cli: Node {node:?} not found");
            if adding {
                eprintln!(
                    "hint: a standalone reflector that is not a Calico node can be given a Node with `rr-cli apply -f` \
                     (spec.bgp.ipv4Address, routeReflectorClusterID, the route-reflector label), or run rr-daemon \
                     with --nodename, --ip, --cluster-id and --as and add a BGPPeer with its peerIP for the clients"
                );
            }
            Ok(ExitCode::from(EXIT_REFUSED))
        }
        Err(ModifyError::Refused(why)) => {
            eprintln!("rr-cli: {why}");
            Ok(ExitCode::from(EXIT_REFUSED))
        }
        Err(ModifyError::Conflicts(e)) => {
            eprintln!("rr-cli: Node/{node}: still conflicting after {CAS_ATTEMPTS} attempts: {e}");
            Ok(ExitCode::from(EXIT_REFUSED))
        }
        Err(ModifyError::Store(e)) => Err(e.into()),
    }
}

/// One reflector in `reflector list`.
#[derive(Debug)]
struct ReflectorInfo {
    name: String,
    address: String,
    labelled: bool,
    /// Client peers: the node name, or the address for routers that are not Calico nodes.
    clients: BTreeSet<String>,
}

/// Reflectors grouped by cluster id, with warnings about the topology.
#[derive(Debug)]
struct Topology {
    groups: BTreeMap<Ipv4Addr, Vec<ReflectorInfo>>,
    warnings: Vec<String>,
    /// Fields set for some reflector that the daemon does not honour.
    unhonoured: Vec<datastore::unhonoured::Unhonoured>,
}

impl Topology {
    /// Computes each reflector's sessions with [`datastore::peering::compute`] and checks the groups.
    fn analyse(snap: &Snapshot) -> Topology {
        let mut groups: BTreeMap<Ipv4Addr, Vec<ReflectorInfo>> = BTreeMap::new();
        let mut unhonoured = BTreeSet::new();
        let mut nodes = Vec::new();
        for r in snap.resources() {
            if let Resource::Node(n) = r {
                nodes.push(n);
            }
        }
        for n in &nodes {
            let Some(cid) = n.cluster_id() else { continue };
            let peering = datastore::peering::compute(snap, &Identity::named(n.name()));
            for u in datastore::unhonoured::unhonoured(snap, &peering) {
                unhonoured.insert(u);
            }
            let clients = peering
                .sessions
                .iter()
                .filter(|s| s.role.is_client())
                .map(|s| s.peer_node.clone().unwrap_or_else(|| s.peer_ip.to_string()))
                .collect();
            groups.entry(cid).or_default().push(ReflectorInfo {
                name: n.name().to_string(),
                address: opt(n.ipv4().or(n.ipv6())),
                labelled: n.metadata.labels.contains_key("route-reflector"),
                clients,
            });
        }
        let mut warnings = Vec::new();
        for (cid, members) in &groups {
            if members.len() == 1 {
                warnings.push(format!(
                    "cluster {cid} has a single reflector ({}): its clients lose all routes when it goes down",
                    members[0].name
                ));
            }
            for (i, a) in members.iter().enumerate() {
                for b in &members[i + 1..] {
                    if !a.clients.is_empty() && !b.clients.is_empty() && a.clients.is_disjoint(&b.clients) {
                        warnings.push(format!(
                            "cluster {cid}: reflectors {} and {} share the cluster id but have disjoint client sets: \
                             each drops the other's reflected routes (CLUSTER_LIST loop check), so their clients \
                             do not see each other's routes; give them different cluster ids",
                            a.name, b.name
                        ));
                    }
                }
            }
            for m in members {
                if !m.labelled {
                    warnings.push(format!(
                        "reflector {} has cluster id {cid} but no route-reflector label: \
                         Calico's usual peerSelector (route-reflector == 'true') does not select it",
                        m.name
                    ));
                }
                if m.clients.is_empty() {
                    warnings.push(format!("reflector {} has no clients", m.name));
                }
            }
        }
        if !groups.is_empty() {
            let covered: BTreeSet<&String> =
                groups.values().flatten().flat_map(|m| m.clients.iter()).collect();
            let orphans: Vec<&str> = nodes
                .iter()
                .filter(|n| n.cluster_id().is_none() && n.spec.bgp.is_some())
                .map(|n| n.name())
                .filter(|n| !covered.contains(&n.to_string()))
                .collect();
            if !orphans.is_empty() {
                warnings.push(format!(
                    "{} node(s) are clients of no reflector: {}",
                    orphans.len(),
                    orphans.join(", ")
                ));
            }
        }
        for u in &unhonoured {
            warnings.push(format!("setting not honoured by the reflector: {u}"));
        }
        Topology {
            groups,
            warnings,
            unhonoured: unhonoured.into_iter().collect(),
        }
    }

    fn render(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .groups
            .iter()
            .flat_map(|(cid, members)| {
                members.iter().map(move |m| {
                    vec![
                        cid.to_string(),
                        m.name.clone(),
                        m.address.clone(),
                        m.clients.len().to_string(),
                    ]
                })
            })
            .collect();
        render_table(&["CLUSTER-ID", "REFLECTOR", "ADDRESS", "CLIENTS"], &rows)
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "clusters": self.groups.iter().map(|(cid, members)| serde_json::json!({
                "cluster_id": cid.to_string(),
                "reflectors": members.iter().map(|m| serde_json::json!({
                    "name": m.name,
                    "address": m.address,
                    "clients": m.clients.len(),
                    "client_names": m.clients,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "warnings": self.warnings,
            "unhonoured": self.unhonoured,
        })
    }
}
