//! [`Datastore`] for [`EtcdBackend`]: parses the stored JSON into [`Resource`]s, reports records that do not
//! parse as [`InvalidRecord`]s, and maps etcd errors onto [`Error`].

use async_trait::async_trait;
use futures::StreamExt;

use crate::error::Error;
use crate::model::{Kind, Resource};
use crate::store::{
    Datastore, InvalidRecord, Listing, Revision, SyncStatus, Versioned, WatchEvent, WatchStream,
};

use super::EtcdBackend;
use super::error::EtcdError;
use super::kv::{InvalidKey, RawRecord};
use super::watch::RawEvent;

/// An etcd revision as a [`Revision`] (etcd revisions start at 1).
fn revision(rev: i64) -> Revision {
    Revision(u64::try_from(rev).unwrap_or(0))
}

/// A [`Revision`] as an etcd revision.
fn etcd_revision(rev: Revision) -> i64 {
    i64::try_from(rev.0).unwrap_or(i64::MAX)
}

/// Maps an etcd error about `kind`/`name` onto the shared error type.
fn map_err(kind: Kind, name: &str, e: EtcdError) -> Error {
    match e {
        EtcdError::AlreadyExists { .. } => Error::AlreadyExists {
            kind,
            name: name.to_owned(),
        },
        EtcdError::NotFound { .. } => Error::NotFound {
            kind,
            name: name.to_owned(),
        },
        EtcdError::Conflict {
            expected, current, ..
        } => Error::Conflict {
            kind,
            name: name.to_owned(),
            expected: revision(expected),
            actual: Some(revision(current)),
        },
        EtcdError::InvalidName(n) => Error::invalid(
            format!("{kind}/{n}"),
            "metadata.name",
            format!("{n:?}"),
            "an etcd key segment must be non-empty and contain no '/'",
        ),
        other => map_transport(other),
    }
}

/// Maps an error that concerns no particular object.
fn map_transport(e: EtcdError) -> Error {
    match e {
        EtcdError::Unavailable { .. } | EtcdError::Tls { .. } => Error::Unavailable(e.to_string()),
        other => Error::Backend(other.to_string()),
    }
}

/// Parses a stored record: the key gives kind and name; a missing `metadata.name` is taken from the key, a
/// different one is refused. The revision is the key's mod_revision; a `resourceVersion` in the JSON is
/// replaced by it, as libcalico-go does.
#[allow(clippy::result_large_err)] // one record at a time; the error is consumed right away
pub(crate) fn parse(rec: &RawRecord) -> Result<Versioned<Resource>, InvalidRecord> {
    let invalid = |error| InvalidRecord {
        kind: Some(rec.kind),
        name: Some(rec.name.clone()),
        source: rec.key.clone(),
        error,
    };
    let rid = format!("{}/{}", rec.kind, rec.name);
    let mut value: serde_json::Value = serde_json::from_slice(&rec.value).map_err(|e| {
        let text = String::from_utf8_lossy(&rec.value);
        let shown: String = text.chars().take(120).collect();
        invalid(Error::invalid(&rid, "", shown, format!("not JSON: {e}")))
    })?;
    if let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        match meta.get("name").and_then(|n| n.as_str()) {
            None | Some("") => {
                meta.insert("name".into(), rec.name.clone().into());
            }
            Some(n) if n != rec.name => {
                let error = Error::invalid(
                    &rid,
                    "metadata.name",
                    format!("{n:?}"),
                    format!("differs from the name in the key ({:?})", rec.name),
                );
                return Err(invalid(error));
            }
            Some(_) => {}
        }
    } else if value.is_object() && value.get("metadata").is_none() {
        value["metadata"] = serde_json::json!({ "name": rec.name });
    }
    let mut resource = Resource::from_value_of(rec.kind, value).map_err(invalid)?;
    resource.metadata_mut().resource_version = Some(rec.mod_revision.to_string());
    Ok(Versioned::new(resource, revision(rec.mod_revision)))
}

fn invalid_key(kind: Option<Kind>, bad: InvalidKey) -> InvalidRecord {
    InvalidRecord {
        kind,
        name: None,
        error: Error::invalid(&bad.key, "", "", bad.reason),
        source: bad.key,
    }
}

/// The kind whose directory holds `key` (for reporting invalid keys).
fn kind_of_key(prefix: &str, key: &str) -> Option<Kind> {
    use super::keys::EtcdKeys;
    Kind::ALL.into_iter().find(|k| key.starts_with(&k.dir(prefix)))
}

/// The JSON stored for a resource: the manifest as calicoctl writes it, without `resourceVersion`
/// (the version is the key's mod_revision). Round-trips through the parser so only valid resources are written.
fn stored_json(resource: &Resource) -> Result<Vec<u8>, Error> {
    let mut r = Resource::from_value(resource.to_value())?;
    r.metadata_mut().resource_version = None;
    Ok(r.to_json().into_bytes())
}

/// Turns the raw events of one watch into [`WatchEvent`]s.
fn translate(prefix: &str, ev: RawEvent) -> Vec<WatchEvent> {
    match ev {
        RawEvent::Snapshot { snapshot, .. } => {
            let mut resources = Vec::with_capacity(snapshot.records.len());
            let mut invalid = Vec::new();
            for rec in &snapshot.records {
                match parse(rec) {
                    Ok(v) => resources.push(v),
                    Err(bad) => invalid.push(WatchEvent::Invalid(bad)),
                }
            }
            let mut out = vec![WatchEvent::Resync {
                resources,
                revision: revision(snapshot.revision),
            }];
            out.extend(invalid);
            out.extend(
                snapshot
                    .invalid
                    .into_iter()
                    .map(|bad| WatchEvent::Invalid(invalid_key(kind_of_key(prefix, &bad.key), bad))),
            );
            out
        }
        RawEvent::Put(rec) => vec![match parse(&rec) {
            Ok(v) => WatchEvent::Applied(v),
            Err(bad) => WatchEvent::Invalid(bad),
        }],
        RawEvent::Deleted {
            kind,
            name,
            revision: rev,
            ..
        } => vec![WatchEvent::Deleted {
            kind,
            name,
            revision: revision(rev),
        }],
        RawEvent::InvalidKey(bad) => {
            let kind = kind_of_key(prefix, &bad.key);
            vec![WatchEvent::Invalid(invalid_key(kind, bad))]
        }
        RawEvent::Unavailable { error } => vec![WatchEvent::Status(SyncStatus::Unavailable(error))],
        RawEvent::Available => vec![WatchEvent::Status(SyncStatus::Synced)],
    }
}

#[async_trait]
impl Datastore for EtcdBackend {
    async fn list(&self, kind: Kind) -> Result<Listing, Error> {
        let snap = self.list_kinds(&[kind]).await.map_err(map_transport)?;
        let mut listing = Listing {
            revision: revision(snap.revision),
            ..Listing::default()
        };
        // etcd returns keys in byte order: within one kind, that is name order.
        for rec in &snap.records {
            match parse(rec) {
                Ok(v) => listing.resources.push(v),
                Err(bad) => listing.invalid.push(bad),
            }
        }
        listing
            .invalid
            .extend(snap.invalid.into_iter().map(|bad| invalid_key(Some(kind), bad)));
        Ok(listing)
    }

    async fn watch(&self, from: Option<Revision>) -> Result<WatchStream, Error> {
        let raw = self.watch_raw_from(from.map(etcd_revision));
        let prefix = self.config().prefix.clone();
        Ok(raw
            .flat_map(move |ev| futures::stream::iter(translate(&prefix, ev)))
            .map(Ok)
            .boxed())
    }

    async fn get(&self, kind: Kind, name: &str) -> Result<Versioned<Resource>, Error> {
        match self.get_raw(kind, name).await {
            Ok(Some(rec)) => parse(&rec).map_err(|bad| bad.error),
            Ok(None) => Err(Error::NotFound {
                kind,
                name: name.to_owned(),
            }),
            Err(e) => Err(map_err(kind, name, e)),
        }
    }

    async fn create(&self, resource: &Resource) -> Result<Revision, Error> {
        let (kind, name) = (resource.kind(), resource.name());
        let value = stored_json(resource)?;
        self.create_raw(kind, name, value)
            .await
            .map(revision)
            .map_err(|e| map_err(kind, name, e))
    }

    async fn update(&self, resource: &Resource, expected: Revision) -> Result<Revision, Error> {
        let (kind, name) = (resource.kind(), resource.name());
        let value = stored_json(resource)?;
        self.update_raw(kind, name, value, etcd_revision(expected))
            .await
            .map(revision)
            .map_err(|e| map_err(kind, name, e))
    }

    async fn delete(&self, kind: Kind, name: &str, expected: Option<Revision>) -> Result<(), Error> {
        self.delete_raw(kind, name, expected.map(etcd_revision))
            .await
            .map(|_| ())
            .map_err(|e| map_err(kind, name, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(kind: Kind, name: &str, value: &str) -> RawRecord {
        RawRecord {
            kind,
            name: name.to_owned(),
            key: format!("/calico/resources/v3/projectcalico.org/{}/{name}", kind.plural()),
            value: value.as_bytes().to_vec(),
            mod_revision: 42,
        }
    }

    #[test]
    fn calicoctl_json_parses_with_mod_revision() {
        let r = rec(
            Kind::Node,
            "kube-master",
            r#"{"kind":"Node","apiVersion":"projectcalico.org/v3",
               "metadata":{"name":"kube-master","resourceVersion":"7","labels":{"routeReflector":"true"}},
               "spec":{"bgp":{"ipv4Address":"10.192.0.2/16","routeReflectorClusterID":"10.0.0.1"}}}"#,
        );
        let v = parse(&r).expect("valid node");
        assert_eq!(v.revision, Revision(42));
        assert_eq!(v.value.name(), "kube-master");
        assert_eq!(v.value.metadata().resource_version.as_deref(), Some("42"));
    }

    #[test]
    fn missing_name_comes_from_the_key_and_a_different_one_is_refused() {
        let v = parse(&rec(Kind::BgpPeer, "p", r#"{"spec":{}}"#)).expect("name from key");
        assert_eq!(v.value.name(), "p");
        let bad = parse(&rec(Kind::BgpPeer, "p", r#"{"metadata":{"name":"q"},"spec":{}}"#))
            .expect_err("name mismatch");
        assert_eq!(bad.name.as_deref(), Some("p"));
        assert!(bad.error.to_string().contains("metadata.name"), "{}", bad.error);
    }

    #[test]
    fn broken_records_name_key_and_reason() {
        let bad = parse(&rec(Kind::BgpPeer, "x", "{not json")).expect_err("not JSON");
        assert_eq!(bad.source, "/calico/resources/v3/projectcalico.org/bgppeers/x");
        assert_eq!(bad.kind, Some(Kind::BgpPeer));
        assert!(bad.error.to_string().contains("not JSON"), "{}", bad.error);
        let bad = parse(&rec(
            Kind::BgpPeer,
            "y",
            r#"{"kind":"BGPPeer","metadata":{"name":"y"},"spec":{"peerIP":"not-an-ip"}}"#,
        ))
        .expect_err("bad peerIP");
        assert!(bad.error.to_string().contains("peerIP"), "{}", bad.error);
        let bad = parse(&rec(
            Kind::Node,
            "z",
            r#"{"kind":"BGPPeer","metadata":{"name":"z"}}"#,
        ))
        .expect_err("kind mismatch");
        assert!(bad.error.to_string().contains("kind"), "{}", bad.error);
    }
}
