//! Merges a leader's appends to the same follower before they are sent.
//!
//! raft-rs queues one `MsgAppend` per follower for every proposal (in the replicate state it
//! sends each new entry as soon as it is in the log), so a round that proposes 13 client
//! batches sends each follower 13 appends, and each follower steps 13 messages and answers 13
//! times. An append that starts where the previous one to the same follower ended says nothing
//! that one longer append would not: merged, a follower gets one append per round and answers
//! once, and the leader's answer frees the same inflight slots (it acknowledges the last index).
//!
//! Only provably contiguous appends merge: same sender, receiver and term, the later one's
//! previous index and term being exactly the earlier one's last entry, and no other message to
//! that follower between them (per-follower order is kept). raft-rs 0.7 has a `batch_append`
//! option for this, but it merges entries into a queued append that carries none without
//! checking where they start, which our simulator caught breaking followers' logs.

use raft::prelude::{Message, MessageType};

/// Largest merged append, in entry payload bytes: one frame to a follower stays bounded by what
/// raft-rs would have sent in a few messages (`max_size_per_msg` is 1 MiB).
pub const MAX_MERGED_APPEND_BYTES: usize = 4 << 20;

/// Returns `messages` in the same order, with each append that continues the previous message
/// to the same follower folded into it.
pub fn merge_appends(messages: Vec<Message>) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::with_capacity(messages.len());
    // Per receiver: where in `out` its latest message is, and that append's payload bytes.
    let mut latest: Vec<(u64, usize, usize)> = Vec::new();
    for msg in messages {
        let slot = latest.iter().position(|(to, _, _)| *to == msg.to);
        if let Some(i) = slot {
            let (_, at, bytes) = latest[i];
            let added = entry_bytes(&msg);
            if bytes + added <= MAX_MERGED_APPEND_BYTES && continues(&out[at], &msg) {
                let prev = &mut out[at];
                prev.commit = prev.commit.max(msg.commit);
                let mut msg = msg;
                prev.mut_entries().extend(msg.take_entries());
                latest[i].2 = bytes + added;
                continue;
            }
        }
        let entry = (msg.to, out.len(), entry_bytes(&msg));
        match slot {
            Some(i) => latest[i] = entry,
            None => latest.push(entry),
        }
        out.push(msg);
    }
    out
}

/// Whether `next` is an append that starts right after `prev`'s last entry, from the same
/// leader in the same term.
fn continues(prev: &Message, next: &Message) -> bool {
    let appends = prev.get_msg_type() == MessageType::MsgAppend
        && next.get_msg_type() == MessageType::MsgAppend;
    let (Some(last), Some(first)) = (prev.entries.last(), next.entries.first()) else {
        return false;
    };
    appends
        && prev.from == next.from
        && prev.to == next.to
        && prev.term == next.term
        && next.index == last.index
        && next.log_term == last.term
        && first.index == last.index + 1
}

fn entry_bytes(msg: &Message) -> usize {
    msg.entries
        .iter()
        .map(|e| e.data.len() + e.context.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::prelude::Entry;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            data: vec![7u8; 10].into(),
            ..Default::default()
        }
    }

    /// An append from 1 to `to` in `term` after (`index`, `log_term`) carrying `entries`
    /// (index, term) and commit `commit`.
    fn append(to: u64, term: u64, index: u64, log_term: u64, entries: &[(u64, u64)]) -> Message {
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgAppend);
        m.from = 1;
        m.to = to;
        m.term = term;
        m.index = index;
        m.log_term = log_term;
        m.commit = index;
        m.set_entries(entries.iter().map(|&(i, t)| entry(i, t)).collect());
        m
    }

    fn indexes(m: &Message) -> Vec<u64> {
        m.entries.iter().map(|e| e.index).collect()
    }

    #[test]
    fn contiguous_appends_to_one_follower_merge_and_keep_the_latest_commit() {
        let out = merge_appends(vec![
            append(2, 3, 10, 3, &[(11, 3)]),
            append(3, 3, 10, 3, &[(11, 3)]),
            append(2, 3, 11, 3, &[(12, 3), (13, 3)]),
            append(3, 3, 11, 3, &[(12, 3)]),
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].to, out[0].index, indexes(&out[0])),
            (2, 10, vec![11, 12, 13])
        );
        assert_eq!(out[0].commit, 11);
        assert_eq!((out[1].to, indexes(&out[1])), (3, vec![11, 12]));
    }

    #[test]
    fn appends_that_do_not_follow_on_stay_apart() {
        // Empty (a commit or probe append), a gap, a step back after a rejection, another
        // term's entry as the previous one, another sender's term.
        let cases = [
            (append(2, 3, 10, 3, &[]), append(2, 3, 10, 3, &[(11, 3)])),
            (
                append(2, 3, 10, 3, &[(11, 3)]),
                append(2, 3, 12, 3, &[(13, 3)]),
            ),
            (
                append(2, 3, 10, 3, &[(11, 3)]),
                append(2, 3, 5, 2, &[(6, 2)]),
            ),
            (
                append(2, 3, 10, 3, &[(11, 3)]),
                append(2, 3, 11, 2, &[(12, 3)]),
            ),
            (
                append(2, 3, 10, 3, &[(11, 3)]),
                append(2, 4, 11, 3, &[(12, 4)]),
            ),
        ];
        for (a, b) in cases {
            let out = merge_appends(vec![a.clone(), b.clone()]);
            assert_eq!(out, vec![a, b]);
        }
    }

    #[test]
    fn another_message_to_the_follower_in_between_keeps_the_order() {
        let mut heartbeat = Message::default();
        heartbeat.set_msg_type(MessageType::MsgHeartbeat);
        heartbeat.to = 2;
        let msgs = vec![
            append(2, 3, 10, 3, &[(11, 3)]),
            heartbeat,
            append(2, 3, 11, 3, &[(12, 3)]),
        ];
        assert_eq!(merge_appends(msgs.clone()), msgs);
    }

    #[test]
    fn a_merged_append_stays_under_the_size_bound() {
        let big = |index: u64| {
            let mut m = append(2, 3, index - 1, 3, &[(index, 3)]);
            m.mut_entries()[0].data = vec![0u8; MAX_MERGED_APPEND_BYTES / 2].into();
            m
        };
        let out = merge_appends(vec![big(11), big(12), big(13)]);
        assert_eq!(
            out.iter().map(indexes).collect::<Vec<_>>(),
            vec![vec![11, 12], vec![13]]
        );
    }
}
