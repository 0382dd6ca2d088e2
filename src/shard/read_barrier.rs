//! Linearizable reads that connections run themselves, once a ReadIndex round allows it.
//!
//! A ReadIndex round proves that this node's view is current: the leader confirms with a
//! quorum that it still leads, and the round's read index is the commit index at the moment
//! the round started. Any write acknowledged before the round started is at or below that
//! index, so once this node has applied the index, its applied state holds every such write.
//!
//! The Raft loop runs the rounds; connections only need to know when a round that started
//! after their read arrived has been confirmed and applied. Then each connection reads the
//! shared keyspace itself, in parallel, instead of queueing the read for the single Raft loop
//! to execute. Rounds are numbered; the barrier publishes the newest round started and the
//! newest round confirmed.
//!
//! Ordering argument: a connection first raises `wanted`, then loads `started` (say `k`) and
//! waits for round `k + 1`. The loop stores `started = k + 1` before it asks raft-rs for that
//! round's read index, so that request comes after the connection's load, hence after the read
//! arrived. If `wanted` was cleared before the connection raised it, the flag stays raised and
//! the loop starts another round; if after, round `k + 1` (or a later one) serves it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::{watch, Notify};

/// Shared between the Raft loop (which starts and confirms rounds) and connections (which
/// wait for them). See the module docs for why the order of its operations is safe.
#[derive(Debug)]
pub struct ReadBarrier {
    /// A connection waits for a round that has not started yet.
    wanted: AtomicBool,
    /// The newest round started (its read index requested from raft-rs).
    started: AtomicU64,
    /// The newest round whose read index this node has applied.
    confirmed: watch::Sender<u64>,
    /// Wakes the Raft loop when `wanted` goes up.
    wake: Notify,
}

impl Default for ReadBarrier {
    fn default() -> Self {
        Self {
            wanted: AtomicBool::new(false),
            started: AtomicU64::new(0),
            confirmed: watch::Sender::new(0),
            wake: Notify::new(),
        }
    }
}

impl ReadBarrier {
    /// Registers a read that has just arrived; returns the round it must wait for. Wakes the
    /// Raft loop if nobody else had asked since the last round started.
    pub fn request(&self) -> u64 {
        let already_wanted = self.wanted.swap(true, Ordering::SeqCst);
        let round = self.started.load(Ordering::SeqCst) + 1;
        if !already_wanted {
            self.wake.notify_one();
        }
        round
    }

    /// Whether `round` is confirmed and applied, so the read may run now.
    pub fn is_confirmed(&self, round: u64) -> bool {
        *self.confirmed.borrow() >= round
    }

    /// Waits until `round` is confirmed and applied. The caller bounds the wait: a round
    /// never comes back while there is no leader.
    pub async fn wait(&self, round: u64) {
        let mut rx = self.confirmed.subscribe();
        // The sender lives in `self`, so the channel cannot close while this borrow lasts.
        if rx.wait_for(|confirmed| *confirmed >= round).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// For the Raft loop: clears and returns whether a read waits for a new round.
    pub fn take_wanted(&self) -> bool {
        self.wanted.swap(false, Ordering::SeqCst)
    }

    /// For the Raft loop: completes when a read raised `wanted` (or one already had).
    pub async fn wanted(&self) {
        self.wake.notified().await;
    }

    /// For the Raft loop: publishes that `round` starts now. Must come before its read
    /// index is requested.
    pub fn round_started(&self, round: u64) {
        self.started.store(round, Ordering::SeqCst);
    }

    /// For the Raft loop: `round`'s read index is applied; reads waiting for it or an earlier
    /// round may run.
    pub fn confirm(&self, round: u64) {
        self.confirmed.send_if_modified(|confirmed| {
            let newer = round > *confirmed;
            if newer {
                *confirmed = round;
            }
            newer
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_waits_for_the_round_after_the_newest_started() {
        let barrier = ReadBarrier::default();
        assert_eq!(barrier.request(), 1);
        assert!(barrier.take_wanted());
        barrier.round_started(1);
        // Round 1 may have captured its read index before this read arrived: it needs round 2.
        assert_eq!(barrier.request(), 2);
        barrier.confirm(1);
        assert!(barrier.is_confirmed(1));
        assert!(!barrier.is_confirmed(2));
        assert!(barrier.take_wanted(), "the second read still wants a round");
        assert!(!barrier.take_wanted());
    }

    #[test]
    fn confirmation_never_goes_backwards() {
        let barrier = ReadBarrier::default();
        barrier.confirm(5);
        barrier.confirm(3);
        assert!(barrier.is_confirmed(5));
    }

    #[tokio::test]
    async fn waiting_ends_when_the_round_is_confirmed() {
        let barrier = std::sync::Arc::new(ReadBarrier::default());
        let round = barrier.request();
        let waiter = {
            let barrier = std::sync::Arc::clone(&barrier);
            tokio::spawn(async move { barrier.wait(round).await })
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), barrier.wanted())
            .await
            .expect("the loop is woken");
        barrier.round_started(round);
        barrier.confirm(round);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("the waiter is released")
            .expect("joined");
    }
}
