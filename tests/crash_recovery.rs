//! The crash test: acknowledged writes survive `kill -9`, and unacknowledged ones are atomic.
//!
//! Scenario:
//! 1. One node; [`CLIENTS`] threads write as fast as they can, each to its own keys
//!    `c{client}:{seq}` with values no other write uses. Every client mixes three kinds of write:
//!    a `SET` of a fresh key, an `INCR` of its own counter `c{client}:counter`, and an `MSET` of
//!    three fresh keys `c{client}:m{seq}:{0,1,2}`.
//! 2. At seeded random moments the node is killed with SIGKILL and restarted on the same data
//!    directory, [`ROUNDS`] times. The final round ends with a kill too, then a last restart.
//! 3. Each client keeps a ledger: a write is *acknowledged* when the server answered it, and
//!    *unknown* when the connection died (or the server answered an error) before that.
//!
//! What must hold after the last restart:
//! - every acknowledged SET or MSET key has exactly its value;
//! - an unknown SET key is absent or has exactly its value; never another or a partial value;
//! - an unknown MSET is all-or-nothing;
//! - each counter is at least its highest acknowledged value and at most the number of INCRs
//!   attempted on it (and while running, each acknowledged INCR was above the previous one);
//! - no key exists that no client ever wrote.
//!
//! The seed is printed; `TINKERDB_CRASH_SEED=<seed>` replays the same schedule of kills and
//! operations (the server's timing still varies).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::Node;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::{RedisError, RedisResult, Value};

/// Concurrent writers.
const CLIENTS: u64 = 8;
/// Kill -9 and restart cycles.
const ROUNDS: u32 = 5;
/// How long a restarted node may take to acknowledge its first write.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between checks for that first acknowledgement.
const PROGRESS_POLL: Duration = Duration::from_millis(5);
/// How long the clients write before each kill, once the node acknowledges writes, in
/// milliseconds (seeded random).
const RUN_MS: Range<u64> = 200..1_200;
/// How long the node stays down after a kill, in milliseconds (seeded random).
const DOWN_MS: Range<u64> = 0..150;
/// No new round starts after this much time, so the whole test stays well under a minute.
const ROUNDS_BUDGET: Duration = Duration::from_secs(35);
/// A client thread gives up after this long even if never told to stop.
const CLIENT_LIFETIME_MAX: Duration = Duration::from_secs(55);
/// Upper bound on operations per client, as a second limit on its loop.
const CLIENT_OPS_MAX: u64 = 2_000_000;
/// Connect, read and write timeout of one client operation.
const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between reconnection attempts while the node is down.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);
/// Padding added to values, in bytes (seeded random), so records have varied sizes.
const VALUE_PAD: Range<usize> = 0..300;
/// Keys per MSET.
const MSET_KEYS: u64 = 3;
/// GETs per verification pipeline.
const VERIFY_BATCH: usize = 1_000;
/// Server error replies and wrong replies kept per client for the report.
const ERRORS_KEPT: usize = 5;
/// Failures printed in full when verification fails.
const FAILURES_SHOWN: usize = 30;

/// What the client knows about one write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The server answered it: it must survive any crash.
    Acked,
    /// The connection died (or the server answered an error) first: it may or may not exist.
    Unknown,
}

/// Everything one client attempted and learnt.
struct Ledger {
    client: u64,
    counter_key: String,
    /// INCRs sent, acknowledged or not: the most the counter can be.
    incr_attempts: u64,
    /// The highest value an INCR answered: the least the counter can be.
    incr_acked_max: u64,
    incr_acked: u64,
    sets: Vec<(String, String, Outcome)>,
    msets: Vec<(Vec<(String, String)>, Outcome)>,
    /// Server error replies (kept: the first few).
    errors: Vec<String>,
    errors_total: u64,
    /// Broken promises seen while running (a reply that cannot be right): the first few.
    violations: Vec<String>,
    violations_total: usize,
    /// Requests sent on the current connection, to tell "first reply after a restart" apart.
    requests_on_connection: u64,
}

impl Ledger {
    fn new(client: u64) -> Ledger {
        Ledger {
            client,
            counter_key: format!("c{client}:counter"),
            incr_attempts: 0,
            incr_acked_max: 0,
            incr_acked: 0,
            sets: Vec::new(),
            msets: Vec::new(),
            errors: Vec::new(),
            errors_total: 0,
            violations: Vec::new(),
            violations_total: 0,
            requests_on_connection: 0,
        }
    }

    fn violation(&mut self, what: String) {
        self.violations_total += 1;
        if self.violations.len() < ERRORS_KEPT {
            self.violations.push(format!(
                "client {} (request {} on its connection): {what}",
                self.client, self.requests_on_connection
            ));
        }
    }
}

/// State shared by the test's threads.
struct Shared {
    stop: AtomicBool,
    /// Acknowledged writes across all clients, to check every round made progress.
    acked: AtomicU64,
}

/// Tells the clients to stop when dropped, so a failing test does not leave them writing.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
    }
}

impl Outcome {
    fn of(acked: bool) -> Outcome {
        if acked {
            Outcome::Acked
        } else {
            Outcome::Unknown
        }
    }
}

/// A fresh value for `key`: unique (random) and of random length.
fn fresh_value(rng: &mut StdRng, key: &str) -> String {
    let pad = "x".repeat(rng.gen_range(VALUE_PAD));
    format!("{key}:{:016x}:{pad}", rng.gen::<u64>())
}

fn is_ok(value: &Value) -> bool {
    match value {
        Value::Okay => true,
        Value::SimpleString(s) => s == "OK",
        _ => false,
    }
}

/// Each write records itself and returns `Ok(true)` if acknowledged, `Ok(false)` if the server
/// answered something impossible (recorded as a violation), or the error.
impl Ledger {
    fn set(&mut self, con: &mut redis::Connection, rng: &mut StdRng, seq: u64) -> WriteResult {
        let key = format!("c{}:{seq}", self.client);
        let value = fresh_value(rng, &key);
        let reply = redis::cmd("SET").arg(&key).arg(&value).query(con);
        let acked = self.expect_ok(&reply, "SET");
        self.sets.push((key, value, Outcome::of(acked)));
        reply.map(|_| acked)
    }

    fn mset(&mut self, con: &mut redis::Connection, rng: &mut StdRng, seq: u64) -> WriteResult {
        let pairs: Vec<(String, String)> = (0..MSET_KEYS)
            .map(|j| {
                let key = format!("c{}:m{seq}:{j}", self.client);
                let value = fresh_value(rng, &key);
                (key, value)
            })
            .collect();
        let mut cmd = redis::cmd("MSET");
        for (key, value) in &pairs {
            cmd.arg(key).arg(value);
        }
        let reply = cmd.query(con);
        let acked = self.expect_ok(&reply, "MSET");
        self.msets.push((pairs, Outcome::of(acked)));
        reply.map(|_| acked)
    }

    fn incr(&mut self, con: &mut redis::Connection) -> WriteResult {
        self.incr_attempts += 1;
        let reply: RedisResult<Value> = redis::cmd("INCR").arg(&self.counter_key).query(con);
        match &reply {
            Ok(Value::Int(n)) => {
                let n = u64::try_from(*n).unwrap_or(0);
                if n <= self.incr_acked_max || n > self.incr_attempts {
                    self.violation(format!(
                        "INCR {} answered {n}: previous acknowledged {}, attempts {}",
                        self.counter_key, self.incr_acked_max, self.incr_attempts
                    ));
                }
                self.incr_acked_max = self.incr_acked_max.max(n);
                self.incr_acked += 1;
                Ok(true)
            }
            Ok(other) => {
                self.violation(format!("INCR answered {other:?}"));
                Ok(false)
            }
            Err(_) => reply.map(|_| false),
        }
    }

    fn expect_ok(&mut self, reply: &RedisResult<Value>, command: &str) -> bool {
        match reply {
            Ok(value) if is_ok(value) => true,
            Ok(value) => {
                self.violation(format!("{command} answered {value:?}"));
                false
            }
            Err(_) => false,
        }
    }

    fn error_reply(&mut self, err: &RedisError) {
        self.errors_total += 1;
        if self.errors.len() < ERRORS_KEPT {
            self.errors.push(err.to_string());
        }
    }
}

type WriteResult = RedisResult<bool>;

fn connect(url: &str) -> Option<redis::Connection> {
    let client = redis::Client::open(url).ok()?;
    let con = client.get_connection_with_timeout(OP_TIMEOUT).ok()?;
    con.set_read_timeout(Some(OP_TIMEOUT)).ok()?;
    con.set_write_timeout(Some(OP_TIMEOUT)).ok()?;
    Some(con)
}

/// One client: writes until told to stop, reconnecting after every broken connection.
fn run_client(client: u64, seed: u64, url: String, shared: Arc<Shared>) -> Ledger {
    let mut rng = StdRng::seed_from_u64(seed ^ client.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut ledger = Ledger::new(client);
    let mut con: Option<redis::Connection> = None;
    let started = Instant::now();
    for seq in 0..CLIENT_OPS_MAX {
        if shared.stop.load(Ordering::SeqCst) || started.elapsed() > CLIENT_LIFETIME_MAX {
            break;
        }
        let Some(live) = con.as_mut() else {
            con = connect(&url);
            if con.is_none() {
                thread::sleep(RECONNECT_PAUSE);
            }
            ledger.requests_on_connection = 0;
            continue;
        };
        ledger.requests_on_connection += 1;
        let result = match rng.gen_range(0..100) {
            0..70 => ledger.set(live, &mut rng, seq),
            70..85 => ledger.incr(live),
            _ => ledger.mset(live, &mut rng, seq),
        };
        match result {
            Ok(true) => {
                shared.acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(false) => {}
            // An error with a code is an error reply: the connection is still in step.
            Err(err) if err.code().is_some() => ledger.error_reply(&err),
            // I/O error, timeout or unparsable reply: the stream's state is unknown.
            Err(_) => con = None,
        }
    }
    ledger
}

/// Waits until some client has a write acknowledged beyond `acked_before`; `false` on timeout.
fn wait_for_ack(shared: &Shared, acked_before: u64) -> bool {
    let started = Instant::now();
    let polls_max = PROGRESS_TIMEOUT.as_millis() / PROGRESS_POLL.as_millis() + 1;
    for _ in 0..polls_max {
        if shared.acked.load(Ordering::Relaxed) > acked_before {
            return true;
        }
        if started.elapsed() >= PROGRESS_TIMEOUT {
            break;
        }
        thread::sleep(PROGRESS_POLL);
    }
    false
}

fn choose_seed() -> u64 {
    match std::env::var("TINKERDB_CRASH_SEED") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|e| panic!("TINKERDB_CRASH_SEED={text:?}: {e}")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5EED),
    }
}

/// Reads `keys` in pipelined batches; `None` for a missing key.
fn read_all(con: &mut redis::Connection, keys: &[&str]) -> Vec<Option<String>> {
    let mut values = Vec::with_capacity(keys.len());
    for batch in keys.chunks(VERIFY_BATCH) {
        let mut pipe = redis::pipe();
        for key in batch {
            pipe.get(*key);
        }
        let page: Vec<Option<String>> = pipe.query(con).expect("read back the written keys");
        values.extend(page);
    }
    values
}

/// Checks every ledger against the recovered keyspace; returns the broken promises.
fn verify(con: &mut redis::Connection, ledgers: &[Ledger]) -> Vec<String> {
    let mut failures = Vec::new();
    let mut written: HashSet<String> = HashSet::new();
    for ledger in ledgers {
        failures.extend(ledger.violations.iter().cloned());
        if ledger.violations_total > ledger.violations.len() {
            failures.push(format!(
                "... and {} more wrong replies to client {}",
                ledger.violations_total - ledger.violations.len(),
                ledger.client
            ));
        }

        let keys: Vec<&str> = ledger.sets.iter().map(|(k, _, _)| k.as_str()).collect();
        let found = read_all(con, &keys);
        for ((key, expected, outcome), found) in ledger.sets.iter().zip(found) {
            written.insert(key.clone());
            match (outcome, found) {
                (_, Some(value)) if value == *expected => {}
                (Outcome::Unknown, None) => {}
                (Outcome::Acked, None) => failures.push(format!("acked SET {key} is missing")),
                (_, Some(value)) => failures.push(format!(
                    "{outcome:?} SET {key}: found {value:?}, wrote {expected:?}"
                )),
            }
        }

        let keys: Vec<&str> = ledger
            .msets
            .iter()
            .flat_map(|(pairs, _)| pairs.iter().map(|(k, _)| k.as_str()))
            .collect();
        let mut found = read_all(con, &keys).into_iter();
        for (pairs, outcome) in &ledger.msets {
            let values: Vec<Option<String>> = found.by_ref().take(pairs.len()).collect();
            let exact = pairs
                .iter()
                .zip(&values)
                .filter(|((_, v), f)| f.as_ref() == Some(v));
            let present = values.iter().filter(|v| v.is_some()).count();
            let all = exact.count() == pairs.len();
            let none = present == 0;
            written.extend(pairs.iter().map(|(k, _)| k.clone()));
            if !(all || (none && *outcome == Outcome::Unknown)) {
                failures.push(format!(
                    "{outcome:?} MSET {:?} is not all-or-nothing: found {values:?}",
                    pairs.iter().map(|(k, _)| k).collect::<Vec<_>>()
                ));
            }
        }

        written.insert(ledger.counter_key.clone());
        let counter: Option<u64> = redis::cmd("GET")
            .arg(&ledger.counter_key)
            .query(con)
            .expect("read a counter");
        let counter = counter.unwrap_or(0);
        if counter < ledger.incr_acked_max || counter > ledger.incr_attempts {
            failures.push(format!(
                "{} is {counter}: acknowledged up to {}, attempted {}",
                ledger.counter_key, ledger.incr_acked_max, ledger.incr_attempts
            ));
        }
    }
    let all_keys: Vec<String> = redis::cmd("KEYS").arg("*").query(con).expect("KEYS *");
    for key in all_keys.iter().filter(|k| !written.contains(*k)) {
        failures.push(format!("key {key:?} exists but no client wrote it"));
    }
    failures
}

/// The run's summary, written straight to stderr so it shows even when the test passes (the test
/// harness captures `println!` of passing tests).
fn print_summary(seed: u64, rounds: u32, elapsed: Duration, ledgers: &[Ledger]) {
    let count = |pick: &dyn Fn(&Ledger) -> usize| ledgers.iter().map(pick).sum::<usize>();
    let sets = |o| count(&|l| l.sets.iter().filter(|s| s.2 == o).count());
    let msets = |o| count(&|l| l.msets.iter().filter(|m| m.1 == o).count());
    let incr_acked: u64 = ledgers.iter().map(|l| l.incr_acked).sum();
    let incr_attempts: u64 = ledgers.iter().map(|l| l.incr_attempts).sum();
    let errors_total: u64 = ledgers.iter().map(|l| l.errors_total).sum();
    let mut lines = vec![
        format!("crash_recovery: seed {seed}, {rounds} kill -9 rounds, {elapsed:.1?}"),
        format!(
            "  SET  acked {:>7}  unknown {:>4}",
            sets(Outcome::Acked),
            sets(Outcome::Unknown)
        ),
        format!(
            "  MSET acked {:>7}  unknown {:>4}",
            msets(Outcome::Acked),
            msets(Outcome::Unknown)
        ),
        format!(
            "  INCR acked {incr_acked:>7}  unknown {:>4}",
            incr_attempts - incr_acked
        ),
        format!("  error replies: {errors_total}"),
    ];
    for error in ledgers.iter().flat_map(|l| &l.errors).take(ERRORS_KEPT) {
        lines.push(format!("    {error}"));
    }
    let summary = lines.join("\n") + "\n";
    let _ = std::io::stderr().write_all(summary.as_bytes());
}

#[test]
fn acknowledged_writes_survive_repeated_kill9() {
    let seed = choose_seed();
    println!("crash_recovery seed {seed} (replay with TINKERDB_CRASH_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut node = Node::start();
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        acked: AtomicU64::new(0),
    });
    let stop_guard = StopOnDrop(Arc::clone(&shared));
    let clients: Vec<thread::JoinHandle<Ledger>> = (0..CLIENTS)
        .map(|client| {
            let (url, shared) = (node.url(), Arc::clone(&shared));
            thread::spawn(move || run_client(client, seed, url, shared))
        })
        .collect();

    let started = Instant::now();
    let mut rounds = 0;
    loop {
        rounds += 1;
        // Each kill must hit a node that is accepting writes again, however long recovery took.
        let acked_before = shared.acked.load(Ordering::Relaxed);
        if !wait_for_ack(&shared, acked_before) {
            panic!(
                "round {rounds}: no write was acknowledged within {PROGRESS_TIMEOUT:?}\n{}",
                node.log_tail()
            );
        }
        thread::sleep(Duration::from_millis(rng.gen_range(RUN_MS)));
        node.kill9();
        if rounds == ROUNDS || started.elapsed() > ROUNDS_BUDGET {
            break;
        }
        thread::sleep(Duration::from_millis(rng.gen_range(DOWN_MS)));
        node.restart();
    }
    drop(stop_guard);
    let ledgers: Vec<Ledger> = clients
        .into_iter()
        .map(|h| h.join().expect("a client thread panicked"))
        .collect();

    node.restart();
    let mut con = node.conn();
    let failures = verify(&mut con, &ledgers);
    print_summary(seed, rounds, started.elapsed(), &ledgers);

    let mut by_client: BTreeMap<u64, usize> = BTreeMap::new();
    for ledger in &ledgers {
        by_client.insert(ledger.client, ledger.sets.len() + ledger.msets.len());
    }
    assert!(
        by_client.values().all(|&writes| writes > 0),
        "every client should have written something: {by_client:?}"
    );
    assert!(
        failures.is_empty(),
        "{} broken promises after recovery (seed {seed}); first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(FAILURES_SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
