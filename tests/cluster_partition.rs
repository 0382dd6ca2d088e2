//! Network partitions: a three-node cluster whose peer links run through fault-injecting
//! proxies ([`common::proxy::Network`]), cut and healed by the test. Client ports are never cut.
//!
//! Scenarios:
//! - [`isolated_leader_steps_down_and_the_majority_moves_on`]: the leader loses both followers,
//!   both directions. The two followers elect a new leader within a few seconds and take writes.
//!   The old leader, alone, steps down (check-quorum) and neither acknowledges a write nor
//!   serves a read that misses what the majority acknowledged. Healed, it follows the new
//!   leader and reads the new value.
//! - [`leader_that_cannot_send_is_replaced`]: only the leader's outgoing links are cut. The
//!   followers hear nothing, elect a new leader, and the old one, which still hears them,
//!   follows it; through it nothing stale is read.
//! - [`leader_that_cannot_hear_steps_down_without_disrupting`]: only the links into the leader
//!   are cut. It hears no acknowledgements, steps down, the followers elect a new leader, and
//!   the deaf node's elections (pre-vote) do not depose it once healed links return.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::cluster::{Cluster, ClusterOptions, Failure};
use common::proxy::Fault;

const NODES: usize = 3;
/// How long a fresh cluster may take to elect its first leader.
const ELECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the majority may take to elect a new leader after a cut: election timeout
/// (0.5-1 s) plus pre-vote and vote rounds, with room for a slow machine.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the old leader may take to step down (check-quorum: one election timeout).
const STEP_DOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a retried command may keep meeting `CLUSTERDOWN` / `TRYAGAIN`.
const RETRY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a healed node may take to follow the leader again and read the new value.
const HEAL_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the test keeps probing the cut-off node, and each probe's timeout.
const PROBE_PERIOD: Duration = Duration::from_secs(3);
const PROBE_TIMEOUT: Duration = Duration::from_millis(1_500);
/// Most probes of the cut-off node (a second limit on that loop).
const PROBES_MAX: usize = 200;

/// `SET key value` through node `id`, retried until acknowledged; fails the test otherwise.
fn set(cluster: &Cluster, id: usize, key: &str, value: &str) {
    let reply: String = cluster
        .retry(id, RETRY_TIMEOUT, |c| {
            redis::cmd("SET").arg(key).arg(value).query(c)
        })
        .unwrap_or_else(|e| panic!("SET {key} through node {id}: {e}\n{}", cluster.describe()));
    assert_eq!(reply, "OK");
}

/// What the cut-off node answered while the majority moved on.
#[derive(Default, Debug)]
struct Probes {
    reads_ok: usize,
    reads_failed: usize,
    writes_unknown: usize,
    writes_refused: usize,
    /// Broken promises: acknowledged writes, stale reads.
    violations: Vec<String>,
}

/// For [`PROBE_PERIOD`], alternately GETs `key` and SETs `write_key` through node `id`, each with
/// a short timeout. A GET that succeeds must return `fresh` (a value the majority acknowledged
/// before the probing began); a SET must not be acknowledged.
fn probe_cut_off_node(
    cluster: &Cluster,
    id: usize,
    key: &str,
    fresh: &str,
    write_key: &str,
) -> Probes {
    let mut probes = Probes::default();
    let started = Instant::now();
    for attempt in 0..PROBES_MAX {
        if started.elapsed() >= PROBE_PERIOD {
            break;
        }
        let Ok(mut conn) = cluster.try_conn(id, PROBE_TIMEOUT) else {
            thread::sleep(Duration::from_millis(50));
            continue;
        };
        if attempt % 2 == 0 {
            match redis::cmd("GET").arg(key).query::<Option<String>>(&mut conn) {
                Ok(value) if value.as_deref() == Some(fresh) => probes.reads_ok += 1,
                Ok(value) => probes.violations.push(format!(
                    "GET {key} on node {id} returned {value:?} after the majority acknowledged {fresh:?}"
                )),
                Err(_) => probes.reads_failed += 1,
            }
        } else {
            let value = format!("minority-{attempt}");
            match redis::cmd("SET")
                .arg(write_key)
                .arg(&value)
                .query::<String>(&mut conn)
            {
                Ok(reply) => probes.violations.push(format!(
                    "SET {write_key} {value} on the cut-off node {id} was acknowledged ({reply})"
                )),
                Err(e) if Failure::of(&e) == Failure::Unknown => probes.writes_unknown += 1,
                Err(_) => probes.writes_refused += 1,
            }
        }
    }
    probes
}

/// The leader among `ids` once it is not `old`: a new election happened on that side.
fn wait_for_new_leader(cluster: &Cluster, ids: &[usize], old: usize) -> usize {
    cluster.wait_until(
        FAILOVER_TIMEOUT,
        &format!("new leader among {ids:?}"),
        || cluster.leader_among(ids).filter(|&l| l != old),
    )
}

/// Heals every link; then all nodes agree on a leader and node `id` reads `expected` for `key`.
fn heal_and_catch_up(cluster: &Cluster, id: usize, key: &str, expected: &str) -> usize {
    cluster.network().heal_all();
    let leader = cluster.wait_for_leader(HEAL_TIMEOUT);
    let value: Option<String> = cluster
        .retry(id, HEAL_TIMEOUT, |c| redis::cmd("GET").arg(key).query(c))
        .unwrap_or_else(|e| panic!("GET {key} on healed node {id}: {e}\n{}", cluster.describe()));
    assert_eq!(
        value.as_deref(),
        Some(expected),
        "healed node {id} reads the value written while it was cut off"
    );
    leader
}

/// Reads `k` through `id` until its `raft_reads_<path>` counter moves (a lease needs a
/// round after the election first), bounded by `RETRY_TIMEOUT`.
fn assert_reads_confirmed_by(cluster: &Cluster, id: usize, path: &str) {
    let field = format!("raft_reads_{path}:");
    let counter = |cluster: &Cluster, field: &str| -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("raft")
            .query(&mut cluster.conn(id))
            .expect("INFO raft");
        info.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in INFO raft:\n{info}"))
    };
    let count = |cluster: &Cluster| counter(cluster, &field);
    let deadline = Instant::now() + RETRY_TIMEOUT;
    loop {
        let _: Option<String> = redis::cmd("GET")
            .arg("k")
            .query(&mut cluster.conn(id))
            .expect("GET k");
        if count(cluster) > 0 {
            if path == "read_index" {
                // Every read batch confirmed through ReadIndex waited for a round this node
                // started.
                let rounds = counter(cluster, "raft_read_index_rounds:");
                assert!(
                    rounds > 0,
                    "node {id}: reads confirmed, but no round started"
                );
            }
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {id} confirmed no read through {path} within {RETRY_TIMEOUT:?}\n{}",
            cluster.describe()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn others(cluster: &Cluster, id: usize) -> Vec<usize> {
    cluster.ids().into_iter().filter(|&o| o != id).collect()
}

fn assert_no_violations(probes: &Probes, cluster: &Cluster) {
    assert!(
        probes.violations.is_empty(),
        "the cut-off node broke linearizability: {:#?}\n{}",
        probes.violations,
        cluster.describe()
    );
}

#[test]
fn isolated_leader_steps_down_and_the_majority_moves_on() {
    isolate_the_leader(Cluster::start_with_proxies(NODES), "read_index");
}

/// The same with `--read-mode lease`: the cut-off leader reads without a round while its
/// lease holds, and the lease must run out before the majority can elect anyone.
#[test]
fn isolated_leader_with_a_read_lease_serves_nothing_stale() {
    isolate_the_leader(
        Cluster::start_with(ClusterOptions {
            nodes: NODES,
            proxies: true,
            args: vec!["--read-mode".into(), "lease".into()],
        }),
        "lease",
    );
}

/// Cuts the leader off and checks what both sides answer; `read_path` is how the leader must
/// have confirmed a read before the cut (the `raft_reads_<path>` INFO counter).
fn isolate_the_leader(cluster: Cluster, read_path: &str) {
    let old = cluster.wait_for_leader(ELECTION_TIMEOUT);
    set(&cluster, old, "k", "before");
    assert_reads_confirmed_by(&cluster, old, read_path);
    let majority = others(&cluster, old);

    let cut = Instant::now();
    cluster.network().isolate(old, Fault::Blackhole);
    let new = wait_for_new_leader(&cluster, &majority, old);
    let elected_after = cut.elapsed();
    set(&cluster, new, "k", "after");
    let majority_writes_after = cut.elapsed();

    let probes = probe_cut_off_node(&cluster, old, "k", "after", "minority-write");
    let stepped_down = cluster.wait_until(
        STEP_DOWN_TIMEOUT,
        "step-down of the isolated leader",
        || cluster.raft_info(old).filter(|info| info.role != "leader"),
    );
    eprintln!(
        "isolated leader {old}: majority elected {new} after {} ms, took a write after {} ms; \
         old leader now {} (term {}); probes {probes:?}",
        elected_after.as_millis(),
        majority_writes_after.as_millis(),
        stepped_down.role,
        stepped_down.term
    );
    assert_no_violations(&probes, &cluster);

    heal_and_catch_up(&cluster, old, "k", "after");
    let lost: Option<String> = redis::cmd("GET")
        .arg("minority-write")
        .query(&mut cluster.conn(old))
        .expect("GET minority-write");
    assert_eq!(
        lost, None,
        "a write the minority could not commit must not appear"
    );
}

#[test]
fn leader_that_cannot_send_is_replaced() {
    let cluster = Cluster::start_with_proxies(NODES);
    let old = cluster.wait_for_leader(ELECTION_TIMEOUT);
    set(&cluster, old, "k", "before");
    let majority = others(&cluster, old);

    for &to in &majority {
        cluster.network().cut(old, to, Fault::Refuse);
    }
    let new = wait_for_new_leader(&cluster, &majority, old);
    set(&cluster, new, "k", "after");
    // The old leader still hears the new one: it learns the higher term and follows.
    cluster.wait_until(STEP_DOWN_TIMEOUT, "step-down of the mute leader", || {
        cluster.raft_info(old).filter(|info| info.role != "leader")
    });
    let probes = probe_cut_off_node(&cluster, old, "k", "after", "mute-write");
    eprintln!("mute leader {old}: replaced by {new}; probes {probes:?}");
    assert_no_violations(&probes, &cluster);

    heal_and_catch_up(&cluster, old, "k", "after");
}

#[test]
fn leader_that_cannot_hear_steps_down_without_disrupting() {
    let cluster = Cluster::start_with_proxies(NODES);
    let old = cluster.wait_for_leader(ELECTION_TIMEOUT);
    set(&cluster, old, "k", "before");
    let majority = others(&cluster, old);

    for &from in &majority {
        cluster.network().cut(from, old, Fault::Blackhole);
    }
    // No acknowledgements reach the leader: check-quorum makes it step down, its heartbeats
    // stop, and the followers elect one of themselves.
    cluster.wait_until(STEP_DOWN_TIMEOUT, "step-down of the deaf leader", || {
        cluster.raft_info(old).filter(|info| info.role != "leader")
    });
    let new = wait_for_new_leader(&cluster, &majority, old);
    set(&cluster, new, "k", "after");
    let probes = probe_cut_off_node(&cluster, old, "k", "after", "deaf-write");
    eprintln!("deaf leader {old}: replaced by {new}; probes {probes:?}");
    assert_no_violations(&probes, &cluster);

    // The deaf node keeps campaigning, but pre-vote keeps it from raising the majority's term.
    let term = cluster
        .raft_info(new)
        .expect("INFO raft of the new leader")
        .term;
    thread::sleep(Duration::from_secs(2));
    let later = cluster.raft_info(new).expect("INFO raft of the new leader");
    assert_eq!(
        (later.role.as_str(), later.term),
        ("leader", term),
        "the majority's leader keeps its term while the deaf node campaigns\n{}",
        cluster.describe()
    );

    let leader = heal_and_catch_up(&cluster, old, "k", "after");
    assert_eq!(leader, new, "healing does not depose the majority's leader");
}
