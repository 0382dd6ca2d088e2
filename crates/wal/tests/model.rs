//! Random sequences of appends, overwrites, metadata, compactions, restores and reopens (with
//! tiny segments, so rotation and deletion happen constantly) always recover to what a plain
//! in-memory model of Raft's log rules says.

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use tinkerdb_wal::{GroupLog, HardState, Record, Wal};

#[derive(Clone, Debug)]
enum Op {
    /// Append `count` entries, starting `back` entries before the log's next index.
    Append {
        group: u64,
        back: u64,
        count: u64,
    },
    HardState {
        group: u64,
        commit: u64,
    },
    ConfState {
        group: u64,
        tag: u8,
    },
    /// Compact at `frac`/255 of the way through the group's entries.
    Compact {
        group: u64,
        frac: u8,
    },
    /// Install a leader snapshot `ahead` indexes past the log's end.
    Restore {
        group: u64,
        ahead: u64,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let group = 0u64..3;
    prop_oneof![
        6 => (group.clone(), 0u64..4, 1u64..5)
            .prop_map(|(group, back, count)| Op::Append { group, back, count }),
        1 => (group.clone(), 0u64..100).prop_map(|(group, commit)| Op::HardState { group, commit }),
        1 => (group.clone(), any::<u8>()).prop_map(|(group, tag)| Op::ConfState { group, tag }),
        2 => (group.clone(), any::<u8>()).prop_map(|(group, frac)| Op::Compact { group, frac }),
        1 => (group, 0u64..4).prop_map(|(group, ahead)| Op::Restore { group, ahead }),
        1 => Just(Op::Reopen),
    ]
}

/// The model: Raft's log rules written as plainly as possible.
#[derive(Default)]
struct Model {
    groups: BTreeMap<u64, GroupLog>,
    term: u64,
}

impl Model {
    fn log(&mut self, group: u64) -> &mut GroupLog {
        self.groups.entry(group).or_default()
    }

    fn next_index(&mut self, group: u64) -> u64 {
        let log = self.log(group);
        match log.entries.last() {
            Some(e) => e.index + 1,
            None => log.compacted.map_or(0, |c| c.0) + 1,
        }
    }

    /// Applies `op` to the model and returns the record the WAL should see (None if the op
    /// changes nothing, or is a reopen).
    fn apply(&mut self, op: &Op) -> Option<Record> {
        self.term += 1;
        let term = self.term;
        match *op {
            Op::Append { group, back, count } => {
                let next = self.next_index(group);
                let floor = self.log(group).compacted.map_or(0, |c| c.0) + 1;
                let first = next.saturating_sub(back).max(floor);
                let log = self.log(group);
                log.entries.retain(|e| e.index < first);
                log.entries
                    .extend((first..first + count).map(|i| entry(group, i, term)));
                Some(entries(group, first, first + count - 1, term))
            }
            Op::HardState { group, commit } => {
                let state = HardState {
                    term,
                    vote: group,
                    commit,
                };
                self.log(group).hard_state = Some(state);
                Some(Record::HardState { group, state })
            }
            Op::ConfState { group, tag } => {
                self.log(group).conf_state = Some(vec![tag; usize::from(tag % 7)]);
                Some(conf_state(group, &vec![tag; usize::from(tag % 7)]))
            }
            Op::Compact { group, frac } => {
                let log = self.groups.get_mut(&group)?;
                let n = log.entries.len();
                let entry = log.entries.get(n * usize::from(frac) / 256)?.clone();
                log.entries.retain(|e| e.index > entry.index);
                log.compacted = Some((entry.index, entry.term));
                Some(Record::Compact {
                    group,
                    index: entry.index,
                    term: entry.term,
                })
            }
            Op::Restore { group, ahead } => {
                let index = self.next_index(group) - 1 + ahead;
                let log = self.log(group);
                log.entries.clear();
                log.compacted = Some((index, term));
                Some(Record::Restore { group, index, term })
            }
            Op::Reopen => None,
        }
    }
}

fn reopen(dir: &std::path::Path) -> (Wal, BTreeMap<u64, GroupLog>) {
    let (wal, recovered) = Wal::open(options(dir, 300)).expect("reopen");
    assert!(recovered.truncated_tail.is_none());
    (wal, recovered.groups)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn recovery_matches_the_model(ops in prop::collection::vec(op(), 1..80)) {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = reopen(dir.path());
        let mut model = Model::default();
        for op in &ops {
            match model.apply(op) {
                Some(Record::Compact { group, index, term }) => {
                    wal.compact(group, index, term).unwrap();
                }
                Some(record) => write(&mut wal, &[record]),
                None if !matches!(op, Op::Reopen) => {}
                None => {
                    drop(wal);
                    let (reopened, groups) = reopen(dir.path());
                    prop_assert_eq!(&groups, &model.groups);
                    wal = reopened;
                }
            }
        }
        drop(wal);
        let (_, groups) = reopen(dir.path());
        prop_assert_eq!(&groups, &model.groups);
    }
}
