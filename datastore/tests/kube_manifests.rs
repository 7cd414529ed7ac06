//! `deploy/kubernetes/*.yaml` parse into the k8s-openapi types without unknown fields, the RBAC roles grant
//! exactly the verbs the backend declares in `REQUIRED_PERMISSIONS` / `WRITE_PERMISSIONS`, and the DaemonSet
//! is wired as the backend and the daemon expect: non-root, read-only, seccomp RuntimeDefault, every capability
//! dropped, NoSchedule and NoExecute tolerated, resources set. The kustomize base lists every manifest, the
//! overlays in `deploy/kustomize/` parse, the ServiceMonitor reaches the Service's port, and the PrometheusRule
//! holds the same rules as `deploy/prometheus/calico-rr-alerts.yaml`.
#![cfg(feature = "kubernetes")]

use std::collections::BTreeMap;
use std::path::PathBuf;

use datastore::kube::rbac::flatten;
use datastore::kube::{DEFAULT_NAMESPACE, Permission, REQUIRED_PERMISSIONS, Scope, WRITE_PERMISSIONS};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Default)]
struct Manifests {
    service_accounts: BTreeMap<String, ServiceAccount>,
    cluster_roles: BTreeMap<String, ClusterRole>,
    cluster_role_bindings: BTreeMap<String, ClusterRoleBinding>,
    roles: BTreeMap<String, Role>,
    role_bindings: BTreeMap<String, RoleBinding>,
    daemon_sets: BTreeMap<String, DaemonSet>,
    services: BTreeMap<String, Service>,
    /// Files holding each object (`kind/name`).
    files: BTreeMap<String, String>,
}

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

/// Parses `v` as `T` and checks nothing was dropped: serializing the typed value gives back the document.
fn typed<T: DeserializeOwned + serde::Serialize>(file: &str, v: &Value) -> T {
    let t: T = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
    let back = serde_json::to_value(&t).expect("serialize");
    assert_eq!(
        &back, v,
        "{file}: the document has fields the k8s-openapi type does not know"
    );
    t
}

fn load() -> Manifests {
    let mut m = Manifests::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir())
        .expect("deploy/kubernetes")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).expect("read");
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let v = Value::deserialize(doc).unwrap_or_else(|e| panic!("{file}: {e}"));
            if v.is_null() {
                continue;
            }
            if v["kind"] == "Kustomization" {
                continue;
            }
            let name = v["metadata"]["name"].as_str().expect("metadata.name").to_owned();
            let base = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            m.files
                .insert(format!("{}/{name}", v["kind"].as_str().unwrap_or_default()), base);
            match (v["apiVersion"].as_str(), v["kind"].as_str()) {
                (Some("v1"), Some("ServiceAccount")) => {
                    m.service_accounts.insert(name, typed(&file, &v));
                }
                (Some("rbac.authorization.k8s.io/v1"), Some("ClusterRole")) => {
                    m.cluster_roles.insert(name, typed(&file, &v));
                }
                (Some("rbac.authorization.k8s.io/v1"), Some("ClusterRoleBinding")) => {
                    m.cluster_role_bindings.insert(name, typed(&file, &v));
                }
                (Some("rbac.authorization.k8s.io/v1"), Some("Role")) => {
                    m.roles.insert(name, typed(&file, &v));
                }
                (Some("rbac.authorization.k8s.io/v1"), Some("RoleBinding")) => {
                    m.role_bindings.insert(name, typed(&file, &v));
                }
                (Some("apps/v1"), Some("DaemonSet")) => {
                    m.daemon_sets.insert(name, typed(&file, &v));
                }
                (Some("v1"), Some("Service")) => {
                    m.services.insert(name, typed(&file, &v));
                }
                other => panic!("{file}: unexpected document {other:?}"),
            }
        }
    }
    m
}

/// The `(scope, group, resource, verb)` grants of some rules; wildcards and resourceNames are refused.
fn grants(scope: Scope, rules: &[PolicyRule]) -> Vec<(Scope, String, String, String)> {
    let mut out = Vec::new();
    for r in rules {
        assert!(r.non_resource_urls.is_none(), "non-resource URLs are not needed");
        assert!(
            r.resource_names.is_none(),
            "resourceNames would not match every referenced Secret"
        );
        for g in r.api_groups.as_deref().unwrap_or_default() {
            for res in r.resources.as_deref().unwrap_or_default() {
                for verb in &r.verbs {
                    assert!(g != "*" && res != "*" && verb != "*", "wildcard in {r:?}");
                    out.push((scope, g.clone(), res.clone(), verb.clone()));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn binds_service_account(subjects: Option<&Vec<Subject>>, name: &str, ns: &str) -> bool {
    subjects
        .into_iter()
        .flatten()
        .any(|s| s.kind == "ServiceAccount" && s.name == name && s.namespace.as_deref() == Some(ns))
}

#[test]
fn reflector_roles_grant_exactly_the_required_permissions() {
    let m = load();
    let cr = &m.cluster_roles["calico-rr"];
    let role = &m.roles["calico-rr-secrets"];
    let mut granted = grants(Scope::Cluster, cr.rules.as_deref().unwrap_or_default());
    granted.extend(grants(
        Scope::Namespace,
        role.rules.as_deref().unwrap_or_default(),
    ));
    granted.sort();
    assert_eq!(
        granted,
        flatten(REQUIRED_PERMISSIONS),
        "reflector grants differ from REQUIRED_PERMISSIONS"
    );
    // The namespaced part lives in the calico namespace.
    assert_eq!(role.metadata.namespace.as_deref(), Some(DEFAULT_NAMESPACE));
    // Secrets are only readable (get, and list/watch to follow a rotation) in that namespace.
    assert!(
        REQUIRED_PERMISSIONS
            .iter()
            .any(|p: &Permission| p.resource == "secrets"
                && p.verbs == ["get", "list", "watch"]
                && p.scope == Scope::Namespace)
    );
}

#[test]
fn rr_cli_role_grants_exactly_the_write_permissions() {
    let m = load();
    let cr = &m.cluster_roles["calico-rr-cli"];
    let granted = grants(Scope::Cluster, cr.rules.as_deref().unwrap_or_default());
    assert_eq!(granted, flatten(WRITE_PERMISSIONS));
    // The reflector's own role has no write verb at all.
    let reads = grants(
        Scope::Cluster,
        m.cluster_roles["calico-rr"].rules.as_deref().unwrap_or_default(),
    );
    assert!(
        reads
            .iter()
            .all(|(_, _, _, v)| ["get", "list", "watch"].contains(&v.as_str()))
    );
    // Bound to the admin group, together with the read role.
    let refs: Vec<(&str, &str)> = m
        .cluster_role_bindings
        .values()
        .filter(|b| {
            b.subjects
                .iter()
                .flatten()
                .any(|s| s.kind == "Group" && s.name == "calico-rr-admins")
        })
        .map(|b| (b.role_ref.kind.as_str(), b.role_ref.name.as_str()))
        .collect();
    assert!(refs.contains(&("ClusterRole", "calico-rr-cli")), "{refs:?}");
    assert!(refs.contains(&("ClusterRole", "calico-rr")), "{refs:?}");
}

#[test]
fn bindings_tie_the_roles_to_the_daemonset_service_account() {
    let m = load();
    let ds = &m.daemon_sets["calico-rr"];
    let ns = ds.metadata.namespace.as_deref().expect("namespace");
    let pod = ds.spec.template.spec.as_ref().expect("pod spec");
    let sa = pod.service_account_name.as_deref().expect("serviceAccountName");
    let sa_obj = &m.service_accounts[sa];
    assert_eq!(sa_obj.metadata.namespace.as_deref(), Some(ns));
    let crb = &m.cluster_role_bindings["calico-rr"];
    assert_eq!(
        (crb.role_ref.kind.as_str(), crb.role_ref.name.as_str()),
        ("ClusterRole", "calico-rr")
    );
    assert!(binds_service_account(crb.subjects.as_ref(), sa, ns));
    let rb = &m.role_bindings["calico-rr-secrets"];
    assert_eq!(rb.metadata.namespace.as_deref(), Some(DEFAULT_NAMESPACE));
    assert_eq!(
        (rb.role_ref.kind.as_str(), rb.role_ref.name.as_str()),
        ("Role", "calico-rr-secrets")
    );
    assert!(binds_service_account(rb.subjects.as_ref(), sa, ns));
}

#[test]
fn daemonset_runs_one_reflector_per_labelled_node_with_probes_on_the_metrics_port() {
    let m = load();
    let ds = &m.daemon_sets["calico-rr"];
    let spec = &ds.spec;
    let pod = spec.template.spec.as_ref().expect("pod spec");
    assert_eq!(pod.host_network, Some(true));
    let sel = pod.node_selector.as_ref().expect("nodeSelector");
    assert_eq!(sel.get("route-reflector").map(String::as_str), Some("true"));
    // The selector matches the pod template.
    let want = spec.selector.match_labels.as_ref().expect("matchLabels");
    let have = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref())
        .expect("template labels");
    assert!(want.iter().all(|(k, v)| have.get(k) == Some(v)));

    assert_eq!(pod.containers.len(), 1);
    let c = &pod.containers[0];
    let env: BTreeMap<&str, &k8s_openapi::api::core::v1::EnvVar> =
        c.env.iter().flatten().map(|e| (e.name.as_str(), e)).collect();
    let field = |name: &str| {
        env.get(name)
            .and_then(|e| e.value_from.as_ref())
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str())
    };
    assert_eq!(
        field("NODENAME"),
        Some("spec.nodeName"),
        "NODENAME from the downward API"
    );
    assert_eq!(
        env.get("DATASTORE_TYPE").and_then(|e| e.value.as_deref()),
        Some("kubernetes")
    );
    // The backend reads secrets from NAMESPACE, which is the pod's own namespace; the Role is in the same
    // namespace, so kustomize's `namespace:` moves all three together.
    assert_eq!(field("NAMESPACE"), Some("metadata.namespace"));
    assert_eq!(
        ds.metadata.namespace.as_deref(),
        m.roles["calico-rr-secrets"].metadata.namespace.as_deref()
    );

    // The probes hit /healthz and /readyz on the port the daemon's --metrics-addr listens on.
    let args = c.args.clone().unwrap_or_default();
    let metrics = args
        .iter()
        .find_map(|a| a.strip_prefix("--metrics-addr="))
        .expect("--metrics-addr (the default 127.0.0.1 is unreachable for the kubelet)");
    let (host, port) = metrics.rsplit_once(':').expect("host:port");
    assert_eq!(host, "$(POD_IP)");
    assert_eq!(field("POD_IP"), Some("status.podIP"));
    let port: i32 = port.parse().expect("port");
    let probe = |p: Option<&k8s_openapi::api::core::v1::Probe>| {
        let h = p.and_then(|p| p.http_get.as_ref()).expect("httpGet probe");
        (h.path.clone().unwrap_or_default(), h.port.clone())
    };
    assert_eq!(
        probe(c.liveness_probe.as_ref()),
        ("/healthz".to_owned(), IntOrString::Int(port))
    );
    assert_eq!(
        probe(c.readiness_probe.as_ref()),
        ("/readyz".to_owned(), IntOrString::Int(port))
    );
    // Least privilege: a non-root user, no capability at all (the BGP port is >= 1024: deploy/kustomize/port-179
    // is the explicit exception), no privilege escalation, a read-only root, the runtime's seccomp profile.
    let psc = pod.security_context.as_ref().expect("pod securityContext");
    assert_eq!(psc.run_as_non_root, Some(true));
    assert!(psc.run_as_user.is_some_and(|u| u != 0), "{psc:?}");
    assert_eq!(
        psc.seccomp_profile.as_ref().map(|p| p.type_.as_str()),
        Some("RuntimeDefault")
    );
    let sc = c.security_context.as_ref().expect("securityContext");
    assert_eq!(sc.privileged, None);
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_ne!(sc.run_as_non_root, Some(false));
    let caps = sc.capabilities.as_ref().expect("capabilities");
    assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_owned()][..]));
    assert_eq!(caps.add, None, "a non-root process gets no added capability");
    let bgp = c
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some("bgp"))
        .expect("bgp port");
    assert!(
        bgp.container_port >= 1024,
        "a non-root reflector cannot bind {}",
        bgp.container_port
    );
    // The control socket needs a writable /tmp on the read-only root.
    assert!(c.volume_mounts.iter().flatten().any(|v| v.mount_path == "/tmp"));

    // Tolerates NoSchedule and NoExecute taints of any key.
    let tol: Vec<(Option<&str>, Option<&str>, Option<&str>)> = pod
        .tolerations
        .iter()
        .flatten()
        .map(|t| (t.key.as_deref(), t.operator.as_deref(), t.effect.as_deref()))
        .collect();
    for effect in ["NoSchedule", "NoExecute"] {
        assert!(tol.contains(&(None, Some("Exists"), Some(effect))), "{tol:?}");
    }
    // Requests and a memory limit.
    let res = c.resources.as_ref().expect("resources");
    let req = res.requests.as_ref().expect("requests");
    assert!(req.contains_key("cpu") && req.contains_key("memory"), "{req:?}");
    assert!(res.limits.as_ref().is_some_and(|l| l.contains_key("memory")));
}

/// A YAML file's documents as JSON values.
fn docs(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn kustomize_base_lists_every_manifest_and_the_service_reaches_the_metrics_port() {
    let m = load();
    let k = &docs(&deploy_dir().join("kustomization.yaml"))[0];
    assert_eq!(k["kind"], "Kustomization");
    assert_eq!(k["namespace"], DEFAULT_NAMESPACE);
    let listed: Vec<&str> = k["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut files: Vec<&str> = m.files.values().map(String::as_str).collect();
    files.sort();
    files.dedup();
    // Everything but the rr-cli role (applied on purpose, for the admin group).
    let want: Vec<&str> = files.into_iter().filter(|f| *f != "rr-cli-rbac.yaml").collect();
    let mut have = listed.clone();
    have.sort();
    assert_eq!(have, want);
    // The image the DaemonSet names is the one `images:` retags.
    let ds = &m.daemon_sets["calico-rr"];
    let pod = ds.spec.template.spec.as_ref().expect("pod spec");
    let image = pod.containers[0].image.as_deref().expect("image");
    let img_name = k["images"][0]["name"].as_str().expect("images[0].name");
    assert_eq!(image.split(':').next(), Some(img_name));

    // The metrics Service selects the pods and targets the named metrics port.
    let svc = &m.services["calico-rr-metrics"];
    let spec = svc.spec.as_ref().expect("service spec");
    let pod_labels = ds
        .spec
        .template
        .metadata
        .as_ref()
        .and_then(|x| x.labels.as_ref())
        .expect("labels");
    let sel = spec.selector.as_ref().expect("selector");
    assert!(sel.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));
    let port = &spec.ports.as_ref().expect("ports")[0];
    assert_eq!(port.name.as_deref(), Some("metrics"));
    assert_eq!(port.target_port, Some(IntOrString::String("metrics".into())));
    assert!(
        pod.containers[0]
            .ports
            .iter()
            .flatten()
            .any(|p| p.name.as_deref() == Some("metrics")
                && i64::from(p.container_port) == i64::from(port.port))
    );

    // The ServiceMonitor selects the Service by its labels and scrapes that port.
    let kdir = deploy_dir().join("../kustomize");
    let sm = &docs(&kdir.join("monitoring/servicemonitor.yaml"))[0];
    let svc_labels = svc.metadata.labels.as_ref().expect("service labels");
    for (k, v) in sm["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels")
    {
        assert_eq!(svc_labels.get(k).map(String::as_str), v.as_str(), "{k}");
    }
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");

    // The PrometheusRule carries exactly the rules of the plain rule file.
    let rule = &docs(&kdir.join("monitoring/prometheusrule.yaml"))[0];
    let plain = &docs(&deploy_dir().join("../prometheus/calico-rr-alerts.yaml"))[0];
    assert_eq!(rule["spec"]["groups"], plain["groups"]);

    // Every overlay's kustomization names existing files and directories.
    for overlay in ["monitoring", "example", "port-179"] {
        let dir = kdir.join(overlay);
        let k = &docs(&dir.join("kustomization.yaml"))[0];
        assert_eq!(k["kind"], "Kustomization", "{overlay}");
        for r in k["resources"].as_array().expect("resources") {
            let p = dir.join(r.as_str().expect("resource path"));
            assert!(p.exists(), "{overlay}: {} does not exist", p.display());
        }
    }
    // The namespace is a value of the example overlay.
    let ex = &docs(&kdir.join("example/kustomization.yaml"))[0];
    assert!(ex["namespace"].is_string());
}
