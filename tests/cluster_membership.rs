//! Membership changes on real processes, driven the way an operator does it: `tinkerdb cluster
//! add-node`, a new node started with `--join` catching up from a snapshot, `promote`,
//! `remove-node` (the removed process stops by itself), and `transfer-leader`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::cluster::Cluster;
use common::{Node, NodeOptions, Ports};

const WAIT: Duration = Duration::from_secs(20);

/// Runs `tinkerdb cluster --admin ADDR ARGS...` and returns (success, stdout + stderr).
fn cluster_cli(admin_port: u16, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tinkerdb"))
        .arg("cluster")
        .arg("--admin")
        .arg(format!("127.0.0.1:{admin_port}"))
        .args(args)
        .output()
        .expect("run tinkerdb cluster");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn initial_cluster(cluster: &Cluster) -> String {
    cluster
        .ids()
        .into_iter()
        .map(|id| format!("{id}={}", cluster.node(id).ports().peer_addr()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether a process has exited (gone, or a zombie its parent has not reaped yet).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

fn dbsize(node: &Node) -> Option<i64> {
    let client = node.client();
    let mut con = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .ok()?;
    redis::cmd("DBSIZE").query(&mut con).ok()
}

/// Three nodes that snapshot every 100 entries, so a node that joins later must be sent a
/// snapshot (the log it would need is compacted); and the leader's id.
fn small_snapshot_cluster() -> (Cluster, usize) {
    let cluster = Cluster::start_with(common::cluster::ClusterOptions {
        nodes: 3,
        proxies: false,
        args: vec!["--snapshot-entries".into(), "100".into()],
    });
    let leader = cluster.wait_for_leader(WAIT);
    (cluster, leader)
}

/// Adds node 4 as a learner through `leader_admin`, starts it empty with `--join` through
/// node `via`'s peer address, and waits until it holds `keys` keys.
fn add_and_join(cluster: &Cluster, leader_admin: u16, via: usize, keys: i64) -> Node {
    let ports = Ports::pick_many(1)[0];
    let (ok, out) = cluster_cli(
        leader_admin,
        &["add-node", "--id", "4", "--peer-addr", &ports.peer_addr()],
    );
    assert!(ok, "add-node failed: {out}");
    let mut joiner = Node::launch(NodeOptions {
        ports: Some(ports),
        args: vec![
            "--node-id".into(),
            "4".into(),
            "--initial-cluster".into(),
            initial_cluster(cluster),
            "--join".into(),
            cluster.node(via).ports().peer_addr(),
        ],
        ..NodeOptions::default()
    });
    joiner.await_ready();
    cluster.wait_until(WAIT, "the joiner to catch up", || {
        (dbsize(&joiner) == Some(keys)).then_some(())
    });
    joiner
}

/// Snapshot files (`*.snap`) and temp files (`*.snap.tmp`) under a node's data folder.
fn snapshot_files(node: &Node) -> (usize, Vec<String>) {
    let dir = node.data_dir().join("snap").join("1");
    let mut done = 0;
    let mut tmp = Vec::new();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".snap.tmp") {
            tmp.push(name);
        } else if name.ends_with(".snap") {
            done += 1;
        }
    }
    (done, tmp)
}

#[test]
fn a_snapshot_of_many_pieces_streams_to_a_new_node() {
    // ~4.8 MB of values: the snapshot travels as five 1 MiB pieces, read from the leader's
    // file and written to a file on the joiner.
    const KEYS: usize = 120;
    const VALUE_BYTES: usize = 40_000;
    let (cluster, leader) = small_snapshot_cluster();
    let mut con = cluster.conn(leader);
    let value = |i: usize| -> Vec<u8> {
        (0..VALUE_BYTES)
            .map(|j| ((i * 31 + j) % 251) as u8)
            .collect()
    };
    for i in 0..KEYS {
        let _: () = redis::cmd("SET")
            .arg(format!("big{i}"))
            .arg(value(i))
            .query(&mut con)
            .expect("set");
    }
    let leader_admin = cluster.node(leader).ports().admin;
    let joiner = add_and_join(&cluster, leader_admin, leader, KEYS as i64);
    let mut con4 = joiner.conn();
    let _: () = redis::cmd("READONLY").query(&mut con4).expect("readonly");
    for i in [0, KEYS / 2, KEYS - 1] {
        let got: Vec<u8> = redis::cmd("GET")
            .arg(format!("big{i}"))
            .query(&mut con4)
            .expect("get on the joiner");
        assert!(
            got == value(i),
            "big{i} arrived damaged ({} bytes)",
            got.len()
        );
    }
    let leader_log = cluster.node(leader).log_text();
    assert!(
        leader_log.contains("snapshot streamed to a peer"),
        "the leader streamed the snapshot: {}",
        cluster.node(leader).log_tail()
    );
    assert!(
        joiner
            .log_text()
            .contains("installed the leader's snapshot"),
        "{}",
        joiner.log_tail()
    );
    let info = |node: &Node, field: &str| -> Option<u64> {
        node.redis_cli(&["INFO", "raft"])
            .lines()
            .find_map(|l| l.trim().strip_prefix(field)?.parse().ok())
    };
    assert_eq!(info(&joiner, "raft_snapshots_installed:"), Some(1));
    assert!(info(cluster.node(leader), "raft_snapshots_sent:") >= Some(1));
    // Installed: nothing is on its way in any more, and every status says so.
    assert!(joiner
        .redis_cli(&["INFO", "raft"])
        .lines()
        .any(|l| l.trim() == "raft_snapshot_receive_stage:none"));
    assert_eq!(info(&joiner, "raft_snapshot_receive_bytes:"), Some(0));
    let status = cluster_status(joiner.ports().admin).expect("the joiner's status");
    assert!(status["snapshot_receive"].is_null(), "{status}");
    let status = cluster_status(leader_admin).expect("the leader's status");
    let progress = status["progress"]
        .as_array()
        .expect("the leader's progress");
    assert!(
        progress.iter().all(|p| p["pending_snapshot"] == 0),
        "no snapshot is being sent: {status}"
    );
    let (installed, leftovers) = snapshot_files(&joiner);
    assert!(installed >= 1, "the joiner keeps the snapshot it installed");
    assert!(
        leftovers.is_empty(),
        "no transfer files are left: {leftovers:?}"
    );
}

#[test]
fn a_node_joins_catches_up_is_promoted_and_another_is_removed() {
    // Small snapshots, so the joiner must be sent one (the log it would need is compacted).
    let (cluster, leader) = small_snapshot_cluster();
    let mut con = cluster.conn(leader);
    for i in 0..500 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut con)
            .expect("set");
    }
    let leader_admin = cluster.node(leader).ports().admin;

    // Add node 4 as a learner, then start it empty with --join (through a follower).
    let joiner = add_and_join(&cluster, leader_admin, leader % 3 + 1, 500);

    let (ok, out) = cluster_cli(leader_admin, &["promote", "--id", "4"]);
    assert!(ok, "promote failed: {out}");
    let (ok, out) = cluster_cli(leader_admin, &["--json", "status"]);
    assert!(ok, "status failed: {out}");
    cluster.wait_until(WAIT, "node 4 to become a voter", || {
        let (_, out) = cluster_cli(leader_admin, &["--json", "status"]);
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        let voters = v["voters"].as_array()?;
        voters.iter().any(|id| id == 4).then_some(())
    });

    // The leader refuses to remove itself; removing a follower stops that process.
    let (ok, out) = cluster_cli(leader_admin, &["remove-node", "--id", &leader.to_string()]);
    assert!(!ok && out.contains("move leadership first"), "{out}");
    let victim = leader % 3 + 1;
    let (ok, out) = cluster_cli(leader_admin, &["remove-node", "--id", &victim.to_string()]);
    assert!(ok, "remove-node failed: {out}");
    let victim_pid = cluster.node(victim).pid();
    cluster.wait_until(WAIT, "the removed node to stop", || {
        process_gone(victim_pid).then_some(())
    });

    // The cluster (old leader, the other old node, node 4) keeps serving writes via node 4.
    let client = joiner.client();
    let mut con4 = client.get_connection().expect("connect to node 4");
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("yes")
        .query(&mut con4)
        .expect("set via node 4");
    let got: String = redis::cmd("GET")
        .arg("after")
        .query(&mut con4)
        .expect("get via node 4");
    assert_eq!(got, "yes");

    // Leadership moves on request.
    let target = 4;
    let (ok, out) = cluster_cli(
        leader_admin,
        &["transfer-leader", "--to", &target.to_string()],
    );
    assert!(ok, "transfer-leader failed: {out}");
    cluster.wait_until(WAIT, "node 4 to lead", || {
        let (_, out) = cluster_cli(joiner.ports().admin, &["--json", "status"]);
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        (v["leader"] == 4 && v["role"] == "leader").then_some(())
    });
}

/// `POST path` on the admin API at `admin_port` through the same client the CLI uses; returns
/// the status and the JSON answer.
fn admin_post(admin_port: u16, path: &str) -> (u16, serde_json::Value) {
    let request = tinkerdb::admin_client::Request {
        method: "POST",
        path,
        ..Default::default()
    };
    let response = tinkerdb::admin_client::send(&format!("127.0.0.1:{admin_port}"), &request)
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let json = serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("POST {path}: not JSON ({e}): {}", response.body));
    (response.status, json)
}

/// The status line of a POST sent without the `X-TinkerDB-Request` header.
fn post_without_api_header(admin_port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", admin_port)).expect("connect to the admin API");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or("").to_string()
}

/// `/api/cluster` of the node at `admin_port`, if it answers.
fn cluster_status(admin_port: u16) -> Option<serde_json::Value> {
    let (ok, out) = cluster_cli(admin_port, &["--json", "status"]);
    ok.then(|| serde_json::from_str(&out).ok()).flatten()
}

fn ids(value: &serde_json::Value) -> Vec<u64> {
    let mut ids: Vec<u64> = value
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

#[test]
fn a_learner_replaces_a_voter_in_one_joint_change() {
    let mut cluster = Cluster::start_with(common::cluster::ClusterOptions {
        nodes: 3,
        proxies: false,
        args: vec!["--snapshot-entries".into(), "100".into()],
    });
    let leader = cluster.wait_for_leader(WAIT);
    let leader_admin = cluster.node(leader).ports().admin;
    let mut con = cluster.conn(leader);
    for i in 0..300 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut con)
            .expect("set");
    }

    // Node 4 joins as a learner and catches up.
    let victim = leader % 3 + 1;
    let bystander = 6 - leader - victim;
    let joiner = add_and_join(&cluster, leader_admin, bystander, 300);
    cluster.wait_until(WAIT, "the leader to replicate to node 4", || {
        let v = cluster_status(leader_admin)?;
        v["progress"]
            .as_array()?
            .iter()
            .any(|p| p["id"] == 4 && p["state"] == "replicate")
            .then_some(())
    });

    // Bad requests are refused with a reason and a non-zero exit; nothing changes.
    let victim_arg = victim.to_string();
    let leader_arg = leader.to_string();
    for (args, words) in [
        (vec!["--remove", "4", "--add", "4"], "two different nodes"),
        (vec!["--remove", "9", "--add", "4"], "is not a member"),
        (
            vec!["--remove", &victim_arg, "--add", "7"],
            "is not a learner",
        ),
        (
            vec!["--remove", &victim_arg, "--add", &leader_arg],
            "already a voter",
        ),
        (
            vec!["--remove", "4", "--add", &victim_arg],
            "is a learner, not a voter",
        ),
        (
            vec!["--remove", &leader_arg, "--add", "4"],
            "move leadership first",
        ),
    ] {
        let mut cli_args = vec!["replace-node"];
        cli_args.extend(args.iter().copied());
        let (ok, out) = cluster_cli(leader_admin, &cli_args);
        assert!(!ok, "replace-node {args:?} succeeded: {out}");
        assert!(out.contains(words), "replace-node {args:?}: {out}");
    }
    let (status, body) = admin_post(leader_admin, "/api/cluster/replace-node?remove=9&add=4");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("node 9")));
    let (status, body) = admin_post(leader_admin, "/api/cluster/replace-node?remove=2");
    assert_eq!(status, 400, "{body}");
    // A follower points at the leader, as for the other membership changes.
    let follower_admin = cluster.node(bystander).ports().admin;
    let path = format!("/api/cluster/replace-node?remove={victim}&add=4");
    let (status, body) = admin_post(follower_admin, &path);
    assert_eq!(
        (status, body["leader"].as_u64()),
        (421, Some(leader as u64)),
        "{body}"
    );
    let refused = post_without_api_header(leader_admin, &path);
    assert!(refused.contains(" 403 "), "{refused}");
    let v = cluster_status(leader_admin).expect("status");
    assert_eq!(ids(&v["voters"]), vec![1, 2, 3], "{v}");
    assert_eq!(ids(&v["learners"]), vec![4], "{v}");

    // The replacement: one command, through a joint configuration.
    let (ok, out) = cluster_cli(
        leader_admin,
        &["replace-node", "--remove", &victim_arg, "--add", "4"],
    );
    assert!(ok, "replace-node failed: {out}");
    assert!(out.contains("node 4 becomes a voter"), "{out}");
    // Writes go on while it happens and after.
    for i in 0..50 {
        let _: () = redis::cmd("SET")
            .arg(format!("during{i}"))
            .arg(i)
            .query(&mut con)
            .expect("set during the replacement");
    }
    cluster.wait_until(WAIT, "the joint configuration to be left", || {
        let v = cluster_status(leader_admin)?;
        let mut expected = vec![leader as u64, bystander as u64, 4];
        expected.sort_unstable();
        (ids(&v["voters"]) == expected
            && ids(&v["voters_outgoing"]).is_empty()
            && v["joint"] == false
            && ids(&v["learners"]).is_empty())
        .then_some(())
    });
    let (ok, out) = cluster_cli(leader_admin, &["status"]);
    assert!(ok && !out.contains("joint configuration"), "{out}");

    // The replaced node stops by itself, cleanly.
    let exit = cluster
        .node_mut(victim)
        .wait_for_exit(WAIT)
        .unwrap_or_else(|| panic!("node {victim} still runs after its replacement"));
    assert!(exit.success(), "node {victim} exited with {exit}");
    let log = cluster.node(victim).log_text();
    assert!(
        log.contains("this node was removed from the cluster; stopping"),
        "{}",
        cluster.node(victim).log_tail()
    );

    // Node 4 holds the data and counts in the quorum: with the other old node down, the
    // leader and node 4 still commit.
    cluster.kill9(bystander);
    let _: () = cluster
        .retry(leader, WAIT, |c| {
            redis::cmd("SET").arg("after").arg("yes").query(c)
        })
        .expect("a write with node 4 as the second voter");
    let client = joiner.client();
    let mut con4 = client.get_connection().expect("connect to node 4");
    let got: String = redis::cmd("GET")
        .arg("after")
        .query(&mut con4)
        .expect("get via node 4");
    assert_eq!(got, "yes");
    assert_eq!(dbsize(&joiner), Some(300 + 50 + 1));
}
