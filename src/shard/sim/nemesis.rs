//! The nemesis: decides when to crash a node and how to cut the network.
//!
//! It draws one decision every 50-500 ms of virtual time. Crashes respect the limit the
//! simulator passes in (never more than a minority down at once, so the cluster can make
//! progress); partitions last 100-2000 ms, one at a time. Partition shapes:
//! - isolate a random node, or the current leader, in both directions;
//! - split a random minority from the majority (5 nodes: one or two nodes);
//! - a one-way cut: a node can still hear the others but not reach them, or the reverse;
//! - a bridge: two nodes cannot talk to each other, but both reach everyone else.
//!
//! Topology faults (only in runs whose seed enables them, so the other runs draw exactly the
//! random numbers they always did):
//! - leadership transfer to a random voter, asked of the leader or of any other running node
//!   (a follower passes the request on);
//! - membership churn between 3 and 5 voters: add a brand-new node as a learner (it is opened
//!   as a joiner: empty configuration, log at 0, so it needs a snapshot first), promote a
//!   learner, remove a voter (possibly the leader) when the remaining voters that run still
//!   form a majority, remove a learner, or replace a voter (possibly the leader) by a running
//!   learner in one joint-consensus change (promote and remove at once, through C_old,new)
//!   when the new configuration's running voters form a majority. Decisions use the leader's
//!   applied configuration: the shard refuses a conf change while another is unapplied or a
//!   joint configuration is not left, so at most one is in flight and the bounds hold. Ids
//!   are never reused. A leader chosen to leave first hands leadership to another voter.

use super::network::Network;
use super::rng::Rng;

/// What the simulator must do now.
#[derive(Debug)]
pub enum Action {
    /// Nothing.
    None,
    /// Kill this node.
    Crash(u64),
    /// The network changed (already applied to it); the description is for the trace.
    Network(String),
    /// Ask node `via` to move leadership to `to`.
    Transfer {
        /// The node asked (the leader, or a follower that passes it on).
        via: u64,
        /// The voter that should lead.
        to: u64,
    },
    /// Propose adding this node as a learner; a new id means the simulator opens a new node.
    AddLearner(u64),
    /// Propose promoting this learner to voter.
    Promote(u64),
    /// Propose removing this member.
    Remove(u64),
    /// Propose replacing voter `remove` by learner `add` in one joint-consensus change.
    Replace {
        /// The voter that leaves.
        remove: u64,
        /// The learner that becomes a voter.
        add: u64,
    },
}

/// What the nemesis knows of the cluster's shape when it acts.
#[derive(Debug, Default)]
pub struct Topology {
    /// Nodes that exist and were not removed, running or not.
    pub live: Vec<u64>,
    /// Live nodes that run.
    pub running: Vec<u64>,
    /// The current leader's applied configuration: `(voters, learners)`.
    pub leader_config: Option<(Vec<u64>, Vec<u64>)>,
    /// A live node opened as a joiner that no configuration has listed yet.
    pub joining: Option<u64>,
    /// The id a new node would get.
    pub next_id: u64,
}

/// Fewest and most voters the churn keeps.
const VOTERS_MIN: usize = 3;
const VOTERS_MAX: usize = 5;

/// Fault scheduling state.
#[derive(Debug)]
pub struct Nemesis {
    topology_faults: bool,
    /// A leader chosen for removal: leadership moves away first (the shard refuses to remove
    /// the leader, since raft-rs 0.7 panics on a leader that removed itself), then it goes.
    remove_after_transfer: Option<u64>,
    /// The same for a leader chosen to be replaced: `(leader, learner)`.
    replace_after_transfer: Option<(u64, u64)>,
    next_ms: u64,
    heal_at_ms: Option<u64>,
    partitions: u64,
}

impl Nemesis {
    /// A nemesis that first acts a little after start; `topology_faults` enables leadership
    /// transfers and membership changes.
    pub fn new(topology_faults: bool) -> Nemesis {
        Nemesis {
            topology_faults,
            remove_after_transfer: None,
            replace_after_transfer: None,
            next_ms: 300,
            heal_at_ms: None,
            partitions: 0,
        }
    }

    /// A nemesis that never acts, for scripted scenarios that make their own faults.
    pub fn quiet() -> Nemesis {
        Nemesis {
            next_ms: u64::MAX,
            ..Nemesis::new(false)
        }
    }

    /// When it next wants to act.
    pub fn next_event_ms(&self) -> u64 {
        self.heal_at_ms
            .map_or(self.next_ms, |at| at.min(self.next_ms))
    }

    /// Whether it has something to do at `now_ms` (a heal or a decision).
    pub fn due(&self, now_ms: u64) -> bool {
        self.next_event_ms() <= now_ms
    }

    /// Partitions started so far.
    pub fn partitions(&self) -> u64 {
        self.partitions
    }

    /// Decides and applies (for the network) what happens at `now_ms`. `crashable` lists the
    /// nodes that may be killed now.
    pub fn next(
        &mut self,
        now_ms: u64,
        leader: Option<u64>,
        crashable: &[u64],
        topology: &Topology,
        network: &mut Network,
        rng: &mut Rng,
    ) -> Action {
        if self.heal_at_ms.is_some_and(|at| at <= now_ms) {
            self.heal_at_ms = None;
            network.heal();
            return Action::Network("partition healed".into());
        }
        if now_ms < self.next_ms {
            return Action::None;
        }
        self.next_ms = now_ms + rng.between(50, 500);
        match rng.below(100) {
            0..=24 if !crashable.is_empty() => {
                let victim = match leader {
                    Some(id) if crashable.contains(&id) && rng.chance(400) => id,
                    _ => rng.pick(crashable),
                };
                Action::Crash(victim)
            }
            25..=59 if !network.is_partitioned() => {
                let text = self.partition(leader, &topology.live, network, rng);
                self.partitions += 1;
                self.heal_at_ms = Some(now_ms + rng.between(100, 2000));
                Action::Network(text)
            }
            60..=65 if self.topology_faults => transfer(leader, topology, rng),
            66..=73 if self.topology_faults => self.change_members(leader, topology, rng),
            _ => Action::None,
        }
    }

    fn partition(
        &self,
        leader: Option<u64>,
        all: &[u64],
        network: &mut Network,
        rng: &mut Rng,
    ) -> String {
        let all = all.to_vec();
        let nodes = all.len() as u64;
        let node = match leader {
            Some(id) if rng.chance(500) => id,
            _ => rng.pick(&all),
        };
        match rng.below(5) {
            0 => {
                for other in all.iter().filter(|o| **o != node) {
                    network.cut(node, *other);
                    network.cut(*other, node);
                }
                format!("partition: n{node} isolated")
            }
            1 => {
                let mut shuffled = all.clone();
                for i in (1..shuffled.len()).rev() {
                    shuffled.swap(i, rng.below(i as u64 + 1) as usize);
                }
                let minority_len = rng.between(1, (nodes - 1) / 2) as usize;
                let (minority, majority) = shuffled.split_at(minority_len);
                for a in minority {
                    for b in majority {
                        network.cut(*a, *b);
                        network.cut(*b, *a);
                    }
                }
                format!("partition: {minority:?} | {majority:?}")
            }
            2 => {
                for other in all.iter().filter(|o| **o != node) {
                    network.cut(node, *other);
                }
                format!("partition: n{node} cannot send (still hears everyone)")
            }
            3 => {
                for other in all.iter().filter(|o| **o != node) {
                    network.cut(*other, node);
                }
                format!("partition: n{node} cannot hear (still reaches everyone)")
            }
            _ => {
                let others: Vec<u64> = all.iter().copied().filter(|o| *o != node).collect();
                let peer = rng.pick(&others);
                network.cut(node, peer);
                network.cut(peer, node);
                format!("partition: bridge, n{node} and n{peer} cut from each other only")
            }
        }
    }
}

/// A leadership transfer to a random voter of the leader's configuration, asked of the leader
/// or of a random running node.
fn transfer(leader: Option<u64>, topology: &Topology, rng: &mut Rng) -> Action {
    let (Some(leader), Some((voters, _))) = (leader, &topology.leader_config) else {
        return Action::None;
    };
    if voters.is_empty() || topology.running.is_empty() {
        return Action::None;
    }
    let to = rng.pick(voters);
    let via = if rng.chance(500) {
        leader
    } else {
        rng.pick(&topology.running)
    };
    Action::Transfer { via, to }
}

impl Nemesis {
    /// One membership change that keeps 3 to 5 voters (see the module comment).
    fn change_members(
        &mut self,
        leader: Option<u64>,
        topology: &Topology,
        rng: &mut Rng,
    ) -> Action {
        let (Some(leader), Some((voters, learners))) = (leader, &topology.leader_config) else {
            return Action::None;
        };
        let running = |id: &u64| topology.running.contains(id);
        if let Some(&learner) = learners.first() {
            if !running(&learner) || rng.chance(150) {
                return Action::Remove(learner);
            }
        }
        // A majority of the configuration after one removal.
        let majority = (voters.len() - 1) / 2 + 1;
        let removable: Vec<u64> = if voters.len() > VOTERS_MIN {
            voters
                .iter()
                .copied()
                .filter(|v| voters.iter().filter(|o| *o != v && running(o)).count() >= majority)
                .collect()
        } else {
            Vec::new()
        };
        let mut options = Vec::new();
        if learners.is_empty() {
            options.push(Action::AddLearner(
                topology.joining.unwrap_or(topology.next_id),
            ));
        }
        if voters.len() < VOTERS_MAX {
            options.extend(
                learners
                    .iter()
                    .copied()
                    .filter(running)
                    .map(Action::Promote),
            );
        }
        // A replacement keeps the voter count: a majority of the same size, among the voters
        // that stay and the learner that joins them.
        let same_size_majority = voters.len() / 2 + 1;
        let replaceable = |learner: u64| -> Vec<u64> {
            voters
                .iter()
                .copied()
                .filter(|v| {
                    let staying = voters.iter().filter(|o| *o != v && running(o)).count();
                    staying + usize::from(running(&learner)) >= same_size_majority
                })
                .collect()
        };
        if let Some(old_leader) = self.remove_after_transfer.take() {
            if old_leader != leader && removable.contains(&old_leader) {
                return Action::Remove(old_leader);
            }
        }
        if let Some((old_leader, learner)) = self.replace_after_transfer.take() {
            if old_leader != leader
                && learners.contains(&learner)
                && running(&learner)
                && replaceable(learner).contains(&old_leader)
            {
                return Action::Replace {
                    remove: old_leader,
                    add: learner,
                };
            }
        }
        if !removable.is_empty() {
            options.push(Action::Remove(rng.pick(&removable)));
        }
        if let Some(&learner) = learners.iter().find(|l| running(l)) {
            let candidates = replaceable(learner);
            if !candidates.is_empty() {
                options.push(Action::Replace {
                    remove: rng.pick(&candidates),
                    add: learner,
                });
            }
        }
        if options.is_empty() {
            return Action::None;
        }
        let chosen = rng.below(options.len() as u64) as usize;
        let others =
            |id: u64| -> Vec<u64> { voters.iter().copied().filter(|v| *v != id).collect() };
        match options.swap_remove(chosen) {
            Action::Remove(id) if id == leader => {
                self.remove_after_transfer = Some(id);
                Action::Transfer {
                    via: leader,
                    to: rng.pick(&others(id)),
                }
            }
            Action::Replace { remove, add } if remove == leader => {
                self.replace_after_transfer = Some((remove, add));
                Action::Transfer {
                    via: leader,
                    to: rng.pick(&others(remove)),
                }
            }
            action => action,
        }
    }
}
