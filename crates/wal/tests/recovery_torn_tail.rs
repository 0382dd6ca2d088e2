//! A crash mid-write leaves a torn tail in the last segment: recovery drops exactly the damaged
//! final record, keeps everything before it, and the WAL keeps working afterwards.
//!
//! Segments are preallocated, so a write that never landed leaves zeros, not a shorter file:
//! "cutting" the log at an offset means zeroing everything from there on. Segments written before
//! preallocation existed end at their data, and a crash literally shortens them; the `compat_`
//! tests cover those.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;

use common::*;
use tinkerdb_wal::{Recovered, Wal, WalError};

/// Writes ten committed batches, then a final record; returns where the final record starts and
/// ends and the state recovery must produce without it.
fn write_log_with_final_record(dir: &std::path::Path) -> (u64, u64, Recovered) {
    let (mut wal, _) = open(dir);
    for i in 1..=10 {
        write(&mut wal, &[entries(1, i, i, 1), hard_state(1, 1, 2, i - 1)]);
    }
    write(&mut wal, &[conf_state(2, b"voters:1,2,3")]);
    drop(wal);
    let before = open(dir).1;
    let segment = &segments(dir)[0];
    let good = data_len(segment);
    let (mut wal, _) = open(dir);
    write(&mut wal, &[entries(2, 1, 3, 4)]);
    assert_eq!(file_len(segment), SEGMENT_BYTES, "written in place");
    (good, data_len(segment), before)
}

/// Where the non-zero bytes of `bytes[from..]` end, as an absolute offset (`from` if none).
fn non_zero_end(bytes: &[u8], from: u64) -> u64 {
    let tail = &bytes[from as usize..];
    from + (tail.len() - tail.iter().rev().take_while(|b| **b == 0).count()) as u64
}

#[test]
fn zeroing_from_every_byte_of_the_last_record_keeps_everything_before_it() {
    let origin = tempfile::tempdir().unwrap();
    let (good, full, before) = write_log_with_final_record(origin.path());
    let original = fs::read(&segments(origin.path())[0]).unwrap();
    for cut in good..full {
        let dir = copy_dir(origin.path());
        let segment = segments(dir.path())[0].clone();
        zero_from(&segment, cut);

        let (mut wal, recovered) = open(dir.path());
        assert_eq!(recovered.groups, before.groups, "cut at {cut}");
        let tail = recovered
            .truncated_tail
            .map(|t| (t.file, t.offset, t.dropped_bytes));
        let torn_end = non_zero_end(&original[..cut as usize], good);
        let expected = (torn_end > good).then(|| (segment.clone(), good, torn_end - good));
        assert_eq!(tail, expected, "cut at {cut}");
        assert_eq!(
            file_len(&segment),
            SEGMENT_BYTES,
            "the file stays preallocated"
        );
        assert!(
            zeros_from(&segment, good),
            "torn bytes are zeroed: cut at {cut}"
        );
        assert_eq!(
            wal.stats().disk_bytes,
            good,
            "resumes after the last good record"
        );

        write(&mut wal, &[entries(2, 1, 1, 5)]);
        drop(wal);
        let (_, again) = open(dir.path());
        assert!(again.truncated_tail.is_none(), "cut at {cut}");
        assert_eq!(index_terms(&again.groups[&2]), vec![(1, 5)], "cut at {cut}");
        assert_eq!(again.groups[&1], before.groups[&1]);
        assert_eq!(segments(dir.path()).len(), 1, "no rotation: cut at {cut}");
    }
}

#[test]
fn compat_cut_at_every_byte_of_the_last_record_of_an_unpreallocated_segment() {
    let origin = tempfile::tempdir().unwrap();
    let (good, full, before) = write_log_with_final_record(origin.path());
    unpreallocate(&segments(origin.path())[0]);
    let original = fs::read(&segments(origin.path())[0]).unwrap();
    for cut in good..full {
        let dir = copy_dir(origin.path());
        let segment = segments(dir.path())[0].clone();
        OpenOptions::new()
            .write(true)
            .open(&segment)
            .unwrap()
            .set_len(cut)
            .unwrap();

        let (mut wal, recovered) = open(dir.path());
        assert_eq!(recovered.groups, before.groups, "cut at {cut}");
        let tail = recovered
            .truncated_tail
            .map(|t| (t.file, t.offset, t.dropped_bytes));
        // Dropped bytes are counted up to the last non-zero one: zeros are never damage.
        let torn_end = non_zero_end(&original[..cut as usize], good);
        let expected = (torn_end > good).then(|| (segment.clone(), good, torn_end - good));
        assert_eq!(tail, expected, "cut at {cut}");
        assert!(
            zeros_from(&segment, good),
            "torn bytes are zeroed: cut at {cut}"
        );
        let files = segments(dir.path());
        assert_eq!(files.len(), 2, "rotated away from the old segment at open");
        assert_eq!(file_len(&files[1]), SEGMENT_BYTES);

        write(&mut wal, &[entries(2, 1, 1, 5)]);
        drop(wal);
        let (_, again) = open(dir.path());
        assert!(again.truncated_tail.is_none());
        assert_eq!(index_terms(&again.groups[&2]), vec![(1, 5)], "cut at {cut}");
        assert_eq!(again.groups[&1], before.groups[&1]);
        assert_eq!(
            segments(dir.path()).len(),
            2,
            "no rotation on the second open"
        );
    }
}

#[test]
fn a_bit_flip_in_the_last_record_is_a_torn_tail() {
    let origin = tempfile::tempdir().unwrap();
    let (good, full, before) = write_log_with_final_record(origin.path());
    let len_field = good..good + 4;
    for offset in good..full {
        for bit in 0..8 {
            let dir = copy_dir(origin.path());
            let segment = segments(dir.path())[0].clone();
            flip_bit(&segment, offset, bit);
            let result = Wal::open(common::options(dir.path(), SEGMENT_BYTES));
            let shrunk_or_huge = len_field.contains(&offset) && {
                let old = full - good - 9;
                let new = old ^ (1 << (8 * (offset - good) + u64::from(bit)));
                new < old || new > u64::from(tinkerdb_wal::MAX_RECORD_BYTES)
            };
            if shrunk_or_huge {
                // A length the writer never wrote, or one that leaves bytes after the record:
                // that is damage, not an interrupted write.
                assert!(
                    matches!(result, Err(WalError::Corrupt { offset: o, .. }) if o == good),
                    "flip {offset}:{bit}: {result:?}"
                );
                continue;
            }
            let (_, recovered) = result.unwrap_or_else(|e| panic!("flip {offset}:{bit}: {e}"));
            assert_eq!(recovered.groups, before.groups, "flip {offset}:{bit}");
            assert_eq!(recovered.truncated_tail.map(|t| t.offset), Some(good));
            assert!(zeros_from(&segment, good), "flip {offset}:{bit}");
        }
    }
}

#[test]
fn compat_a_zero_filled_tail_is_not_damage() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    write(&mut wal, &[entries(1, 1, 5, 1)]);
    drop(wal);
    let segment = segments(dir.path())[0].clone();
    unpreallocate(&segment);
    let mut file = OpenOptions::new().append(true).open(&segment).unwrap();
    file.write_all(&[0; 4096]).unwrap();

    let (_, recovered) = open(dir.path());
    assert_eq!(index_terms(&recovered.groups[&1]).len(), 5);
    assert!(recovered.truncated_tail.is_none());
}

#[test]
fn an_empty_last_segment_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    write(&mut wal, &[entries(1, 1, 2, 1)]);
    drop(wal);
    fs::write(dir.path().join("00000000000000000002.log"), b"").unwrap();

    let (mut wal, recovered) = open(dir.path());
    assert!(recovered.truncated_tail.is_none());
    assert_eq!(index_terms(&recovered.groups[&1]), vec![(1, 1), (2, 1)]);
    write(&mut wal, &[entries(1, 3, 3, 1)]);
    drop(wal);
    assert_eq!(open(dir.path()).1.groups[&1].entries.len(), 3);
}

#[test]
fn appended_but_uncommitted_records_survive_a_process_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    wal.append(&[entries(1, 1, 3, 1)]).unwrap();
    drop(wal); // no commit: the bytes are in the page cache, which a process crash keeps
    assert_eq!(open(dir.path()).1.groups[&1].entries.len(), 3);
}
