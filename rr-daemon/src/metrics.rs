//! Prometheus metrics (prometheus-client), updated by the engine task and served on `/metrics`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Every metric the daemon exports.
#[derive(Default)]
pub(crate) struct Metrics {
    pub peers_configured: Gauge,
    pub peers_established: Gauge,
    pub paths_received: Gauge,
    pub loc_rib_prefixes: Gauge,
    pub attribute_sets: Gauge,
    pub datastore_synced: Gauge,
    pub session_up: Counter,
    pub session_down: Counter,
    pub messages_received: Counter,
    pub bytes_sent: Counter,
    pub decode_errors: Counter,
    pub connections_rejected: Counter,
}

impl Metrics {
    /// Registers every metric under the `rr_` prefix.
    pub(crate) fn register(&self, r: &mut Registry) {
        let r = r.sub_registry_with_prefix("rr");
        r.register(
            "peers_configured",
            "Peers the datastore asks for",
            self.peers_configured.clone(),
        );
        r.register(
            "peers_established",
            "Sessions in Established",
            self.peers_established.clone(),
        );
        r.register(
            "paths_received",
            "Paths in all Adj-RIBs-In",
            self.paths_received.clone(),
        );
        r.register(
            "loc_rib_prefixes",
            "Prefixes in the Loc-RIB",
            self.loc_rib_prefixes.clone(),
        );
        r.register(
            "attribute_sets",
            "Interned path attribute sets",
            self.attribute_sets.clone(),
        );
        r.register(
            "datastore_synced",
            "1 when the datastore watch is in step",
            self.datastore_synced.clone(),
        );
        r.register(
            "session_up",
            "Sessions that reached Established",
            self.session_up.clone(),
        );
        r.register(
            "session_down",
            "Established sessions that ended",
            self.session_down.clone(),
        );
        r.register(
            "messages_received",
            "BGP messages received",
            self.messages_received.clone(),
        );
        r.register(
            "bytes_sent",
            "BGP bytes queued for sending",
            self.bytes_sent.clone(),
        );
        r.register(
            "decode_errors",
            "Messages that failed to decode",
            self.decode_errors.clone(),
        );
        r.register(
            "connections_rejected",
            "Connections refused with Cease / Connection Rejected",
            self.connections_rejected.clone(),
        );
    }
}
