//! Raft log overwrite: entries appended at index i replace that group's entries >= i, and the
//! result is what recovery rebuilds, across reopens and segment boundaries.

mod common;

use common::*;
use tinkerdb_wal::{Record, Wal};

#[test]
fn a_new_leader_overwrites_the_uncommitted_suffix() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    write(&mut wal, &[entries(1, 1, 10, 1)]);
    write(&mut wal, &[entries(1, 6, 7, 2)]);
    drop(wal);

    let (mut wal, recovered) = open(dir.path());
    let expected: Vec<_> = (1..=5).map(|i| (i, 1)).chain([(6, 2), (7, 2)]).collect();
    assert_eq!(index_terms(&recovered.groups[&1]), expected);
    assert_eq!(recovered.groups[&1].entries[6], entry(1, 7, 2));

    write(&mut wal, &[entries(1, 8, 8, 2)]);
    drop(wal);
    let (_, recovered) = open(dir.path());
    assert_eq!(index_terms(&recovered.groups[&1]).last(), Some(&(8, 2)));
    assert_eq!(recovered.groups[&1].entries.len(), 8);
}

#[test]
fn an_overwrite_in_a_later_segment_trims_entries_in_an_earlier_one() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(options(dir.path(), 128)).unwrap();
    write(&mut wal, &[entries(1, 1, 20, 1)]);
    write(&mut wal, &[entries(2, 1, 1, 1)]);
    write(&mut wal, &[entries(1, 3, 3, 2)]);
    drop(wal);
    assert!(segments(dir.path()).len() >= 2);

    let (_, recovered) = Wal::open(options(dir.path(), 128)).unwrap();
    assert_eq!(
        index_terms(&recovered.groups[&1]),
        vec![(1, 1), (2, 1), (3, 2)]
    );
}

#[test]
fn overwriting_one_group_leaves_the_others_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    write(&mut wal, &[entries(1, 1, 5, 1), entries(2, 1, 5, 1)]);
    write(&mut wal, &[entries(1, 2, 2, 3)]);
    drop(wal);
    let (_, recovered) = open(dir.path());
    assert_eq!(index_terms(&recovered.groups[&1]), vec![(1, 1), (2, 3)]);
    assert_eq!(recovered.groups[&2].entries.len(), 5);
}

#[test]
fn a_restored_snapshot_discards_the_whole_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    write(&mut wal, &[entries(1, 1, 10, 1)]);
    let restore = Record::Restore {
        group: 1,
        index: 5,
        term: 2,
    };
    write(&mut wal, &[restore, entries(1, 6, 6, 2)]);
    drop(wal);
    let (_, recovered) = open(dir.path());
    assert_eq!(recovered.groups[&1].compacted, Some((5, 2)));
    assert_eq!(index_terms(&recovered.groups[&1]), vec![(6, 2)]);
}
