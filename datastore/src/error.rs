//! Errors by meaning, shared by every backend.
//!
//! A backend maps its own failures onto these variants so the daemon and `rr-cli` can react without knowing
//! which datastore they talk to: a stale revision is always [`Error::Conflict`], a missing object always
//! [`Error::NotFound`], a connection problem always [`Error::Unavailable`].

use crate::model::Kind;
use crate::store::Revision;

/// A datastore error, classified by what it means for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object does not exist.
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// Kind of the object.
        kind: Kind,
        /// Name of the object.
        name: String,
    },
    /// A create found an object of the same kind and name.
    #[error("{kind} {name:?} already exists")]
    AlreadyExists {
        /// Kind of the object.
        kind: Kind,
        /// Name of the object.
        name: String,
    },
    /// A compare-and-swap write found a different revision than expected.
    #[error("conflict on {kind} {name:?}: expected revision {expected}, found {}",
        actual.map_or_else(|| "none".to_string(), |r| r.to_string()))]
    Conflict {
        /// Kind of the object.
        kind: Kind,
        /// Name of the object.
        name: String,
        /// The revision the caller expected.
        expected: Revision,
        /// The revision the store holds (`None` if the object is gone).
        actual: Option<Revision>,
    },
    /// A record or a value does not make a valid resource.
    #[error("invalid {resource}: {}", invalid_detail(.field, .value, .reason))]
    Invalid {
        /// The resource, as `Kind/name` (or a file/document or key when the name is unknown).
        resource: String,
        /// The field path, e.g. `spec.asNumber` (empty when the whole record is unreadable).
        field: String,
        /// The offending value as it appeared in the record (JSON text where possible).
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The backend cannot be reached or is not ready; retry later.
    #[error("datastore unavailable: {0}")]
    Unavailable(String),
    /// The backend does not support this operation (e.g. creating a Node in Kubernetes).
    #[error("operation not supported: {0}")]
    Unsupported(String),
    /// Any other backend failure.
    #[error("datastore error: {0}")]
    Backend(String),
}

impl Error {
    /// Builds an [`Error::Invalid`].
    pub fn invalid(
        resource: impl Into<String>,
        field: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            resource: resource.into(),
            field: field.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// True for errors worth retrying (the backend was unavailable).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }
}

/// The part of an [`Error::Invalid`] message after the resource: `field F = V: reason`, leaving out the field
/// and value when the whole record is unreadable (a YAML syntax error has neither).
fn invalid_detail(field: &str, value: &str, reason: &str) -> String {
    match (field.is_empty(), value.is_empty()) {
        (true, true) => reason.to_string(),
        (true, false) => format!("{value}: {reason}"),
        (false, true) => format!("field {field}: {reason}"),
        (false, false) => format!("field {field} = {value}: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn invalid_messages_leave_out_missing_parts() {
        let e = Error::invalid("calico.yaml#2", "", "", "mapping values are not allowed here");
        assert_eq!(
            e.to_string(),
            "invalid calico.yaml#2: mapping values are not allowed here"
        );
        let e = Error::invalid("BGPPeer/p", "spec.peerIP", "\"x\"", "not an IP address");
        assert_eq!(
            e.to_string(),
            "invalid BGPPeer/p: field spec.peerIP = \"x\": not an IP address"
        );
        let e = Error::invalid("/calico/x", "", "{", "not JSON");
        assert_eq!(e.to_string(), "invalid /calico/x: {: not JSON");
    }
}
