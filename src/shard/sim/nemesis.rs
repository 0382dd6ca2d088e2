//! The nemesis: decides when to crash a node and how to cut the network.
//!
//! It draws one decision every 50-500 ms of virtual time. Crashes respect the limit the
//! simulator passes in (never more than a minority down at once, so the cluster can make
//! progress); partitions last 100-2000 ms, one at a time. Partition shapes:
//! - isolate a random node, or the current leader, in both directions;
//! - split a random minority from the majority (5 nodes: one or two nodes);
//! - a one-way cut: a node can still hear the others but not reach them, or the reverse;
//! - a bridge: two nodes cannot talk to each other, but both reach everyone else.

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
}

/// Fault scheduling state.
#[derive(Debug)]
pub struct Nemesis {
    nodes: u64,
    next_ms: u64,
    heal_at_ms: Option<u64>,
    partitions: u64,
}

impl Nemesis {
    /// A nemesis for nodes `1..=nodes` that first acts a little after start.
    pub fn new(nodes: u64) -> Nemesis {
        Nemesis {
            nodes,
            next_ms: 300,
            heal_at_ms: None,
            partitions: 0,
        }
    }

    /// When it next wants to act.
    pub fn next_event_ms(&self) -> u64 {
        self.heal_at_ms
            .map_or(self.next_ms, |at| at.min(self.next_ms))
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
                let text = self.partition(leader, network, rng);
                self.partitions += 1;
                self.heal_at_ms = Some(now_ms + rng.between(100, 2000));
                Action::Network(text)
            }
            _ => Action::None,
        }
    }

    fn partition(&self, leader: Option<u64>, network: &mut Network, rng: &mut Rng) -> String {
        let all: Vec<u64> = (1..=self.nodes).collect();
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
                let minority_len = rng.between(1, (self.nodes - 1) / 2) as usize;
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
