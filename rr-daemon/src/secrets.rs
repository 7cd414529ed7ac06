//! BGP passwords: where the Secrets a BGPPeer's `password.secretKeyRef` (or BGPConfiguration
//! `nodeMeshPassword`) names are read, and how a rotation is noticed.
//!
//! The source, chosen once at start-up ([`Source::from_config`]):
//! - `--secrets-dir DIR`: `DIR/<secret>/<key>`, a mounted Secret volume. The files of the Secrets in use are
//!   read again every [`POLL`] (a few small reads; a mounted Secret changes by an atomic symlink swap, which
//!   a content comparison sees whatever the file system events say).
//! - otherwise the Kubernetes API, as calico-node reads them: with the Kubernetes datastore always, with etcd
//!   or the file datastore when Kubernetes credentials are present (`KUBECONFIG` / `--kubeconfig`, or the
//!   in-cluster service account). Each Secret in use is watched by name ([`KubeSecrets::watch`]).
//! - none: a peer with a password is not started, and `/peers` says why.
//!
//! ```text
//!  reconcile::run ──begin_pass / get / end_pass──► Secrets ──(Kubernetes) one watch task per Secret in use
//!        ▲                                            │                          │ name changed
//!        └──────────── changed() ◄────────────────────┴──── poll DIR every POLL ◄┘ (mpsc)
//! ```
//! A change recomputes the desired sessions; only the peers whose password changed differ, and the engine
//! task resets exactly those (the new key protects the next connection).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use datastore::kube::{KubeConfig, KubeSecrets};
use futures::StreamExt as _;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{Config, DatastoreSettings};

/// How often the files of `--secrets-dir` are compared with what was last read.
pub(crate) const POLL: Duration = Duration::from_secs(1);

/// The service account token of an in-cluster pod.
const IN_CLUSTER_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Where passwords come from.
pub(crate) enum Source {
    /// A directory laid out like a mounted Secret volume.
    Dir(PathBuf),
    /// Secrets in the calico namespace of the Kubernetes API.
    Kube(KubeSecrets),
    /// No source; the text says why (and is each such peer's reason for not being started).
    None(String),
}

/// Where passwords will be read, before any connection is made ([`choose`]).
#[derive(Debug, PartialEq)]
enum Choice {
    Dir(PathBuf),
    /// The Kubernetes API with these settings; the text names the credentials.
    Kube(KubeConfig, &'static str),
    None(String),
}

/// `--secrets-dir` when given (an explicit choice wins); else the Kubernetes API when the datastore is
/// Kubernetes or Kubernetes credentials are present (calico-node's rule: `KUBECONFIG`, else the in-cluster
/// service account, i.e. `KUBERNETES_SERVICE_HOST` set and the token mounted); else none.
fn choose(cfg: &Config, env: impl Fn(&str) -> Option<String>, token_mounted: bool) -> Choice {
    if let Some(dir) = &cfg.secrets_dir {
        return Choice::Dir(dir.clone());
    }
    let mut k = KubeConfig::from_lookup(&env);
    let why = match &cfg.datastore {
        DatastoreSettings::Kubernetes { kubeconfig } => {
            if let Some(p) = kubeconfig {
                k.kubeconfig = Some(p.clone());
            }
            "the Kubernetes datastore"
        }
        _ => {
            if let Some(p) = &cfg.kubeconfig {
                k.kubeconfig = Some(p.clone());
                "KUBECONFIG"
            } else if env("KUBERNETES_SERVICE_HOST").is_some() && token_mounted {
                k.kubeconfig = None;
                "the in-cluster service account"
            } else {
                return Choice::None(
                    "no BGP password source: give --secrets-dir, or Kubernetes credentials (KUBECONFIG or \
                     the in-cluster service account) to read Secrets from the Kubernetes API"
                        .into(),
                );
            }
        }
    };
    Choice::Kube(k, why)
}

impl Source {
    /// The source for this configuration and process environment ([`choose`]). A Kubernetes client that
    /// cannot be built (a bad kubeconfig) is logged and leaves no source: peers with a password are then not
    /// started, each saying why.
    pub(crate) async fn from_config(cfg: &Config) -> Source {
        let token = std::path::Path::new(IN_CLUSTER_TOKEN).exists();
        let (k, why) = match choose(cfg, |v| std::env::var(v).ok(), token) {
            Choice::Dir(d) => return Source::Dir(d),
            Choice::None(reason) => return Source::None(reason),
            Choice::Kube(k, why) => (k, why),
        };
        match KubeSecrets::connect(&k).await {
            Ok(s) => {
                tracing::info!(
                    namespace = s.namespace(),
                    credentials = why,
                    "BGP passwords from Kubernetes Secrets"
                );
                Source::Kube(s)
            }
            Err(e) => {
                tracing::error!(error = %e, credentials = why, "BGP passwords: cannot use the Kubernetes API");
                Source::None(format!(
                    "BGP password Secrets: Kubernetes API unusable ({why}): {e}"
                ))
            }
        }
    }
}

/// The passwords in use, their last good values, and the watches that report a change.
pub(crate) struct Secrets {
    source: Source,
    /// Last good value of each (secret, key).
    cache: HashMap<(String, String), String>,
    /// Keys read during the current pass (each is read once per recomputation).
    fresh: HashSet<(String, String)>,
    /// Directory source: what the last read of each key in use gave (`None`: unreadable).
    seen: HashMap<(String, String), Option<String>>,
    /// Kubernetes source: one watch task per Secret in use.
    watches: HashMap<String, JoinHandle<()>>,
    changed_tx: mpsc::UnboundedSender<String>,
    changed_rx: mpsc::UnboundedReceiver<String>,
}

impl Drop for Secrets {
    fn drop(&mut self) {
        for (_, w) in self.watches.drain() {
            w.abort();
        }
    }
}

impl Secrets {
    pub(crate) fn new(source: Source) -> Self {
        let (changed_tx, changed_rx) = mpsc::unbounded_channel();
        Self {
            source,
            cache: HashMap::new(),
            fresh: HashSet::new(),
            seen: HashMap::new(),
            watches: HashMap::new(),
            changed_tx,
            changed_rx,
        }
    }

    /// Starts a recomputation: every password is read afresh once during it.
    pub(crate) fn begin_pass(&mut self) {
        self.fresh.clear();
    }

    /// Ends a recomputation: watches follow the Secrets it used (new ones started, unused ones stopped).
    pub(crate) fn end_pass(&mut self) {
        let used: HashSet<String> = self.fresh.iter().map(|(n, _)| n.clone()).collect();
        self.seen.retain(|k, _| self.fresh.contains(k));
        let Source::Kube(kube) = &self.source else {
            return;
        };
        self.watches.retain(|name, task| {
            let keep = used.contains(name);
            if !keep {
                task.abort();
            }
            keep
        });
        for name in used {
            if self.watches.contains_key(&name) {
                continue;
            }
            let stream = kube.watch(&name);
            let tx = self.changed_tx.clone();
            let n = name.clone();
            let task = tokio::spawn(async move {
                futures::pin_mut!(stream);
                let mut failing = false;
                while let Some(ev) = stream.next().await {
                    match ev {
                        Ok(()) => {
                            failing = false;
                            if tx.send(n.clone()).is_err() {
                                return;
                            }
                        }
                        // Logged once per outage; the watch retries with backoff.
                        Err(e) if !failing => {
                            failing = true;
                            tracing::warn!(secret = %n, error = %e, "BGP password Secret watch failing");
                        }
                        Err(_) => {}
                    }
                }
            });
            self.watches.insert(name, task);
        }
    }

    /// Resolves when a password in use may have changed (cancel-safe: use it in `select!`).
    pub(crate) async fn changed(&mut self) {
        match &self.source {
            Source::Dir(dir) => loop {
                tokio::time::sleep(POLL).await;
                let changed = self
                    .seen
                    .iter()
                    .find(|((name, key), last)| read_file(dir, name, key).ok() != **last);
                if let Some(((name, key), _)) = changed {
                    tracing::info!(secret = %name, key = %key, "BGP password file changed");
                    return;
                }
            },
            Source::Kube(_) => {
                let Some(name) = self.changed_rx.recv().await else {
                    return std::future::pending().await;
                };
                while self.changed_rx.try_recv().is_ok() {}
                tracing::debug!(secret = %name, "BGP password Secret event");
            }
            Source::None(_) => std::future::pending().await,
        }
    }

    /// The password, read afresh once per pass. A read that fails keeps the last good value, so an outage of
    /// the secret store never changes (and so never resets) a session; with no good value ever read it is an
    /// error naming the secret and why, and the peer is not started (TCP-MD5 fails closed).
    pub(crate) async fn get(&mut self, name: &str, key: &str) -> Result<String, String> {
        let k = (name.to_string(), key.to_string());
        if self.fresh.contains(&k)
            && let Some(v) = self.cache.get(&k)
        {
            return Ok(v.clone());
        }
        self.fresh.insert(k.clone());
        let read = match &self.source {
            Source::Dir(dir) => {
                let r = read_file(dir, name, key);
                self.seen.insert(k.clone(), r.as_ref().ok().cloned());
                r
            }
            Source::Kube(kube) => kube.get(name, key).await.map_err(|e| e.to_string()),
            Source::None(why) => Err(why.clone()),
        };
        match read {
            Ok(v) => {
                if self.cache.get(&k).is_some_and(|old| *old != v) {
                    tracing::info!(
                        secret = name,
                        key,
                        "BGP password changed: the sessions using it are reset with the new key"
                    );
                }
                self.cache.insert(k, v.clone());
                Ok(v)
            }
            Err(e) => match self.cache.get(&k) {
                Some(last) => {
                    tracing::warn!(
                        secret = name,
                        key,
                        error = %e,
                        "BGP password not readable: keeping the last good one"
                    );
                    Ok(last.clone())
                }
                None => Err(format!("BGP password secret {name}/{key} not readable: {e}")),
            },
        }
    }
}

/// `DIR/<name>/<key>` without its trailing newlines (as `kubectl create secret --from-file` leaves them).
fn read_file(dir: &std::path::Path, name: &str, key: &str) -> Result<String, String> {
    std::fs::read_to_string(dir.join(name).join(key))
        .map(|s| s.trim_end_matches('\n').to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn directory_rotation_is_noticed_and_an_outage_keeps_the_last_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("bgp")).expect("mkdir");
        std::fs::write(dir.path().join("bgp/a"), "one\n").expect("write");
        let mut s = Secrets::new(Source::Dir(dir.path().to_path_buf()));
        s.begin_pass();
        assert_eq!(s.get("bgp", "a").await, Ok("one".to_string()));
        assert!(s.get("bgp", "missing").await.is_err());
        s.end_pass();
        // Nothing changed: no wake-up within a few polls.
        assert!(
            tokio::time::timeout(POLL * 3, s.changed()).await.is_err(),
            "woke up without a change"
        );
        std::fs::write(dir.path().join("bgp/a"), "two\n").expect("write");
        tokio::time::timeout(POLL * 3, s.changed())
            .await
            .expect("rotation noticed");
        s.begin_pass();
        assert_eq!(s.get("bgp", "a").await, Ok("two".to_string()));
        s.end_pass();
        // The file disappears: a change, but the last good value stays.
        std::fs::remove_file(dir.path().join("bgp/a")).expect("rm");
        tokio::time::timeout(POLL * 3, s.changed())
            .await
            .expect("removal noticed");
        s.begin_pass();
        assert_eq!(s.get("bgp", "a").await, Ok("two".to_string()));
        s.end_pass();
        // A key no longer in use is not polled.
        s.begin_pass();
        s.end_pass();
        assert!(s.seen.is_empty());
    }

    fn config(argv: &[&str]) -> Config {
        use clap::Parser as _;
        let mut full = vec!["rr-daemon"];
        full.extend_from_slice(argv);
        let args = crate::config::Args::try_parse_from(full).expect("argv");
        Config::resolve(args, &|_| None).expect("valid")
    }

    /// calico-node's rule for where BGP passwords come from, per datastore and credentials.
    #[test]
    fn the_source_follows_datastore_and_credentials() {
        let f = tempfile::NamedTempFile::new().expect("file");
        let file = f.path().to_str().expect("utf8");
        let etcd = [
            "--datastore",
            "etcdv3",
            "--etcd-endpoints",
            "http://127.0.0.1:2379",
        ];
        let none = |_: &str| None;
        let in_cluster = |k: &str| (k == "KUBERNETES_SERVICE_HOST").then(|| "10.96.0.1".to_string());
        // An explicit directory wins, whatever else is present.
        let mut argv = etcd.to_vec();
        argv.extend(["--secrets-dir", "/run/secrets", "--kubeconfig", "/kc"]);
        assert_eq!(
            choose(&config(&argv), in_cluster, true),
            Choice::Dir("/run/secrets".into())
        );
        // etcd with a kubeconfig: the Kubernetes API.
        let mut argv = etcd.to_vec();
        argv.extend(["--kubeconfig", "/kc"]);
        match choose(&config(&argv), none, false) {
            Choice::Kube(k, why) => {
                assert_eq!(k.kubeconfig, Some(PathBuf::from("/kc")));
                assert_eq!(why, "KUBECONFIG");
            }
            other => panic!("{other:?}"),
        }
        // etcd in a pod: the service account, and NAMESPACE for the Secrets.
        let pod = |k: &str| match k {
            "KUBERNETES_SERVICE_HOST" => Some("10.96.0.1".to_string()),
            "NAMESPACE" => Some("calico-system".to_string()),
            _ => None,
        };
        match choose(&config(&etcd), pod, true) {
            Choice::Kube(k, why) => {
                assert_eq!(k.kubeconfig, None);
                assert_eq!(k.namespace, "calico-system");
                assert_eq!(why, "the in-cluster service account");
            }
            other => panic!("{other:?}"),
        }
        // The variable without the mounted token (or neither) is no credential.
        assert!(matches!(
            choose(&config(&etcd), in_cluster, false),
            Choice::None(_)
        ));
        assert!(matches!(
            choose(&config(&["--file", file]), none, false),
            Choice::None(_)
        ));
        // The Kubernetes datastore always reads Secrets from its API.
        assert!(matches!(
            choose(&config(&["--datastore", "kubernetes"]), none, false),
            Choice::Kube(_, "the Kubernetes datastore")
        ));
    }

    #[tokio::test]
    async fn no_source_names_the_remedy() {
        let mut s = Secrets::new(Source::None("no BGP password source: give --secrets-dir".into()));
        s.begin_pass();
        let e = s.get("bgp", "a").await.expect_err("no source");
        assert!(e.contains("bgp/a") && e.contains("--secrets-dir"), "{e}");
    }
}
