//! Preallocated segments: a new segment is written full of zeros to `segment_bytes` before any
//! record goes in, records overwrite the zeros in place, and the writer resumes right after the
//! last good record (not at the end of the file) when the WAL is reopened.

mod common;

use std::fs;

use common::*;
use tinkerdb_wal::{Wal, WalError};

/// Whether bytes `from..to` of `path` are all zero.
fn zeros_between(path: &std::path::Path, from: u64, to: u64) -> bool {
    fs::read(path).unwrap()[from as usize..to as usize]
        .iter()
        .all(|b| *b == 0)
}

#[test]
fn a_new_segment_is_exactly_segment_bytes_long_and_zero_after_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    let segment = segments(dir.path())[0].clone();
    assert_eq!(file_len(&segment), SEGMENT_BYTES);
    assert!(
        zeros_from(&segment, 0),
        "nothing but zeros before the first record"
    );
    let stats = wal.stats();
    assert_eq!(
        (stats.disk_bytes, stats.allocated_bytes),
        (0, SEGMENT_BYTES)
    );

    write(&mut wal, &[entries(1, 1, 10, 1), hard_state(1, 1, 1, 10)]);
    let used = wal.stats().disk_bytes;
    assert!(used > 0);
    assert_eq!(wal.stats().bytes_written, used);
    assert_eq!(wal.stats().allocated_bytes, SEGMENT_BYTES);
    assert_eq!(
        file_len(&segment),
        SEGMENT_BYTES,
        "records are written in place"
    );
    assert_eq!(data_len(&segment), used);
    assert!(zeros_from(&segment, used));
}

#[test]
fn rotation_preallocates_every_segment_and_a_batch_that_does_not_fit_rotates_first() {
    let dir = tempfile::tempdir().unwrap();
    let segment_bytes = 256;
    let (mut wal, _) = Wal::open(options(dir.path(), segment_bytes)).unwrap();
    for i in 1..=40 {
        // Two appends per commit: the second may not fit, and must rotate (fsyncing the first).
        wal.append(&[entries(1, 2 * i - 1, 2 * i - 1, 1)]).unwrap();
        wal.append(&[entries(1, 2 * i, 2 * i, 1), hard_state(1, 1, 1, i)])
            .unwrap();
        assert!(wal.commit().unwrap());
    }
    let files = segments(dir.path());
    assert!(files.len() > 5, "{} segments", files.len());
    for file in &files {
        assert_eq!(file_len(file), segment_bytes, "{}", file.display());
    }
    let stats = wal.stats();
    assert_eq!(stats.segments, files.len() as u64);
    assert_eq!(stats.allocated_bytes, segment_bytes * files.len() as u64);
    assert_eq!(
        stats.disk_bytes,
        files.iter().map(|f| data_len(f)).sum::<u64>()
    );
    drop(wal);

    let (_, recovered) = Wal::open(options(dir.path(), segment_bytes)).unwrap();
    assert!(recovered.truncated_tail.is_none());
    let expected: Vec<_> = (1..=80).map(|i| (i, 1)).collect();
    assert_eq!(index_terms(&recovered.groups[&1]), expected);
    assert_eq!(recovered.groups[&1].hard_state.map(|h| h.commit), Some(40));
}

#[test]
fn reopening_resumes_right_after_the_last_record_and_new_records_survive() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    for i in 1..=20 {
        write(&mut wal, &[entries(1, i, i, 1)]);
    }
    let end = wal.stats().disk_bytes;
    drop(wal);
    let segment = segments(dir.path())[0].clone();
    let before = fs::read(&segment).unwrap();

    let (mut wal, recovered) = open(dir.path());
    assert!(recovered.truncated_tail.is_none());
    assert_eq!(recovered.groups[&1].entries.len(), 20);
    assert_eq!(
        wal.stats().disk_bytes,
        end,
        "resumes at the end of the data"
    );
    write(&mut wal, &[entries(1, 21, 25, 2), entries(2, 1, 1, 2)]);
    let new_end = wal.stats().disk_bytes;
    drop(wal);

    assert_eq!(
        segments(dir.path()),
        vec![segment.clone()],
        "no new segment"
    );
    assert_eq!(file_len(&segment), SEGMENT_BYTES);
    let after = fs::read(&segment).unwrap();
    assert_eq!(
        after[..end as usize],
        before[..end as usize],
        "old records untouched"
    );
    assert!(new_end > end);
    assert_eq!(
        data_len(&segment),
        new_end,
        "new records start exactly at the old end"
    );
    assert!(zeros_from(&segment, new_end));

    let (mut wal, recovered) = open(dir.path());
    assert!(recovered.truncated_tail.is_none());
    let one: Vec<_> = (1..=20)
        .map(|i| (i, 1))
        .chain((21..=25).map(|i| (i, 2)))
        .collect();
    assert_eq!(index_terms(&recovered.groups[&1]), one);
    assert_eq!(index_terms(&recovered.groups[&2]), vec![(1, 2)]);
    assert_eq!(wal.stats().disk_bytes, new_end);
    write(&mut wal, &[entries(2, 2, 2, 2)]);
    drop(wal);
    let (_, recovered) = open(dir.path());
    assert_eq!(index_terms(&recovered.groups[&2]), vec![(1, 2), (2, 2)]);
}

#[test]
fn a_torn_record_followed_by_zeros_is_dropped_and_its_bytes_are_overwritten_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    write(&mut wal, &[entries(1, 1, 3, 1)]);
    let good = wal.stats().disk_bytes;
    // A long final record, of which only the first part reaches the disk.
    let mut big = entries(1, 4, 4, 1);
    if let tinkerdb_wal::Record::Entries { entries, .. } = &mut big {
        entries[0].data = vec![0xab; 3000];
    }
    write(&mut wal, &[big]);
    let full = wal.stats().disk_bytes;
    drop(wal);
    let segment = segments(dir.path())[0].clone();
    let torn_end = good + 1000;
    zero_from(&segment, torn_end);

    let (mut wal, recovered) = open(dir.path());
    let tail = recovered.truncated_tail.expect("torn tail reported");
    assert_eq!(
        (tail.file, tail.offset, tail.dropped_bytes),
        (segment.clone(), good, torn_end - good)
    );
    assert_eq!(
        index_terms(&recovered.groups[&1]),
        vec![(1, 1), (2, 1), (3, 1)]
    );
    assert!(
        zeros_from(&segment, good),
        "torn bytes are zeroed before the writer resumes"
    );
    assert_eq!(wal.stats().disk_bytes, good);

    // A record much shorter than the torn one: no remains of the torn bytes may follow it.
    write(&mut wal, &[entries(1, 4, 4, 2)]);
    let new_end = wal.stats().disk_bytes;
    assert!(new_end < torn_end && torn_end < full);
    drop(wal);
    assert_eq!(data_len(&segment), new_end);
    assert!(zeros_between(&segment, new_end, SEGMENT_BYTES));

    let (_, recovered) = open(dir.path());
    assert!(recovered.truncated_tail.is_none());
    assert_eq!(
        index_terms(&recovered.groups[&1]),
        vec![(1, 1), (2, 1), (3, 1), (4, 2)]
    );
}

#[test]
fn damage_followed_by_non_zero_data_is_corruption() {
    let origin = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(origin.path());
    for i in 1..=5 {
        write(&mut wal, &[entries(1, i, i, 1)]);
    }
    let good = wal.stats().disk_bytes;
    drop(wal);

    // Garbage right after the valid region, and garbage separated from it by zeros: neither is a
    // torn tail, since non-zero data follows the first bad byte.
    for (at, garbage) in [
        (good, &b"\x07\x00\x00\x00garbage, then more garbage"[..]),
        (good + 100, &b"stray bytes"[..]),
        (good, &b"\x40\x00\x00\x00\x01\x02\x03\x04\x01partial"[..]),
    ] {
        let dir = copy_dir(origin.path());
        let segment = segments(dir.path())[0].clone();
        let mut bytes = fs::read(&segment).unwrap();
        let at = at as usize;
        bytes[at..at + garbage.len()].copy_from_slice(garbage);
        if at == good as usize && garbage.ends_with(b"partial") {
            // A frame header whose length spans the gap, then zeros, then stray data.
            bytes[at + 200..at + 205].copy_from_slice(b"stray");
        }
        fs::write(&segment, &bytes).unwrap();
        match Wal::open(options(dir.path(), SEGMENT_BYTES)) {
            Err(WalError::Corrupt { file, offset, .. }) => {
                assert_eq!((file, offset), (segment.clone(), good));
            }
            other => panic!("garbage at {at}: expected Corrupt, got {other:?}"),
        }
        assert_eq!(
            fs::read(&segment).unwrap(),
            bytes,
            "a failed open changes nothing"
        );
    }
}

#[test]
fn a_length_that_swallows_good_records_into_the_zero_tail_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    for i in 1..=5 {
        write(&mut wal, &[entries(1, i, i, 1)]);
    }
    drop(wal);
    let segment = segments(dir.path())[0].clone();
    // The first record's length now runs over the next four records and ends in the zeros:
    // its checksum fails and only zeros follow it, but intact records hide inside it.
    let mut bytes = fs::read(&segment).unwrap();
    bytes[0..4].copy_from_slice(&1000u32.to_le_bytes());
    fs::write(&segment, &bytes).unwrap();
    assert!(matches!(
        Wal::open(options(dir.path(), SEGMENT_BYTES)),
        Err(WalError::Corrupt { offset: 0, .. })
    ));
}

#[test]
fn a_batch_bigger_than_a_segment_grows_the_file_and_the_wal_rotates_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let segment_bytes = 1024;
    let (mut wal, _) = Wal::open(options(dir.path(), segment_bytes)).unwrap();
    write(&mut wal, &[entries(1, 1, 1, 1)]);
    let mut big = entries(1, 2, 2, 1);
    if let tinkerdb_wal::Record::Entries { entries, .. } = &mut big {
        entries[0].data = vec![0x5a; 3000];
    }
    write(&mut wal, &[big]);
    write(&mut wal, &[entries(1, 3, 3, 1)]);
    let files = segments(dir.path());
    assert_eq!(files.len(), 3, "rotated before the big batch and after it");
    assert_eq!(file_len(&files[0]), segment_bytes);
    assert!(
        file_len(&files[1]) > segment_bytes,
        "the big batch grew its segment"
    );
    assert_eq!(data_len(&files[1]), file_len(&files[1]));
    assert_eq!(file_len(&files[2]), segment_bytes);
    drop(wal);

    let (mut wal, recovered) = Wal::open(options(dir.path(), segment_bytes)).unwrap();
    assert!(recovered.truncated_tail.is_none());
    assert_eq!(recovered.groups[&1].entries.len(), 3);
    assert_eq!(recovered.groups[&1].entries[1].data.len(), 3000);
    write(&mut wal, &[entries(1, 4, 4, 1)]);
    drop(wal);
    assert_eq!(segments(dir.path()).len(), 3, "resumed in the last segment");
    let (_, recovered) = Wal::open(options(dir.path(), segment_bytes)).unwrap();
    assert_eq!(recovered.groups[&1].entries.len(), 4);
}

#[test]
fn compat_a_log_written_without_preallocation_opens_and_rotates_to_a_preallocated_segment() {
    let dir = tempfile::tempdir().unwrap();
    let segment_bytes = 256;
    let (mut wal, _) = Wal::open(options(dir.path(), segment_bytes)).unwrap();
    write(&mut wal, &[conf_state(1, b"voters:1")]);
    for i in 1..=30 {
        write(&mut wal, &[entries(1, i, i, 1), hard_state(1, 1, 1, i)]);
    }
    drop(wal);
    let old = segments(dir.path());
    assert!(old.len() > 2);
    for file in &old {
        unpreallocate(file);
    }
    let before = Wal::open(options(dir.path(), segment_bytes)).unwrap().1;
    assert!(before.truncated_tail.is_none());
    assert_eq!(before.groups[&1].entries.len(), 30);
    assert_eq!(
        before.groups[&1].conf_state.as_deref(),
        Some(&b"voters:1"[..])
    );

    let files = segments(dir.path());
    assert_eq!(files.len(), old.len() + 1, "rotated at open");
    let new = files.last().unwrap();
    assert_eq!(file_len(new), segment_bytes);
    let (mut wal, recovered) = Wal::open(options(dir.path(), segment_bytes)).unwrap();
    assert_eq!(recovered.groups, before.groups);
    assert_eq!(
        segments(dir.path()).len(),
        files.len(),
        "no second rotation"
    );
    write(&mut wal, &[entries(1, 31, 31, 2)]);
    drop(wal);
    let (_, recovered) = Wal::open(options(dir.path(), segment_bytes)).unwrap();
    assert_eq!(index_terms(&recovered.groups[&1]).last(), Some(&(31, 2)));
    assert_eq!(
        recovered.groups[&1].hard_state,
        before.groups[&1].hard_state
    );
}

/// Spare segment files in `dir`, and their lengths.
fn spares(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".spare"))
        .map(|p| {
            let len = file_len(&p);
            (p, len)
        })
        .collect();
    files.sort();
    files
}

/// Waits (bounded) until `dir` holds exactly one spare of `len` bytes, and returns it.
fn wait_for_spare(dir: &std::path::Path, len: u64) -> std::path::PathBuf {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let found = spares(dir);
        if found.len() == 1 && found[0].1 == len {
            return found[0].0.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no spare segment of {len} bytes: {found:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn the_next_segment_is_preallocated_in_the_background_and_a_rotation_adopts_it() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let segment_bytes = 4096;
    let (mut wal, _) = Wal::open(options(dir.path(), segment_bytes)).unwrap();
    let spare = wait_for_spare(dir.path(), segment_bytes);
    let inode = fs::metadata(&spare).unwrap().ino();
    let mut last = 0;
    while segments(dir.path()).len() < 2 {
        last += 1;
        assert!(last < 1_000, "the WAL never rotated");
        write(
            &mut wal,
            &[entries(1, last, last, 1), hard_state(1, 1, 1, last)],
        );
    }
    let adopted = segments(dir.path())[1].clone();
    assert_eq!(
        fs::metadata(&adopted).unwrap().ino(),
        inode,
        "the rotation renamed the spare into place"
    );
    assert_eq!(file_len(&adopted), segment_bytes);
    assert!(zeros_from(&adopted, data_len(&adopted)));
    assert!(!spare.exists());
    let next = wait_for_spare(dir.path(), segment_bytes);
    assert_ne!(
        next, spare,
        "a new spare is prepared for the rotation after"
    );
    drop(wal);

    // A spare left behind (a crash while one was prepared) holds nothing: the WAL deletes it
    // when it opens, and recovery never reads it.
    let leftover = dir.path().join("next-1-99.spare");
    fs::write(&leftover, b"not zeros").unwrap();
    let (_, recovered) = Wal::open(options(dir.path(), segment_bytes)).unwrap();
    assert!(!leftover.exists() && !next.exists());
    let expected: Vec<_> = (1..=last).map(|i| (i, 1)).collect();
    assert_eq!(index_terms(&recovered.groups[&1]), expected);
}
