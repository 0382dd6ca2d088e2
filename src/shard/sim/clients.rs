//! Simulated clients: each issues one operation at a time on a small key set, against the node
//! it believes leads, and records what it saw as a history for the linearizability checker.
//!
//! A client knows only what a real Redis client would: the replies and errors it got and when.
//! Its rules for the history:
//! - a reply is a returned operation, stamped with virtual call and return times;
//! - an error that says the command was *not* applied (not the leader, proposal dropped, lost
//!   its log slot to another leader) leaves it out of the history; the checker then catches the
//!   claim if it was false;
//! - a timeout, a crashed node, or an error that says "may or may not" makes a write
//!   [`Outcome::Unknown`]: it may take effect at any time after its call, or never. Reads with
//!   no answer are dropped (they change nothing);
//! - a retry is a new operation.
//!
//! `MULTI/EXEC` of two SETs enters the history as two SETs with the same interval: atomicity
//! implies each one took effect inside it, so this is sound (though it cannot catch a torn EXEC).

use bytes::Bytes;
use tinkerdb_kv::Command;
use tinkerdb_lincheck::kv::{KvInput, KvOutput};
use tinkerdb_lincheck::Operation;
use tinkerdb_resp::Frame;

use super::super::entry::{DbCommand, Payload};
use super::super::ShardError;
use super::rng::Rng;
use crate::acl::DEFAULT_TENANT;

/// Keys the clients use: few, so operations contend.
const KEYS: [&str; 4] = ["k0", "k1", "k2", "k3"];

/// How long a client waits for a reply before it gives up (outcome unknown).
const OP_TIMEOUT_MS: u64 = 700;

/// Think time between a reply and the client's next operation.
const THINK_MS_MIN: u64 = 10;
const THINK_MS_MAX: u64 = 100;

/// What a client asks for.
#[derive(Debug, Clone)]
pub enum OpKind {
    /// `GET key`, served through a ReadIndex round (on any node).
    Get(&'static str),
    /// `SET key value` with a value no other operation writes.
    Set(&'static str, String),
    /// `INCR key`.
    Incr(&'static str),
    /// `DEL key`.
    Del(&'static str),
    /// `MULTI; SET a v; SET b v; EXEC`.
    Exec(&'static str, &'static str, String),
}

impl OpKind {
    /// Whether the operation goes through the log (else a ReadIndex read).
    pub fn is_write(&self) -> bool {
        !matches!(self, OpKind::Get(_))
    }

    /// The commands, as the server would have parsed them.
    fn commands(&self) -> Vec<DbCommand> {
        let args: Vec<Vec<&str>> = match self {
            OpKind::Get(key) => vec![vec!["GET", key]],
            OpKind::Set(key, value) => vec![vec!["SET", key, value]],
            OpKind::Incr(key) => vec![vec!["INCR", key]],
            OpKind::Del(key) => vec![vec!["DEL", key]],
            OpKind::Exec(a, b, value) => vec![vec!["SET", a, value], vec!["SET", b, value]],
        };
        args.into_iter()
            .map(|words| {
                let words: Vec<Bytes> = words
                    .into_iter()
                    .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                    .collect();
                let command: Command = tinkerdb_kv::parse(&words)
                    .expect("the simulator's commands are well-formed")
                    .expect("the simulator's commands are data commands");
                (0, command)
            })
            .collect()
    }

    /// The log payload of a write.
    pub fn payload(&self) -> Payload {
        let tenant = DEFAULT_TENANT.to_string();
        let ops = self.commands();
        match self {
            OpKind::Exec(..) => Payload::Exec {
                tenant,
                now_ms: 0,
                watched: Vec::new(),
                ops,
            },
            _ => Payload::Batch {
                tenant,
                now_ms: 0,
                ops,
            },
        }
    }

    /// The commands of a read.
    pub fn read_commands(&self) -> Vec<DbCommand> {
        self.commands()
    }

    /// The operation in the checker's terms (an EXEC is two SETs).
    fn inputs(&self) -> Vec<KvInput> {
        match self {
            OpKind::Get(key) => vec![KvInput::get(*key)],
            OpKind::Set(key, value) => vec![KvInput::set(*key, value.as_str())],
            OpKind::Incr(key) => vec![KvInput::incr(*key, 1)],
            OpKind::Del(key) => vec![KvInput::del(*key)],
            OpKind::Exec(a, b, value) => {
                vec![
                    KvInput::set(*a, value.as_str()),
                    KvInput::set(*b, value.as_str()),
                ]
            }
        }
    }

    /// Maps the reply frames to outputs, one per input. Panics on a reply of the wrong shape:
    /// that is a bug in the server or in the simulator, never a fault to tolerate.
    fn outputs(&self, frames: &[Frame]) -> Vec<KvOutput> {
        let bad = || panic!("unexpected reply {frames:?} to {self:?}");
        match (self, frames) {
            (OpKind::Get(_), [Frame::Bulk(value)]) => vec![KvOutput::Value(Some(value.to_vec()))],
            (OpKind::Get(_), [Frame::Null]) => vec![KvOutput::Value(None)],
            (OpKind::Set(..), [Frame::Simple(ok)]) if ok == "OK" => vec![KvOutput::Ok],
            (OpKind::Incr(_), [Frame::Integer(n)]) => vec![KvOutput::Incr(Ok(*n))],
            (OpKind::Incr(_), [Frame::Error(_)]) => vec![KvOutput::Incr(Err(()))],
            (OpKind::Del(_), [Frame::Integer(n)]) if *n >= 0 => {
                vec![KvOutput::Deleted(*n as u64)]
            }
            (OpKind::Exec(..), [Frame::Array(replies)])
                if replies.iter().all(|r| *r == Frame::ok()) && replies.len() == 2 =>
            {
                vec![KvOutput::Ok, KvOutput::Ok]
            }
            _ => bad(),
        }
    }
}

/// What an error tells the client about a write.
fn not_applied(error: &ShardError) -> bool {
    match error {
        ShardError::NotLeader { .. } | ShardError::Invalid(_) => true,
        ShardError::Retry(reason) => {
            !reason.contains("may or may not")
                && (reason.contains("not applied") || reason.contains("proposal dropped"))
        }
        ShardError::Stopped | ShardError::Fatal(_) => false,
    }
}

/// An operation sent and not yet answered.
#[derive(Debug)]
struct InFlight {
    node: u64,
    token: u64,
    kind: OpKind,
    call_ms: u64,
    deadline_ms: u64,
}

/// One client.
#[derive(Debug)]
struct Client {
    id: u64,
    next_op_ms: u64,
    in_flight: Option<InFlight>,
    leader_guess: u64,
    seq: u64,
}

/// A request the simulator must hand to a node.
#[derive(Debug)]
pub struct Request {
    /// The issuing client.
    pub client: u64,
    /// The node it goes to.
    pub node: u64,
    /// What it asks.
    pub kind: OpKind,
}

/// All clients and the history they recorded.
#[derive(Debug)]
pub struct Clients {
    clients: Vec<Client>,
    /// The nodes a client may try: every node not removed from the cluster.
    nodes: Vec<u64>,
    ops_max: u64,
    ops_issued: u64,
    history: Vec<Operation<KvInput, KvOutput>>,
}

impl Clients {
    /// `count` clients that together issue at most `ops_max` operations on a cluster of
    /// `nodes` (ids `1..=nodes`).
    pub fn new(count: u64, nodes: u64, ops_max: u64) -> Clients {
        let nodes: Vec<u64> = (1..=nodes).collect();
        let clients = (1..=count)
            .map(|id| Client {
                id,
                next_op_ms: id,
                in_flight: None,
                leader_guess: nodes[(id % nodes.len() as u64) as usize],
                seq: 0,
            })
            .collect();
        Clients {
            clients,
            nodes,
            ops_max,
            ops_issued: 0,
            history: Vec::new(),
        }
    }

    /// The nodes clients may try from now on (membership changed). Drawing from `1..=n` picks
    /// the same node as before for the same random number, so runs without membership changes
    /// are unaffected.
    pub fn set_nodes(&mut self, nodes: Vec<u64>) {
        assert!(!nodes.is_empty(), "clients need a node to talk to");
        self.nodes = nodes;
    }

    /// Whether every operation was issued and answered (or given up on).
    pub fn done(&self) -> bool {
        self.ops_issued >= self.ops_max && self.clients.iter().all(|c| c.in_flight.is_none())
    }

    /// When a client next needs attention (a new operation or a timeout).
    pub fn next_event_ms(&self) -> Option<u64> {
        self.clients
            .iter()
            .filter_map(|c| match &c.in_flight {
                Some(op) => Some(op.deadline_ms),
                None if self.ops_issued < self.ops_max => Some(c.next_op_ms),
                None => None,
            })
            .min()
    }

    /// New operations of idle clients whose think time is over.
    pub fn due_requests(&mut self, now_ms: u64, rng: &mut Rng) -> Vec<Request> {
        let mut out = Vec::new();
        for c in &mut self.clients {
            if c.in_flight.is_some() || c.next_op_ms > now_ms || self.ops_issued >= self.ops_max {
                continue;
            }
            self.ops_issued += 1;
            c.seq += 1;
            let kind = random_op(c.id, c.seq, rng);
            // Reads sometimes go to any node, to exercise follower ReadIndex.
            let node = if !kind.is_write() && rng.chance(300) {
                rng.pick(&self.nodes)
            } else {
                c.leader_guess
            };
            out.push(Request {
                client: c.id,
                node,
                kind,
            });
        }
        out
    }

    /// The node accepted the request under `token`.
    pub fn sent(&mut self, request: Request, token: u64, now_ms: u64) {
        let c = self.client(request.client);
        c.in_flight = Some(InFlight {
            node: request.node,
            token,
            kind: request.kind,
            call_ms: now_ms,
            deadline_ms: now_ms + OP_TIMEOUT_MS,
        });
    }

    /// The node refused the request at once (down, not the leader, ...): not applied.
    pub fn refused(
        &mut self,
        request: Request,
        error: Option<ShardError>,
        now_ms: u64,
        rng: &mut Rng,
    ) {
        // A refused request did not happen; it does not count against the run's operations.
        self.ops_issued -= 1;
        let nodes = self.nodes.clone();
        let c = self.client(request.client);
        c.leader_guess = match error {
            Some(ShardError::NotLeader { leader }) if leader != 0 => leader,
            _ => rng.pick(&nodes),
        };
        c.next_op_ms = now_ms + rng.between(5, 30);
    }

    /// A node answered `token`; ignored unless `client` still waits for exactly that.
    pub fn answered(
        &mut self,
        client: u64,
        node: u64,
        token: u64,
        result: Result<Vec<Frame>, ShardError>,
        now_ms: u64,
        rng: &mut Rng,
    ) {
        let nodes = self.nodes.clone();
        let c = self.client(client);
        let waiting = c
            .in_flight
            .as_ref()
            .is_some_and(|op| op.node == node && op.token == token);
        if !waiting {
            return;
        }
        let Some(op) = c.in_flight.take() else {
            return;
        };
        let record = match result {
            Ok(frames) => {
                c.next_op_ms = now_ms + rng.between(THINK_MS_MIN, THINK_MS_MAX);
                let outputs = op.kind.outputs(&frames);
                Some(
                    op.kind
                        .inputs()
                        .into_iter()
                        .zip(outputs)
                        .map(|(input, output)| {
                            Operation::returned(client, op.call_ms, now_ms, input, output)
                        })
                        .collect(),
                )
            }
            Err(error) => {
                c.next_op_ms = now_ms + rng.between(5, 30);
                c.leader_guess = match error {
                    ShardError::NotLeader { leader } if leader != 0 => leader,
                    _ => rng.pick(&nodes),
                };
                (!not_applied(&error)).then(|| unknown(client, &op))
            }
        };
        self.history.extend(record.into_iter().flatten());
    }

    /// `node` crashed: its clients' connections drop, outcomes unknown.
    pub fn node_crashed(&mut self, node: u64, now_ms: u64, rng: &mut Rng) {
        let nodes = &self.nodes;
        let mut lost = Vec::new();
        for c in &mut self.clients {
            if c.in_flight.as_ref().is_some_and(|op| op.node == node) {
                let Some(op) = c.in_flight.take() else {
                    continue;
                };
                lost.extend(unknown(c.id, &op));
                c.next_op_ms = now_ms + rng.between(5, 30);
                c.leader_guess = rng.pick(nodes);
            }
        }
        self.history.extend(lost);
    }

    /// Gives up on operations past their deadline; returns `(node, token)` of each, so the
    /// simulator forgets their waiters.
    pub fn expire(&mut self, now_ms: u64, rng: &mut Rng) -> Vec<(u64, u64)> {
        let nodes = &self.nodes;
        let mut expired = Vec::new();
        let mut lost = Vec::new();
        for c in &mut self.clients {
            if !c
                .in_flight
                .as_ref()
                .is_some_and(|op| op.deadline_ms <= now_ms)
            {
                continue;
            }
            let Some(op) = c.in_flight.take() else {
                continue;
            };
            expired.push((op.node, op.token));
            lost.extend(unknown(c.id, &op));
            c.next_op_ms = now_ms + rng.between(5, 30);
            c.leader_guess = rng.pick(nodes);
        }
        self.history.extend(lost);
        expired
    }

    /// The recorded history.
    pub fn history(&self) -> &[Operation<KvInput, KvOutput>] {
        &self.history
    }

    fn client(&mut self, id: u64) -> &mut Client {
        self.clients
            .iter_mut()
            .find(|c| c.id == id)
            .expect("answers go to clients that exist")
    }
}

/// The history entries of an operation whose outcome is unknown: none for a read.
fn unknown(client: u64, op: &InFlight) -> Vec<Operation<KvInput, KvOutput>> {
    if !op.kind.is_write() {
        return Vec::new();
    }
    op.kind
        .inputs()
        .into_iter()
        .map(|input| Operation::unknown(client, op.call_ms, input))
        .collect()
}

/// A random operation; SET values are unique per (client, sequence), and numeric, so INCR
/// keeps working after a SET.
fn random_op(client: u64, seq: u64, rng: &mut Rng) -> OpKind {
    let key = rng.pick(&KEYS);
    let value = (client * 1_000_000 + seq * 1_000).to_string();
    match rng.below(100) {
        0..=39 => OpKind::Get(key),
        40..=64 => OpKind::Set(key, value),
        65..=84 => OpKind::Incr(key),
        85..=92 => OpKind::Del(key),
        _ => {
            let other = rng.pick(&KEYS);
            if other == key {
                OpKind::Set(key, value)
            } else {
                OpKind::Exec(key, other, value)
            }
        }
    }
}
