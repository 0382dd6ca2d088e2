//! Group commit: many appends (many groups' records) become durable with one fdatasync.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tinkerdb_wal::{FsyncObserver, SyncPolicy, Wal};

#[test]
fn a_hundred_appends_and_one_commit_cost_one_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    let before = wal.stats();
    for i in 0..100 {
        let (group, index) = (i % 7, i / 7 + 1);
        wal.append(&[entries(group, index, index, 1), hard_state(group, 1, 1, 0)])
            .unwrap();
    }
    assert_eq!(wal.stats().fsyncs, before.fsyncs, "append never fsyncs");
    assert!(wal.commit().unwrap());
    let after = wal.stats();
    assert_eq!(after.fsyncs, before.fsyncs + 1);
    assert_eq!(after.appends, 100);
    assert_eq!(after.records, 200);
    assert_eq!(after.segments, 1);
    assert_eq!(after.disk_bytes, after.bytes_written);
    assert!(after.last_fsync.is_some());
}

#[test]
fn the_fsync_observer_hears_every_segment_fdatasync_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&heard);
    wal.observe_fsyncs(FsyncObserver::new(move |took| {
        sink.lock().unwrap().push(took)
    }));
    write(&mut wal, &[entries(1, 1, 1, 1)]);
    write(&mut wal, &[entries(1, 2, 2, 1)]);
    assert!(wal.commit().unwrap(), "nothing is left to sync");
    let heard = heard.lock().unwrap();
    assert_eq!(heard.len(), 2, "one per commit that synced");
    assert_eq!(wal.stats().last_fsync, heard.last().copied());
}

#[test]
fn committing_nothing_costs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    write(&mut wal, &[entries(1, 1, 1, 1)]);
    let fsyncs = wal.stats().fsyncs;
    assert!(wal.commit().unwrap());
    wal.sync().unwrap();
    assert_eq!(wal.stats().fsyncs, fsyncs);
}

#[test]
fn interval_policy_defers_the_fsync_until_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), 1 << 20);
    opts.sync = SyncPolicy::IntervalMs(50);
    let (mut wal, _) = Wal::open(opts).unwrap();
    let fsyncs = wal.stats().fsyncs;
    assert_eq!(wal.sync_deadline(), None);

    wal.append(&[entries(1, 1, 1, 1)]).unwrap();
    let deadline = wal.sync_deadline().expect("unsynced data has a deadline");
    assert!(!wal.commit().unwrap(), "not durable before the deadline");
    wal.append(&[entries(1, 2, 2, 1)]).unwrap();
    assert_eq!(
        wal.sync_deadline(),
        Some(deadline),
        "the oldest append sets the deadline"
    );
    assert_eq!(wal.stats().fsyncs, fsyncs);

    std::thread::sleep(Duration::from_millis(60));
    assert!(wal.commit().unwrap(), "durable once the deadline passed");
    assert_eq!(wal.stats().fsyncs, fsyncs + 1);
    assert_eq!(wal.sync_deadline(), None);

    wal.append(&[entries(1, 3, 3, 1)]).unwrap();
    wal.sync().unwrap();
    assert_eq!(wal.sync_deadline(), None);
    assert_eq!(wal.stats().fsyncs, fsyncs + 2);
}
