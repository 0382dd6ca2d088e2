//! Multi-node clusters for the end-to-end tests: n [`Node`]s started the way users start them.
//!
//! Each node is its own `tinkerdb server` process with
//! `--node-id N --initial-cluster 1=<peer addr>,2=...`. All ports are picked before the first
//! node starts (the member list names them), then every node is launched and only then awaited:
//! a node waits a few seconds for a leader before it serves, so starting them one by one would
//! be slow. With [`Cluster::start_with_proxies`], each `--initial-cluster` entry is the address
//! of a [`Network`] proxy in front of the node's real peer port, and a test can cut links.
//!
//! Nodes are named by their Raft node id, `1..=n`, as `INFO raft` names them (`raft_leader_id`).
//!
//! Invariants: every wait is bounded (a timeout the caller gives, or [`INFO_TIMEOUT`] per
//! question); the cluster's state is learnt only through what clients can see (`INFO`);
//! dropping the `Cluster` kills every node, then stops the proxies.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use redis::{RedisError, RedisResult};

use super::proxy::Network;
use super::{Node, NodeOptions, Ports};

/// Connect, read and write timeout of one `INFO` question; a node slower than this counts as
/// not answering.
pub const INFO_TIMEOUT: Duration = Duration::from_secs(1);
/// Pause between polls of the cluster's state.
const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// Pause between attempts of a retried command.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// How to start a [`Cluster`].
#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// Number of voters.
    pub nodes: usize,
    /// Put a fault-injecting proxy in front of each node's peer port.
    pub proxies: bool,
    /// More `tinkerdb server` flags for every node.
    pub args: Vec<String>,
}

/// What `INFO raft` says about one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftInfo {
    /// `leader`, `follower`, `candidate` or `pre-candidate`.
    pub role: String,
    pub term: u64,
    /// 0 when the node knows no leader.
    pub leader_id: u64,
    pub commit_index: u64,
    pub applied_index: u64,
}

impl RaftInfo {
    fn parse(text: &str) -> Option<RaftInfo> {
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
        };
        let number = |name: &str| field(name)?.parse::<u64>().ok();
        Some(RaftInfo {
            role: field("raft_role")?.to_owned(),
            term: number("raft_term")?,
            leader_id: number("raft_leader_id")?,
            commit_index: number("raft_commit_index")?,
            applied_index: number("raft_applied_index")?,
        })
    }
}

/// What a client may conclude from a failed command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The server said it did not apply the command (no leader, not the leader, proposal
    /// dropped), or the connection was refused before it was sent.
    NotApplied,
    /// It may or may not have been applied: a timeout, a dead connection, or a server reply
    /// saying so.
    Unknown,
}

impl Failure {
    /// Classifies an error by the server's words: only `CLUSTERDOWN` and `TRYAGAIN` replies
    /// without "may or may not" promise that nothing happened.
    pub fn of(err: &RedisError) -> Failure {
        if err.is_connection_refusal() {
            return Failure::NotApplied;
        }
        match err.code() {
            Some(_) if err.to_string().contains("may or may not") => Failure::Unknown,
            Some("CLUSTERDOWN" | "TRYAGAIN") => Failure::NotApplied,
            _ => Failure::Unknown,
        }
    }
}

/// Whether a client should retry after `err`: the cluster's retry codes and broken or refused
/// connections. Other error replies (`ERR`, `WRONGTYPE`, ...) are answers.
pub fn is_retryable(err: &RedisError) -> bool {
    matches!(err.code(), Some("CLUSTERDOWN" | "TRYAGAIN")) || err.code().is_none()
}

/// n running (or killed) nodes that form one Raft group.
pub struct Cluster {
    /// `nodes[id - 1]`. Declared before `network`: nodes die before their proxies.
    nodes: Vec<Node>,
    network: Option<Network>,
}

impl Cluster {
    /// `n` nodes whose peers dial each other directly.
    pub fn start(n: usize) -> Cluster {
        Cluster::start_with(ClusterOptions {
            nodes: n,
            ..ClusterOptions::default()
        })
    }

    /// `n` nodes whose peers dial each other through a [`Network`] of proxies.
    pub fn start_with_proxies(n: usize) -> Cluster {
        Cluster::start_with(ClusterOptions {
            nodes: n,
            proxies: true,
            ..ClusterOptions::default()
        })
    }

    /// Starts the cluster as `options` say and waits until every node answers `PING` (not for
    /// a leader: see [`Cluster::wait_for_leader`]).
    pub fn start_with(options: ClusterOptions) -> Cluster {
        assert!(options.nodes >= 1, "a cluster needs at least one node");
        let ports = Ports::pick_many(options.nodes);
        let ids = 1..=options.nodes;
        let network = options.proxies.then(|| {
            let members: Vec<(usize, SocketAddr)> = ids
                .clone()
                .zip(&ports)
                .map(|(id, p)| (id, p.peer_addr().parse().expect("a socket address")))
                .collect();
            Network::start(&members)
        });
        let initial_cluster = ids
            .clone()
            .zip(&ports)
            .map(|(id, p)| match &network {
                Some(network) => format!("{id}={}", network.proxy_addr(id)),
                None => format!("{id}={}", p.peer_addr()),
            })
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes: Vec<Node> = ids
            .zip(&ports)
            .map(|(id, p)| {
                let mut args = vec![
                    "--node-id".to_owned(),
                    id.to_string(),
                    "--initial-cluster".to_owned(),
                    initial_cluster.clone(),
                ];
                args.extend(options.args.iter().cloned());
                Node::launch(NodeOptions {
                    ports: Some(*p),
                    args,
                    ..NodeOptions::default()
                })
            })
            .collect();
        for node in &mut nodes {
            node.await_ready();
        }
        Cluster { nodes, network }
    }

    /// Number of nodes, running or not.
    pub fn size(&self) -> usize {
        self.nodes.len()
    }

    /// All node ids, `1..=n`.
    pub fn ids(&self) -> Vec<usize> {
        (1..=self.nodes.len()).collect()
    }

    /// Node `id`.
    pub fn node(&self, id: usize) -> &Node {
        self.check_id(id);
        &self.nodes[id - 1]
    }

    /// Node `id`, to kill or restart it.
    pub fn node_mut(&mut self, id: usize) -> &mut Node {
        self.check_id(id);
        &mut self.nodes[id - 1]
    }

    /// The proxies; only for a cluster started with them.
    pub fn network(&self) -> &Network {
        self.network
            .as_ref()
            .expect("this cluster was started without proxies (use start_with_proxies)")
    }

    /// A connection to node `id` with the harness's bounded timeouts.
    pub fn conn(&self, id: usize) -> redis::Connection {
        self.node(id).conn()
    }

    /// A connection to node `id` whose connect, reads and writes give up after `timeout`.
    pub fn try_conn(&self, id: usize, timeout: Duration) -> RedisResult<redis::Connection> {
        let conn = self
            .node(id)
            .client()
            .get_connection_with_timeout(timeout)?;
        conn.set_read_timeout(Some(timeout))?;
        conn.set_write_timeout(Some(timeout))?;
        Ok(conn)
    }

    /// `kill -9` node `id`.
    pub fn kill9(&mut self, id: usize) {
        self.node_mut(id).kill9();
    }

    /// Starts node `id` again on its data and ports, and waits until it answers `PING`.
    pub fn restart(&mut self, id: usize) {
        self.node_mut(id).restart();
    }

    /// Whether node `id` is running.
    pub fn is_running(&self, id: usize) -> bool {
        self.node(id).is_running()
    }

    /// `INFO raft` of node `id`, or `None` if it is down or does not answer in time.
    pub fn raft_info(&self, id: usize) -> Option<RaftInfo> {
        if !self.is_running(id) {
            return None;
        }
        let mut conn = self.try_conn(id, INFO_TIMEOUT).ok()?;
        let text: String = redis::cmd("INFO").arg("raft").query(&mut conn).ok()?;
        RaftInfo::parse(&text)
    }

    /// The leader every running node agrees on; see [`Cluster::leader_among`].
    pub fn leader(&self) -> Option<usize> {
        self.leader_among(&self.ids())
    }

    /// The leader of the nodes `ids` (say, one side of a partition): every running node among
    /// them that answers names the same leader, in the same term, and that leader is one of
    /// them and says it leads. `None` while they disagree or know no leader.
    pub fn leader_among(&self, ids: &[usize]) -> Option<usize> {
        let infos: Vec<(usize, RaftInfo)> = ids
            .iter()
            .filter_map(|&id| Some((id, self.raft_info(id)?)))
            .collect();
        let (_, first) = infos.first()?;
        let leader = usize::try_from(first.leader_id).ok()?;
        let (_, leader_info) = infos.iter().find(|(id, _)| *id == leader)?;
        let agreed = leader_info.role == "leader"
            && infos.iter().all(|(_, info)| {
                info.leader_id == first.leader_id && info.term == leader_info.term
            });
        agreed.then_some(leader)
    }

    /// Waits up to `timeout` for [`Cluster::leader`]; fails the test with every node's state.
    pub fn wait_for_leader(&self, timeout: Duration) -> usize {
        self.wait_for_leader_among(&self.ids(), timeout)
    }

    /// Waits up to `timeout` for [`Cluster::leader_among`] `ids`.
    pub fn wait_for_leader_among(&self, ids: &[usize], timeout: Duration) -> usize {
        self.wait_until(timeout, &format!("a leader among nodes {ids:?}"), || {
            self.leader_among(ids)
        })
    }

    /// Polls `probe` until it returns `Some`, for at most `timeout`; fails the test naming
    /// `what` and showing each node's Raft state.
    pub fn wait_until<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut probe: impl FnMut() -> Option<T>,
    ) -> T {
        let started = Instant::now();
        let polls_max = timeout.as_millis() / POLL_INTERVAL.as_millis() + 1;
        for _ in 0..polls_max {
            if let Some(found) = probe() {
                return found;
            }
            if started.elapsed() >= timeout {
                break;
            }
            thread::sleep(POLL_INTERVAL);
        }
        panic!("no {what} within {timeout:?}\n{}", self.describe());
    }

    /// Runs `command` on node `id` until it succeeds, fails with an error that is not
    /// retryable, or `timeout` passes (then the last error). Reconnects after broken
    /// connections. Only for commands that may safely run twice (reads, or writes the test
    /// does not count).
    pub fn retry<T>(
        &self,
        id: usize,
        timeout: Duration,
        mut command: impl FnMut(&mut redis::Connection) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let started = Instant::now();
        let mut conn: Option<redis::Connection> = None;
        let attempts_max = timeout.as_millis() / RETRY_PAUSE.as_millis() + 1;
        let mut last_error = None;
        for _ in 0..attempts_max {
            let left = timeout.saturating_sub(started.elapsed()).max(RETRY_PAUSE);
            let result = match conn.as_mut() {
                Some(live) => command(live),
                None => self.try_conn(id, left).and_then(|mut fresh| {
                    let result = command(&mut fresh);
                    conn = Some(fresh);
                    result
                }),
            };
            match result {
                Ok(value) => return Ok(value),
                Err(err) if is_retryable(&err) => {
                    if err.code().is_none() {
                        conn = None;
                    }
                    last_error = Some(err);
                }
                Err(err) => return Err(err),
            }
            if started.elapsed() >= timeout {
                break;
            }
            thread::sleep(RETRY_PAUSE);
        }
        Err(last_error.expect("at least one attempt ran"))
    }

    /// One line per node: running or not, and its Raft state; for failure messages.
    pub fn describe(&self) -> String {
        self.ids()
            .into_iter()
            .map(|id| match (self.is_running(id), self.raft_info(id)) {
                (false, _) => format!("  node {id}: down"),
                (true, None) => format!("  node {id}: running, INFO raft did not answer"),
                (true, Some(info)) => format!("  node {id}: {info:?}"),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn check_id(&self, id: usize) {
        assert!(
            (1..=self.nodes.len()).contains(&id),
            "node ids are 1..={}, not {id}",
            self.nodes.len()
        );
    }
}
