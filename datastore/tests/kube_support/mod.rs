//! An in-process fake Kubernetes API server for the Kubernetes backend's tests.
//!
//! It speaks the real REST API (the parts `kube` uses) for the resources the backend reads and writes:
//!
//! - discovery: `GET /api`, `/api/v1`, `/apis`, `/apis/{group}/{version}`;
//! - core/v1 `nodes` (cluster-scoped) and `secrets` (namespaced);
//! - the Calico CRDs `bgppeers`, `bgpconfigurations`, `ippools` (cluster-scoped) in `crd.projectcalico.org/v1`
//!   and/or `projectcalico.org/v3`, chosen when the server is built;
//! - list (with `limit`/`continue` pagination and the list `resourceVersion`), get, create (`POST`), replace
//!   (`PUT`, `409 Conflict` on a stale `metadata.resourceVersion`), delete (with `preconditions.resourceVersion`);
//! - `?watch=true&resourceVersion=N&allowWatchBookmarks=true`: newline-delimited JSON watch events
//!   `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":...}` replayed from the event history after `N`
//!   and then live; an `ERROR` event carrying a `Status` with code 410 (reason `Expired`) when `N` is older than
//!   the compacted history, exactly as the real API server does after an etcd compaction;
//! - `fieldSelector=metadata.name=NAME` on list and watch (how calico-node watches one BGP password Secret);
//!   watches only see objects of their own namespace.
//!
//! Test hooks: [`FakeApiServer::expire_watches`] (ERROR 410 on every open watch + compaction, forcing a relist),
//! [`FakeApiServer::send_bookmarks`], [`FakeApiServer::drop_watches`] (connection loss without a 410),
//! [`FakeApiServer::compact`], and request counters per resource and verb.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// The v1 CRD API group Calico uses by default in KDD mode.
pub const CRD_GROUP: &str = "crd.projectcalico.org";
/// The native v3 API group.
pub const V3_GROUP: &str = "projectcalico.org";

/// Which Calico API groups the fake server serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Groups {
    /// Only `crd.projectcalico.org/v1` (legacy KDD, the default install).
    V1Crds,
    /// Only `projectcalico.org/v3` (native v3 CRDs).
    V3Only,
    /// Both (the aggregated Calico API server on top of the v1 CRDs).
    Both,
}

/// A resource type the server knows: `(group, version, plural)`; core resources have an empty group.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResType {
    group: String,
    version: String,
    plural: String,
}

impl ResType {
    fn new(group: &str, version: &str, plural: &str) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
        }
    }

    /// core/v1 nodes.
    pub fn nodes() -> Self {
        Self::new("", "v1", "nodes")
    }

    /// A Calico CRD in the given group (`crd.projectcalico.org` → v1, `projectcalico.org` → v3).
    pub fn calico(group: &str, plural: &str) -> Self {
        let version = if group == V3_GROUP { "v3" } else { "v1" };
        Self::new(group, version, plural)
    }

    fn namespaced(&self) -> bool {
        self.plural == "secrets"
    }

    fn kind(&self) -> &'static str {
        match self.plural.as_str() {
            "nodes" => "Node",
            "secrets" => "Secret",
            "bgppeers" => "BGPPeer",
            "bgpconfigurations" => "BGPConfiguration",
            "ippools" => "IPPool",
            "bgpfilters" => "BGPFilter",
            _ => "Unknown",
        }
    }

    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

const CALICO_PLURALS: [&str; 4] = ["bgppeers", "bgpconfigurations", "ippools", "bgpfilters"];

type ObjKey = (ResType, String, String); // type, namespace ("" if cluster-scoped), name

struct Watch {
    res: ResType,
    /// The namespace watched ("" for cluster-scoped types).
    ns: String,
    /// `fieldSelector=metadata.name=NAME`: only that object.
    name: Option<String>,
    bookmarks: bool,
    tx: mpsc::UnboundedSender<Value>,
}

impl Watch {
    fn wants(&self, res: &ResType, obj: &Value) -> bool {
        &self.res == res && selected(obj, &self.ns, self.name.as_deref())
    }
}

/// Whether `obj` is in namespace `ns` ("" for cluster-scoped) and, with a name selector, has that name.
fn selected(obj: &Value, ns: &str, name: Option<&str>) -> bool {
    obj["metadata"]["namespace"].as_str().unwrap_or("") == ns
        && name.is_none_or(|n| obj["metadata"]["name"].as_str() == Some(n))
}

/// The name a `fieldSelector` asks for (`metadata.name=NAME` or `==`); `Err` for any other selector, which
/// this server does not implement.
fn name_selector(q: &HashMap<String, String>) -> Result<Option<String>, Box<Response>> {
    let Some(f) = q.get("fieldSelector").filter(|f| !f.is_empty()) else {
        return Ok(None);
    };
    match f
        .strip_prefix("metadata.name==")
        .or_else(|| f.strip_prefix("metadata.name="))
    {
        Some(n) => Ok(Some(n.to_owned())),
        None => Err(Box::new(status(
            400,
            "BadRequest",
            &format!("field selector {f:?} not supported by the fake server"),
        ))),
    }
}

#[derive(Default)]
struct Inner {
    rv: u64,
    uid: u64,
    objects: BTreeMap<ObjKey, Value>,
    /// (resourceVersion, type, event type, object) for every change, oldest first.
    history: Vec<(u64, ResType, &'static str, Value)>,
    /// Watches from a resourceVersion older than this get 410 Gone.
    compacted: u64,
    watches: Vec<Watch>,
    /// `(verb, plural)` → count.
    requests: HashMap<(String, String), usize>,
    /// While true every request gets 503 (an API server outage).
    unavailable: bool,
    /// Watch requests that asked for bookmarks.
    bookmark_requests: usize,
    /// `(verb, plural, fieldSelector)` of every list and watch request with a field selector.
    field_selectors: Vec<(String, String, String)>,
}

/// The fake API server, serving until dropped.
pub struct FakeApiServer {
    inner: Arc<Mutex<Inner>>,
    groups: Groups,
    addr: std::net::SocketAddr,
    dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    groups: Groups,
}

impl FakeApiServer {
    /// Starts a server on `127.0.0.1:0` serving the given Calico API groups.
    pub async fn start(groups: Groups) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            rv: 100,
            ..Inner::default()
        }));
        let shared = Shared {
            inner: inner.clone(),
            groups,
        };
        let app = Router::new().fallback(handle).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let server = Self {
            inner,
            groups,
            addr,
            dir,
            task,
        };
        std::fs::write(server.kubeconfig_path(), server.kubeconfig_yaml()).expect("write kubeconfig");
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig (no auth) pointing at this server.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
             users:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    \
             user: fake\n    namespace: default\ncurrent-context: fake\n",
            self.url()
        )
    }

    /// Path of the kubeconfig file written at start.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// The temp dir (for other test files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The Calico group served for the CRDs the backend should read (`crd.projectcalico.org` unless v3 only).
    pub fn calico_group(&self) -> &'static str {
        if self.groups == Groups::V3Only {
            V3_GROUP
        } else {
            CRD_GROUP
        }
    }

    /// Creates or replaces an object (as another client would), emitting ADDED or MODIFIED. Returns its new
    /// resourceVersion.
    pub fn put(&self, res: &ResType, namespace: &str, mut obj: Value) -> u64 {
        let mut inner = self.inner.lock().expect("lock");
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind());
        if !namespace.is_empty() {
            obj["metadata"]["namespace"] = json!(namespace);
        }
        let key = (res.clone(), namespace.to_owned(), name);
        let existed = inner.objects.contains_key(&key);
        let rv = stamp(&mut inner, &mut obj, existed.then(|| key.clone()));
        inner.objects.insert(key, obj.clone());
        publish(
            &mut inner,
            rv,
            res,
            if existed { "MODIFIED" } else { "ADDED" },
            obj,
        );
        rv
    }

    /// Adds or replaces a core/v1 Node.
    pub fn put_node(&self, obj: Value) -> u64 {
        self.put(&ResType::nodes(), "", obj)
    }

    /// Adds or replaces a Calico resource in the served Calico group.
    pub fn put_calico(&self, plural: &str, obj: Value) -> u64 {
        self.put(&ResType::calico(self.calico_group(), plural), "", obj)
    }

    /// Adds a Secret with the given string data (stored base64-encoded in `data`, as the API server does).
    pub fn put_secret(&self, namespace: &str, name: &str, data: &[(&str, &str)]) {
        let data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(base64(v.as_bytes()))))
            .collect();
        let obj = json!({"metadata": {"name": name}, "type": "Opaque", "data": data});
        self.put(&ResType::new("", "v1", "secrets"), namespace, obj);
    }

    /// Creates or replaces an object without notifying open watches, as if the event had been lost to a
    /// compaction: only a relist can show it.
    pub fn put_unwatched(&self, res: &ResType, obj: Value) {
        let mut inner = self.inner.lock().expect("lock");
        let watches = std::mem::take(&mut inner.watches);
        drop(inner);
        self.put(res, "", obj);
        self.inner.lock().expect("lock").watches.extend(watches);
    }

    /// Deletes an object (as another client would), emitting DELETED.
    pub fn remove(&self, res: &ResType, namespace: &str, name: &str) -> bool {
        let mut inner = self.inner.lock().expect("lock");
        let key = (res.clone(), namespace.to_owned(), name.to_owned());
        match inner.objects.remove(&key) {
            Some(mut obj) => {
                inner.rv += 1;
                let rv = inner.rv;
                obj["metadata"]["resourceVersion"] = json!(rv.to_string());
                publish(&mut inner, rv, res, "DELETED", obj);
                true
            }
            None => false,
        }
    }

    /// The stored object, if any.
    pub fn get(&self, res: &ResType, namespace: &str, name: &str) -> Option<Value> {
        let inner = self.inner.lock().expect("lock");
        inner
            .objects
            .get(&(res.clone(), namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Sends `ERROR` 410 Gone (reason `Expired`) on every open watch and compacts the history, so the
    /// watchers must relist.
    pub fn expire_watches(&self) {
        let mut inner = self.inner.lock().expect("lock");
        inner.compacted = inner.rv;
        let compacted = inner.compacted;
        for w in inner.watches.drain(..) {
            let _ = w.tx.send(gone_event(compacted));
        }
    }

    /// Compacts the event history: a watch starting at an older resourceVersion gets 410.
    pub fn compact(&self) {
        let mut inner = self.inner.lock().expect("lock");
        inner.compacted = inner.rv;
        let compacted = inner.compacted;
        inner.history.retain(|(rv, ..)| *rv > compacted);
    }

    /// Bumps the global resourceVersion without touching the given types (as writes to other resources would).
    pub fn bump_rv(&self, by: u64) -> u64 {
        let mut inner = self.inner.lock().expect("lock");
        inner.rv += by;
        inner.rv
    }

    /// Sends a BOOKMARK with the current resourceVersion on every open watch that asked for bookmarks.
    pub fn send_bookmarks(&self) -> u64 {
        let inner = self.inner.lock().expect("lock");
        let rv = inner.rv;
        for w in inner.watches.iter().filter(|w| w.bookmarks) {
            let bm = json!({"type": "BOOKMARK", "object": {
                "kind": w.res.kind(), "apiVersion": w.res.api_version(),
                "metadata": {"resourceVersion": rv.to_string()}}});
            let _ = w.tx.send(bm);
        }
        rv
    }

    /// Ends every open watch stream without an error (a dropped connection or a server-side timeout).
    pub fn drop_watches(&self) {
        self.inner.lock().expect("lock").watches.clear();
    }

    /// Simulates an outage: while `down`, every request gets 500 (etcd unreachable) and open watches are cut.
    pub fn set_unavailable(&self, down: bool) {
        let mut inner = self.inner.lock().expect("lock");
        inner.unavailable = down;
        if down {
            inner.watches.clear();
        }
    }

    /// How many watch requests asked for bookmarks (`allowWatchBookmarks=true`).
    pub fn bookmark_requests(&self) -> usize {
        self.inner.lock().expect("lock").bookmark_requests
    }

    /// `(verb, plural, fieldSelector)` of the list and watch requests that had a field selector.
    pub fn field_selectors(&self) -> Vec<(String, String, String)> {
        self.inner.lock().expect("lock").field_selectors.clone()
    }

    /// Number of open watches on a resource plural.
    pub fn open_watches(&self, plural: &str) -> usize {
        let mut inner = self.inner.lock().expect("lock");
        inner.watches.retain(|w| !w.tx.is_closed());
        inner.watches.iter().filter(|w| w.res.plural == plural).count()
    }

    /// How many requests of `verb` (`list`, `watch`, `get`, `create`, `update`, `delete`, `discovery`) were made
    /// on `plural` (any group).
    pub fn requests(&self, verb: &str, plural: &str) -> usize {
        let inner = self.inner.lock().expect("lock");
        inner
            .requests
            .get(&(verb.to_owned(), plural.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Every `(verb, plural)` requested so far.
    pub fn verbs_used(&self) -> Vec<(String, String)> {
        let inner = self.inner.lock().expect("lock");
        let mut v: Vec<_> = inner.requests.keys().cloned().collect();
        v.sort();
        v
    }
}

/// Standard base64 (the API server's encoding of Secret `data`).
pub fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn gone_event(rv: u64) -> Value {
    json!({"type": "ERROR", "object": status_json(410, "Expired",
        &format!("too old resource version: requested is older than {rv}"))})
}

fn status_json(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let sc = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        sc,
        [(header::CONTENT_TYPE, "application/json")],
        status_json(code, reason, message).to_string(),
    )
        .into_response()
}

fn ok_json(code: StatusCode, v: &Value) -> Response {
    (code, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

/// Sets resourceVersion/uid/creationTimestamp on an object being written. `old` keeps uid and creation time.
fn stamp(inner: &mut Inner, obj: &mut Value, old: Option<ObjKey>) -> u64 {
    inner.rv += 1;
    let rv = inner.rv;
    let prev = old.and_then(|k| inner.objects.get(&k).cloned());
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    let meta = &mut obj["metadata"];
    meta["resourceVersion"] = json!(rv.to_string());
    match prev {
        Some(p) => {
            meta["uid"] = p["metadata"]["uid"].clone();
            meta["creationTimestamp"] = p["metadata"]["creationTimestamp"].clone();
        }
        None => {
            inner.uid += 1;
            meta["uid"] = json!(format!("00000000-0000-0000-0000-{:012}", inner.uid));
            meta["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
    }
    rv
}

fn publish(inner: &mut Inner, rv: u64, res: &ResType, kind: &'static str, obj: Value) {
    let ev = json!({"type": kind, "object": obj.clone()});
    inner.watches.retain(|w| !w.tx.is_closed());
    for w in inner.watches.iter().filter(|w| w.wants(res, &obj)) {
        let _ = w.tx.send(ev.clone());
    }
    inner.history.push((rv, res.clone(), kind, obj));
}

fn served_groups(groups: Groups) -> Vec<&'static str> {
    match groups {
        Groups::V1Crds => vec![CRD_GROUP],
        Groups::V3Only => vec![V3_GROUP],
        Groups::Both => vec![CRD_GROUP, V3_GROUP],
    }
}

fn count(shared: &Shared, verb: &str, plural: &str) {
    let mut inner = shared.inner.lock().expect("lock");
    *inner
        .requests
        .entry((verb.to_owned(), plural.to_owned()))
        .or_default() += 1;
}

fn query_map(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_owned(), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(
    axum::extract::State(shared): axum::extract::State<Shared>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    if shared.inner.lock().expect("lock").unavailable {
        // What the API server answers when etcd is down (kube's client retries 429/503/504 itself for minutes).
        return status(
            500,
            "InternalError",
            "Internal error occurred: etcdserver: request timed out",
        );
    }
    let segs: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let groups = served_groups(shared.groups);
    // Discovery.
    match segs.as_slice() {
        ["api"] => {
            count(&shared, "discovery", "");
            return ok_json(
                StatusCode::OK,
                &json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
            );
        }
        ["api", "v1"] => {
            return ok_json(StatusCode::OK, &resource_list("v1", &["nodes", "secrets"]));
        }
        ["apis"] => {
            count(&shared, "discovery", "");
            let list: Vec<Value> = groups
                .iter()
                .map(|g| {
                    let v = ResType::calico(g, "x").version;
                    let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
                    json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
                })
                .collect();
            return ok_json(
                StatusCode::OK,
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list}),
            );
        }
        ["apis", g, v] if groups.contains(g) && ResType::calico(g, "x").version == *v => {
            return ok_json(
                StatusCode::OK,
                &resource_list(&format!("{g}/{v}"), &CALICO_PLURALS),
            );
        }
        _ => {}
    }
    // Resource paths.
    let (res, ns, name) = match segs.as_slice() {
        ["api", "v1", "nodes"] => (ResType::nodes(), "", None),
        ["api", "v1", "nodes", n] => (ResType::nodes(), "", Some(*n)),
        ["api", "v1", "namespaces", ns, "secrets"] => (ResType::new("", "v1", "secrets"), *ns, None),
        ["api", "v1", "namespaces", ns, "secrets", n] => (ResType::new("", "v1", "secrets"), *ns, Some(*n)),
        ["apis", g, v, p] | ["apis", g, v, p, _]
            if groups.contains(g) && ResType::calico(g, "x").version == *v && CALICO_PLURALS.contains(p) =>
        {
            (ResType::calico(g, p), "", segs.get(4).copied())
        }
        _ => {
            return status(
                404,
                "NotFound",
                &format!("the server could not find the requested resource {}", uri),
            );
        }
    };
    let q = query_map(&uri);
    if let Some(f) = q.get("fieldSelector").filter(|f| !f.is_empty()) {
        let verb = if q.get("watch").is_some_and(|w| w == "true" || w == "1") {
            "watch"
        } else {
            "list"
        };
        shared.inner.lock().expect("lock").field_selectors.push((
            verb.to_owned(),
            res.plural.clone(),
            f.clone(),
        ));
    }
    match (method, name) {
        (Method::GET, None) if q.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            count(&shared, "watch", &res.plural);
            watch(&shared, res, ns, &q)
        }
        (Method::GET, None) => {
            count(&shared, "list", &res.plural);
            list(&shared, &res, ns, &q)
        }
        (Method::GET, Some(n)) => {
            count(&shared, "get", &res.plural);
            let inner = shared.inner.lock().expect("lock");
            match inner.objects.get(&(res.clone(), ns.to_owned(), n.to_owned())) {
                Some(o) => ok_json(StatusCode::OK, o),
                None => not_found(&res, n),
            }
        }
        (Method::POST, None) => {
            count(&shared, "create", &res.plural);
            create(&shared, &res, ns, &body)
        }
        (Method::PUT, Some(n)) => {
            count(&shared, "update", &res.plural);
            replace(&shared, &res, ns, n, &body)
        }
        (Method::DELETE, Some(n)) => {
            count(&shared, "delete", &res.plural);
            delete(&shared, &res, ns, n, &body)
        }
        _ => status(405, "MethodNotAllowed", "method not allowed"),
    }
}

fn not_found(res: &ResType, name: &str) -> Response {
    let what = if res.group.is_empty() {
        res.plural.clone()
    } else {
        format!("{}.{}", res.plural, res.group)
    };
    status(404, "NotFound", &format!("{what} \"{name}\" not found"))
}

fn resource_list(gv: &str, plurals: &[&str]) -> Value {
    let resources: Vec<Value> = plurals
        .iter()
        .map(|p| {
            let rt = ResType::new("", "", p);
            json!({"name": p, "singularName": rt.kind().to_lowercase(), "namespaced": rt.namespaced(),
                   "kind": rt.kind(), "verbs": ["create", "delete", "get", "list", "update", "watch"]})
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

fn list(shared: &Shared, res: &ResType, ns: &str, q: &HashMap<String, String>) -> Response {
    let only = match name_selector(q) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    let inner = shared.inner.lock().expect("lock");
    let start = q.get("continue").cloned().unwrap_or_default();
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let mut items: Vec<Value> = Vec::new();
    let mut cont = None;
    for ((t, n, name), o) in &inner.objects {
        if t != res
            || n != ns
            || (!start.is_empty() && name.as_str() <= start.as_str())
            || only.as_ref().is_some_and(|o| o != name)
        {
            continue;
        }
        if limit.is_some_and(|l| items.len() >= l) {
            cont = items
                .last()
                .and_then(|o| o["metadata"]["name"].as_str())
                .map(str::to_owned);
            break;
        }
        items.push(o.clone());
    }
    let mut meta = json!({"resourceVersion": inner.rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    ok_json(
        StatusCode::OK,
        &json!({"kind": format!("{}List", res.kind()), "apiVersion": res.api_version(),
        "metadata": meta, "items": items}),
    )
}

fn watch(shared: &Shared, res: ResType, ns: &str, q: &HashMap<String, String>) -> Response {
    let only = match name_selector(q) {
        Ok(n) => n,
        Err(r) => return *r,
    };
    let (tx, rx) = mpsc::unbounded_channel::<Value>();
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    {
        let mut inner = shared.inner.lock().expect("lock");
        if bookmarks {
            inner.bookmark_requests += 1;
        }
        let from = q.get("resourceVersion").cloned().unwrap_or_default();
        match from.parse::<u64>() {
            Ok(rv) if rv > 0 && rv < inner.compacted => {
                // The real server answers 200 and sends the 410 as an ERROR event.
                let _ = tx.send(gone_event(inner.compacted));
                drop(tx);
                return stream_response(rx);
            }
            Ok(rv) if rv > 0 => {
                for (erv, t, kind, obj) in &inner.history {
                    if *erv > rv && *t == res && selected(obj, ns, only.as_deref()) {
                        let _ = tx.send(json!({"type": kind, "object": obj}));
                    }
                }
            }
            _ => {
                // resourceVersion unset or "0": synthetic ADDED for the current state.
                for ((t, n, name), o) in &inner.objects {
                    if *t == res && n == ns && only.as_ref().is_none_or(|o| o == name) {
                        let _ = tx.send(json!({"type": "ADDED", "object": o}));
                    }
                }
            }
        }
        inner.watches.push(Watch {
            res,
            ns: ns.to_owned(),
            name: only,
            bookmarks,
            tx,
        });
    }
    stream_response(rx)
}

fn stream_response(rx: mpsc::UnboundedReceiver<Value>) -> Response {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let v = rx.recv().await?;
        let mut line = v.to_string();
        line.push('\n');
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(line)), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| status(500, "InternalError", "response"))
}

fn parse_body(body: &Bytes) -> Result<Value, Box<Response>> {
    serde_json::from_slice::<Value>(body)
        .map_err(|e| Box::new(status(400, "BadRequest", &format!("invalid body: {e}"))))
}

fn create(shared: &Shared, res: &ResType, ns: &str, body: &Bytes) -> Response {
    let mut obj = match parse_body(body) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let Some(name) = obj["metadata"]["name"].as_str().map(str::to_owned) else {
        return status(422, "Invalid", "metadata.name: Required value");
    };
    if obj["metadata"]["resourceVersion"]
        .as_str()
        .is_some_and(|s| !s.is_empty())
    {
        return status(
            422,
            "Invalid",
            "metadata.resourceVersion: Invalid value: must not be set on create",
        );
    }
    let mut inner = shared.inner.lock().expect("lock");
    let key = (res.clone(), ns.to_owned(), name.clone());
    if inner.objects.contains_key(&key) {
        return status(
            409,
            "AlreadyExists",
            &format!("{} \"{name}\" already exists", res.plural),
        );
    }
    obj["apiVersion"] = json!(res.api_version());
    obj["kind"] = json!(res.kind());
    let rv = stamp(&mut inner, &mut obj, None);
    inner.objects.insert(key, obj.clone());
    publish(&mut inner, rv, res, "ADDED", obj.clone());
    ok_json(StatusCode::CREATED, &obj)
}

fn replace(shared: &Shared, res: &ResType, ns: &str, name: &str, body: &Bytes) -> Response {
    let mut obj = match parse_body(body) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    if obj["metadata"]["name"].as_str() != Some(name) {
        return status(
            400,
            "BadRequest",
            "the name of the object does not match the name on the URL",
        );
    }
    let mut inner = shared.inner.lock().expect("lock");
    let key = (res.clone(), ns.to_owned(), name.to_owned());
    let Some(current) = inner.objects.get(&key) else {
        return not_found(res, name);
    };
    let cur_rv = current["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    match obj["metadata"]["resourceVersion"].as_str() {
        Some(given) if !given.is_empty() && given != cur_rv => {
            return status(
                409,
                "Conflict",
                &format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your \
                 changes to the latest version and try again",
                    res.plural
                ),
            );
        }
        Some(given) if !given.is_empty() => {}
        // Custom resources require a resourceVersion on update; core objects update unconditionally.
        _ if !res.group.is_empty() => {
            return status(
                422,
                "Invalid",
                "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
            );
        }
        _ => {}
    }
    obj["apiVersion"] = json!(res.api_version());
    obj["kind"] = json!(res.kind());
    let rv = stamp(&mut inner, &mut obj, Some(key.clone()));
    inner.objects.insert(key, obj.clone());
    publish(&mut inner, rv, res, "MODIFIED", obj.clone());
    ok_json(StatusCode::OK, &obj)
}

fn delete(shared: &Shared, res: &ResType, ns: &str, name: &str, body: &Bytes) -> Response {
    let opts: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).unwrap_or(json!({}))
    };
    let mut inner = shared.inner.lock().expect("lock");
    let key = (res.clone(), ns.to_owned(), name.to_owned());
    let Some(current) = inner.objects.get(&key) else {
        return not_found(res, name);
    };
    if let Some(want) = opts["preconditions"]["resourceVersion"].as_str()
        && current["metadata"]["resourceVersion"].as_str() != Some(want)
    {
        let msg = format!(
            "Operation cannot be fulfilled on {} \"{name}\": the ResourceVersion in the precondition ({want}) \
             does not match the ResourceVersion in record",
            res.plural
        );
        return status(409, "Conflict", &msg);
    }
    let Some(mut obj) = inner.objects.remove(&key) else {
        return not_found(res, name);
    };
    inner.rv += 1;
    let rv = inner.rv;
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    publish(&mut inner, rv, res, "DELETED", obj.clone());
    ok_json(StatusCode::OK, &obj)
}
