//! Errors of the etcd backend, by meaning.

use std::error::Error as StdError;

/// What went wrong talking to etcd.
///
/// Writes report a lost compare-and-swap as [`EtcdError::Conflict`] / [`EtcdError::AlreadyExists`] /
/// [`EtcdError::NotFound`]; anything about reaching the cluster is [`EtcdError::Unavailable`] or
/// [`EtcdError::Tls`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EtcdError {
    /// The configuration cannot be used (no endpoint, unreadable certificate file, http URL with TLS files...).
    #[error("etcd configuration: {0}")]
    Config(String),
    /// The TLS handshake with an endpoint failed (wrong CA, rejected client certificate...).
    #[error(
        "etcd endpoint {endpoint}: TLS handshake failed (check ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE): {reason}"
    )]
    Tls {
        /// The endpoint URL.
        endpoint: String,
        /// The error chain as text.
        reason: String,
    },
    /// No endpoint answered (connection refused, timeout, stream reset...).
    #[error("etcd unavailable ({endpoint}): {reason}")]
    Unavailable {
        /// The endpoint URL tried last.
        endpoint: String,
        /// The error chain as text.
        reason: String,
    },
    /// etcd refused the request (authentication, permission, invalid request...).
    #[error("etcd refused the request: {0}")]
    Rejected(String),
    /// A create found the key already present.
    #[error("{key} already exists (mod_revision {revision})")]
    AlreadyExists {
        /// The etcd key.
        key: String,
        /// Its current mod_revision.
        revision: i64,
    },
    /// An update or delete found no such key.
    #[error("{key} not found")]
    NotFound {
        /// The etcd key.
        key: String,
    },
    /// An update or delete expected another mod_revision.
    #[error("{key}: revision conflict (expected {expected}, current {current})")]
    Conflict {
        /// The etcd key.
        key: String,
        /// The mod_revision the caller expected.
        expected: i64,
        /// The key's current mod_revision.
        current: i64,
    },
    /// A read at a fixed revision found it compacted (a paged list restarts from the newest revision).
    #[error("revision {0} has been compacted")]
    Compacted(i64),
    /// A name that cannot be stored under a Calico key (empty or with a `/`).
    #[error("invalid resource name {0:?}")]
    InvalidName(String),
}

impl EtcdError {
    /// True for errors that a retry on another endpoint or later may cure.
    pub fn is_transient(&self) -> bool {
        matches!(self, EtcdError::Unavailable { .. })
    }
}

/// The whole `source()` chain of an error as one line (tonic hides the useful part several levels down).
pub(crate) fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

/// Classifies an `etcd-client` error raised while talking to `endpoint`.
pub(crate) fn classify(endpoint: &str, err: &etcd_client::Error) -> EtcdError {
    let text = chain(err);
    let lower = text.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("handshake") || lower.contains("tls") {
        return EtcdError::Tls {
            endpoint: endpoint.to_owned(),
            reason: text,
        };
    }
    if let etcd_client::Error::GRpcStatus(status) = err {
        // gRPC codes (tonic is not a direct dependency): INVALID_ARGUMENT 3, NOT_FOUND 5, ALREADY_EXISTS 6,
        // PERMISSION_DENIED 7, FAILED_PRECONDITION 9, OUT_OF_RANGE 11, UNIMPLEMENTED 12, UNAUTHENTICATED 16.
        if matches!(status.code() as i32, 3 | 5 | 6 | 7 | 9 | 11 | 12 | 16) {
            return EtcdError::Rejected(text);
        }
    }
    EtcdError::Unavailable {
        endpoint: endpoint.to_owned(),
        reason: text,
    }
}
