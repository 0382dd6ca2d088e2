//! Rotation and compaction: old segments go away once compacted, and recovery from what remains
//! yields exactly the retained entries and the latest metadata.

mod common;

use std::collections::BTreeMap;

use common::*;
use tinkerdb_wal::{HardState, Wal};

const SMALL_SEGMENT_BYTES: u64 = 512;

/// Writes `count` entries each to groups 1 and 2, with metadata, in a WAL of small segments.
fn fill(wal: &mut Wal, count: u64) {
    write(wal, &[conf_state(1, b"conf-1-a"), conf_state(2, b"conf-2")]);
    for i in 1..=count {
        write(
            wal,
            &[
                entries(1, i, i, 1),
                entries(2, i, i, 1),
                hard_state(1, 1, 1, i),
            ],
        );
    }
    write(
        wal,
        &[conf_state(1, b"conf-1-b"), hard_state(2, 7, 3, count)],
    );
}

#[test]
fn compaction_deletes_old_segments_and_recovery_yields_what_is_retained() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(options(dir.path(), SMALL_SEGMENT_BYTES)).unwrap();
    fill(&mut wal, 60);
    let before = wal.stats().segments;
    assert!(before > 4, "small segments rotate: {before}");
    assert_eq!(segments(dir.path()).len() as u64, before);

    wal.compact(1, 50, 1).unwrap();
    assert_eq!(
        wal.stats().segments,
        before,
        "group 2 still needs every segment"
    );
    wal.compact(2, 45, 1).unwrap();
    let after = wal.stats().segments;
    assert!(after < before, "{after} < {before}");
    assert_eq!(segments(dir.path()).len() as u64, after);
    let files = segments(dir.path());
    let stats = wal.stats();
    assert_eq!(
        stats.allocated_bytes,
        files.iter().map(|p| file_len(p)).sum::<u64>()
    );
    assert_eq!(
        stats.disk_bytes,
        files.iter().map(|p| data_len(p)).sum::<u64>()
    );
    assert!(files.iter().all(|p| file_len(p) == SMALL_SEGMENT_BYTES));
    drop(wal);

    let (_, recovered) = Wal::open(options(dir.path(), SMALL_SEGMENT_BYTES)).unwrap();
    let one = &recovered.groups[&1];
    assert_eq!(one.compacted, Some((50, 1)));
    assert_eq!(
        one.entries,
        (51..=60).map(|i| entry(1, i, 1)).collect::<Vec<_>>()
    );
    assert_eq!(
        one.hard_state,
        Some(HardState {
            term: 1,
            vote: 1,
            commit: 60
        })
    );
    assert_eq!(one.conf_state.as_deref(), Some(&b"conf-1-b"[..]));
    let two = &recovered.groups[&2];
    assert_eq!(two.compacted, Some((45, 1)));
    assert_eq!(
        two.entries,
        (46..=60).map(|i| entry(2, i, 1)).collect::<Vec<_>>()
    );
    assert_eq!(
        two.hard_state,
        Some(HardState {
            term: 7,
            vote: 3,
            commit: 60
        })
    );
    assert_eq!(two.conf_state.as_deref(), Some(&b"conf-2"[..]));
}

#[test]
fn compacting_everything_leaves_only_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(options(dir.path(), SMALL_SEGMENT_BYTES)).unwrap();
    fill(&mut wal, 40);
    wal.compact(1, 40, 1).unwrap();
    wal.compact(2, 40, 1).unwrap();
    // The last segment may still hold entries; one more rotation seals it.
    write(&mut wal, &[entries(1, 41, 60, 1)]);
    wal.compact(1, 60, 1).unwrap();
    assert_eq!(wal.stats().segments, 1);
    drop(wal);

    let (mut wal, recovered) = Wal::open(options(dir.path(), SMALL_SEGMENT_BYTES)).unwrap();
    assert_eq!(recovered.groups[&1].compacted, Some((60, 1)));
    assert!(recovered.groups[&1].entries.is_empty());
    assert_eq!(recovered.groups[&2].compacted, Some((40, 1)));
    assert_eq!(
        recovered.groups[&1].conf_state.as_deref(),
        Some(&b"conf-1-b"[..])
    );
    write(&mut wal, &[entries(1, 61, 61, 2)]);
    drop(wal);
    let (_, recovered) = Wal::open(options(dir.path(), SMALL_SEGMENT_BYTES)).unwrap();
    assert_eq!(index_terms(&recovered.groups[&1]), vec![(61, 2)]);
}

#[test]
fn a_hundred_groups_interleaved_recover_independently() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(options(dir.path(), 4096)).unwrap();
    let mut expected: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    let mut next: BTreeMap<u64, u64> = BTreeMap::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..300 {
        let mut batch = Vec::new();
        for _ in 0..5 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let group = (seed >> 33) % 100;
            let first = *next.get(&group).unwrap_or(&1);
            let count = (seed >> 20) % 3 + 1;
            batch.push(entries(group, first, first + count - 1, 1));
            let log = expected.entry(group).or_default();
            log.extend((first..first + count).map(|i| (i, 1)));
            next.insert(group, first + count);
        }
        write(&mut wal, &batch);
    }
    assert!(wal.stats().segments > 1);
    drop(wal);

    let (_, recovered) = Wal::open(options(dir.path(), 4096)).unwrap();
    let got: BTreeMap<u64, Vec<(u64, u64)>> = recovered
        .groups
        .iter()
        .map(|(g, log)| (*g, index_terms(log)))
        .collect();
    assert_eq!(got, expected);
    for (group, log) in &recovered.groups {
        assert!(log.entries.iter().all(|e| *e == entry(*group, e.index, 1)));
    }
}

/// A crash right after a rotation can leave the newest segment without its head (the restated
/// metadata). Opening restates it, so deleting the older segments later loses nothing.
#[test]
fn metadata_survives_a_lost_segment_head_and_later_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(options(dir.path(), SMALL_SEGMENT_BYTES)).unwrap();
    fill(&mut wal, 30);
    drop(wal);
    let newest = segments(dir.path()).pop().unwrap();
    let zeros = vec![0u8; file_len(&newest) as usize];
    std::fs::write(&newest, zeros).unwrap();

    let (mut wal, recovered) = Wal::open(options(dir.path(), SMALL_SEGMENT_BYTES)).unwrap();
    let last = recovered.groups[&1].entries.last().unwrap().index;
    let last2 = recovered.groups[&2].entries.last().unwrap().index;
    wal.compact(1, last, 1).unwrap();
    wal.compact(2, last2, 1).unwrap();
    drop(wal);

    let (_, recovered) = Wal::open(options(dir.path(), SMALL_SEGMENT_BYTES)).unwrap();
    let group1 = &recovered.groups[&1];
    assert!(group1.hard_state.is_some(), "hard state must survive");
    assert_eq!(group1.conf_state.as_deref(), Some(&b"conf-1-a"[..]));
    assert_eq!(group1.compacted, Some((last, 1)));
}
