//! The node's recent history of leaders, terms and roles, for `GET /api/events` (the
//! dashboard's replication page shows elections from it).
//!
//! A background task asks the shard for its status every [`POLL_INTERVAL`] and records an
//! [`Event`] whenever the term, the known leader or this node's role differs from the previous
//! answer. The events live in a ring of [`EVENT_LOG_CAPACITY`] entries: the oldest are
//! forgotten first, and each event's `seq` tells a reader how many it missed.
//!
//! Polling means changes shorter than the interval can be missed (a pre-candidate that becomes
//! follower again within 200 ms); what it sees is what the node reported, so it is a view for
//! people, not a trace to check Raft with. A status request is one small message to the Raft
//! loop; the poller never waits on anything else.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::server::ServerContext;

/// How many events are kept.
pub const EVENT_LOG_CAPACITY: usize = 256;

/// How often the shard status is sampled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// One observed change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Increasing number of the event since the node started (the first is 1).
    pub seq: u64,
    /// Wall-clock time of the observation, milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// What changed: `observed` (the first sample), `term`, `leader` or `role`; the first that
    /// applies, in that order after `observed`.
    pub kind: &'static str,
    /// The term after the change.
    pub term: u64,
    /// The leader after the change (0: none known).
    pub leader: u64,
    /// This node's role after the change.
    pub role: &'static str,
    /// The term before the change (0 for `observed`).
    pub previous_term: u64,
    /// The leader before the change.
    pub previous_leader: u64,
    /// The role before the change (empty for `observed`).
    pub previous_role: &'static str,
}

/// What one sample says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    term: u64,
    leader: u64,
    role: &'static str,
}

/// The ring of events; shared between the poller and the handler.
#[derive(Debug, Default)]
pub struct EventLog {
    inner: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    events: VecDeque<Event>,
    last: Option<Sample>,
    next_seq: u64,
}

impl EventLog {
    /// Every kept event, oldest first.
    pub fn snapshot(&self) -> Vec<Event> {
        self.lock().events.iter().cloned().collect()
    }

    /// Records `sample` if it differs from the previous one.
    fn observe(&self, sample: Sample, unix_ms: u64) {
        let mut ring = self.lock();
        if ring.last == Some(sample) {
            return;
        }
        let kind = match ring.last {
            None => "observed",
            Some(prev) if prev.term != sample.term => "term",
            Some(prev) if prev.leader != sample.leader => "leader",
            Some(_) => "role",
        };
        let prev = ring.last.unwrap_or(Sample {
            term: 0,
            leader: 0,
            role: "",
        });
        ring.next_seq += 1;
        let event = Event {
            seq: ring.next_seq,
            unix_ms,
            kind,
            term: sample.term,
            leader: sample.leader,
            role: sample.role,
            previous_term: prev.term,
            previous_leader: prev.leader,
            previous_role: prev.role,
        };
        if ring.events.len() == EVENT_LOG_CAPACITY {
            ring.events.pop_front();
        }
        ring.events.push_back(event);
        ring.last = Some(sample);
        debug_assert!(
            ring.events.len() <= EVENT_LOG_CAPACITY,
            "the ring is bounded"
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `GET /api/events`: the ring's capacity and every kept event, oldest first.
pub async fn answer(log: Arc<EventLog>) -> Json<Value> {
    Json(json!({"capacity": EVENT_LOG_CAPACITY, "events": log.snapshot()}))
}

/// Samples the shard's status until `shutdown` flips. A failed status request (the Raft loop
/// is stopping) records nothing.
pub async fn watch(
    ctx: Arc<ServerContext>,
    log: Arc<EventLog>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let status = ctx
            .router
            .primary()
            .status(crate::acl::DEFAULT_TENANT)
            .await;
        if let Ok(status) = status {
            let sample = Sample {
                term: status.raft.term,
                leader: status.raft.leader,
                role: status.raft.role,
            };
            log.observe(sample, unix_ms());
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(term: u64, leader: u64, role: &'static str) -> Sample {
        Sample { term, leader, role }
    }

    #[test]
    fn only_changes_are_recorded_and_classified() {
        let log = EventLog::default();
        log.observe(sample(1, 0, "follower"), 10);
        log.observe(sample(1, 0, "follower"), 20);
        log.observe(sample(2, 0, "candidate"), 30);
        log.observe(sample(2, 2, "leader"), 40);
        log.observe(sample(2, 2, "follower"), 50);
        let kinds: Vec<_> = log.snapshot().iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["observed", "term", "leader", "role"]);
        let last = log.snapshot().pop().expect("an event");
        assert_eq!(
            (last.seq, last.previous_role, last.role),
            (4, "leader", "follower")
        );
    }

    #[test]
    fn the_ring_forgets_the_oldest() {
        let log = EventLog::default();
        for term in 1..=(EVENT_LOG_CAPACITY as u64 + 5) {
            log.observe(sample(term, 1, "follower"), term);
        }
        let events = log.snapshot();
        assert_eq!(events.len(), EVENT_LOG_CAPACITY);
        assert_eq!(events[0].seq, 6);
        assert_eq!(
            events[EVENT_LOG_CAPACITY - 1].term,
            EVENT_LOG_CAPACITY as u64 + 5
        );
    }
}
