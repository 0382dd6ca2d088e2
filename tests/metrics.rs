//! `GET /metrics` on the admin port, end to end: real nodes, real clients, the scrape parsed the
//! way a monitoring system would read it.
//!
//! Scenarios:
//! - [`a_node_counts_what_its_clients_did`]: SET, GET, a wrong-arity GET and an unknown command
//!   over RESP move exactly the command counters they should; the latency histogram, the
//!   connection and byte counters, the WAL's fsyncs, the Raft gauges of a lone leader and the
//!   per-tenant key count all report real values; SAVE shows as a snapshot.
//! - [`a_cluster_reports_one_leader_and_its_replication`]: in a three-node cluster exactly the
//!   leader says `tinkerdb_raft_is_leader 1`, every node names it and the same term, and only
//!   the leader lists each member's match index.
//!
//! The text is OpenMetrics; prometheus-parse reads the Prometheus text format, so it types an
//! OpenMetrics counter (`# TYPE x counter`, sample `x_total`) as untyped and skips `# EOF` and
//! `# UNIT` as comments. The helpers below therefore read any scalar value by sample name.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::Node;
use prometheus_parse::{Sample, Scrape, Value};

/// The `Content-Type` the endpoint must answer with.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Read timeout of one scrape.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a fresh cluster may take to elect its first leader.
const ELECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the cluster's gauges may take to agree after the election.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

/// One parsed scrape.
struct Metrics {
    scrape: Scrape,
}

impl Metrics {
    /// `GET /metrics` on `admin_port`; checks the status and content type.
    fn get(admin_port: u16) -> Metrics {
        let mut stream = TcpStream::connect(("127.0.0.1", admin_port)).expect("connect admin");
        stream.set_read_timeout(Some(SCRAPE_TIMEOUT)).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read the response");
        let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let content_type = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-type")
                    .then(|| value.trim().to_string())
            })
            .expect("a Content-Type header");
        assert_eq!(content_type, OPENMETRICS);
        assert!(body.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
        let lines = body.lines().map(|l| Ok(l.to_string()));
        Metrics {
            scrape: Scrape::parse(lines).expect("the scrape parses"),
        }
    }

    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Sample> {
        self.scrape.samples.iter().find(|s| {
            s.metric == name
                && s.labels.len() == labels.len()
                && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
    }

    /// The value of a counter, gauge or untyped sample; 0 when the series is absent (as a
    /// counter of something that never happened is).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.find(name, labels).map(|s| &s.value) {
            None => 0.0,
            Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
            Some(other) => panic!("{name} is not a scalar: {other:?}"),
        }
    }

    /// Whether the series exists at all.
    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.find(name, labels).is_some()
    }

    /// Observations of a histogram series (its `+Inf` bucket, which must equal `_count`).
    fn histogram_count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let Some(sample) = self.find(name, labels) else {
            return 0.0;
        };
        let Value::Histogram(buckets) = &sample.value else {
            panic!("{name} is not a histogram: {:?}", sample.value);
        };
        let inf = buckets
            .iter()
            .find(|b| b.less_than.is_infinite())
            .expect("a +Inf bucket")
            .count;
        assert_eq!(inf, self.value(&format!("{name}_count"), labels), "{name}");
        inf
    }

    /// How many series a family has.
    fn series(&self, name: &str) -> usize {
        self.scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .count()
    }
}

#[test]
fn a_node_counts_what_its_clients_did() {
    let node = Node::start();
    let admin = node.ports().admin;
    let mut conn = node.conn();
    let before = Metrics::get(admin);

    for i in 0..5 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg("v")
            .query(&mut conn)
            .unwrap();
    }
    for key in ["k0", "k1", "k2", "missing"] {
        let _: Option<String> = redis::cmd("GET").arg(key).query(&mut conn).unwrap();
    }
    let wrong_arity: redis::RedisResult<Option<String>> = redis::cmd("GET").query(&mut conn);
    assert!(wrong_arity.is_err());
    for _ in 0..2 {
        let unknown: redis::RedisResult<String> = redis::cmd("NOSUCHCOMMAND").query(&mut conn);
        assert!(unknown.is_err());
    }
    let after = Metrics::get(admin);

    let delta = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    let commands = "tinkerdb_commands_total";
    assert_eq!(
        delta(commands, &[("command", "set"), ("result", "ok")]),
        5.0
    );
    assert_eq!(
        delta(commands, &[("command", "get"), ("result", "ok")]),
        4.0
    );
    assert_eq!(
        delta(commands, &[("command", "get"), ("result", "error")]),
        1.0
    );
    assert_eq!(
        delta(commands, &[("command", "unknown"), ("result", "error")]),
        2.0
    );
    assert!(
        !after.has(
            commands,
            &[("command", "nosuchcommand"), ("result", "error")]
        ),
        "unknown names never become labels"
    );
    let durations = "tinkerdb_command_duration_seconds";
    let sets = |m: &Metrics| m.histogram_count(durations, &[("command", "set")]);
    assert_eq!(sets(&after) - sets(&before), 5.0);
    let gets = |m: &Metrics| m.histogram_count(durations, &[("command", "get")]);
    assert_eq!(gets(&after) - gets(&before), 5.0);

    assert!(after.value("tinkerdb_connected_clients", &[]) >= 1.0);
    assert!(after.value("tinkerdb_connections_total", &[]) >= 1.0);
    assert!(delta("tinkerdb_network_received_bytes_total", &[]) > 0.0);
    assert!(delta("tinkerdb_network_sent_bytes_total", &[]) > 0.0);

    assert!(after.value("tinkerdb_wal_fsyncs_total", &[]) > 0.0);
    assert!(delta("tinkerdb_wal_appends_total", &[]) >= 5.0);
    assert!(after.histogram_count("tinkerdb_wal_fsync_duration_seconds", &[]) > 0.0);
    assert!(after.value("tinkerdb_wal_segments", &[]) >= 1.0);
    assert!(after.value("tinkerdb_wal_bytes", &[]) > 0.0);

    assert_eq!(after.value("tinkerdb_raft_is_leader", &[]), 1.0);
    assert_eq!(after.value("tinkerdb_raft_leader_id", &[]), 1.0);
    assert!(after.value("tinkerdb_raft_term", &[]) >= 1.0);
    assert!(after.value("tinkerdb_raft_leader_changes_total", &[]) >= 1.0);
    assert!(delta("tinkerdb_raft_proposals_total", &[]) >= 5.0);
    let commit = after.value("tinkerdb_raft_commit_index", &[]);
    let applied = after.value("tinkerdb_raft_applied_index", &[]);
    assert!(applied >= 6.0, "bootstrap point + five writes: {applied}");
    assert_eq!(
        after.value("tinkerdb_raft_apply_lag", &[]),
        commit - applied
    );
    assert_eq!(
        after.value("tinkerdb_raft_peer_match_index", &[("peer", "1")]),
        after.value("tinkerdb_raft_commit_index", &[]),
        "a lone leader has matched its whole committed log"
    );

    assert_eq!(after.value("tinkerdb_keys", &[("tenant", "default")]), 5.0);
    assert!(after.value("tinkerdb_memory_bytes", &[("tenant", "default")]) > 0.0);

    let _: String = redis::cmd("SAVE").query(&mut conn).unwrap();
    let saved = Metrics::get(admin);
    assert_eq!(
        saved.value("tinkerdb_snapshots_total", &[]) - after.value("tinkerdb_snapshots_total", &[]),
        1.0
    );
    assert!(saved.value("tinkerdb_snapshot_bytes", &[]) > 0.0);
    assert!(saved.histogram_count("tinkerdb_snapshot_duration_seconds", &[]) >= 1.0);
    assert_eq!(
        saved.value("tinkerdb_snapshot_in_progress", &[]),
        0.0,
        "SAVE answers once the snapshot is written"
    );
}

#[test]
fn a_cluster_reports_one_leader_and_its_replication() {
    let cluster = Cluster::start(3);
    let leader = cluster.wait_for_leader(ELECTION_TIMEOUT);
    let _: () = cluster
        .retry(leader, SETTLE_TIMEOUT, |c| {
            redis::cmd("SET").arg("k").arg("v").query(c)
        })
        .unwrap();
    let leader_id = leader as f64;

    // Followers learn the commit index with the next heartbeat: poll until all agree.
    let started = Instant::now();
    let scrapes = loop {
        let scrapes: Vec<(usize, Metrics)> = cluster
            .ids()
            .into_iter()
            .map(|id| (id, Metrics::get(cluster.node(id).ports().admin)))
            .collect();
        let settled = scrapes.iter().all(|(_, m)| {
            m.value("tinkerdb_raft_leader_id", &[]) == leader_id
                && m.value("tinkerdb_keys", &[("tenant", "default")]) == 1.0
        });
        if settled || started.elapsed() >= SETTLE_TIMEOUT {
            break scrapes;
        }
        std::thread::sleep(Duration::from_millis(100));
    };

    let term = scrapes[0].1.value("tinkerdb_raft_term", &[]);
    assert!(term >= 1.0);
    for (id, m) in &scrapes {
        let is_leader = if *id == leader { 1.0 } else { 0.0 };
        assert_eq!(
            m.value("tinkerdb_raft_is_leader", &[]),
            is_leader,
            "node {id}"
        );
        assert_eq!(
            m.value("tinkerdb_raft_leader_id", &[]),
            leader_id,
            "node {id}"
        );
        assert_eq!(m.value("tinkerdb_raft_term", &[]), term, "node {id}");
        assert_eq!(
            m.value("tinkerdb_keys", &[("tenant", "default")]),
            1.0,
            "node {id}"
        );
        assert!(
            m.value("tinkerdb_raft_leader_changes_total", &[]) >= 1.0,
            "node {id}"
        );
        let peers = m.series("tinkerdb_raft_peer_match_index");
        if *id == leader {
            assert_eq!(peers, 3, "the leader tracks every member");
            for peer in ["1", "2", "3"] {
                assert!(
                    m.value("tinkerdb_raft_peer_match_index", &[("peer", peer)]) >= 2.0,
                    "peer {peer} has at least the bootstrap point and the write"
                );
            }
            assert!(m.value("tinkerdb_raft_proposals_total", &[]) >= 1.0);
        } else {
            assert_eq!(peers, 0, "node {id}: followers track no peers");
        }
    }
}
