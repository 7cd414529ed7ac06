//! Reads and writes: the paged list at one revision, single gets, and the compare-and-swap transactions.

use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, GetOptions, KeyValue, Txn, TxnOp, TxnOpResponse};

use super::error::EtcdError;
use super::keys::EtcdKeys;
use super::pool::call;
use crate::model::Kind;

/// One stored resource as etcd holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// Its kind (from the key).
    pub kind: Kind,
    /// Its name (the last key segment).
    pub name: String,
    /// The full etcd key.
    pub key: String,
    /// The stored bytes (JSON as calicoctl writes it, unchecked here).
    pub value: Vec<u8>,
    /// etcd's mod_revision: the resource's version for compare-and-swap.
    pub mod_revision: i64,
}

/// A key under a watched prefix that does not name a resource (not UTF-8, or a nested path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidKey {
    /// The key (lossy UTF-8).
    pub key: String,
    /// Why it was skipped.
    pub reason: String,
}

/// Every resource of every kind at one etcd revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawSnapshot {
    /// The store revision the list was read at; a watch continues from `revision + 1`.
    pub revision: i64,
    /// The resources, by kind then key.
    pub records: Vec<RawRecord>,
    /// Keys skipped because they do not name a resource.
    pub invalid: Vec<InvalidKey>,
}

/// Turns a key-value pair under `kind`'s directory into a record, or says why it is not one.
pub(crate) fn record(kind: Kind, prefix: &str, kv: &KeyValue) -> Result<RawRecord, InvalidKey> {
    match kind.name_of(prefix, kv.key()) {
        Ok(name) => Ok(RawRecord {
            kind,
            key: String::from_utf8_lossy(kv.key()).into_owned(),
            name,
            value: kv.value().to_vec(),
            mod_revision: kv.mod_revision(),
        }),
        Err(reason) => Err(InvalidKey {
            key: String::from_utf8_lossy(kv.key()).into_owned(),
            reason,
        }),
    }
}

/// The first key after every key starting with `dir` (etcd's "prefix end").
pub(crate) fn prefix_end(dir: &str) -> Vec<u8> {
    let mut end = dir.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Only 0xff bytes: to the end of the keyspace.
    vec![0]
}

/// Lists `kinds` at a single revision, page by page. The first page fixes the revision; the others are
/// read at it. If it is compacted meanwhile, the list starts over at the newest revision.
pub(crate) async fn list(
    client: &mut Client,
    endpoint: &str,
    kinds: &[Kind],
    prefix: &str,
    page_size: i64,
    timeout: Duration,
) -> Result<RawSnapshot, EtcdError> {
    let mut attempts = 0;
    loop {
        match list_once(client, endpoint, kinds, prefix, page_size, timeout).await {
            Err(EtcdError::Compacted(_)) if attempts < 3 => attempts += 1,
            other => return other,
        }
    }
}

async fn list_once(
    client: &mut Client,
    endpoint: &str,
    kinds: &[Kind],
    prefix: &str,
    page_size: i64,
    timeout: Duration,
) -> Result<RawSnapshot, EtcdError> {
    let mut snap = RawSnapshot::default();
    let mut revision = 0;
    for &kind in kinds {
        let dir = kind.dir(prefix);
        let end = prefix_end(&dir);
        let mut start = dir.clone().into_bytes();
        loop {
            let opts = GetOptions::new()
                .with_range(end.clone())
                .with_limit(page_size)
                .with_revision(revision);
            let resp = match call(endpoint, timeout, client.get(start.clone(), Some(opts))).await {
                Ok(r) => r,
                Err(EtcdError::Rejected(msg)) if msg.contains("compacted") => {
                    return Err(EtcdError::Compacted(revision));
                }
                Err(e) => return Err(e),
            };
            if revision == 0 {
                revision = resp.header().map_or(0, |h| h.revision());
                if revision <= 0 {
                    return Err(EtcdError::Unavailable {
                        endpoint: endpoint.to_owned(),
                        reason: "range response without a header revision".into(),
                    });
                }
            }
            for kv in resp.kvs() {
                match record(kind, prefix, kv) {
                    Ok(r) => snap.records.push(r),
                    Err(bad) => snap.invalid.push(bad),
                }
            }
            match resp.kvs().last() {
                Some(last) if resp.more() => {
                    start = last.key().to_vec();
                    start.push(0);
                }
                _ => break,
            }
        }
    }
    snap.revision = revision;
    Ok(snap)
}

/// The record stored under `key`, if any.
pub(crate) async fn get(
    client: &mut Client,
    endpoint: &str,
    prefix: &str,
    kind: Kind,
    key: &str,
    timeout: Duration,
) -> Result<Option<RawRecord>, EtcdError> {
    let resp = call(endpoint, timeout, client.get(key, None)).await?;
    match resp.kvs().first() {
        None => Ok(None),
        Some(kv) => record(kind, prefix, kv)
            .map(Some)
            .map_err(|bad| EtcdError::InvalidName(bad.key)),
    }
}

/// What a compare-and-swap is conditioned on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect {
    /// The key must not exist (`create_revision == 0`).
    Absent,
    /// The key must exist, at this mod_revision if given.
    Present(Option<i64>),
}

/// The write a compare-and-swap performs.
#[derive(Debug, Clone)]
pub(crate) enum Write {
    /// Store these bytes.
    Put(Vec<u8>),
    /// Delete the key.
    Delete,
}

/// Applies `write` to `key` if `expect` holds, in one transaction; returns the revision of the write.
/// When the comparison fails, the else branch reads the key so the error can say what is there.
pub(crate) async fn cas(
    client: &mut Client,
    endpoint: &str,
    key: &str,
    expect: Expect,
    write: Write,
    timeout: Duration,
) -> Result<i64, EtcdError> {
    let compares = match expect {
        Expect::Absent => vec![Compare::create_revision(key, CompareOp::Equal, 0)],
        Expect::Present(None) => vec![Compare::create_revision(key, CompareOp::Greater, 0)],
        Expect::Present(Some(rev)) => vec![
            Compare::create_revision(key, CompareOp::Greater, 0),
            Compare::mod_revision(key, CompareOp::Equal, rev),
        ],
    };
    let op = match write {
        Write::Put(value) => TxnOp::put(key, value, None),
        Write::Delete => TxnOp::delete(key, None),
    };
    let txn = Txn::new()
        .when(compares)
        .and_then(vec![op])
        .or_else(vec![TxnOp::get(key, None)]);
    let resp = call(endpoint, timeout, client.txn(txn)).await?;
    if resp.succeeded() {
        return resp
            .header()
            .map(|h| h.revision())
            .ok_or_else(|| EtcdError::Unavailable {
                endpoint: endpoint.to_owned(),
                reason: "transaction response without a header".into(),
            });
    }
    let current = resp.op_responses().into_iter().find_map(|r| match r {
        TxnOpResponse::Get(g) => Some(g.kvs().first().map_or(0, KeyValue::mod_revision)),
        _ => None,
    });
    let current = current.unwrap_or(0);
    Err(match expect {
        Expect::Absent => EtcdError::AlreadyExists {
            key: key.to_owned(),
            revision: current,
        },
        Expect::Present(_) if current == 0 => EtcdError::NotFound { key: key.to_owned() },
        Expect::Present(expected) => EtcdError::Conflict {
            key: key.to_owned(),
            expected: expected.unwrap_or(0),
            current,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_last_byte() {
        assert_eq!(prefix_end("/a/nodes/"), b"/a/nodes0".to_vec());
        assert_eq!(prefix_end("a\u{7f}"), b"a\x80".to_vec());
        assert_eq!(prefix_end(""), vec![0]);
    }
}
