//! Three-node clusters end to end: every node serves every command, and the cluster stays
//! linearizable while its leader is killed with SIGKILL again and again.
//!
//! Scenarios:
//! - [`every_node_serves_reads_and_writes`]: a write through any node is read back through
//!   every node (followers forward writes and read through ReadIndex); exactly one node says
//!   `role:master`.
//! - [`linearizable_while_the_leader_is_killed`]: [`CLIENTS`] threads run SET (unique values),
//!   INCR and GET on a few shared keys, each through a random node, while the leader is killed
//!   [`FAILOVERS`] times and restarted. Every operation is recorded with its call and return
//!   times; one whose reply never came, or whose error says "may or may not have been applied",
//!   is *unknown*. The per-key history must be linearizable ([`check_kv`]) and every
//!   acknowledged SET of a key written once must be readable at the end.
//!
//! The seed is printed; `TINKERDB_CLUSTER_SEED=<seed>` replays the same choices of operations
//! and nodes (the cluster's timing still varies).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::cluster::{Cluster, Failure};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::{RedisResult, Value};
use tinkerdb_lincheck::kv::{check_kv, KvInput, KvOutput};
use tinkerdb_lincheck::{render, Budget, CheckResult, Operation};

/// Voters in each cluster.
const NODES: usize = 3;
/// How long a fresh cluster may take to elect its first leader.
const ELECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a retried command may keep meeting `CLUSTERDOWN` / `TRYAGAIN`.
const RETRY_TIMEOUT: Duration = Duration::from_secs(10);

/// Concurrent clients in the kill test.
const CLIENTS: u64 = 6;
/// Leader kills (each followed by a restart of the killed node).
const FAILOVERS: u32 = 4;
/// Shared registers (SET unique values, GET) and counters (INCR, GET).
const REGISTERS: u64 = 3;
const COUNTERS: u64 = 2;
/// How long the clients run between a restart and the next kill, in milliseconds (seeded).
const RUN_BETWEEN_KILLS_MS: Range<u64> = 500..2_500;
/// How long a killed leader stays down before it restarts.
const DOWN_TIME: Duration = Duration::from_millis(300);
/// How long the cluster may take to acknowledge a write after a kill (failover included).
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(10);
/// No new kill after this much time, so the test stays under a minute.
const KILLS_BUDGET: Duration = Duration::from_secs(35);
/// Client operation timeout: longer than the server's own 5 s request timeout, so a slow
/// request usually ends with the server's words rather than ours.
const OP_TIMEOUT: Duration = Duration::from_secs(6);
/// A client gives up after this long even if never told to stop, and after this many ops.
const CLIENT_LIFETIME_MAX: Duration = Duration::from_secs(55);
const CLIENT_OPS_MAX: u64 = 200_000;
/// Keys per MGET when checking the write-once keys.
const VERIFY_BATCH: usize = 1_000;
/// Pause between a failed connect and the next attempt.
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);
/// Work the linearizability check may do.
const CHECK_STEPS_MAX: u64 = 200_000_000;
const CHECK_TIME_MAX: Duration = Duration::from_secs(30);

#[test]
fn every_node_serves_reads_and_writes() {
    let cluster = Cluster::start(NODES);
    let leader = cluster.wait_for_leader(ELECTION_TIMEOUT);
    println!("leader: node {leader}\n{}", cluster.describe());

    for id in cluster.ids() {
        let key = format!("written-through-{id}");
        let value = format!("value-from-node-{id}");
        let reply: String = cluster
            .retry(id, RETRY_TIMEOUT, |c| {
                redis::cmd("SET").arg(&key).arg(&value).query(c)
            })
            .unwrap_or_else(|e| panic!("SET through node {id}: {e}\n{}", cluster.describe()));
        assert_eq!(reply, "OK", "SET through node {id}");
    }
    // Reads are linearizable on every node: the writes above returned, so every node sees them.
    for reader in cluster.ids() {
        let mut conn = cluster.conn(reader);
        for writer in cluster.ids() {
            let value: Option<String> = redis::cmd("GET")
                .arg(format!("written-through-{writer}"))
                .query(&mut conn)
                .unwrap_or_else(|e| panic!("GET through node {reader}: {e}"));
            assert_eq!(
                value.as_deref(),
                Some(format!("value-from-node-{writer}").as_str()),
                "node {reader} reads what node {writer} acknowledged"
            );
        }
    }
    // INCR through each node in turn: one counter, one order.
    for (i, id) in cluster.ids().into_iter().enumerate() {
        let n: i64 = redis::cmd("INCR")
            .arg("counter")
            .query(&mut cluster.conn(id))
            .expect("INCR");
        assert_eq!(n, i as i64 + 1, "INCR through node {id}");
    }

    let masters: Vec<usize> = cluster
        .ids()
        .into_iter()
        .filter(|&id| {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut cluster.conn(id))
                .expect("INFO replication");
            info.lines().any(|l| l.trim() == "role:master")
        })
        .collect();
    assert_eq!(
        masters,
        vec![leader],
        "exactly the leader says role:master\n{}",
        cluster.describe()
    );
}

/// One operation a client ran, in the checker's terms.
type KvOp = Operation<KvInput, KvOutput>;

/// What one client did.
#[derive(Default)]
struct Ledger {
    /// Every SET, INCR and GET on the shared keys, except those the server refused outright.
    history: Vec<KvOp>,
    /// SETs of keys written once (`u:<client>:<seq>`), with whether they were acknowledged.
    unique_sets: Vec<(String, String, bool)>,
    unknown: u64,
    refused: u64,
    /// Replies no correct server gives (e.g. SET answered with something other than OK).
    wrong: Vec<String>,
}

/// State shared by the test thread and the clients.
struct Shared {
    stop: AtomicBool,
    /// Acknowledged writes, to see that the cluster makes progress.
    acked_writes: AtomicU64,
    /// When the last leader was killed (µs since `started`), and the earliest return of a write
    /// that was called after it: the end of the failover.
    killed_at: AtomicU64,
    first_write_after_kill: AtomicU64,
    started: Instant,
}

impl Shared {
    fn micros(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).expect("test time fits in u64")
    }
}

/// Tells the clients to stop when dropped, so a failing test does not leave them running.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
    }
}

/// The command a client picked, with its input for the history.
enum Pick {
    Shared(KvInput),
    UniqueSet(String, String),
}

fn pick(rng: &mut StdRng, client: u64, seq: u64) -> Pick {
    let register = format!("r{}", rng.gen_range(0..REGISTERS));
    let counter = format!("n{}", rng.gen_range(0..COUNTERS));
    match rng.gen_range(0..100) {
        0..35 => Pick::Shared(KvInput::set(register, format!("c{client}s{seq}"))),
        35..55 => Pick::Shared(KvInput::get(register)),
        55..75 => Pick::Shared(KvInput::incr(counter, 1)),
        75..85 => Pick::Shared(KvInput::get(counter)),
        _ => Pick::UniqueSet(format!("u:{client}:{seq}"), format!("c{client}u{seq}")),
    }
}

/// Runs `input` and returns the client's view: the output, or how it failed.
fn run(conn: &mut redis::Connection, input: &KvInput) -> RedisResult<KvOutput> {
    match input {
        KvInput::Set { key, value } => {
            let reply: Value = redis::cmd("SET").arg(key).arg(value).query(conn)?;
            Ok(match reply {
                Value::Okay => KvOutput::Ok,
                other => KvOutput::Value(Some(format!("{other:?}").into_bytes())),
            })
        }
        KvInput::Get { key } => {
            let value: Option<Vec<u8>> = redis::cmd("GET").arg(key).query(conn)?;
            Ok(KvOutput::Value(value))
        }
        KvInput::Incr { key, by } => {
            let n: i64 = redis::cmd("INCRBY").arg(key).arg(*by).query(conn)?;
            Ok(KvOutput::Incr(Ok(n)))
        }
        other => unreachable!("the clients do not send {other:?}"),
    }
}

fn connect(url: &str) -> Option<redis::Connection> {
    let client = redis::Client::open(url).ok()?;
    let conn = client.get_connection_with_timeout(OP_TIMEOUT).ok()?;
    conn.set_read_timeout(Some(OP_TIMEOUT)).ok()?;
    conn.set_write_timeout(Some(OP_TIMEOUT)).ok()?;
    Some(conn)
}

/// One client: runs operations through random nodes until told to stop.
fn run_client(client: u64, seed: u64, urls: Vec<String>, shared: Arc<Shared>) -> Ledger {
    let mut rng = StdRng::seed_from_u64(seed ^ client.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut ledger = Ledger::default();
    let mut conns: Vec<Option<redis::Connection>> = urls.iter().map(|_| None).collect();
    for seq in 0..CLIENT_OPS_MAX {
        if shared.stop.load(Ordering::SeqCst) || shared.started.elapsed() > CLIENT_LIFETIME_MAX {
            break;
        }
        let node = rng.gen_range(0..urls.len());
        if conns[node].is_none() {
            conns[node] = connect(&urls[node]);
        }
        let Some(conn) = conns[node].as_mut() else {
            thread::sleep(RECONNECT_PAUSE);
            continue;
        };
        let (input, unique) = match pick(&mut rng, client, seq) {
            Pick::Shared(input) => (input, None),
            Pick::UniqueSet(key, value) => {
                (KvInput::set(key.clone(), value.clone()), Some((key, value)))
            }
        };
        let call = shared.micros();
        let result = run(conn, &input);
        let ret = shared.micros();
        let is_write = !matches!(input, KvInput::Get { .. });
        match result {
            Ok(output) => {
                if is_write {
                    shared.acked_writes.fetch_add(1, Ordering::Relaxed);
                    if call >= shared.killed_at.load(Ordering::SeqCst) {
                        shared
                            .first_write_after_kill
                            .fetch_min(ret, Ordering::SeqCst);
                    }
                }
                if matches!(input, KvInput::Set { .. }) && output != KvOutput::Ok {
                    ledger.wrong.push(format!("{input:?} answered {output:?}"));
                }
                match unique {
                    Some((key, value)) => ledger.unique_sets.push((key, value, true)),
                    None => ledger
                        .history
                        .push(Operation::returned(client, call, ret, input, output)),
                }
            }
            Err(err) => {
                if err.code().is_none() {
                    conns[node] = None; // the stream's state is unknown
                }
                match (Failure::of(&err), is_write) {
                    // A refused command never happened; a failed read changed nothing.
                    (Failure::NotApplied, _) | (_, false) => ledger.refused += 1,
                    (Failure::Unknown, true) => {
                        ledger.unknown += 1;
                        match unique {
                            Some((key, value)) => ledger.unique_sets.push((key, value, false)),
                            None => ledger.history.push(Operation::unknown(client, call, input)),
                        }
                    }
                }
            }
        }
    }
    ledger
}

/// Waits until some write is acknowledged after `before`; `false` on timeout.
fn wait_for_write(shared: &Shared, before: u64, timeout: Duration) -> bool {
    poll(timeout, || {
        shared.acked_writes.load(Ordering::Relaxed) > before
    })
}

/// Kills the leader and measures the failover: from the kill to the return of the first write
/// that a client sent after it. `None` if no such write within `timeout`.
fn kill_and_time_failover(
    cluster: &mut Cluster,
    leader: usize,
    shared: &Shared,
    timeout: Duration,
) -> Option<Duration> {
    // No write counts until the kill time is known; then only writes sent after it.
    shared.killed_at.store(u64::MAX, Ordering::SeqCst);
    shared
        .first_write_after_kill
        .store(u64::MAX, Ordering::SeqCst);
    cluster.kill9(leader);
    let killed_at = shared.micros();
    shared.killed_at.store(killed_at, Ordering::SeqCst);
    let done = poll(timeout, || {
        shared.first_write_after_kill.load(Ordering::SeqCst) != u64::MAX
    });
    let end = shared.first_write_after_kill.load(Ordering::SeqCst);
    done.then(|| Duration::from_micros(end.saturating_sub(killed_at)))
}

/// Polls `done` every millisecond for at most `timeout`.
fn poll(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    let polls_max = timeout.as_millis() + 1;
    for _ in 0..polls_max {
        if done() {
            return true;
        }
        if started.elapsed() >= timeout {
            break;
        }
        thread::sleep(Duration::from_millis(1));
    }
    done()
}

fn choose_seed() -> u64 {
    match std::env::var("TINKERDB_CLUSTER_SEED") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|e| panic!("TINKERDB_CLUSTER_SEED={text:?}: {e}")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5EED),
    }
}

/// Acknowledged SETs of write-once keys that the cluster lost, or holds with another value.
fn lost_unique_sets(cluster: &Cluster, ledgers: &[Ledger]) -> Vec<String> {
    let reader = cluster.leader().unwrap_or(1);
    let sets: Vec<&(String, String, bool)> = ledgers.iter().flat_map(|l| &l.unique_sets).collect();
    let mut lost = Vec::new();
    for batch in sets.chunks(VERIFY_BATCH) {
        let keys: Vec<&str> = batch.iter().map(|(key, _, _)| key.as_str()).collect();
        let found: Vec<Option<String>> = cluster
            .retry(reader, RETRY_TIMEOUT, |c| {
                redis::cmd("MGET").arg(&keys).query(c)
            })
            .unwrap_or_else(|e| panic!("MGET the write-once keys through node {reader}: {e}"));
        for ((key, value, acked), found) in batch.iter().zip(found) {
            match (found, acked) {
                (Some(v), _) if v == *value => {}
                (None, false) => {}
                (found, _) => lost.push(format!(
                    "SET {key} {value} (acked: {acked}): found {found:?}"
                )),
            }
        }
    }
    lost
}

fn print_summary(
    seed: u64,
    elapsed: Duration,
    ledgers: &[Ledger],
    failovers: &[(usize, usize, Duration)],
) {
    let ops: usize = ledgers
        .iter()
        .map(|l| l.history.len() + l.unique_sets.len())
        .sum();
    let unknown: u64 = ledgers.iter().map(|l| l.unknown).sum();
    let refused: u64 = ledgers.iter().map(|l| l.refused).sum();
    let mut lines = vec![
        format!("cluster kill -9: seed {seed}, {elapsed:.1?}, {CLIENTS} clients, {NODES} nodes"),
        format!("  operations recorded {ops}, unknown outcome {unknown}, refused or failed reads {refused}"),
    ];
    for (i, (killed, new_leader, took)) in failovers.iter().enumerate() {
        lines.push(format!(
            "  failover {}: killed leader {killed}, new leader {new_leader}, first write sent after the kill acknowledged {took:.0?} after it",
            i + 1
        ));
    }
    let _ = std::io::stderr().write_all((lines.join("\n") + "\n").as_bytes());
}

#[test]
fn linearizable_while_the_leader_is_killed() {
    let seed = choose_seed();
    println!("cluster seed {seed} (replay with TINKERDB_CLUSTER_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cluster = Cluster::start(NODES);
    cluster.wait_for_leader(ELECTION_TIMEOUT);
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        acked_writes: AtomicU64::new(0),
        killed_at: AtomicU64::new(u64::MAX),
        first_write_after_kill: AtomicU64::new(u64::MAX),
        started: Instant::now(),
    });
    let stop_guard = StopOnDrop(Arc::clone(&shared));
    let urls: Vec<String> = cluster
        .ids()
        .into_iter()
        .map(|id| cluster.node(id).url())
        .collect();
    let clients: Vec<thread::JoinHandle<Ledger>> = (0..CLIENTS)
        .map(|client| {
            let (urls, shared) = (urls.clone(), Arc::clone(&shared));
            thread::spawn(move || run_client(client, seed, urls, shared))
        })
        .collect();

    let mut failovers = Vec::new();
    assert!(
        wait_for_write(&shared, 0, FAILOVER_TIMEOUT),
        "no write acknowledged within {FAILOVER_TIMEOUT:?} of the start\n{}",
        cluster.describe()
    );
    for _ in 0..FAILOVERS {
        if shared.started.elapsed() > KILLS_BUDGET {
            break;
        }
        thread::sleep(Duration::from_millis(rng.gen_range(RUN_BETWEEN_KILLS_MS)));
        let leader = cluster.wait_for_leader(FAILOVER_TIMEOUT);
        let killed = Instant::now();
        let took = kill_and_time_failover(&mut cluster, leader, &shared, FAILOVER_TIMEOUT)
            .unwrap_or_else(|| {
                panic!(
                    "no write sent after leader {leader} was killed was acknowledged within \
                     {FAILOVER_TIMEOUT:?}\n{}",
                    cluster.describe()
                )
            });
        let survivors: Vec<usize> = cluster
            .ids()
            .into_iter()
            .filter(|&id| id != leader)
            .collect();
        let new_leader = cluster.wait_for_leader_among(&survivors, FAILOVER_TIMEOUT);
        failovers.push((leader, new_leader, took));
        thread::sleep(DOWN_TIME.saturating_sub(killed.elapsed()));
        cluster.restart(leader);
    }
    thread::sleep(Duration::from_millis(RUN_BETWEEN_KILLS_MS.end));
    drop(stop_guard);
    let ledgers: Vec<Ledger> = clients
        .into_iter()
        .map(|h| h.join().expect("a client thread panicked"))
        .collect();
    cluster.wait_for_leader(FAILOVER_TIMEOUT);
    print_summary(seed, shared.started.elapsed(), &ledgers, &failovers);

    let wrong: Vec<&String> = ledgers.iter().flat_map(|l| &l.wrong).collect();
    assert!(
        wrong.is_empty(),
        "impossible replies (seed {seed}): {wrong:?}"
    );
    let lost = lost_unique_sets(&cluster, &ledgers);
    assert!(
        lost.is_empty(),
        "acknowledged writes lost (seed {seed}):\n{}",
        lost.join("\n")
    );

    let history: Vec<KvOp> = ledgers.into_iter().flat_map(|l| l.history).collect();
    let per_key = history
        .iter()
        .fold(BTreeMap::new(), |mut m: BTreeMap<&[u8], usize>, op| {
            *m.entry(op.input.key()).or_default() += 1;
            m
        });
    assert!(
        per_key.values().all(|&n| n > 0) && per_key.len() as u64 == REGISTERS + COUNTERS,
        "every shared key was used: {per_key:?}"
    );
    let checked_at = Instant::now();
    let budget = Budget::steps(CHECK_STEPS_MAX).with_deadline(checked_at + CHECK_TIME_MAX);
    let result = check_kv(&history, budget);
    let verdict = match &result {
        CheckResult::NotLinearizable { label, .. } => format!("NOT linearizable (key {label})"),
        other => format!("{other:?}"),
    };
    let _ = writeln!(
        std::io::stderr(),
        "  linearizability check of {} operations on {} keys: {verdict} in {:.1?}",
        history.len(),
        per_key.len(),
        checked_at.elapsed()
    );
    match result {
        CheckResult::Linearizable => {}
        CheckResult::Unknown => panic!(
            "the linearizability check ran out of budget ({CHECK_STEPS_MAX} steps, {CHECK_TIME_MAX:?}) on {} operations (seed {seed})",
            history.len()
        ),
        violation @ CheckResult::NotLinearizable { .. } => panic!(
            "the history is not linearizable (seed {seed}):\n{}",
            render(&history, &violation)
        ),
    }
}
