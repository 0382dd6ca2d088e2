//! Damage that is not a torn tail makes open fail with `Corrupt`, naming the file and the
//! offset of the damaged record, instead of silently dropping acknowledged writes.

mod common;

use std::fs;

use common::*;
use proptest::prelude::*;
use tinkerdb_wal::{Record, Wal, WalError};

/// Writes five records, one per commit; returns the offset where each starts and the file end.
fn five_records(dir: &std::path::Path) -> (Vec<u64>, u64) {
    let (mut wal, _) = open(dir);
    let segment = segments(dir)[0].clone();
    let mut offsets = Vec::new();
    for i in 1..=5 {
        offsets.push(wal.stats().disk_bytes);
        write(&mut wal, &[entries(1, i, i, 1)]);
    }
    assert_eq!(data_len(&segment), wal.stats().disk_bytes);
    (offsets, wal.stats().disk_bytes)
}

#[test]
fn every_bit_flip_in_a_middle_record_is_corruption_at_that_record() {
    let origin = tempfile::tempdir().unwrap();
    let (offsets, _) = five_records(origin.path());
    let (start, end) = (offsets[2], offsets[3]);
    for offset in start..end {
        for bit in 0..8 {
            let dir = copy_dir(origin.path());
            let segment = segments(dir.path())[0].clone();
            flip_bit(&segment, offset, bit);
            match Wal::open(options(dir.path(), SEGMENT_BYTES)) {
                Err(WalError::Corrupt {
                    file, offset: at, ..
                }) => {
                    assert_eq!((file, at), (segment.clone(), start), "flip {offset}:{bit}");
                }
                other => panic!("flip {offset}:{bit}: expected Corrupt, got {other:?}"),
            }
            assert_eq!(
                file_len(&segment),
                SEGMENT_BYTES,
                "a failed open changes nothing"
            );
        }
    }
}

#[test]
fn damage_in_an_older_segment_is_corruption_even_at_its_end() {
    // Zeroing the last byte of the older segment's data (a torn final record followed by zeros),
    // and, for segments from before preallocation, cutting it off.
    for compat in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(options(dir.path(), 64)).unwrap();
        for i in 1..=6 {
            write(&mut wal, &[entries(1, i, i, 1)]);
        }
        drop(wal);
        let files = segments(dir.path());
        assert!(files.len() >= 2);
        let first = &files[0];
        let len = data_len(first);
        assert!(len < file_len(first), "preallocated with a zero tail");
        if compat {
            unpreallocate(first);
            fs::OpenOptions::new()
                .write(true)
                .open(first)
                .unwrap()
                .set_len(len - 1)
                .unwrap();
        } else {
            zero_from(first, len - 1);
        }

        let err = Wal::open(options(dir.path(), 64)).unwrap_err();
        assert!(
            matches!(&err, WalError::Corrupt { file, .. } if file == first),
            "{err}"
        );
        let message = err.to_string();
        assert!(message.contains("refusing to start"), "{message}");
        assert!(message.contains(&first.display().to_string()), "{message}");
    }
}

#[test]
fn a_missing_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(options(dir.path(), 64)).unwrap();
    for i in 1..=6 {
        write(&mut wal, &[entries(1, i, i, 1)]);
    }
    drop(wal);
    let files = segments(dir.path());
    assert!(files.len() >= 3);
    fs::remove_file(&files[1]).unwrap();
    let err = Wal::open(options(dir.path(), 64)).unwrap_err();
    assert!(
        matches!(&err, WalError::Corrupt { file, offset: 0, .. } if *file == files[2]),
        "{err}"
    );
}

#[test]
fn entries_that_skip_indexes_are_a_gap() {
    // The writer refuses a gap outright...
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(dir.path());
    write(&mut wal, &[entries(1, 1, 3, 1)]);
    let err = wal.append(&[entries(1, 5, 6, 1)]).unwrap_err();
    assert!(
        matches!(err, WalError::InvalidRecord { group: 1, .. }),
        "{err}"
    );
    drop(wal);

    // ...so one found on disk means records were lost.
    let other = tempfile::tempdir().unwrap();
    let (mut wal, _) = open(other.path());
    write(
        &mut wal,
        &[
            Record::Restore {
                group: 1,
                index: 4,
                term: 1,
            },
            entries(1, 5, 6, 1),
        ],
    );
    drop(wal);
    // The Restore frame: 9 header bytes and a payload of three one-byte varints.
    let restore_len = 9 + 3;
    let other_segment = &segments(other.path())[0];
    let tail =
        fs::read(other_segment).unwrap()[restore_len..data_len(other_segment) as usize].to_vec();
    let segment = segments(dir.path())[0].clone();
    let gap_at = data_len(&segment) as usize;
    let mut bytes = fs::read(&segment).unwrap();
    bytes[gap_at..gap_at + tail.len()].copy_from_slice(&tail);
    fs::write(&segment, bytes).unwrap();
    let gap_at = gap_at as u64;

    let err = Wal::open(options(dir.path(), SEGMENT_BYTES)).unwrap_err();
    match err {
        WalError::Gap {
            file,
            offset,
            group,
            expected_index,
            first_index,
        } => {
            assert_eq!((file, offset), (segment, gap_at));
            assert_eq!((group, expected_index, first_index), (1, 4, 5));
        }
        other => panic!("expected Gap, got {other}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever bytes a segment holds, open returns (Ok or Err) and never panics.
    #[test]
    fn arbitrary_segment_bytes_never_panic(
        valid in prop::collection::vec(1u64..4, 0..4),
        garbage in prop::collection::vec(any::<u8>(), 0..200),
        splice in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = open(dir.path());
        for (i, term) in valid.iter().enumerate() {
            write(&mut wal, &[entries(1, i as u64 + 1, i as u64 + 1, *term)]);
        }
        drop(wal);
        let segment = segments(dir.path())[0].clone();
        let mut bytes = fs::read(&segment).unwrap();
        let at = splice.index(bytes.len() + 1);
        bytes.splice(at..at, garbage);
        fs::write(&segment, &bytes).unwrap();
        let _ = Wal::open(options(dir.path(), SEGMENT_BYTES));
    }
}
