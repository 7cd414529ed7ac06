//! The monitors' queues: overflow handling of each kind of sink, and OPEN capture.

use super::*;
use prometheus_client::metrics::counter::Counter;

/// A BMP sink whose queue is full is detached once (one overflow counted, its task told), gets nothing
/// more until it attaches again, and then starts over with its `Attached` marker.
#[test]
fn full_bmp_queue_detaches_until_reattach() {
    let mut m = Monitor::new();
    let overflows = Counter::default();
    let mut h = m.add_sink(SinkKind::Bmp, overflows.clone());
    // Not attached yet: nothing is queued.
    m.terminate();
    assert!(h.rx.try_recv().is_err());
    m.command(None, MonitorCmd::Attach { sink: 0, epoch: 1 });
    assert!(matches!(h.rx.try_recv(), Ok(MonItem::Attached { epoch: 1 })));
    assert!(matches!(h.rx.try_recv(), Ok(MonItem::PageEnd { next: None })));
    for _ in 0..SINK_QUEUE + 10 {
        m.terminate();
    }
    assert_eq!(overflows.get(), 1);
    assert!(h.overflowed.flag.load(Ordering::Acquire));
    let mut queued = 0;
    while h.rx.try_recv().is_ok() {
        queued += 1;
    }
    assert_eq!(queued, SINK_QUEUE);
    m.terminate();
    assert!(h.rx.try_recv().is_err(), "a detached sink got an item");
    m.command(None, MonitorCmd::Attach { sink: 0, epoch: 2 });
    assert!(!h.overflowed.flag.load(Ordering::Acquire));
    assert!(matches!(h.rx.try_recv(), Ok(MonItem::Attached { epoch: 2 })));
}

/// The BGP4MP sink is always attached; a full queue loses (and counts) each record.
#[test]
fn full_mrt_queue_counts_each_lost_record() {
    let mut m = Monitor::new();
    let lost = Counter::default();
    let mut h = m.add_sink(SinkKind::Mrt, lost.clone());
    for _ in 0..SINK_QUEUE + 3 {
        m.terminate();
    }
    assert_eq!(lost.get(), 3);
    assert!(!h.overflowed.flag.load(Ordering::Acquire));
    assert!(h.rx.try_recv().is_ok());
    m.terminate();
    assert_eq!(lost.get(), 3, "room again after one item was taken");
}

#[test]
fn first_open_only_for_open_messages() {
    let mut open = vec![0xff; 16];
    open.extend([0, 29, 1, 4, 0xfc, 0, 0, 90, 1, 2, 3, 4, 0]);
    let mut two = open.clone();
    two.extend(Message::keepalive_bytes());
    assert_eq!(first_open(&Bytes::from(two)).as_deref(), Some(&open[..]));
    assert_eq!(first_open(&Message::keepalive_bytes()), None);
    assert_eq!(first_open(&Bytes::from_static(&[0xff; 5])), None);
}
