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

/// Largest merged append, in entry payload bytes: one raft message stays within a few of what
/// raft-rs would send on its own (`max_size_per_msg` is 1 MiB), so a follower steps and
/// persists a round's entries in pieces of bounded size.
pub const MAX_MERGED_APPEND_BYTES: usize = 4 << 20;

/// Returns `messages` in the same order, with each append that continues the previous message
/// to the same follower folded into it.
pub fn merge_appends(messages: Vec<Message>) -> Vec<Message> {
    if messages.len() < 2 {
        return messages;
    }
    let mut out: Vec<Message> = Vec::with_capacity(messages.len());
    let mut latest: Vec<Latest> = Vec::new();
    for mut msg in messages {
        let bytes = entry_bytes(&msg);
        let slot = latest.iter().position(|l| l.to == msg.to);
        if let Some(i) = slot {
            let held = &mut latest[i];
            let prev = &mut out[held.at];
            if held.bytes + bytes <= MAX_MERGED_APPEND_BYTES && continues(prev, &msg) {
                prev.commit = prev.commit.max(msg.commit);
                prev.mut_entries().extend(msg.take_entries());
                held.bytes += bytes;
                continue;
            }
        }
        let newest = Latest {
            to: msg.to,
            at: out.len(),
            bytes,
        };
        match slot {
            Some(i) => latest[i] = newest,
            None => latest.push(newest),
        }
        out.push(msg);
    }
    out
}

/// A receiver's latest message so far: where it is in the output, and its entries' bytes.
struct Latest {
    to: u64,
    at: usize,
    bytes: usize,
}

/// Whether `next` is an append that starts right after `prev`'s last entry, from the same
/// leader in the same term (the caller pairs messages to the same receiver).
fn continues(prev: &Message, next: &Message) -> bool {
    let appends = prev.get_msg_type() == MessageType::MsgAppend
        && next.get_msg_type() == MessageType::MsgAppend;
    let (Some(last), Some(first)) = (prev.entries.last(), next.entries.first()) else {
        return false;
    };
    appends
        && prev.from == next.from
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
    use raft::prelude::{ConfState, Entry};

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
    fn a_chain_merges_into_one_with_the_highest_commit() {
        let mut first = append(2, 3, 10, 3, &[(11, 3)]);
        first.commit = 11;
        let mut second = append(2, 3, 11, 3, &[(12, 3)]);
        second.commit = 9; // lower than the first's: the merged append keeps the higher one
        let out = merge_appends(vec![
            first,
            second,
            append(2, 3, 12, 3, &[(13, 3), (14, 3)]),
        ]);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].index, indexes(&out[0]), out[0].commit),
            (10, vec![11, 12, 13, 14], 12)
        );
    }

    #[test]
    fn an_empty_append_after_entries_stays_apart() {
        let msgs = vec![append(2, 3, 10, 3, &[(11, 3)]), append(2, 3, 11, 3, &[])];
        assert_eq!(merge_appends(msgs.clone()), msgs);
    }

    /// With a real raft-rs leader: each round's proposals reach a follower as one append, its
    /// one answer frees every inflight slot the proposals took, and a lost merged append is
    /// recovered (rejection, probe, resend) into identical logs.
    #[test]
    fn a_raft_rs_group_replicates_through_merged_appends() {
        use raft::storage::MemStorage;
        use raft::{Config, RawNode, StateRole};

        fn node(id: u64) -> RawNode<MemStorage> {
            let voters = ConfState {
                voters: vec![1, 2, 3],
                ..Default::default()
            };
            let config = Config {
                id,
                election_tick: 10,
                heartbeat_tick: 1,
                max_inflight_msgs: 256,
                skip_bcast_commit: true,
                ..Default::default()
            };
            let logger = slog::Logger::root(slog::Discard, slog::o!());
            RawNode::new(&config, MemStorage::new_with_conf_state(voters), &logger).unwrap()
        }
        /// Handles `n`'s Ready (persisting at once); returns what it sends, appends merged.
        fn ready(n: &mut RawNode<MemStorage>) -> Vec<Message> {
            if !n.has_ready() {
                return Vec::new();
            }
            let mut rd = n.ready();
            let mut out = merge_appends(rd.take_messages());
            n.mut_store().wl().append(rd.entries()).unwrap();
            if let Some(hs) = rd.hs() {
                n.mut_store().wl().set_hardstate(hs.clone());
            }
            out.extend(rd.take_persisted_messages());
            let mut light = n.advance(rd);
            if let Some(commit) = light.commit_index() {
                n.mut_store().wl().mut_hard_state().commit = commit;
            }
            out.extend(merge_appends(light.take_messages()));
            n.advance_apply();
            out
        }
        /// Delivers messages until none are left (bounded), dropping those `lose` picks.
        fn settle(nodes: &mut [RawNode<MemStorage>], lose: &dyn Fn(&Message) -> bool) {
            for _ in 0..100 {
                let out: Vec<Message> = nodes.iter_mut().flat_map(ready).collect();
                if out.is_empty() {
                    return;
                }
                for m in out.into_iter().filter(|m| !lose(m)) {
                    let _ = nodes[(m.to - 1) as usize].step(m);
                }
            }
            panic!("the group did not settle");
        }
        let mut nodes: Vec<_> = (1..=3).map(node).collect();
        nodes[0].campaign().unwrap();
        settle(&mut nodes, &|_| false);
        assert_eq!(nodes[0].raft.state, StateRole::Leader);
        for round in 0..20u8 {
            for k in 0..13 {
                nodes[0].propose(vec![], vec![round, k]).unwrap();
            }
            let out = ready(&mut nodes[0]);
            let to_3: Vec<_> = out.iter().filter(|m| m.to == 3).collect();
            assert_eq!(to_3.len(), 1, "one append per follower and round");
            assert_eq!(to_3[0].entries.len(), 13);
            // The round after the loss still holds the lost round's slots until node 3 answers.
            let held = if round == 6 { 26 } else { 13 };
            assert_eq!(nodes[0].raft.prs().get(3).unwrap().ins.count(), held);
            // Round 5's append to node 3 is lost: its next one is rejected, and it catches up.
            for m in out.into_iter().filter(|m| !(round == 5 && m.to == 3)) {
                let _ = nodes[(m.to - 1) as usize].step(m);
            }
            settle(&mut nodes, &|_| false);
        }
        for _ in 0..3 {
            nodes[0].tick();
            settle(&mut nodes, &|_| false);
        }
        let leader_log = nodes[0].raft.raft_log.all_entries();
        for id in [2, 3] {
            let progress = nodes[0].raft.prs().get(id).unwrap();
            assert_eq!(progress.matched, nodes[0].raft.raft_log.last_index());
            assert_eq!(progress.ins.count(), 0, "every inflight slot freed");
            assert_eq!(
                nodes[(id - 1) as usize].raft.raft_log.all_entries(),
                leader_log
            );
        }
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
