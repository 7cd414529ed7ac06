//! `explain NODE [REFLECTOR]`: why a node and a reflector have a BGP session, or why they do not.
//!
//! Reads the datastore like `get`, and runs `datastore::explain` (the daemon's own peering computation for
//! each side, plus per-BGPPeer match reasons) for the node against the given reflector, or against every
//! node with a cluster id.

use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use datastore::explain::{self, Explanation};
use datastore::peering::DesiredSession;
use serde_json::json;

use crate::admin::{DatastoreArgs, Output, load_snapshot, runtime};

/// Exit code when the node has no session with the reflector (or with any reflector).
const EXIT_NOT_PAIRED: u8 = 1;

/// `explain NODE [REFLECTOR]`.
#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// The Calico node (usually a client).
    node: String,
    /// The reflector node; every node with a routeReflectorClusterID when omitted.
    reflector: Option<String>,
    /// A standalone reflector (REFLECTOR names no Node): its IPv4 address, as given to rr-daemon's `--ip`.
    #[arg(long, requires = "reflector")]
    ip: Option<std::net::Ipv4Addr>,
    /// A standalone reflector's IPv6 address (rr-daemon's `--ip6`).
    #[arg(long, requires = "reflector")]
    ip6: Option<std::net::Ipv6Addr>,
    /// A standalone reflector's cluster id (rr-daemon's `--cluster-id`).
    #[arg(long, requires = "reflector")]
    cluster_id: Option<std::net::Ipv4Addr>,
    /// A standalone reflector's AS (rr-daemon's `--as`; without it, it takes the AS each BGPPeer pointing at it
    /// names).
    #[arg(long = "as", requires = "reflector")]
    asn: Option<u32>,
    /// Output format (yaml and json print the explanation as data).
    #[arg(short, long, value_enum, default_value_t)]
    output: Output,
    #[command(flatten)]
    store: DatastoreArgs,
}

/// Runs `explain`: exit 0 when the node has a session with the reflector (or, without REFLECTOR, with at
/// least one reflector), 1 when not.
pub(crate) fn run(args: &ExplainArgs) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let rt = runtime()?;
    let snap = load_snapshot(store.as_ref(), &rt)?;
    if !snap.nodes.contains_key(&args.node) {
        bail!("no Node {:?} in the datastore", args.node);
    }
    let standalone = args.ip.is_some() || args.ip6.is_some();
    let reflectors: Vec<String> = match &args.reflector {
        Some(r) => {
            if snap.nodes.contains_key(r) {
                if standalone || args.cluster_id.is_some() || args.asn.is_some() {
                    bail!(
                        "{r:?} is a Node: its addresses, cluster id and AS come from the Node (drop --ip, --ip6, \
                         --cluster-id and --as)"
                    );
                }
            } else if !standalone {
                bail!(
                    "no Node {r:?} in the datastore: for a standalone reflector give the identity rr-daemon is \
                     started with (--ip and/or --ip6, and --cluster-id, --as as configured)"
                );
            }
            vec![r.clone()]
        }
        None => snap
            .nodes
            .values()
            .filter(|n| n.cluster_id().is_some() && n.name() != args.node)
            .map(|n| n.name().to_string())
            .collect(),
    };
    if reflectors.is_empty() {
        println!(
            "no reflectors: no node other than {} has a routeReflectorClusterID (`rr-cli reflector add`)",
            args.node
        );
        return Ok(ExitCode::from(EXIT_NOT_PAIRED));
    }
    let all: Vec<Explanation> = reflectors
        .iter()
        .map(|r| {
            let id = datastore::Identity {
                node_name: r.clone(),
                ipv4: args.ip,
                ipv6: args.ip6,
                cluster_id: args.cluster_id,
                as_number: args.asn.map(datastore::AsNumber),
            };
            explain::explain_identity(&snap, &id, &args.node)
        })
        .collect();
    match args.output {
        Output::Table => {
            for (i, e) in all.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                print!("{}", render(e));
            }
        }
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&all.iter().map(to_json).collect::<Vec<_>>())?
        ),
        Output::Yaml => print!(
            "{}",
            serde_yaml_ng::to_string(&all.iter().map(to_json).collect::<Vec<_>>())?
        ),
    }
    Ok(if all.iter().any(Explanation::paired) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NOT_PAIRED)
    })
}

fn cid(c: Option<std::net::Ipv4Addr>) -> String {
    c.map_or_else(|| "none".into(), |c| c.to_string())
}

fn addrs(n: &datastore::LocalNode) -> String {
    let a: Vec<String> = explain::addresses(n).iter().map(ToString::to_string).collect();
    if a.is_empty() {
        "no address".into()
    } else {
        a.join(" ")
    }
}

fn render(e: &Explanation) -> String {
    let (r, n) = (&e.reflector, &e.node);
    let mut s = format!(
        "{} and {}: {}\n",
        n.name,
        r.name,
        if e.paired() {
            format!("{} session(s)", e.sessions.len())
        } else {
            "no session".into()
        }
    );
    s += &format!(
        "  reflector {}: {}, AS {}, cluster id {}\n  node {}: {}, AS {}, cluster id {}\n",
        r.name,
        addrs(r),
        r.as_number,
        cid(r.cluster_id),
        n.name,
        addrs(n),
        n.as_number,
        cid(n.cluster_id)
    );
    for (sess, why) in e.sessions.iter().zip(&e.roles) {
        s += &format!("  session: {why}\n");
        let back = e.node_sessions.iter().find(|b| b.peer_ip == sess.local_ip);
        s += &match back {
            Some(b) => format!("    on {}: {} sees {} as {}\n", n.name, n.name, r.name, b.role),
            None => format!(
                "    on {}: calico-node computes no session back to {} (it will not connect; {} waits)\n",
                n.name, sess.local_ip, r.name
            ),
        };
    }
    s += "  BGPPeers:\n";
    if e.bgp_peers.is_empty() {
        s += "    (none)\n";
    }
    for p in &e.bgp_peers {
        s += &format!(
            "    {} {}: {}\n",
            if p.pairs { "+" } else { "-" },
            p.name,
            p.reason
        );
    }
    s += &format!("  node-to-node mesh: {}\n", e.mesh);
    for w in &e.warnings {
        s += &format!("  warning: {w}\n");
    }
    if !e.paired() && e.bgp_peers.iter().any(|p| p.pairs) {
        s +=
            "  a BGPPeer pairs them, but no session results: see the warnings (no address of that family?)\n";
    }
    s
}

fn session_json(s: &DesiredSession) -> serde_json::Value {
    json!({
        "peer_ip": s.peer_ip.to_string(),
        "peer_port": s.peer_port,
        "local_ip": s.local_ip.to_string(),
        "role": s.role.to_string(),
        "local_as": s.local_as.to_string(),
        "remote_as": s.remote_as.to_string(),
        "origin": s.origin.resource_name(),
        "passive": s.options.passive,
    })
}

fn to_json(e: &Explanation) -> serde_json::Value {
    let side = |n: &datastore::LocalNode| {
        json!({
            "name": n.name,
            "addresses": explain::addresses(n).iter().map(ToString::to_string).collect::<Vec<_>>(),
            "as": n.as_number.to_string(),
            "cluster_id": n.cluster_id.map(|c| c.to_string()),
        })
    };
    json!({
        "reflector": side(&e.reflector),
        "node": side(&e.node),
        "paired": e.paired(),
        "sessions": e.sessions.iter().zip(&e.roles).map(|(s, why)| {
            let mut v = session_json(s);
            v["reason"] = json!(why);
            v
        }).collect::<Vec<_>>(),
        "node_sessions": e.node_sessions.iter().map(session_json).collect::<Vec<_>>(),
        "bgp_peers": e.bgp_peers.iter().map(|p| json!({
            "name": p.name, "pairs": p.pairs, "reason": p.reason,
        })).collect::<Vec<_>>(),
        "mesh": e.mesh,
        "warnings": e.warnings,
    })
}
