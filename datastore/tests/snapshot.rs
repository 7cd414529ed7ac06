//! Folding watch events into a snapshot.

use datastore::store::{InvalidRecord, SyncStatus, WatchEvent};
use datastore::{BgpPeer, Error, Kind, Node, Resource, Revision, Snapshot, Versioned};

fn v(r: impl Into<Resource>, rev: u64) -> Versioned<Resource> {
    Versioned::new(r.into(), Revision(rev))
}

#[test]
fn events_fold_into_the_snapshot() {
    let mut s = Snapshot::default();
    assert!(!s.synced);
    let resync = WatchEvent::Resync {
        resources: vec![v(Node::new("a"), 3), v(BgpPeer::new("p"), 4)],
        revision: Revision(4),
    };
    assert!(s.apply(&resync));
    assert!(!s.apply(&resync), "same state again is no change");
    assert_eq!((s.nodes.len(), s.peers.len(), s.revision), (1, 1, Revision(4)));
    assert!(s.apply(&WatchEvent::Status(SyncStatus::Synced)));
    assert!(s.synced);

    let mut labelled = Node::new("a");
    labelled.metadata.labels.insert("x".into(), "y".into());
    assert!(s.apply(&WatchEvent::Applied(v(labelled.clone(), 5))));
    assert!(!s.apply(&WatchEvent::Applied(v(labelled, 6))), "identical value");
    assert_eq!(s.revision, Revision(6));
    assert!(s.apply(&WatchEvent::Deleted {
        kind: Kind::BgpPeer,
        name: "p".into(),
        revision: Revision(7)
    }));
    assert!(!s.apply(&WatchEvent::Deleted {
        kind: Kind::BgpPeer,
        name: "p".into(),
        revision: Revision(8)
    }));

    // An invalid record is remembered but changes nothing.
    let rec = InvalidRecord {
        kind: Some(Kind::Node),
        name: Some("a".into()),
        source: "k".into(),
        error: Error::invalid("Node/a", "spec.bgp", "1", "bad"),
    };
    assert!(!s.apply(&WatchEvent::Invalid(rec.clone())));
    assert_eq!(s.invalid, vec![rec]);
    assert!(s.nodes["a"].metadata.labels.contains_key("x"));

    // Outage and recovery.
    assert!(s.apply(&WatchEvent::Status(SyncStatus::Unavailable("down".into()))));
    assert!(!s.synced);
    assert_eq!(s.nodes.len(), 1, "the last good state holds");

    // A resync replaces everything.
    assert!(s.apply(&WatchEvent::Resync {
        resources: vec![v(BgpPeer::new("q"), 9)],
        revision: Revision(9)
    }));
    assert!(s.nodes.is_empty());
    assert_eq!(s.peers.keys().collect::<Vec<_>>(), ["q"]);
    assert_eq!(s.get(Kind::BgpPeer, "q").map(|r| r.kind()), Some(Kind::BgpPeer));
    assert_eq!(s.resources().len(), 1);
}
