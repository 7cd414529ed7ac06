//! The shared conformance battery against the Kubernetes backend and the fake API server, for both Calico API
//! groups.
#![cfg(feature = "kubernetes")]

mod kube_support;

use async_trait::async_trait;
use datastore::Error;
use datastore::conformance::{self, Harness};
use datastore::kube::convert::node_into_k8s;
use datastore::kube::{KubeConfig, KubeDatastore};
use datastore::model::{Kind, Node};
use datastore::store::{Datastore, Revision};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_support::{FakeApiServer, Groups, ResType};
use serde_json::json;

struct KubeHarness {
    server: FakeApiServer,
    store: KubeDatastore,
}

impl KubeHarness {
    async fn start(groups: Groups) -> KubeHarness {
        let server = FakeApiServer::start(groups).await;
        let store = KubeDatastore::connect(&KubeConfig::with_kubeconfig(server.kubeconfig_path()))
            .await
            .expect("connect");
        KubeHarness { server, store }
    }

    fn res(&self, kind: Kind) -> ResType {
        match kind {
            Kind::Node => ResType::nodes(),
            other => ResType::calico(self.server.calico_group(), other.plural()),
        }
    }
}

#[async_trait]
impl Harness for KubeHarness {
    fn store(&self) -> &dyn Datastore {
        &self.store
    }

    /// A custom resource whose spec does not parse (or a Node with an unparsable IP annotation), written
    /// straight into the API server as another client could.
    async fn write_invalid(&self, kind: Kind, name: &str) -> Result<(), Error> {
        let obj = match kind {
            Kind::Node => json!({"metadata": {"name": name,
                "annotations": {"projectcalico.org/IPv4Address": "not-an-ip/24"}}}),
            Kind::BgpPeer => json!({"metadata": {"name": name}, "spec": {"peerIP": "not-an-ip"}}),
            _ => json!({"metadata": {"name": name}, "spec": {"asNumber": "not-an-as"}}),
        };
        self.server.put(&self.res(kind), "", obj);
        Ok(())
    }

    async fn remove_invalid(&self, kind: Kind, name: &str) -> Result<(), Error> {
        self.server.remove(&self.res(kind), "", name);
        Ok(())
    }

    /// ERROR 410 Gone on every open watch and a compaction of the event history.
    async fn force_resync(&self) -> Result<bool, Error> {
        self.server.expire_watches();
        self.server.compact();
        Ok(true)
    }

    /// Calico Nodes cannot be created in KDD: make the core/v1 Node (as the kubelet would) with the
    /// `projectcalico.org/*` annotations the backend writes for that Calico node.
    async fn seed_node(&self, node: &Node) -> Result<Revision, Error> {
        let mut meta = ObjectMeta {
            name: Some(node.name().to_owned()),
            ..ObjectMeta::default()
        };
        node_into_k8s(node, &mut meta)?;
        let obj = json!({"metadata": meta, "spec": {}});
        Ok(Revision(self.server.put_node(obj)))
    }

    async fn remove_node(&self, name: &str) -> Result<(), Error> {
        self.server.remove(&ResType::nodes(), "", name);
        Ok(())
    }
}

#[tokio::test]
async fn conformance_v1_crds() {
    let h = KubeHarness::start(Groups::V1Crds).await;
    conformance::run_all(&h).await.expect("conformance");
}

#[tokio::test]
async fn conformance_v3_crds() {
    let h = KubeHarness::start(Groups::V3Only).await;
    conformance::run_all(&h).await.expect("conformance");
    assert!(h.server.requests("create", "bgppeers") > 0);
}
